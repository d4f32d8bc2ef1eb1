"""Generated voice-like audio for the evaluate tests: harmonic tones of known pitch, silence."""

from __future__ import annotations

import numpy as np

RATE = 16000


def harmonic(f0_hz: float, seconds: float = 0.5, rate: int = RATE, harmonics: int = 8) -> np.ndarray:
    """A steady voiced sound at ``f0_hz``: harmonics with 1/k amplitudes, -20 dBFS-ish."""
    t = np.arange(round(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(1, harmonics + 1) if k * f0_hz < rate / 2)
    return (0.1 * np.asarray(x) / np.max(np.abs(x))).astype(np.float32)


def gapped(f0_hz: float, voiced: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    """Voiced for the first ``voiced`` share of ``seconds``, digital silence after."""
    x = harmonic(f0_hz, seconds, rate)
    x[round(voiced * x.size) :] = 0.0
    return x
