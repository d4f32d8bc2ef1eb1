"""The formant measurement itself, on synthetic speech whose formants are known exactly."""

from __future__ import annotations

import numpy as np
import parselmouth
import pytest

from ltxvoice.dsp.formants import (
    MIN_FRAMES,
    N_FORMANTS,
    PERIODS,
    PRE_EMPHASIS_FROM_HZ,
    formant_change,
    formant_medians,
    formant_tracks,
    harmonic_powers,
)
from ltxvoice.dsp.pitch import adapted_range, praat_track
from ltxvoice.media import resample
from tests import fixtures

RATE = 16000


def _at16k(x: np.ndarray) -> np.ndarray:
    return resample(x, 48000, RATE)


def _pair(f0: float, semitones: float) -> tuple[np.ndarray, np.ndarray, object, object]:
    """A synthetic utterance and its perfectly formant-preserving shift (same filter, source moved)."""
    x = _at16k(fixtures.vowel(f0))
    y = _at16k(fixtures.vowel(f0, 2 ** (semitones / 12)))
    before = praat_track(x, RATE, 60.0, 600.0)
    after = praat_track(y, RATE, *adapted_range(before.median() * 2 ** (semitones / 12), 60.0, 600.0))
    return x, y, before, after


@pytest.mark.parametrize("f0", [100.0, 200.0, 300.0])
def test_tracks_follow_the_true_formants(f0: float) -> None:
    x = _at16k(fixtures.vowel(f0))
    pitch = praat_track(x, RATE, 60.0, 600.0)
    t = pitch.times[pitch.voiced]
    measured = formant_tracks(x, RATE, pitch, times=t)
    truth = np.array([fixtures.vowel_formants(t)[0], fixtures.vowel_formants(t)[1]])
    error = np.nanmedian(np.abs(measured / truth - 1.0), axis=1)
    assert error[0] <= 0.03 and error[1] <= 0.03, (f0, error)
    assert np.isfinite(measured).mean() > 0.9


@pytest.mark.parametrize("f0", [110.0, 200.0, 260.0])
def test_a_perfect_shift_measures_as_no_change(f0: float) -> None:
    """Only the source moves, so any change reported is the measurement's own error."""
    for semitones in (-7, -3, 3, 7):
        x, y, before, after = _pair(f0, semitones)
        moved = formant_change(x, y, RATE, before, after)
        assert abs(moved.f1) <= 0.02 and abs(moved.f2) <= 0.02, (f0, semitones, moved)
        assert moved.f1_frames >= MIN_FRAMES and moved.f2_frames >= MIN_FRAMES


def test_burg_lpc_would_report_a_change_that_is_not_there() -> None:
    """Why the measurement is not Praat's Burg: on the same perfect pairs its F1, frame by frame over
    the same frames, moves with F0 (harmonics pull the LPC poles)."""
    worst = 0.0
    for f0, semitones in ((200.0, 3), (260.0, 7), (260.0, -3)):
        x, y, before, after = _pair(f0, semitones)
        t = before.times[before.voiced & after.voiced_at(before.times)]
        f1 = []
        for signal in (x, y):
            burg = parselmouth.Sound(signal, sampling_frequency=RATE).to_formant_burg(
                time_step=0.01, max_number_of_formants=5.0, maximum_formant=5500.0, window_length=0.04
            )
            f1.append(np.array([burg.get_value_at_time(1, float(v)) for v in t]))
        ok = np.isfinite(f1[0]) & np.isfinite(f1[1]) & (f1[0] >= 2 * before.f0_at(t))
        worst = max(worst, abs(float(np.median(f1[1][ok] / f1[0][ok])) - 1.0))
        assert abs(formant_change(x, y, RATE, before, after).f1) <= 0.02
    assert worst > 0.05


@pytest.mark.parametrize("f0", [120.0, 200.0])
def test_moved_formants_are_measured(f0: float) -> None:
    """The same source through a vocal tract 12% longer: every formant 12% lower, timing kept."""
    x = _at16k(fixtures.vowel(f0))
    y = _at16k(fixtures.vowel(f0, formant_scale=0.88))
    moved = formant_change(x, y, RATE, praat_track(x, RATE, 60.0, 600.0), praat_track(y, RATE, 60.0, 600.0))
    assert moved.f1 == pytest.approx(-0.12, abs=0.02) and moved.f2 == pytest.approx(-0.12, abs=0.02), moved


def test_raised_formants_are_caught_by_f1() -> None:
    """A 20% shorter tract (the chipmunk a plain resampling gives): F1 reads +20%. F2 does not: with
    the original's 5500 Hz ceiling kept, the raised F5 leaves the band and the poles regroup, so F2's
    number is not the moved F2; F1 alone is enough for the select gate to reject such a shift."""
    x = _at16k(fixtures.vowel(150.0))
    y = _at16k(fixtures.vowel(150.0, formant_scale=1.2))
    moved = formant_change(x, y, RATE, praat_track(x, RATE, 60.0, 600.0), praat_track(y, RATE, 60.0, 600.0))
    assert moved.f1 == pytest.approx(0.2, abs=0.03), moved


def test_a_formant_the_original_does_not_resolve_is_not_compared() -> None:
    """At 420 Hz the /i/-/u/ part's F1 (320-350 Hz) sits below the second harmonic everywhere and
    the /a/ part's F1 (700-750 Hz) below it most of the time: too few frames, so F1 is nan, not a
    number read off the harmonics; F2 is still measured."""
    x, y, before, after = _pair(420.0, 3)
    moved = formant_change(x, y, RATE, before, after)
    assert np.isnan(moved.f1) and moved.f1_frames < MIN_FRAMES
    assert abs(moved.f2) <= 0.05 and moved.f2_frames >= MIN_FRAMES


def test_medians_and_silence() -> None:
    x = _at16k(fixtures.vowel(120.0))
    pitch = praat_track(x, RATE, 60.0, 600.0)
    med = formant_medians(x, RATE, pitch)
    assert 300 < med.f1_hz < 800 and 900 < med.f2_hz < 2300
    silent = np.zeros(RATE, np.float32)
    quiet = formant_medians(silent, RATE, praat_track(silent, RATE, 60.0, 600.0))
    assert np.isnan(quiet.f1_hz) and np.isnan(quiet.f2_hz)


def _harmonic_powers_frame_by_frame(
    samples: np.ndarray, rate: int, times: np.ndarray, f0: np.ndarray, max_formant_hz: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The definition ``harmonic_powers`` computes for all frames at once, one frame at a time."""
    x = np.asarray(samples, dtype=np.float64)
    a = np.exp(-2.0 * np.pi * PRE_EMPHASIS_FROM_HZ / rate)
    xp = np.r_[x[:1], x[1:] - a * x[:-1]]
    safe = np.where(f0 > 0, f0, np.inf)
    counts = np.floor((max_formant_hz - 0.5 * safe) / safe).clip(min=0)
    counts[~np.isfinite(counts)] = 0
    k_max = max(int(counts.max()), 1)
    freqs, powers, ok = np.zeros((len(times), k_max)), np.zeros((len(times), k_max)), np.zeros(len(times), bool)
    for i in range(len(times)):
        m = int(counts[i])
        if m < N_FORMANTS + 1:
            continue
        length = int(round(PERIODS * rate / f0[i])) | 1
        start = int(round(times[i] * rate)) - length // 2
        lo, hi = max(start, 0), min(start + length, xp.size)
        if hi - lo < length // 2:
            continue
        seg = np.zeros(length)
        seg[lo - start : hi - start] = xp[lo:hi]
        nfft = max(4096, 1 << int(np.ceil(np.log2(4 * length))))
        spec = np.abs(np.fft.rfft(seg * np.hanning(length), nfft)) ** 2
        bin_hz = rate / nfft
        k = np.arange(1, m + 1)
        half = max(1, int(0.25 * f0[i] / bin_hz))
        centre = np.round(k * f0[i] / bin_hz).astype(int)
        window = np.clip(centre[:, None] + np.arange(-half, half + 1)[None, :], 1, spec.size - 2)
        j = window[np.arange(m), np.argmax(spec[window], axis=1)]
        lo_, c, hi_ = (np.log(np.maximum(spec[j + d], 1e-300)) for d in (-1, 0, 1))
        den = lo_ - 2.0 * c + hi_
        dj = np.clip(np.where(den < 0, 0.5 * (lo_ - hi_) / np.where(den < 0, den, -1.0), 0.0), -0.5, 0.5)
        p = np.exp(c - 0.25 * (lo_ - hi_) * dj)
        total = p.sum()
        if not (np.isfinite(total) and total > 0):
            continue
        freqs[i, :m], powers[i, :m], ok[i] = (j + dj) * bin_hz, p / total, True
    return freqs, powers, ok


def test_harmonic_powers_equal_the_frame_by_frame_definition_to_the_bit() -> None:
    """All frames at once (grouped FFTs and peak picking) must give each frame exactly what analysing
    it alone gives: the dataset may not change with the speed-up. Gliding pitch from 55 to 620 Hz
    (frames with too few harmonics, several window lengths and FFT sizes), frames hanging off both
    ends, unvoiced frames and silence."""
    rng = np.random.default_rng(7)
    x = _at16k(fixtures.vowel(140.0)) + 1e-4 * rng.standard_normal(_at16k(fixtures.vowel(140.0)).size)
    x[: RATE // 10] = 0.0
    times = np.arange(-0.01, x.size / RATE + 0.01, 0.005)
    f0 = np.geomspace(55.0, 620.0, times.size)
    f0[::7] = 0.0
    new = harmonic_powers(x, RATE, times, f0, 5500.0)
    old = _harmonic_powers_frame_by_frame(x, RATE, times, f0, 5500.0)
    assert new[2].sum() > 0.5 * times.size and not new[2].all()
    for got, want in zip(new, old):
        assert got.shape == want.shape and np.array_equal(got, want)
