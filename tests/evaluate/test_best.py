"""The best-checkpoint rule: lowest pitch_cents among checkpoints whose vuv_f1 stays within the
tolerance of the base model's; ties decided deterministically; the chosen file copied."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ltxvoice.config import EvalBestParams
from ltxvoice.evaluate.best import Candidate, choose, write_choice

RULE = EvalBestParams(vuv_f1_tolerance=0.1)


def c(name: str, step: int | None, cents: float, f1: float) -> Candidate:
    return Candidate(name, step, Path(f"{name}.safetensors"), cents, f1)


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
