"""Voice metrics: pitch_cents is small for output at the tone's pitch and large for output that
ignores it, vuv_f1 falls with unvoiced output, the level is the RMS dBFS, wer is never invented."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ltxvoice.config import EvalPitchParams
from ltxvoice.evaluate.stats import SweepPoint, SweepRules
from ltxvoice.evaluate.sweep import Arm, pitch_track, run_sweep
from ltxvoice.evaluate.voice import analyse_voice, pitch_cents, vuv_f1
from tests.evaluate.standin import Behaviour, StandIn, tone_references
from tests.evaluate.voices import RATE, gapped, harmonic

PITCH = EvalPitchParams()
RULES = SweepRules(bootstrap=400, seed=0)


def test_pitch_cents_of_known_tones() -> None:
    assert pitch_cents(pitch_track(harmonic(200.0), RATE, PITCH), 200.0) < 10.0
    off = pitch_cents(pitch_track(harmonic(150.0), RATE, PITCH), 200.0)
    assert off == pytest.approx(1200 * math.log2(200 / 150), abs=15.0)
    assert math.isnan(pitch_cents(pitch_track(np.zeros(RATE // 2, np.float32), RATE, PITCH), 200.0))


def test_vuv_f1_definition() -> None:
    ref = np.ones(10, bool)
    assert vuv_f1(np.ones(10, bool), ref) == 1.0
    assert vuv_f1(np.r_[np.ones(5, bool), np.zeros(5, bool)], ref) == pytest.approx(2 * 0.5 / 1.5)
    assert vuv_f1(np.zeros(4, bool), np.zeros(4, bool)) == 1.0  # agree: nothing voiced
    assert vuv_f1(np.ones(4, bool), np.zeros(4, bool)) == 0.0
    assert vuv_f1(np.ones(3, bool), np.r_[np.ones(3, bool), np.zeros(20, bool)]) == 1.0  # common frames only
    assert math.isnan(vuv_f1(np.ones(0, bool), ref))
    half = pitch_track(gapped(180.0, 0.5), RATE, PITCH).voiced
    assert vuv_f1(half, pitch_track(harmonic(180.0, 1.0), RATE, PITCH).voiced) == pytest.approx(2 / 3, abs=0.06)


def test_planted_effect_ranks_the_following_arm_first() -> None:
    gen = StandIn(
        {
            "base": Behaviour(a=0.0, b=150.0, noise=2.0, seed_sd=3.0),
            "lora@1": Behaviour(a=1.0, b=0.0, noise=2.0, seed_sd=3.0),
        },
        seconds=0.5,
    )
    refs = tone_references((100.0, 160.0, 250.0), seconds=0.5)
    run = run_sweep(gen, Arm.base(), "x", refs, list(range(4)), PITCH)
    run.extend(run_sweep(gen, Arm("lora@1", 1.0, None), "x", refs, list(range(4)), PITCH))
    base, lora = analyse_voice(run.sweep, RULES)
    assert (base.arm, lora.arm) == ("base", "lora@1") and lora.generations == 12
    assert lora.pitch_cents.estimate < 50.0 and base.pitch_cents.estimate > 300.0
    assert lora.pitch_cents.hi < base.pitch_cents.lo
    assert lora.vuv_f1.estimate > 0.9 and base.vuv_f1.estimate > 0.9
    assert lora.level_dbfs.estimate == pytest.approx(-20.0, abs=1.0)
    m = lora.as_metrics()
    assert m["wer"] is None and "no transcript" in m["wer_reason"] and m["level_unit"] == "RMS dBFS"
    assert m["pitch_cents_lo"] <= m["pitch_cents"] <= m["pitch_cents_hi"]


def test_unvoiced_output_lowers_vuv_f1_and_leaves_pitch_cents_out() -> None:
    points = [SweepPoint("base", 0.0, s, 100.0, 100.0, 0.9, 10.0, 0.95, -20.0) for s in range(6)]
    points += [
        SweepPoint("lora@1", 1.0, s, 100.0, math.nan, 0.0, math.nan, 0.0, -math.inf)
        if s % 2
        else SweepPoint("lora@1", 1.0, s, 100.0, 100.0, 0.9, 30.0, 0.9, -20.0)
        for s in range(6)
    ]
    base, lora = analyse_voice(points, RULES)
    assert lora.pitch_cents.estimate == pytest.approx(30.0)  # the unvoiced seeds have no pitch to judge
    assert lora.vuv_f1.estimate == pytest.approx(0.45) and base.vuv_f1.estimate == pytest.approx(0.95)
    assert lora.level_dbfs.estimate == pytest.approx((-20.0 - 120.0) / 2)  # silence at the floor
