from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ltxvoice.config import MeasureParams
from ltxvoice.dsp.pitch import adapted_range, formant_change, praat_track
from ltxvoice.media import resample
from ltxvoice.dsp.shifting import shift
from ltxvoice.measure import measure_samples
from tests import fixtures


@pytest.fixture(scope="module")
def voices() -> dict[str, tuple[np.ndarray, int]]:
    out = {}
    for path in fixtures.alsa_speech()[:3]:
        x, rate = sf.read(path, dtype="float32")
        out[path.name] = (x, rate)
    out["espeak low male 72 Hz"] = (fixtures.espeak_samples("en+m1", 20), 48000)
    out["espeak female 220 Hz"] = (fixtures.espeak_samples("en+f4", 70), 48000)
    return out


@pytest.mark.parametrize("engine", ["psola", "world"])
@pytest.mark.parametrize("semitones", [-7, -3, 3, 7])
def test_shift_lands_on_target_and_keeps_length(voices: dict[str, tuple[np.ndarray, int]], engine: str,
                                                semitones: int) -> None:
    params = MeasureParams()
    for name, (x, rate) in voices.items():
        source = measure_samples(x, rate, params).f0_hz
        lo, hi = adapted_range(source, params.floor_hz, params.ceiling_hz)
        y = shift(x, rate, semitones, engine, floor=lo, ceiling=hi)  # type: ignore[arg-type]
        assert y.size == x.size and y.dtype == np.float32 and np.all(np.isfinite(y))
        target = source * 2 ** (semitones / 12)
        floor, ceiling = adapted_range(target, params.floor_hz, params.ceiling_hz)
        measured = measure_samples(y, rate, params, floor=floor, ceiling=ceiling).f0_hz
        assert abs(measured - target) <= 30, (name, engine, semitones, source, target, measured)


def _formant_changes(x: np.ndarray, rate: int, engine: str, semitones: int) -> tuple[float, float]:
    params = MeasureParams()
    x16 = resample(x, rate, 16000)
    before = praat_track(x16, 16000, params.floor_hz, params.ceiling_hz)
    lo, hi = adapted_range(before.median(), params.floor_hz, params.ceiling_hz)
    y16 = resample(shift(x, rate, semitones, engine, floor=lo, ceiling=hi), rate, 16000)  # type: ignore[arg-type]
    floor, ceiling = adapted_range(before.median() * 2 ** (semitones / 12), params.floor_hz, params.ceiling_hz)
    after = praat_track(y16, 16000, floor, ceiling)
    both = before.voiced & after.voiced_at(before.times)
    return formant_change(x16, y16, 16000, before.times[both])


@pytest.mark.parametrize("engine", ["psola", "world"])
def test_formants_stay_within_5_percent_on_speech(engine: str) -> None:
    """espeak-ng sentences (6 voices, 72-230 Hz): F1 and F2, frame by frame, move < 5% at +-3 and +-7 st."""
    for voice, p in (("en+m1", 20), ("en+m3", 40), ("de+m4", 30), ("en+f2", 50), ("fr+f3", 40), ("en+f4", 70)):
        x = fixtures.espeak_samples(voice, p)
        for semitones in (-7, -3, 3, 7):
            d1, d2 = _formant_changes(x, 48000, engine, semitones)
            assert abs(d1) <= 0.05 and abs(d2) <= 0.05, (voice, engine, semitones, d1, d2)


def test_formants_on_short_real_recordings() -> None:
    """alsa-utils' 1.3-1.5 s real recordings hold only ~50 voiced frames: F2 always stays within 5%,
    F1 in at least 90% of the 64 (clip, engine, shift) cases, and never moves more than 15%."""
    f1_ok, count = 0, 0
    for path in fixtures.alsa_speech():
        x, rate = sf.read(path, dtype="float32")
        for engine in ("psola", "world"):
            for semitones in (-7, -3, 3, 7):
                d1, d2 = _formant_changes(x, rate, engine, semitones)
                assert abs(d2) <= 0.05 and abs(d1) <= 0.15, (path.name, engine, semitones, d1, d2)
                f1_ok += abs(d1) <= 0.05
                count += 1
    assert f1_ok >= 0.9 * count, f"F1 within 5% in {f1_ok} of {count}"
