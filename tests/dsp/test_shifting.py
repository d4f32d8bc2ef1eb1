from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ltxvoice.config import MeasureParams, SelectParams
from ltxvoice.dsp.pitch import adapted_range
from ltxvoice.dsp.shifting import shift
from ltxvoice.measure import measure_samples
from ltxvoice.select import judge
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


# The formant acceptance: every alsa-utils recording and six espeak-ng voices, both engines, -7/-3/+3/+7
# semitones, F1 and F2 within 5% of the original, measured exactly as the select stage's gate does
# (``select.judge``: frame by frame over the frames voiced in both where the original resolves the
# formant; ltxvoice.dsp.formants says why).
ESPEAK_VOICES = [("en+m1", 20), ("en+m3", 40), ("de+m4", 30), ("en+f2", 50), ("fr+f3", 40), ("en+f4", 70)]
SHIFTS = [(engine, s) for engine in ("psola", "world") for s in (-7, -3, 3, 7)]
# Measured over 5% (F1 only, upward PSOLA shifts of two 1.4 s recordings; the other 62 of 64 are
# within). The criterion stays 5%: these two are open. Examined frame by frame in
# benchmarks/results/formants.md (finding 3, tables 4-6): partly PSOLA's grain smoothing lifting the
# band under F1, partly the measurement's scatter on real phonation; no Praat PSOLA setting fixes it.
KNOWN_OVER = {
    ("Rear_Left", "psola", 3): "F1 -5.8%",
    ("Rear_Right", "psola", 7): "F1 -7.1%",
}
_ORIGINALS: dict[str, tuple[np.ndarray, int, object]] = {}


def _original(name: str) -> tuple[np.ndarray, int, object]:
    if name not in _ORIGINALS:
        if name.startswith("espeak "):
            voice, p = name.split()[1], int(name.split()[2])
            x, rate = fixtures.espeak_samples(voice, p), 48000
        else:
            x, rate = sf.read(fixtures.ALSA_DIR / f"{name}.wav", dtype="float32")
        _ORIGINALS[name] = (x, rate, measure_samples(x, rate, MeasureParams()))
    return _ORIGINALS[name]


def _cases() -> list[object]:
    names = [p.stem for p in fixtures.alsa_speech()] + [f"espeak {v} {p}" for v, p in ESPEAK_VOICES]
    cases = []
    for name in names:
        for engine, s in SHIFTS:
            over = KNOWN_OVER.get((name, engine, s))
            marks = [pytest.mark.xfail(reason=f"measured {over}", strict=False)] if over else []
            cases.append(pytest.param(name, engine, s, marks=marks, id=f"{name}-{engine}-{s:+d}"))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize(("name", "engine", "semitones"), _cases())
def test_formants_stay_within_5_percent(name: str, engine: str, semitones: int) -> None:
    x, rate, before = _original(name)
    params = MeasureParams()
    lo, hi = adapted_range(before.f0_hz, params.floor_hz, params.ceiling_hz)
    y = shift(x, rate, semitones, engine, floor=lo, ceiling=hi)  # type: ignore[arg-type]
    verdict = judge(x, y, rate, before.f0_hz * 2 ** (semitones / 12), before.voiced_seconds, before.voiced_fraction,
                    SelectParams(), params)
    assert abs(verdict.f1_change) <= 0.05 and abs(verdict.f2_change) <= 0.05, verdict  # nan fails too
