from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ltxvoice.config import MeasureParams
from ltxvoice.dsp.pitch import adapted_range, cents, praat_track
from ltxvoice.measure import measure_samples
from tests import fixtures

VOICES = [("en+m1", 20), ("en+m3", 40), ("en+f2", 50), ("en+f4", 70)]


def _real_and_synthetic() -> list[tuple[str, np.ndarray, int]]:
    items = []
    for path in fixtures.alsa_speech():
        x, rate = sf.read(path, dtype="float32")
        items.append((path.name, x, rate))
    for voice, p in VOICES:
        items.append((f"espeak {voice} p{p}", fixtures.espeak_samples(voice, p), 48000))
    return items


@pytest.fixture(scope="module")
def speech() -> list[tuple[str, np.ndarray, int]]:
    return _real_and_synthetic()


def test_measured_median_within_10_cents_of_praat(speech: list[tuple[str, np.ndarray, int]]) -> None:
    """The stage resamples to 16 kHz before Praat for speed; the median must stay Praat's own."""
    params = MeasureParams()
    for name, x, rate in speech:
        reference = praat_track(x, rate, params.floor_hz, params.ceiling_hz).median()
        measured = measure_samples(x, rate, params)
        assert abs(cents(measured.f0_hz, reference)) <= 10, (name, measured.f0_hz, reference)
        # WORLD is recorded beside Praat as a second opinion, with no octave error between them
        assert abs(measured.f0_disagreement_cents) < 100, (name, measured)
        assert 0 < measured.voiced_fraction <= 1 and measured.voiced_seconds > 0.2


def test_whisper_has_little_voicing() -> None:
    x = fixtures.espeak_samples("en+whisper", 50)
    m = measure_samples(x, 48000, MeasureParams())
    assert m.voiced_seconds < 1.0


def test_silence_has_no_pitch() -> None:
    m = measure_samples(np.zeros(48000, np.float32), 48000, MeasureParams())
    assert np.isnan(m.f0_hz) and m.voiced_fraction == 0


def test_adapted_range_follows_the_target() -> None:
    assert adapted_range(55.0, 60.0, 600.0) == (33.0, 600.0)
    assert adapted_range(200.0, 60.0, 600.0) == (60.0, 600.0)
    assert adapted_range(400.0, 60.0, 600.0) == (60.0, 720.0)
    assert cents(200, 100) == pytest.approx(1200)


def test_voiced_at_uses_nearest_frame_time() -> None:
    from ltxvoice.dsp.pitch import PitchTrack

    track = PitchTrack(times=np.array([0.015, 0.025, 0.035]), f0=np.array([0.0, 120.0, 0.0]), time_step=0.01)
    assert track.voiced_at(np.array([0.0, 0.021, 0.029, 0.5])).tolist() == [False, True, True, False]


def test_real_arctic_voices_have_plausible_pitch(arctic: list[tuple[Path, str]]) -> None:
    """Real read speech (CMU ARCTIC): a low and a higher voice land in the usual adult ranges (male about
    85-165 Hz, female about 165-255 Hz), Praat and WORLD agree, and about half the utterance is voiced."""
    params = MeasureParams()
    (low, _), (high, _) = arctic
    measured = {}
    for path in (low, high):
        x, rate = sf.read(path, dtype="float32")
        measured[path.name] = m = measure_samples(x, rate, params)
        assert abs(m.f0_disagreement_cents) < 100, (path.name, m)
        assert 0.3 <= m.voiced_fraction <= 0.8 and m.voiced_seconds > 1.0, (path.name, m)
    assert 85 <= measured[low.name].f0_hz <= 165, measured  # 127 Hz when written
    assert 165 <= measured[high.name].f0_hz <= 255, measured  # 191 Hz when written
