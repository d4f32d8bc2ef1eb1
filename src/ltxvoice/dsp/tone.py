"""A voiced tone at a given pitch with a chosen timbre: harmonic source, vowel formants, vibrato,
jitter, shimmer and breath noise. Deterministic for a given timbre and seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

# (F1, F2, F3) in Hz of five cardinal-ish vowels (typical adult values).
VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (750.0, 1250.0, 2600.0),
    "e": (500.0, 1900.0, 2600.0),
    "i": (300.0, 2300.0, 3000.0),
    "o": (500.0, 900.0, 2500.0),
    "u": (320.0, 800.0, 2400.0),
}
_BANDWIDTHS = (90.0, 110.0, 160.0)


@dataclass(frozen=True)
class Timbre:
    """Everything that shapes a tone besides its pitch."""

    vowel: str
    formant_scale: float
    rolloff_db_per_octave: float
    vibrato_rate_hz: float
    vibrato_cents: float
    jitter_percent: float
    shimmer_percent: float
    breath_snr_db: float


def _resonator(x: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    """Two-pole resonance at ``freq`` (Klatt-style), unit gain at DC."""
    r = np.exp(-np.pi * bandwidth / rate)
    c = -r * r
    b = 2 * r * np.cos(2 * np.pi * freq / rate)
    a = 1 - b - c
    return lfilter([a], [1.0, -b, -c], x)


def _slow_noise(rng: np.random.Generator, n: int, rate: int, cutoff_hz: float) -> np.ndarray:
    """Unit-variance noise smoothed to about ``cutoff_hz`` (a moving average)."""
    width = max(1, int(rate / cutoff_hz))
    raw = rng.standard_normal(n + width)
    smooth = np.convolve(raw, np.ones(width) / width, mode="valid")[:n]
    return smooth / (smooth.std() or 1.0)


def synthesize(
    f0_hz: float, seconds: float, rate: int, timbre: Timbre, seed: int, level_dbfs: float = -20.0
) -> np.ndarray:
    """A ``seconds`` long voiced tone whose median pitch is ``f0_hz``; mono float32 at ``level_dbfs`` RMS."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    vibrato = timbre.vibrato_cents * np.sin(2 * np.pi * timbre.vibrato_rate_hz * t + rng.uniform(0, 2 * np.pi))
    jitter = 1.0 + timbre.jitter_percent / 100.0 * _slow_noise(rng, n, rate, max(f0_hz, 50.0))
    f0 = f0_hz * 2.0 ** (vibrato / 1200.0) * jitter
    phase = 2 * np.pi * np.cumsum(f0) / rate
    exponent = timbre.rolloff_db_per_octave / (20.0 * np.log10(2.0))
    voice = np.zeros(n)
    top = int(min(0.45 * rate / (f0_hz * 1.05), 160))
    for k in range(1, max(top, 1) + 1):
        voice += k ** (-exponent) * np.sin(k * phase)
    voice *= 1.0 + timbre.shimmer_percent / 100.0 * _slow_noise(rng, n, rate, 30.0)
    breath = rng.standard_normal(n)
    breath *= np.sqrt(np.mean(voice**2) / np.mean(breath**2)) * 10 ** (-timbre.breath_snr_db / 20.0)
    signal = voice + breath
    for freq, bw in zip(VOWELS[timbre.vowel], _BANDWIDTHS):
        signal = _resonator(signal, freq * timbre.formant_scale, bw, rate)
    fade = min(n // 2, int(0.03 * rate))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    signal[:fade] *= ramp
    signal[n - fade :] *= ramp[::-1]
    rms = np.sqrt(np.mean(signal**2)) or 1.0
    return (signal * (10 ** (level_dbfs / 20.0) / rms)).astype(np.float32)
