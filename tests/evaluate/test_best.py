"""The best-checkpoint rule: lowest pitch_cents among checkpoints whose vuv_f1 and (when measured) wer
stay within their tolerances of the base model's; ties decided deterministically; the chosen file copied."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ltxvoice.config import EvalBestParams
from ltxvoice.evaluate.best import Candidate, choose, write_choice

RULE = EvalBestParams(vuv_f1_tolerance=0.1)


def c(name: str, step: int | None, cents: float, f1: float, wer: float = math.nan) -> Candidate:
    return Candidate(name, step, Path(f"{name}.safetensors"), cents, f1, wer)


def test_lowest_pitch_cents_wins() -> None:
    choice = choose(
        [c("step_10", 10, 300.0, 0.9), c("step_20", 20, 80.0, 0.88), c("step_30", 30, 120.0, 0.9)], 0.9, RULE
    )
    assert choice.checkpoint == "step_20" and choice.step == 20
    assert "lowest pitch_cents (80.0 cents) among 3" in choice.reason


def test_tolerance_excludes_a_checkpoint_that_stopped_speaking() -> None:
    cands = [c("step_10", 10, 200.0, 0.85), c("step_20", 20, 40.0, 0.75)]
    choice = choose(cands, 0.9, RULE)
    assert choice.checkpoint == "step_10" and choice.eligible == ["step_10"]
    assert "step_20" in choice.excluded and "below the base model's 0.900 minus 0.1" in choice.excluded["step_20"]
    assert choose(cands, 0.9, EvalBestParams(vuv_f1_tolerance=0.2)).checkpoint == "step_20"


def test_ties_are_deterministic_whatever_the_order() -> None:
    cands = [c("b", 20, 50.0, 0.9), c("a", 30, 50.0, 0.9), c("c", 10, 50.0, 0.8), c("d", 40, 50.0, 0.95)]
    assert choose(cands, 0.9, RULE).checkpoint == "d"  # higher vuv_f1 first
    same = [c("b", 20, 50.0, 0.9), c("a", 30, 50.0, 0.9), c("e", None, 50.0, 0.9)]
    assert {choose(order, 0.9, RULE).checkpoint for order in (same, same[::-1])} == {"b"}  # earlier step
    named = [c("y", None, 50.0, 0.9), c("x", None, 50.0, 0.9)]
    assert choose(named, 0.9, RULE).checkpoint == "x"


def test_no_candidate_no_choice(tmp_path: Path) -> None:
    cands = [c("step_10", 10, math.nan, 0.0), c("step_20", 20, 90.0, 0.1)]
    choice = choose(cands, 0.9, RULE)
    assert choice.checkpoint is None and choice.reason.startswith("no best checkpoint: none of 2")
    assert "no voiced frame" in choice.excluded["step_10"]
    assert choose([c("step_20", 20, 90.0, 0.9)], math.nan, RULE).checkpoint is None
    write_choice(choice, tmp_path / "best")
    assert not (tmp_path / "best" / "lora.safetensors").exists()
    assert json.loads((tmp_path / "best" / "choice.json").read_text())["best_checkpoint"] is None


def test_the_chosen_file_is_copied(tmp_path: Path) -> None:
    src = tmp_path / "step_20.safetensors"
    src.write_bytes(b"lora bytes")
    choice = choose([Candidate("step_20", 20, src, 60.0, 0.9), c("step_10", 10, 90.0, 0.9)], 0.9, RULE)
    write_choice(choice, tmp_path / "best")
    assert (tmp_path / "best" / "lora.safetensors").read_bytes() == b"lora bytes"
    saved = json.loads((tmp_path / "best" / "choice.json").read_text())
    assert saved["best_checkpoint"] == "step_20" and saved["source"] == str(src) and saved["reason"] == choice.reason


def test_wer_tolerance_excludes_a_checkpoint_that_stopped_saying_the_words() -> None:
    cands = [c("step_10", 10, 200.0, 0.9, 0.25), c("step_20", 20, 40.0, 0.9, 0.6), c("step_30", 30, 90.0, 0.7, 0.2)]
    choice = choose(cands, 0.9, RULE, base_wer=0.2)
    assert choice.checkpoint == "step_10" and choice.eligible == ["step_10"]
    assert choice.excluded["step_20"] == "wer 0.600 above the base model's 0.200 plus 0.1"
    assert "vuv_f1 0.700 below" in choice.excluded["step_30"]
    assert "whose wer stays at or below 0.300 (base 0.200 + tolerance 0.1)" in choice.reason
    assert "2 excluded: step_20: wer 0.600 above" in choice.reason
    saved = choice.as_dict()
    assert (saved["wer"], saved["base_wer"], saved["wer_ceiling"], saved["wer_in_rule"]) == (0.25, 0.2, 0.3, True)
    loose = EvalBestParams(vuv_f1_tolerance=0.1, wer_tolerance=0.5)
    assert choose(cands, 0.9, loose, base_wer=0.2).checkpoint == "step_20"


def test_wer_not_measured_leaves_it_out_of_the_rule() -> None:
    cands = [c("step_10", 10, 200.0, 0.9), c("step_20", 20, 40.0, 0.9)]
    choice = choose(cands, 0.9, RULE)
    assert choice.checkpoint == "step_20" and "(wer not measured: not in the rule)" in choice.reason
    assert choice.as_dict()["wer_in_rule"] is False and choice.as_dict()["base_wer"] is None
    # measured, but the base arm has no WER or a checkpoint has none: no bound, no pick on a guess
    assert "base model's wer is not measured" in choose(cands, 0.9, RULE, base_wer=math.nan).excluded["step_10"]
    assert choose(cands, 0.9, RULE, base_wer=0.2).excluded["step_20"] == "wer not measured (no generation transcribed)"


def test_equal_pitch_and_voicing_go_to_the_lower_wer() -> None:
    cands = [c("step_10", 10, 50.0, 0.9, 0.3), c("step_20", 20, 50.0, 0.9, 0.1)]
    assert choose(cands, 0.9, RULE, base_wer=0.3).checkpoint == "step_20"
    assert choose(cands, 0.9, RULE).checkpoint == "step_10"  # not measured: the earlier step
