from __future__ import annotations

import numpy as np
import pytest

from ltxvoice.config import TonesParams
from ltxvoice.dsp.pitch import adapted_range, cents, praat_track
from ltxvoice.dsp.tone import Timbre, synthesize
from ltxvoice.media import rms_dbfs
from ltxvoice.tones import draw_timbre


@pytest.mark.parametrize("f0", [65.0, 110.0, 180.0, 260.0, 350.0])
def test_tone_is_at_its_pitch_voiced_and_levelled(f0: float) -> None:
    params = TonesParams()
    for seed in range(3):
        x = synthesize(f0, 2.0, 48000, draw_timbre(params, seed), seed=seed, level_dbfs=-20)
        assert x.size == 96000
        assert rms_dbfs(x) == pytest.approx(-20, abs=0.01)
        lo, hi = adapted_range(f0, 60, 600)
        track = praat_track(x, 48000, lo, hi)
        assert abs(cents(track.median(), f0)) < 10
        assert track.voiced_fraction() > 0.9


def test_timbre_is_seeded_and_varied() -> None:
    params = TonesParams()
    assert draw_timbre(params, 1) == draw_timbre(params, 1)
    timbres = [draw_timbre(params, s) for s in range(40)]
    assert len({t.vowel for t in timbres}) == 5
    assert len({t.rolloff_db_per_octave for t in timbres}) == 40


def test_same_timbre_and_seed_give_the_same_samples() -> None:
    t = Timbre("a", 1.0, 9.0, 5.0, 20.0, 0.5, 3.0, 25.0)
    np.testing.assert_array_equal(synthesize(150, 1, 48000, t, 7), synthesize(150, 1, 48000, t, 7))
    assert not np.array_equal(synthesize(150, 1, 48000, t, 7), synthesize(150, 1, 48000, t, 8))
