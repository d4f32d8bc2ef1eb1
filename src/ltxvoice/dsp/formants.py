"""F1 and F2 of voiced speech by discrete all-pole modelling (DAP) of its harmonics.

Why not Praat's Burg LPC: an all-pole fit to the short-time spectrum of voiced speech is pulled
toward the harmonics, and how far depends on where the harmonics fall, i.e. on F0. Comparing a clip
with its own pitch-shifted copy changes exactly that: on synthetic utterances rendered twice with the
same vocal-tract filter and only the source F0 moved by +-3 or +-7 semitones, Burg reported F1
"changes" of up to ~13% (benchmarks/results/formants.md, table 1; tests/dsp/test_formants.py keeps
such a case). DAP (El-Jaroudi and Makhoul, "Discrete all-pole modeling", IEEE Trans. Signal
Processing 39(2), 1991) fits the all-pole model only at the harmonic frequencies, with the
Itakura-Saito error over those discrete points, so the gaps between harmonics carry no weight: on
the same pairs it reports at most ~1.5%, and single frames sit ~1% from the true formants.

Each frame: a Hann window of ``PERIODS`` periods of the frame's own F0 (it resolves the harmonics
and covers the same number of glottal cycles at any pitch), pre-emphasis from 50 Hz (Praat's), the
peak power near each harmonic k*F0 below the formant ceiling, then DAP of order ``2 * N_FORMANTS``
over 0..ceiling (Praat's convention of 5 formants below 5500 Hz), iterated to convergence, and the
roots of the polynomial. On real speech single frames scatter more (3-7% frame to frame), so a
comparison needs its median over many frames (``MIN_FRAMES``).

``formant_change`` compares a clip with a pitch-shifted copy of it; see its docstring for which
frames count and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltxvoice.dsp.pitch import PitchTrack

N_FORMANTS = 5
PERIODS = 4.0
PRE_EMPHASIS_FROM_HZ = 50.0
DAP_MAX_ITERATIONS = 3000
DAP_TOLERANCE = 1e-5
DAP_RELAXATION = 0.8
# A formant is compared only where the original has at least two harmonics below it.
RESOLVED_ABOVE_F0 = 2.0
MIN_FRAMES = 10


def harmonic_powers(
    samples: np.ndarray, rate: int, times: np.ndarray, f0: np.ndarray, max_formant_hz: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequency and power of every harmonic below ``max_formant_hz`` at each time.

    Returns ``(freqs, powers, ok)``: ``freqs``/``powers`` of shape (frames, K) with powers 0 for the
    harmonics a frame does not have (K = the most harmonics any frame has); ``ok`` marks frames with
    enough harmonics and signal for an order-``2 * N_FORMANTS`` model.

    Frame by frame this is: the frame's windowed segment, its power spectrum (zero-padded to ``nfft``),
    then the peak near each harmonic. The frames sharing an ``nfft`` are transformed together and the
    peaks are picked for all frames at once; each frame's numbers are the same, to the bit, as when it
    is analysed alone (``tests/dsp/test_formants.py`` keeps the one-frame-at-a-time definition)."""
    x = np.asarray(samples, dtype=np.float64)
    a = np.exp(-2.0 * np.pi * PRE_EMPHASIS_FROM_HZ / rate)
    xp = np.empty_like(x)
    if x.size:
        xp[0] = x[0]
        xp[1:] = x[1:] - a * x[:-1]
    n = len(times)
    f0 = np.asarray(f0, dtype=np.float64)
    safe = np.where(f0 > 0, f0, np.inf)
    counts = np.floor((max_formant_hz - 0.5 * safe) / safe).clip(min=0)  # harmonics below the ceiling
    counts[~np.isfinite(counts)] = 0
    k_max = int(counts.max()) if n else 0
    freqs = np.zeros((n, max(k_max, 1)))
    powers = np.zeros((n, max(k_max, 1)))
    ok = np.zeros(n, dtype=bool)
    # which frames can be analysed, and each one's segment: PERIODS periods of its F0, centred on its time
    usable = counts >= N_FORMANTS + 1
    lengths = np.zeros(n, dtype=np.int64)
    starts = np.zeros(n, dtype=np.int64)
    lengths[usable] = np.round(PERIODS * rate / f0[usable]).astype(np.int64) | 1
    starts[usable] = (
        np.round(np.asarray(times, dtype=np.float64)[usable] * rate).astype(np.int64) - lengths[usable] // 2
    )
    usable &= np.minimum(starts + lengths, xp.size) - np.maximum(starts, 0) >= lengths // 2
    nffts = np.maximum(4096, 1 << np.ceil(np.log2(4 * np.maximum(lengths, 1))).astype(np.int64))
    for nfft in np.unique(nffts[usable]):
        group = np.nonzero(usable & (nffts == nfft))[0]
        spec = np.abs(np.fft.rfft(_windowed(xp, starts[group], lengths[group], int(nfft)), axis=1)) ** 2
        bin_hz = rate / int(nfft)
        half = np.maximum(1, (0.25 * f0[group] / bin_hz).astype(np.int64))
        for h in np.unique(half):  # frames with the same peak-search width together
            rows = np.nonzero(half == h)[0]
            _pick_peaks(
                spec[rows],
                bin_hz,
                int(h),
                f0[group[rows]],
                counts[group[rows]].astype(np.int64),
                group[rows],
                freqs,
                powers,
                ok,
            )
    return freqs, powers, ok


def _windowed(xp: np.ndarray, starts: np.ndarray, lengths: np.ndarray, nfft: int) -> np.ndarray:
    """Row r: ``xp[starts[r] : starts[r] + lengths[r]]`` (zeros outside ``xp``) times ``np.hanning`` of
    its length, zero-padded to ``nfft``."""
    top = int(lengths.max())
    padded = np.concatenate([np.zeros(top), xp, np.zeros(top)])
    t = np.arange(top)
    segs = padded[starts[:, None] + top + t[None, :]]
    out = np.zeros((lengths.size, nfft))
    for length in np.unique(lengths):
        rows = np.nonzero(lengths == length)[0]
        out[rows, :length] = segs[rows, :length] * np.hanning(int(length))
    return out


def _pick_peaks(
    spec: np.ndarray,
    bin_hz: float,
    half: int,
    f0: np.ndarray,
    m: np.ndarray,
    rows: np.ndarray,
    freqs: np.ndarray,
    powers: np.ndarray,
    ok: np.ndarray,
) -> None:
    """For each frame (row of ``spec``): the peak bin within ``half`` bins (a quarter of F0) of each of
    its ``m`` harmonics, refined by a parabola through the log power; written to ``freqs``/``powers``/
    ``ok`` at ``rows``, the powers normalised to sum to 1 over the frame's harmonics."""
    frames, size = spec.shape
    k = np.arange(1, int(m.max()) + 1)
    centre = np.round(k[None, :] * f0[:, None] / bin_hz).astype(np.int64)  # (frames, harmonics)
    window = np.clip(centre[:, :, None] + np.arange(-half, half + 1)[None, None, :], 1, size - 2)
    flat = window.reshape(frames, -1)
    values = np.take_along_axis(spec, flat, axis=1).reshape(window.shape)
    j = np.take_along_axis(window, np.argmax(values, axis=2)[..., None], axis=2)[..., 0]
    lo, c, hi = (np.log(np.maximum(np.take_along_axis(spec, j + d, axis=1), 1e-300)) for d in (-1, 0, 1))
    den = lo - 2.0 * c + hi
    dj = np.clip(np.where(den < 0, 0.5 * (lo - hi) / np.where(den < 0, den, -1.0), 0.0), -0.5, 0.5)
    p = np.exp(c - 0.25 * (lo - hi) * dj)
    for r, i in enumerate(rows):
        count = int(m[r])
        total = p[r, :count].sum()
        if not (np.isfinite(total) and total > 0):
            continue
        freqs[i, :count] = (j[r, :count] + dj[r, :count]) * bin_hz
        powers[i, :count] = p[r, :count] / total
        ok[i] = True


def dap(freqs: np.ndarray, powers: np.ndarray, max_formant_hz: float, order: int = 2 * N_FORMANTS) -> np.ndarray:
    """Discrete all-pole models, one per row: ``freqs``/``powers`` (frames, K), power 0 = no point.

    Minimises the discrete Itakura-Saito error over the given points by El-Jaroudi and Makhoul's
    fixed-point iteration R a = h(a) (R: the points' autocorrelation, h: the model's impulse
    response sampled at the points, time-reversed), started from plain LPC on R and relaxed, until
    no coefficient moves more than ``DAP_TOLERANCE``. A frame still moving after
    ``DAP_MAX_ITERATIONS`` is nan: its model drifts (typically a pole sliding toward the unit circle
    between two harmonics), so it has no formants to report. R gets a -100 dB diagonal load (a white
    floor) so that it is never singular. Returns the polynomials, shape (frames, order + 1),
    ``a[:, 0] == 1``."""
    w = np.pi * freqs / max_formant_hz
    present = powers > 0
    count = np.maximum(present.sum(axis=1), 1)[:, None]
    k = np.arange(order + 1)
    cos = np.cos(k[None, :, None] * w[:, None, :]) * present[:, None, :]  # (F, p+1, K)
    sin = np.sin(k[None, :, None] * w[:, None, :]) * present[:, None, :]
    r = (cos @ powers[..., None])[..., 0] / count  # (F, p+1)
    r[:, 0] *= 1.0 + 1e-10
    big_r = r[:, np.abs(k[:, None] - k[None, :])]  # (F, p+1, p+1) Toeplitz
    lpc = np.linalg.solve(big_r[:, :order, :order], r[:, 1 : order + 1, None])[..., 0]
    a = np.concatenate([np.ones((freqs.shape[0], 1)), -lpc], axis=1)
    # R does not change between iterations: invert it once. The arrays follow the frames still moving.
    idx = np.arange(freqs.shape[0])
    c, s_, m, r_inv, n, av = cos, sin, present, np.linalg.inv(big_r), count, a.copy()
    for _ in range(DAP_MAX_ITERATIONS):
        # A(w_n) = sum_k a_k e^{-j k w_n};  h_i = mean_n Re(e^{-j i w_n} / A(w_n))
        re = (av[:, None, :] @ c)[:, 0, :]
        im = -(av[:, None, :] @ s_)[:, 0, :]
        mag = np.where(m, re * re + im * im, 1.0)
        inv_re, inv_im = np.where(m, re / mag, 0.0), np.where(m, -im / mag, 0.0)
        h = ((c @ inv_re[..., None]) + (s_ @ inv_im[..., None]))[..., 0] / n
        new = (r_inv @ h[..., None])[..., 0]
        nxt = DAP_RELAXATION * new / new[:, :1] + (1.0 - DAP_RELAXATION) * av
        moving = np.abs(nxt - av).max(axis=1) > DAP_TOLERANCE
        a[idx] = nxt
        if not moving.all():
            idx, c, s_, m, r_inv, n, nxt = (
                idx[moving],
                c[moving],
                s_[moving],
                m[moving],
                r_inv[moving],
                n[moving],
                nxt[moving],
            )
            if idx.size == 0:
                break
        av = nxt
    a[idx] = np.nan
    return a


def formants_of(polys: np.ndarray, max_formant_hz: float, count: int = 2) -> np.ndarray:
    """The lowest ``count`` resonance frequencies (Hz) of each all-pole polynomial, shape (count, frames):
    complex roots between 50 Hz and ceiling - 50 Hz (Praat's rule), nan where there are fewer."""
    out = np.full((count, polys.shape[0]), np.nan)
    good = np.isfinite(polys).all(axis=1)
    if not good.any():
        return out
    p = polys[good]
    order = p.shape[1] - 1
    companion = np.zeros((p.shape[0], order, order))
    companion[:, 0, :] = -p[:, 1:] / p[:, :1]
    companion[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    roots = np.linalg.eigvals(companion)
    f = np.where(roots.imag > 0, np.angle(roots) * max_formant_hz / np.pi, np.nan)
    f = np.where((f > 50.0) & (f < max_formant_hz - 50.0), f, np.nan)
    out[:, good] = np.sort(f, axis=1)[:, :count].T  # nan sorts last
    return out


def formant_tracks(
    samples: np.ndarray, rate: int, pitch: PitchTrack, max_formant_hz: float = 5500.0, times: np.ndarray | None = None
) -> np.ndarray:
    """F1 and F2 (Hz) at ``times`` (default: all of ``pitch``'s frames), shape (2, frames); nan where
    the frame nearest in ``pitch`` is unvoiced or the frame cannot be analysed. ``pitch`` must be a
    track of this same audio: its F0 places the harmonics."""
    t = pitch.times if times is None else np.asarray(times, dtype=np.float64)
    f0 = pitch.f0_at(t)
    freqs, powers, ok = harmonic_powers(samples, rate, t, f0, max_formant_hz)
    out = np.full((2, t.size), np.nan)
    if ok.any():
        out[:, ok] = formants_of(dap(freqs[ok], powers[ok], max_formant_hz, 2 * N_FORMANTS), max_formant_hz)
    return out


@dataclass(frozen=True)
class Formants:
    """Median F1 and F2 (Hz) over a clip's voiced frames (nan when none could be measured)."""

    f1_hz: float
    f2_hz: float


def formant_medians(samples: np.ndarray, rate: int, pitch: PitchTrack, max_formant_hz: float = 5500.0) -> Formants:
    """Median F1/F2 over the voiced frames of ``pitch`` (a track of this audio)."""
    tracks = formant_tracks(samples, rate, pitch, max_formant_hz, pitch.times[pitch.voiced])
    med = [float(np.nanmedian(row)) if np.isfinite(row).any() else float("nan") for row in tracks]
    return Formants(f1_hz=med[0], f2_hz=med[1])


@dataclass(frozen=True)
class FormantChange:
    """Relative change of F1 and F2 (after / before - 1; nan when fewer than ``MIN_FRAMES`` frames
    could be compared) and how many frames each rests on."""

    f1: float
    f2: float
    f1_frames: int
    f2_frames: int


def formant_change(
    before: np.ndarray,
    after: np.ndarray,
    rate: int,
    before_pitch: PitchTrack,
    after_pitch: PitchTrack,
    max_formant_hz: float = 5500.0,
) -> FormantChange:
    """How far a pitch shift moved F1 and F2: ``after`` is ``before`` shifted (same length, same timing),
    ``before_pitch``/``after_pitch`` their pitch tracks.

    The same instants of the same utterance are compared, frame by frame, and the median of the
    per-frame ratios is the change (a ratio of two whole-clip medians mixes in which frames are
    voiced and, on short clips, jumps between vowel clusters). A frame counts when

    * it is voiced in both and so are its neighbours (at a voicing edge the two signals' voicing
      decisions and windows cover different stretches of sound), and
    * for each formant separately, the original's estimate lies at least ``RESOLVED_ABOVE_F0`` (2)
      times its F0 above zero, i.e. at or above its second harmonic. Below that the original's
      spectrum has at most one harmonic under the formant, so where the resonance sits is not in the
      signal (an estimator returns the first harmonic or the glottal peak): the original does not
      define that formant, so no shift can be held to keeping it. This is a property of the
      original alone, the same for every engine and shift.
    """
    both = before_pitch.voiced & after_pitch.voiced_at(before_pitch.times)
    interior = both & np.r_[False, both[:-1]] & np.r_[both[1:], False]
    t = before_pitch.times[interior]
    f0 = before_pitch.f0[interior]
    a = formant_tracks(before, rate, before_pitch, max_formant_hz, t)
    b = formant_tracks(after, rate, after_pitch, max_formant_hz, t)
    changes, frames = [], []
    for k in (0, 1):
        ok = np.isfinite(a[k]) & np.isfinite(b[k]) & (a[k] >= RESOLVED_ABOVE_F0 * f0)
        frames.append(int(ok.sum()))
        changes.append(float(np.median(b[k, ok] / a[k, ok]) - 1.0) if ok.sum() >= MIN_FRAMES else float("nan"))
    return FormantChange(f1=changes[0], f2=changes[1], f1_frames=frames[0], f2_frames=frames[1])
