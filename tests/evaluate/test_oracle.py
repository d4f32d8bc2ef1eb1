"""The oracle arms: a target that follows the tone by construction gives slope 1, a source that
ignores it slope 0 and the eval resolves; too few pairs or too little spread take the "cannot
resolve" path with the reason; files outside the configured folders are refused."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ltxvoice.config import EvalOracleParams, EvalPitchParams
from ltxvoice.evaluate.oracle import OraclePair, analyse_oracle, oracle_files, run_oracle
from ltxvoice.evaluate.stats import SweepRules
from tests.evaluate.voices import write_oracle_dataset

RULES = SweepRules(bootstrap=500, seed=0, scale="semitones")
PARAMS = EvalOracleParams()
PITCH = EvalPitchParams()


def planted(n: int, *, spread: tuple[float, float] = (70.0, 330.0), seed: int = 0) -> list[OraclePair]:
    """Targets at the tone pitch (+-15 cents), sources at random pitches that ignore the tone."""
    rng = np.random.default_rng(seed)
    tones = np.geomspace(*spread, n)
    return [
        OraclePair(f"c{i:03d}", t, t * 2 ** (rng.normal(0, 15) / 1200), float(rng.uniform(90, 250)))
        for i, t in enumerate(tones)
    ]


def test_planted_effect_resolves_with_slope_one_against_zero() -> None:
    result = analyse_oracle(planted(40), PARAMS, RULES, plan_r=0.1)
    assert result.resolved, result.reason
    assert result.target_slope.estimate == pytest.approx(1.0, abs=0.02)
    assert result.target_slope.lo > 0.9
    assert abs(result.source_slope.estimate) < 0.3
    assert result.target_slope.lo > result.source_slope.hi
    m = result.as_metrics()
    assert m["n_pairs"] == 40 and m["resolved"] is True
    assert m["target_slope_ci"][0] <= m["target_slope"] <= m["target_slope_ci"][1]


def test_targets_that_copy_the_source_do_not_resolve() -> None:
    pairs = [OraclePair(p.clip_id, p.tone_hz, p.source_hz, p.source_hz) for p in planted(40)]
    result = analyse_oracle(pairs, PARAMS, RULES, plan_r=0.84)
    assert not result.resolved
    assert "does not recover the known slope 1" in result.reason
    assert "does not exclude the source arm" in result.reason and "0.84" in result.reason


def test_three_pairs_cannot_resolve() -> None:
    result = analyse_oracle(planted(3), PARAMS, RULES)
    assert not result.resolved
    assert result.reason.startswith("the eval cannot resolve the effect on this data")
    assert "too few pairs: 3" in result.reason


def test_targets_at_nearly_one_pitch_cannot_resolve() -> None:
    result = analyse_oracle(planted(40, spread=(150.0, 152.0)), PARAMS, RULES)
    assert not result.resolved
    assert "too little pitch spread" in result.reason
    assert "too few pairs" not in result.reason


def test_unvoiced_pairs_are_left_out_and_counted() -> None:
    pairs = planted(12)
    pairs[0] = OraclePair("c000", pairs[0].tone_hz, math.nan, 120.0)
    result = analyse_oracle(pairs, PARAMS, RULES)
    assert (result.n_pairs, result.unvoiced) == (11, 1)


def test_run_oracle_measures_files_with_the_eval_pitch(tmp_path: Path) -> None:
    write_oracle_dataset(tmp_path, PARAMS, 10)
    result = run_oracle(PARAMS, PITCH, RULES, tmp_path)
    assert result.n_pairs == 10 and result.planned_r == 0.1
    assert result.target_slope.estimate == pytest.approx(1.0, abs=0.03)
    assert result.resolved, result.reason


def test_files_outside_the_configured_folders_are_refused(tmp_path: Path) -> None:
    frame = write_oracle_dataset(tmp_path, PARAMS, 4).with_columns(
        pl.lit("elsewhere/a.wav").alias("vocals_path")
    )  # 4 + the dropped row's 2
    with pytest.raises(ValueError, match="6 oracle file"):
        oracle_files(frame.with_columns(pl.lit(True).alias("kept")), PARAMS, tmp_path)


def test_no_pairs_table_is_unresolved_with_the_reason(tmp_path: Path) -> None:
    result = run_oracle(PARAMS, PITCH, RULES, tmp_path)
    assert not result.resolved and result.n_pairs == 0 and "no oracle data" in result.reason
    assert result.as_metrics()["target_slope"] is None
