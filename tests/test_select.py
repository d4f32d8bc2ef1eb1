from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ltxvoice.config import MeasureParams, SelectParams
from ltxvoice.dsp.shifting import shift
from ltxvoice.measure import measure_samples
from ltxvoice.select import BARELY_VOICED, FORMANTS_MOVED, OFF_TARGET, dataset_report, judge
from tests import fixtures


@pytest.fixture(scope="module")
def voice() -> tuple[np.ndarray, object]:
    x = fixtures.espeak_samples("en+f2", 50)
    return x, measure_samples(x, 48000, MeasureParams())


def _judge(x: np.ndarray, y: np.ndarray, target: float, before, **kw: float):  # type: ignore[no-untyped-def]
    return judge(
        x, y, 48000, target, before.voiced_seconds, before.voiced_fraction, SelectParams(**kw), MeasureParams()
    )


def test_on_target_shift_is_kept(voice) -> None:  # type: ignore[no-untyped-def]
    x, before = voice
    y = shift(x, 48000, 3.0, "psola")
    verdict = _judge(x, y, before.f0_hz * 2 ** (3 / 12), before)
    assert verdict.kept and verdict.reason is None and abs(verdict.error_hz) < 5


def test_off_target_is_rejected_by_hz_and_cents_gates(voice) -> None:  # type: ignore[no-untyped-def]
    x, before = voice
    y = shift(x, 48000, 3.0, "psola")
    wrong = before.f0_hz * 2 ** (6 / 12)  # claims +6 st, is +3 st
    assert _judge(x, y, wrong, before).reason == OFF_TARGET
    assert _judge(x, y, wrong, before, gate="cents", max_error_cents=50).reason == OFF_TARGET  # type: ignore[arg-type]


def test_moved_formants_are_rejected() -> None:
    """Pitch on target, formants 20% higher (a shorter vocal tract, the chipmunk effect a
    formant-preserving shift avoids): rejected for its formants."""
    x = fixtures.vowel(150.0)
    y = fixtures.vowel(150.0, formant_scale=1.2)
    before = measure_samples(x, 48000, MeasureParams())
    verdict = _judge(x, y, before.f0_hz, before)
    assert verdict.reason == FORMANTS_MOVED and verdict.f1_change > 0.1
    assert _judge(x, fixtures.vowel(150.0), before.f0_hz, before).kept


def test_whispered_original_is_rejected() -> None:
    x = fixtures.espeak_samples("en+whisper", 50)
    before = measure_samples(x, 48000, MeasureParams())
    verdict = _judge(x, x, 150.0, before)
    assert verdict.reason == BARELY_VOICED and not verdict.kept


def test_report_counts_reasons_and_draws(tmp_path: Path) -> None:
    pairs = pl.DataFrame(
        {
            "f0_hz": [100.0, 150.0, 200.0, 250.0],
            "target_hz": [120.0, 140.0, 230.0, 260.0],
            "semitones": [3.2, -1.2, 2.4, 0.7],
            "error_hz": [1.0, -2.0, 40.0, 0.5],
            "kept": [True, True, False, True],
            "reason": [None, None, OFF_TARGET, None],
            "shift_mode": ["bounded"] * 4,
            "engine": ["psola"] * 4,
        }
    )
    metrics = dataset_report(pairs, {"no_pitch": 2}, tmp_path)
    assert metrics["kept"] == 3 and metrics["rejected_by_reason"] == {OFF_TARGET: 1}
    assert metrics["left_out_before_select"] == {"no_pitch": 2}
    assert (metrics["target_hz_min"], metrics["target_hz_max"]) == (120.0, 260.0)
    assert metrics["r_source_target"] == pytest.approx(np.corrcoef([100, 150, 250], [120, 140, 260])[0, 1], abs=1e-4)
    for name in ("report.md", "histograms.png", "scatter.png"):
        assert (tmp_path / name).stat().st_size > 0
