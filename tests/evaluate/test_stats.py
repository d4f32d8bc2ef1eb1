"""The statistics recover what a generator of known behaviour does: slopes inside their CIs at the
nominal rate, unvoiced output flagged, a leaking base arm detected, decisions right for clear
cases and inconclusive for noisy ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ltxvoice.evaluate.stats import (
    DOES_NOT_TRACK,
    INCONCLUSIVE,
    TRACKS,
    ConditionPoint,
    DriftPoint,
    SweepPoint,
    SweepRules,
    analyse_conditions,
    analyse_drift,
    analyse_sweep,
    expanded_confidence,
    relative_distance,
    to_scale,
)

TONES = (90.0, 120.0, 160.0, 210.0, 280.0)


def simulate(
    lora_a: float,
    *,
    base_a: float = 0.0,
    noise: float = 5.0,
    seeds: int = 10,
    p_unvoiced: float = 0.0,
    seed_sd: float = 10.0,
    seed_slope_sd: float = 0.0,
    rng_seed: int = 0,
    scale: str = "hz",
) -> list[SweepPoint]:
    """Pitch = a * tone + b + noise (in Hz, or in semitones above 100 Hz), with a per-seed offset
    and a per-seed deviation of the slope (generations of one seed are correlated)."""
    rng = np.random.default_rng(rng_seed)
    points = []
    for s in range(seeds):
        offset = rng.normal(0, seed_sd)
        tilt = rng.normal(0, seed_slope_sd)
        for tone in TONES:
            x = tone if scale == "hz" else 12 * math.log2(tone / 100)
            for arm, a, strength in (("base", base_a, 0.0), ("lora@1", lora_a, 1.0)):
                y = (a + tilt) * x + (120.0 if scale == "hz" else 6.0) + offset + rng.normal(0, noise)
                f0 = y if scale == "hz" else 100 * 2 ** (y / 12)
                if arm != "base" and rng.random() < p_unvoiced:
                    f0 = math.nan
                points.append(SweepPoint(arm, strength, s, tone, f0, 0.0 if math.isnan(f0) else 0.8))
    return points


RULES = SweepRules(scale="hz", bootstrap=1000, min_slope=0.25, min_seeds=6)


def test_clear_tracking_is_recovered_and_decided() -> None:
    base, lora = analyse_sweep(simulate(1.0), RULES)
    assert lora.fit.slope.lo <= 1.0 <= lora.fit.slope.hi
    assert abs(lora.fit.slope.estimate - 1.0) < 0.05
    assert lora.verdict == TRACKS
    assert base.leak is False and base.fit.slope.lo <= 0 <= base.fit.slope.hi
    assert lora.voiced_share == 1.0 and lora.generations == 50


def test_no_tracking_is_decided() -> None:
    _, lora = analyse_sweep(simulate(0.0), RULES)
    assert lora.verdict == DOES_NOT_TRACK
    assert lora.fit.slope.hi < 0.25


@pytest.mark.parametrize("a", [0.3, 0.7])
def test_noisy_sweep_is_inconclusive(a: float) -> None:
    _, lora = analyse_sweep(simulate(a, noise=120.0, seeds=8, rng_seed=3), RULES)
    assert lora.verdict == INCONCLUSIVE
    assert lora.fit.slope.lo < 0.25 < lora.fit.slope.hi  # the CI really is too wide to say


def test_mostly_unvoiced_arm_is_flagged_and_not_judged() -> None:
    _, lora = analyse_sweep(simulate(1.0, p_unvoiced=0.8), RULES)
    assert lora.voiced_share < 0.35
    assert lora.verdict == INCONCLUSIVE and "unvoiced" in lora.reason


def test_leaking_base_arm_is_detected_and_not_credited_to_the_lora() -> None:
    base, same = analyse_sweep(simulate(0.8, base_a=0.8), RULES)
    assert base.leak is True and "leak" in base.reason
    assert base.fit.r.estimate > 0.8
    assert same.fit.slope.lo > 0.25  # the LoRA arm alone looks like tracking ...
    assert same.verdict == DOES_NOT_TRACK  # ... but no more than the base arm does
    assert same.vs_base.lo <= 0 <= same.vs_base.hi
    _, more = analyse_sweep(simulate(1.0, base_a=0.0), RULES)
    assert more.verdict == TRACKS


def test_semitone_scale_recovers_a_log_slope() -> None:
    _, lora = analyse_sweep(
        simulate(0.6, noise=0.3, seed_sd=1.0, scale="semitones"),
        SweepRules(scale="semitones", bootstrap=1000, min_seeds=6),
    )
    assert lora.fit.slope.lo <= 0.6 <= lora.fit.slope.hi
    assert lora.verdict == TRACKS


def test_too_few_seeds_is_inconclusive() -> None:
    _, lora = analyse_sweep(simulate(1.0, seeds=3), RULES)
    assert lora.verdict == INCONCLUSIVE and "too few seeds" in lora.reason


def test_confidence_intervals_cover_the_true_slope_at_the_nominal_rate() -> None:
    """200 simulated sweeps (10 seeds; a seed's generations share an offset and a slope deviation):
    the 95% CI of the slope and of the over-base difference each contain the truth in 89-99% of them."""
    covered = covered_diff = 0
    n = 200
    for i in range(n):
        _, lora = analyse_sweep(
            simulate(0.7, noise=20.0, seed_slope_sd=0.15, rng_seed=100 + i),
            SweepRules(scale="hz", bootstrap=600, seed=i),
        )
        covered += lora.fit.slope.lo <= 0.7 <= lora.fit.slope.hi
        covered_diff += lora.vs_base.lo <= 0.7 <= lora.vs_base.hi
    assert 0.89 <= covered / n <= 0.99
    assert 0.89 <= covered_diff / n <= 0.99


def test_expanded_confidence_widens_for_few_seeds_only() -> None:
    assert expanded_confidence(0.95, 4) > expanded_confidence(0.95, 10) > expanded_confidence(0.95, 100) > 0.95
    assert abs(expanded_confidence(0.95, 10_000) - 0.95) < 1e-3


def test_seeded_and_deterministic() -> None:
    pts = simulate(0.5, noise=30.0)
    a, b = analyse_sweep(pts, RULES), analyse_sweep(list(reversed(pts)), RULES)
    assert a == b
    c = analyse_sweep(pts, SweepRules(scale="hz", bootstrap=1000, min_seeds=6, seed=9))
    assert c[1].fit.slope.lo != a[1].fit.slope.lo  # the bootstrap seed matters, and only it


def test_sweep_needs_a_base_arm() -> None:
    with pytest.raises(ValueError, match="base arm"):
        analyse_sweep([p for p in simulate(1.0) if p.arm != "base"], RULES)


def test_to_scale() -> None:
    assert to_scale([100.0, 200.0], "semitones").tolist() == [0.0, 12.0]
    assert to_scale([100.0], "hz").tolist() == [100.0]


def test_conditions_differences_are_paired_by_seed() -> None:
    rng = np.random.default_rng(0)
    pts = []
    for s in range(10):
        seed_level = rng.normal(-20, 3)  # shared by both arms: pairing removes it
        for cond, whisper in (("whispering", True), ("none", False)):
            pts.append(ConditionPoint("base", 0.0, s, cond, 0.8 + rng.normal(0, 0.02), seed_level))
            v = 0.05 if whisper else 0.8
            lvl = seed_level - (12.0 if whisper else 0.0) + rng.normal(0, 0.5)
            pts.append(ConditionPoint("lora@1", 1.0, s, cond, v + rng.normal(0, 0.02), lvl))
    res = {(r.arm, r.condition): r for r in analyse_conditions(pts, RULES)}
    w = res[("lora@1", "whispering")]
    assert w.voiced_vs_base.hi < -0.6 and w.level_vs_base.lo <= -12 <= w.level_vs_base.hi
    assert w.level_vs_base.hi - w.level_vs_base.lo < 2.0  # narrow: the seed level cancels
    n = res[("lora@1", "none")]
    assert n.voiced_vs_base.lo <= 0 <= n.voiced_vs_base.hi
    assert res[("base", "none")].voiced_vs_base.estimate == 0.0


def test_silence_counts_at_the_floor() -> None:
    pts = [ConditionPoint("base", 0.0, s, "x", 0.0, -math.inf) for s in range(3)]
    (r,) = analyse_conditions(pts, RULES)
    assert r.level_dbfs.estimate == -120.0


def test_drift_verdicts() -> None:
    floor = [1.0, 1.1, 0.9]
    same = [DriftPoint("lora@1", 1.0, s, "c", 0.0, 0.0) for s in range(5)]
    small = [DriftPoint("lora@1", 1.0, s, "c", 0.01 + 0.001 * s, 0.1) for s in range(5)]
    big = [DriftPoint("lora@1", 1.0, s, "c", 0.5, 2.0) for s in range(5)]
    assert analyse_drift(same, floor, 0.05, RULES)[0].verdict == "identical"
    ok = analyse_drift(small, floor, 0.05, RULES)[0]
    assert ok.verdict == "unchanged" and 0.01 < ok.ratio.estimate < 0.02
    assert analyse_drift(big, floor, 0.05, RULES)[0].verdict == "changed"
    assert analyse_drift(small, [], 0.05, RULES)[0].verdict == "no data"


def test_relative_distance() -> None:
    a = np.ones((2, 3))
    assert relative_distance(a, a) == 0.0
    assert relative_distance(2 * a, a) == pytest.approx(1.0)
    assert relative_distance(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="shapes"):
        relative_distance(np.zeros(3), np.zeros(4))
