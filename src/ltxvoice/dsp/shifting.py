"""Formant-preserving pitch shift that keeps the length exactly.

Two engines: ``world`` (WORLD analysis/synthesis with F0 scaled and the spectral envelope and
aperiodicity kept) and ``psola`` (Praat's pitch-synchronous overlap-add via a Manipulation).

Neither engine carries the spectral envelope exactly. Both see it only as the source's harmonics
sample it: Praat's PSOLA cuts grains two source periods long, whose window smears the spectrum by
about +-F0 of the source, so an upward shift lifts the band under F1 next to a strong first harmonic
and F1 reads up to ~7% low (benchmarks/results/formants.md); WORLD's CheapTrick smooths over +-F0
too. ``restore_envelope`` (on by default, ``shift.restore_envelope``) puts the original's envelope
back, frame by frame: the ratio of two all-pole envelopes, the original's fitted to its harmonics at
its own F0 and the shifted signal's fitted to its harmonics at the new F0 (both by discrete all-pole
modelling, ``ltxvoice.dsp.formants.dap``), applied as a smooth gain in the short-time Fourier domain
with the frame's harmonic power kept, capped at +-6 dB and averaged over 45 ms. Only frames voiced in
both signals change; unvoiced sounds and silences pass through the STFT untouched, and the engine's
phases are kept. With it no alsa-utils or espeak-ng case moves F1/F2 by more than 5% (worst 1.9%
PSOLA, 3.3% WORLD, from 7.1% and 5.0%), and on synthetic speech PSOLA's F1 sits +1.0% from the true
filter instead of +2.2%; it costs upward PSOLA shifts ~1 dB of harmonics-to-noise ratio
(benchmarks/results/formants.md, tables 2-7).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import parselmouth

with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    import pyworld
from parselmouth.praat import call
from scipy.ndimage import uniform_filter1d
from scipy.signal import istft, resample_poly, stft

from ltxvoice.dsp.formants import N_FORMANTS, dap, harmonic_powers
from ltxvoice.dsp.pitch import adapted_range, praat_track

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


def shift(
    samples: np.ndarray,
    rate: int,
    semitones: float,
    engine: Engine,
    floor: float = 60.0,
    ceiling: float = 600.0,
    restore: bool = True,
) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping formants and the exact number of samples; ``restore``
    puts the original's spectral envelope back on the engine's output (``restore_envelope``)."""
    ratio = 2.0 ** (semitones / 12.0)
    fn = shift_world if engine == "world" else shift_psola
    shifted = fn(samples, rate, ratio, floor, ceiling)
    return restore_envelope(samples, shifted, rate, ratio, floor, ceiling) if restore else shifted


# Envelope restoration. The envelope is fitted where the formants are measured: at 16 kHz, five
# formants below 5500 Hz (Praat's convention), pitch by Praat at 12 kHz, as MeasureParams' defaults.
RESTORE_RATE = 16000
RESTORE_CEILING_HZ = 5500.0
RESTORE_PITCH_RATE = 12000
RESTORE_HOP_S = 0.005
RESTORE_WINDOW_S = 0.016  # STFT window (rounded up to a power of two): short enough to follow F0 glides
RESTORE_MAX_DB = 6.0  # no frequency is boosted or cut by more than this
RESTORE_SMOOTH_FRAMES = 9  # gains are averaged over 45 ms: frame-to-frame scatter in the fits would add roughness
_GRID = np.linspace(0.0, RESTORE_CEILING_HZ, 111)


def _allpole_db(polys: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """10 log10 |1 / A(f)|^2 of each polynomial (rows) at ``freqs`` (Hz), on the fit's frequency axis."""
    w = np.pi * freqs / RESTORE_CEILING_HZ
    a = polys @ np.exp(-1j * np.outer(np.arange(polys.shape[1]), w))
    return -10.0 * np.log10(np.maximum(np.abs(a) ** 2, 1e-12))


def envelope_gains(
    original: np.ndarray, shifted: np.ndarray, rate: int, ratio: float, floor: float, ceiling: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gain (dB) per frame (every ``RESTORE_HOP_S``) and frequency (``_GRID``, 0..ceiling) that turns
    the shifted signal's all-pole envelope back into the original's; 0 dB where either is unvoiced or
    either fit fails. Each frame's gains are normalised so the shifted harmonics keep their total power."""

    def down(x: np.ndarray, to: int) -> np.ndarray:
        g = np.gcd(rate, to)
        return resample_poly(np.asarray(x, dtype=np.float64), to // g, rate // g)

    x_pitch = down(original, RESTORE_PITCH_RATE)
    before = praat_track(x_pitch, RESTORE_PITCH_RATE, floor, ceiling)
    target = before.median() * ratio
    lo, hi = adapted_range(target, floor, ceiling) if np.isfinite(target) else (floor, ceiling)
    after = praat_track(down(shifted, RESTORE_PITCH_RATE), RESTORE_PITCH_RATE, lo, hi)
    times = np.arange(int(original.size / rate / RESTORE_HOP_S) + 1) * RESTORE_HOP_S
    f0x, f0y = before.f0_at(times), after.f0_at(times)
    voiced = (f0x > 0) & (f0y > 0)
    gains = np.zeros((times.size, _GRID.size))
    if not voiced.any():
        return times, gains
    idx = np.nonzero(voiced)[0]
    fx, px, okx = harmonic_powers(down(original, RESTORE_RATE), RESTORE_RATE, times[idx], f0x[idx], RESTORE_CEILING_HZ)
    fy, py, oky = harmonic_powers(down(shifted, RESTORE_RATE), RESTORE_RATE, times[idx], f0y[idx], RESTORE_CEILING_HZ)
    ok = np.nonzero(okx & oky)[0]
    if ok.size == 0:
        return times, gains
    ax = dap(fx[ok], px[ok], RESTORE_CEILING_HZ, 2 * N_FORMANTS)
    ay = dap(fy[ok], py[ok], RESTORE_CEILING_HZ, 2 * N_FORMANTS)
    fit = np.isfinite(ax).all(axis=1) & np.isfinite(ay).all(axis=1)
    ok, ax, ay = ok[fit], ax[fit], ay[fit]
    if ok.size == 0:
        return times, gains
    g = _allpole_db(ax, _GRID) - _allpole_db(ay, _GRID)
    # keep the power of the shifted harmonics: sum_k p_k 10^(g(f_k)/10) == sum_k p_k (absent ones have p_k 0)
    at_harmonics = np.stack([np.interp(fy[i], _GRID, row) for i, row in zip(ok, g)])
    power = py[ok]
    g -= 10.0 * np.log10((power * 10.0 ** (at_harmonics / 10.0)).sum(axis=1) / power.sum(axis=1))[:, None]
    gains[idx[ok]] = np.clip(g, -RESTORE_MAX_DB, RESTORE_MAX_DB)
    return times, gains


def restore_envelope(
    original: np.ndarray, shifted: np.ndarray, rate: int, ratio: float, floor: float, ceiling: float
) -> np.ndarray:
    """``shifted`` (``original`` moved by ``ratio`` in pitch, same length) with the original's spectral
    envelope put back in every frame voiced in both (module docstring). Same length and dtype float32."""
    times, gains = envelope_gains(original, shifted, rate, ratio, floor, ceiling)
    y = np.asarray(shifted, dtype=np.float64)
    nperseg = 1 << int(np.ceil(np.log2(RESTORE_WINDOW_S * rate)))
    hop = int(round(RESTORE_HOP_S * rate))
    freqs, t, spec = stft(y, rate, window="hann", nperseg=nperseg, noverlap=nperseg - hop)
    frame = np.clip(np.round(t / RESTORE_HOP_S).astype(int), 0, times.size - 1)
    # frequencies above the ceiling keep the gain at the ceiling; the mean over hops also softens voicing edges
    per_bin = np.stack([np.interp(freqs, _GRID, gains[i]) for i in frame], axis=1)
    per_bin = uniform_filter1d(per_bin, RESTORE_SMOOTH_FRAMES, axis=1)
    _, out = istft(spec * 10.0 ** (per_bin / 20.0), rate, window="hann", nperseg=nperseg, noverlap=nperseg - hop)
    return _same_length(out, y.size).astype(np.float32)


def _same_length(y: np.ndarray, n: int) -> np.ndarray:
    if y.size >= n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - y.size, dtype=y.dtype)])
