"""Formant-preserving pitch shift that keeps the length exactly.

Two engines: ``world`` (WORLD analysis/synthesis with F0 scaled and the spectral envelope and
aperiodicity kept) and ``psola`` (Praat's pitch-synchronous overlap-add via a Manipulation)."""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import parselmouth

with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    import pyworld
from parselmouth.praat import call

Engine = Literal["world", "psola"]

_FRAME_PERIOD_MS = 5.0


def shift_world(samples: np.ndarray, rate: int, ratio: float, floor: float, ceiling: float) -> np.ndarray:
    """WORLD: DIO+StoneMask F0, CheapTrick envelope, D4C aperiodicity; resynthesise with F0 x ratio."""
    x = np.ascontiguousarray(samples, dtype=np.float64)
    coarse, times = pyworld.dio(x, rate, f0_floor=floor, f0_ceil=ceiling, frame_period=_FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(x, coarse, times, rate)
    fft_size = pyworld.get_cheaptrick_fft_size(rate, floor)
    envelope = pyworld.cheaptrick(x, f0, times, rate, f0_floor=floor, fft_size=fft_size)
    aperiodicity = pyworld.d4c(x, f0, times, rate, fft_size=fft_size)
    y = pyworld.synthesize(f0 * ratio, envelope, aperiodicity, rate, frame_period=_FRAME_PERIOD_MS)
    return _same_length(y, x.size).astype(np.float32)


def shift_psola(samples: np.ndarray, rate: int, ratio: float, floor: float, ceiling: float) -> np.ndarray:
    """Praat PSOLA: To Manipulation, multiply the pitch tier by ratio, overlap-add resynthesis."""
    sound = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sampling_frequency=rate)
    manipulation = call(sound, "To Manipulation", 0.01, floor, ceiling)
    tier = call(manipulation, "Extract pitch tier")
    call(tier, "Multiply frequencies", sound.xmin, sound.xmax, ratio)
    call([tier, manipulation], "Replace pitch tier")
    shifted = call(manipulation, "Get resynthesis (overlap-add)")
    return _same_length(np.asarray(shifted.values[0]), samples.size).astype(np.float32)


def shift(samples: np.ndarray, rate: int, semitones: float, engine: Engine, floor: float = 60.0,
          ceiling: float = 600.0) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping formants and the exact number of samples."""
    ratio = 2.0 ** (semitones / 12.0)
    fn = shift_world if engine == "world" else shift_psola
    return fn(samples, rate, ratio, floor, ceiling)


def _same_length(y: np.ndarray, n: int) -> np.ndarray:
    if y.size >= n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - y.size, dtype=y.dtype)])
