from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ltxvoice.config import MeasureParams
from ltxvoice.dsp.pitch import adapted_range
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
