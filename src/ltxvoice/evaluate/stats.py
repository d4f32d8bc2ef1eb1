"""The statistics of the ``evaluate`` stage: pure numpy over measured numbers, no model.

Three questions, each answered with a confidence interval over **seeds** (the unit that varies
independently between generations: within one seed, every tone or prompt shares the same initial
noise, so those generations are not independent and are resampled together):

* **Helium sweep** - does the generated pitch follow the reference tone's pitch? Per arm (the base
  model, and the LoRA at each strength), the slope of generated pitch on tone pitch, with a seeded
  cluster bootstrap over seeds; the share of generations that are voiced at all; a leak control (the
  base arm never saw the LoRA, so any slope it has is the reference leaking into the output); and a
  decision ``tracks`` / ``does not track`` / ``inconclusive`` by the rules in :func:`decide`.
* **Conditions** (register recipe: manner keywords; any prompt set) - voiced fraction and level per
  prompt label and arm, and the LoRA-minus-base difference, paired by seed.
* **Video drift** - how far the video latents move when the LoRA is switched on at the same seed,
  next to how far they move between two seeds of the base model (the scale of "a different video").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Scale = Literal["semitones", "hz"]
Verdict = Literal["tracks", "does not track", "inconclusive"]
DriftVerdict = Literal["identical", "unchanged", "changed", "no data"]

TRACKS: Verdict = "tracks"
DOES_NOT_TRACK: Verdict = "does not track"
INCONCLUSIVE: Verdict = "inconclusive"

SEMITONE_REFERENCE_HZ = 100.0
SILENCE_FLOOR_DBFS = -120.0
MIN_VALID_REPLICATES = 0.9


def to_scale(hz: np.ndarray | Sequence[float], scale: Scale) -> np.ndarray:
    """Pitch in the unit the slope is fitted in: semitones above 100 Hz (a slope of 1 means "one
    semitone up in the tone gives one semitone up in the speech", whatever the register) or Hz."""
    values = np.asarray(hz, dtype=np.float64)
    if scale == "hz":
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return 12.0 * np.log2(values / SEMITONE_REFERENCE_HZ)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval (nan where undefined)."""

    estimate: float
    lo: float
    hi: float

    @staticmethod
    def undefined() -> Interval:
        return Interval(math.nan, math.nan, math.nan)

    def as_dict(self, digits: int = 4) -> dict[str, float | None]:
        return {k: _round(v, digits) for k, v in (("estimate", self.estimate), ("lo", self.lo), ("hi", self.hi))}


def _round(value: float, digits: int) -> float | None:
    return None if not math.isfinite(value) else round(float(value), digits) + 0.0  # no -0.0


def expanded_confidence(confidence: float, clusters: int) -> float:
    """The percentile level that gives a bootstrap interval over ``clusters`` seeds its nominal
    ``confidence`` (Hesterberg's expanded percentile interval).

    A plain percentile bootstrap over few clusters is too narrow: resampling n seeds estimates the
    variance with a factor (n-1)/n and uses normal rather than t quantiles (about 90% coverage
    instead of 95% at 10 seeds). The expanded interval takes the percentiles at the normal level
    whose quantile equals sqrt(n/(n-1)) * t_{n-1}."""
    if clusters < 2:
        return confidence
    from scipy.stats import norm, t

    z = math.sqrt(clusters / (clusters - 1)) * t.ppf(0.5 + confidence / 2.0, clusters - 1)
    return float(2.0 * norm.cdf(z) - 1.0)


def percentiles(replicates: np.ndarray, confidence: float, clusters: int) -> tuple[float, float]:
    """Expanded percentile interval of bootstrap replicates (nan where none is finite)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - expanded_confidence(confidence, clusters)) / 2.0
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def seed_counts(n_seeds: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n_seeds`` seeds is drawn in each of ``n_boot`` bootstrap replicates
    (each replicate draws ``n_seeds`` seeds with replacement). Shape (n_boot, n_seeds)."""
    draws = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    counts = np.zeros((n_boot, n_seeds), dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(n_boot), n_seeds), draws.ravel()), 1.0)
    return counts


def _weighted_fit(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares slope, intercept and Pearson r of y on x for each row of point weights.
    Rows where x has no spread (or y none, for r) give nan."""
    sw = weights.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx = (weights @ x) / sw
        my = (weights @ y) / sw
        dx = x[None, :] - mx[:, None]
        dy = y[None, :] - my[:, None]
        sxx = (weights * dx * dx).sum(axis=1)
        syy = (weights * dy * dy).sum(axis=1)
        sxy = (weights * dx * dy).sum(axis=1)
        scale_x = (weights * x[None, :] ** 2).sum(axis=1) + 1e-300
        flat_x = sxx <= 1e-12 * scale_x
        slope = np.where(flat_x, np.nan, sxy / sxx)
        intercept = my - slope * mx
        r = np.where(flat_x | (syy <= 0), np.nan, sxy / np.sqrt(sxx * syy))
    return slope, intercept, r


@dataclass(frozen=True)
class SlopeFit:
    """Generated pitch regressed on tone pitch for one arm, over its voiced generations."""

    slope: Interval
    intercept: float
    r: Interval
    points: int  # voiced generations used
    seeds: int  # seeds with at least two voiced generations at different tones
    valid_share: float  # share of bootstrap replicates in which the slope is defined

    @staticmethod
    def empty() -> SlopeFit:
        return SlopeFit(Interval.undefined(), math.nan, Interval.undefined(), 0, 0, 0.0)


def fit_with_replicates(
    x: np.ndarray, y: np.ndarray, seed_index: np.ndarray, counts: np.ndarray, confidence: float
) -> tuple[SlopeFit, np.ndarray]:
    """Pooled OLS fit plus the cluster-bootstrap replicates of the slope (resampled seeds carry all
    of their points). ``seed_index`` maps each point to a column of ``counts``."""
    if x.size == 0:
        return SlopeFit.empty(), np.full(counts.shape[0], np.nan)
    slope, intercept, r = _weighted_fit(np.ones((1, x.size)), x, y)
    rep_slope, _, rep_r = _weighted_fit(counts[:, seed_index], x, y)
    per_seed = [np.unique(x[seed_index == s]).size >= 2 for s in np.unique(seed_index)]
    fit = SlopeFit(
        slope=Interval(float(slope[0]), *percentiles(rep_slope, confidence, counts.shape[1])),
        intercept=float(intercept[0]),
        r=Interval(float(r[0]), *percentiles(rep_r, confidence, counts.shape[1])),
        points=int(x.size),
        seeds=int(sum(per_seed)),
        valid_share=float(np.isfinite(rep_slope).mean()),
    )
    return fit, rep_slope


@dataclass(frozen=True)
class SweepPoint:
    """One generation of the helium sweep, measured on its generated span only."""

    arm: str  # "base" or the LoRA arm's name
    strength: float  # 0 for the base arm
    seed: int
    tone_hz: float
    f0_hz: float  # median F0 over voiced frames; nan when the generation is not voiced
    voiced_fraction: float  # share of analysis frames that are voiced
    pitch_cents: float = math.nan  # voice metrics (ltxvoice.evaluate.voice): median |cents| to the tone
    vuv_f1: float = math.nan  # voicing agreement with the reference
    level_dbfs: float = math.nan  # RMS level of the generated span
    wer: float = math.nan  # word error rate of the ASR transcript against the words asked for; nan: not transcribed


@dataclass(frozen=True)
class SweepRules:
    """The numbers the helium decision depends on (see :func:`decide`)."""

    min_slope: float = 0.25  # the smallest slope that counts as tracking
    min_voiced_share: float = 0.5  # below this share of voiced generations, no pitch claim is made
    min_seeds: int = 4  # seeds with usable voiced data needed in every arm compared
    confidence: float = 0.95
    bootstrap: int = 2000
    seed: int = 0
    scale: Scale = "semitones"


@dataclass(frozen=True)
class ArmResult:
    """Everything the sweep says about one arm."""

    arm: str
    strength: float
    generations: int
    voiced_share: float  # share of generations with a measurable pitch
    mean_voiced_fraction: float  # mean share of voiced frames per generation
    fit: SlopeFit
    vs_base: Interval  # slope of this arm minus slope of the base arm, paired by resampled seeds
    leak: bool | None  # base arm only: the tone leaks into the output (slope CI above 0)
    verdict: Verdict | None  # LoRA arms only
    reason: str


def decide(
    fit: SlopeFit, vs_base: Interval, voiced_share: float, base_fit: SlopeFit, rules: SweepRules
) -> tuple[Verdict, str]:
    """Decide whether a LoRA arm makes the generated pitch follow the tone.

    With ``d`` = ``rules.min_slope`` (the smallest slope that would count as tracking), the arm's
    slope CI ``[a_lo, a_hi]`` and the CI of its slope minus the base arm's ``[D_lo, D_hi]``:

    1. fewer than ``min_voiced_share`` of its generations voiced, or fewer than ``min_seeds`` seeds
       with usable voiced data in it or in the base arm, or bootstrap replicates too often undefined
       -> **inconclusive** (there is no pitch to judge: the card's "LoRA arm often comes out unvoiced");
    2. ``a_lo >= d`` and ``D_lo >= d`` -> **tracks** (the slope is confidently at least ``d``, and
       at least ``d`` more than the base arm's, so a leak of the tone into the base arm is not
       counted as tracking);
    3. ``a_hi < d`` or ``D_hi < d`` -> **does not track** (confidently below the smallest slope
       that matters, on its own or over the base arm);
    4. otherwise -> **inconclusive** (the CI is too wide to say either).
    """
    d = rules.min_slope
    if voiced_share < rules.min_voiced_share:
        return INCONCLUSIVE, (
            f"mostly unvoiced: {voiced_share:.0%} of generations have a measurable pitch "
            f"(need {rules.min_voiced_share:.0%})"
        )
    short = [name for name, f in (("LoRA", fit), ("base", base_fit)) if f.seeds < rules.min_seeds]
    if short:
        return INCONCLUSIVE, (
            f"too few seeds with voiced speech at two or more tones in the {' and '.join(short)} "
            f"arm (need {rules.min_seeds})"
        )
    if min(fit.valid_share, base_fit.valid_share) < MIN_VALID_REPLICATES:
        return INCONCLUSIVE, "the slope is undefined in too many bootstrap resamples (voiced data too sparse)"
    a, diff = fit.slope, vs_base
    if a.lo >= d and diff.lo >= d:
        return (
            TRACKS,
            f"slope CI [{a.lo:.2f}, {a.hi:.2f}] and over-base CI [{diff.lo:.2f}, {diff.hi:.2f}] are above {d:g}",
        )
    if a.hi < d:
        return DOES_NOT_TRACK, f"slope CI [{a.lo:.2f}, {a.hi:.2f}] is below {d:g}"
    if diff.hi < d:
        return DOES_NOT_TRACK, (
            f"slope over base CI [{diff.lo:.2f}, {diff.hi:.2f}] is below {d:g} "
            "(whatever slope there is, the base arm has it too)"
        )
    return INCONCLUSIVE, (
        f"slope CI [{a.lo:.2f}, {a.hi:.2f}] / over-base CI [{diff.lo:.2f}, {diff.hi:.2f}] straddle {d:g}"
    )


def analyse_sweep(points: Sequence[SweepPoint], rules: SweepRules) -> list[ArmResult]:
    """Per-arm slope, voicing, leak and decision for a helium sweep (the base arm first).

    All arms share one set of bootstrap draws over the union of seeds, so an arm's difference to
    the base arm is computed on the same resampled seeds (a paired bootstrap). Seeded: the same
    points and rules give the same numbers."""
    if not points:
        raise ValueError("the sweep has no generations to analyse")
    points = sorted(points, key=lambda p: (p.arm, p.seed, p.tone_hz))  # order-free sums: same bytes out
    arms = sorted({(p.arm, p.strength) for p in points}, key=lambda a: (a[1], a[0]))
    if arms[0] != ("base", 0.0):
        raise ValueError("the sweep needs a base arm (name 'base', strength 0) to compare against")
    seeds = np.array(sorted({p.seed for p in points}))
    counts = seed_counts(seeds.size, rules.bootstrap, np.random.default_rng(rules.seed))

    def arm_data(name: str) -> tuple[list[SweepPoint], np.ndarray, np.ndarray, np.ndarray]:
        own = [p for p in points if p.arm == name]
        voiced = [p for p in own if math.isfinite(p.f0_hz) and p.f0_hz > 0]
        x = to_scale([p.tone_hz for p in voiced], rules.scale)
        y = to_scale([p.f0_hz for p in voiced], rules.scale)
        return own, x, y, np.searchsorted(seeds, [p.seed for p in voiced])

    own_b, xb, yb, sb = arm_data("base")
    base_fit, base_reps = fit_with_replicates(xb, yb, sb, counts, rules.confidence)
    results = [
        _arm_result(
            "base",
            0.0,
            own_b,
            base_fit,
            Interval(0.0, 0.0, 0.0),
            leak=base_fit.slope.lo > 0 if math.isfinite(base_fit.slope.lo) else None,
            verdict=None,
            reason=_leak_reason(base_fit),
        )
    ]
    for name, strength in arms[1:]:
        own, x, y, s = arm_data(name)
        fit, reps = fit_with_replicates(x, y, s, counts, rules.confidence)
        vs_base = Interval(
            fit.slope.estimate - base_fit.slope.estimate, *percentiles(reps - base_reps, rules.confidence, seeds.size)
        )
        voiced_share = sum(math.isfinite(p.f0_hz) and p.f0_hz > 0 for p in own) / len(own)
        verdict, reason = decide(fit, vs_base, voiced_share, base_fit, rules)
        results.append(_arm_result(name, strength, own, fit, vs_base, leak=None, verdict=verdict, reason=reason))
    return results


def _leak_reason(base: SlopeFit) -> str:
    s = base.slope
    if not math.isfinite(s.lo):
        return "leak control: no slope (base arm too sparsely voiced)"
    if s.lo > 0:
        return (
            f"leak: the base arm's pitch follows the tone (slope {s.estimate:.2f}, CI [{s.lo:.2f}, {s.hi:.2f}], "
            f"r = {base.r.estimate:.2f}) although it has no LoRA"
        )
    return f"no leak detected: base slope CI [{s.lo:.2f}, {s.hi:.2f}] includes 0 or lies below it"


def _arm_result(
    name: str,
    strength: float,
    own: list[SweepPoint],
    fit: SlopeFit,
    vs_base: Interval,
    leak: bool | None,
    verdict: Verdict | None,
    reason: str,
) -> ArmResult:
    voiced = [math.isfinite(p.f0_hz) and p.f0_hz > 0 for p in own]
    return ArmResult(
        arm=name,
        strength=strength,
        generations=len(own),
        voiced_share=float(np.mean(voiced)) if own else 0.0,
        mean_voiced_fraction=float(np.mean([p.voiced_fraction for p in own])) if own else 0.0,
        fit=fit,
        vs_base=vs_base,
        leak=leak,
        verdict=verdict,
        reason=reason,
    )


@dataclass(frozen=True)
class ConditionPoint:
    """One generation for a labelled prompt (e.g. a register manner keyword)."""

    arm: str
    strength: float
    seed: int
    condition: str
    voiced_fraction: float
    level_dbfs: float  # RMS level of the generated span (-inf for digital silence)
    wer: float = math.nan  # against the prompt's quoted line (ltxvoice.evaluate.voice); nan: not transcribed


@dataclass(frozen=True)
class ConditionResult:
    """Voicing and level of one arm for one prompt label, and its difference to the base arm."""

    arm: str
    strength: float
    condition: str
    generations: int
    voiced_fraction: Interval
    level_dbfs: Interval
    voiced_vs_base: Interval  # paired by seed; (0, 0, 0) for the base arm itself
    level_vs_base: Interval
    wer: Interval = Interval.undefined()  # mean WER over seeds; undefined when not transcribed


def mean_interval(values: np.ndarray, counts: np.ndarray, confidence: float) -> Interval:
    """Mean over seeds (one value per seed) with a bootstrap CI from the shared seed draws."""
    if values.size == 0 or not np.isfinite(values).any():
        return Interval.undefined()
    ok = np.isfinite(values)
    w = counts[:, ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = (w @ values[ok]) / w.sum(axis=1)
    return Interval(float(values[ok].mean()), *percentiles(reps, confidence, int(ok.sum())))


def analyse_conditions(points: Sequence[ConditionPoint], rules: SweepRules) -> list[ConditionResult]:
    """Mean voiced fraction and level per (arm, prompt label) with bootstrap CIs over seeds, and
    the LoRA-minus-base differences paired by seed. Digital silence counts as
    ``SILENCE_FLOOR_DBFS`` so a mean level stays finite."""
    if not points:
        raise ValueError("no generations to analyse")
    points = sorted(points, key=lambda p: (p.arm, p.seed, p.condition))
    if not any(p.arm == "base" for p in points):
        raise ValueError("the condition analysis needs a base arm to compare against")
    seeds = sorted({p.seed for p in points})
    counts = seed_counts(len(seeds), rules.bootstrap, np.random.default_rng(rules.seed + 1))
    index = {s: i for i, s in enumerate(seeds)}

    def per_seed(arm: str, condition: str, field: str) -> np.ndarray:
        out = np.full(len(seeds), np.nan)
        for p in points:
            if p.arm == arm and p.condition == condition:
                value = getattr(p, field)
                out[index[p.seed]] = max(value, SILENCE_FLOOR_DBFS) if field == "level_dbfs" else value
        return out

    results: list[ConditionResult] = []
    arms = sorted({(p.arm, p.strength) for p in points}, key=lambda a: (a[0] != "base", a[1], a[0]))
    for condition in sorted({p.condition for p in points}):
        base_v, base_l = per_seed("base", condition, "voiced_fraction"), per_seed("base", condition, "level_dbfs")
        for arm, strength in arms:
            v, level = per_seed(arm, condition, "voiced_fraction"), per_seed(arm, condition, "level_dbfs")
            results.append(
                ConditionResult(
                    arm=arm,
                    strength=strength,
                    condition=condition,
                    generations=int(np.isfinite(v).sum()),
                    voiced_fraction=mean_interval(v, counts, rules.confidence),
                    level_dbfs=mean_interval(level, counts, rules.confidence),
                    voiced_vs_base=mean_interval(v - base_v, counts, rules.confidence),
                    level_vs_base=mean_interval(level - base_l, counts, rules.confidence),
                    wer=mean_interval(per_seed(arm, condition, "wer"), counts, rules.confidence),
                )
            )
    return results


def relative_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| (0 when both are zero, inf when only b is)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.shape != b64.shape:
        raise ValueError(f"cannot compare latents of shapes {a64.shape} and {b64.shape}")
    num, den = float(np.linalg.norm(a64 - b64)), float(np.linalg.norm(b64))
    if den == 0:
        return 0.0 if num == 0 else math.inf
    return num / den


@dataclass(frozen=True)
class DriftPoint:
    """Video-latent distance of one LoRA generation to the base generation at the same seed and
    condition (``distance``), and the largest absolute latent difference (0 means bit-identical)."""

    arm: str
    strength: float
    seed: int
    condition: str
    distance: float
    max_abs: float


@dataclass(frozen=True)
class DriftResult:
    arm: str
    strength: float
    generations: int
    drift: Interval  # mean relative distance LoRA vs base at the same seed, CI over seeds
    max_abs: float
    seed_floor: float  # mean relative distance between two base seeds (same condition)
    ratio: Interval  # drift / seed_floor: 0 = unchanged, 1 = as different as another seed
    verdict: DriftVerdict
    reason: str


def analyse_drift(
    points: Sequence[DriftPoint], seed_floor: Sequence[float], max_ratio: float, rules: SweepRules
) -> list[DriftResult]:
    """Video drift per LoRA arm, with a verdict: ``identical`` (every latent bit-equal), ``unchanged``
    (the drift CI's upper end is at most ``max_ratio`` of the seed-to-seed distance), ``changed``.

    ``seed_floor`` holds relative distances between base generations of different seeds."""
    floor = float(np.mean(seed_floor)) if len(seed_floor) else math.nan
    results: list[DriftResult] = []
    for arm, strength in sorted({(p.arm, p.strength) for p in points}, key=lambda a: (a[1], a[0])):
        own = [p for p in points if p.arm == arm]
        seeds = sorted({p.seed for p in own})
        counts = seed_counts(len(seeds), rules.bootstrap, np.random.default_rng(rules.seed + 2))
        per_seed = np.array([np.mean([p.distance for p in own if p.seed == s]) for s in seeds])
        drift = mean_interval(per_seed, counts, rules.confidence)
        max_abs = max(p.max_abs for p in own)
        ratio = (
            Interval(drift.estimate / floor, drift.lo / floor, drift.hi / floor)
            if math.isfinite(floor) and floor > 0
            else Interval.undefined()
        )
        verdict: DriftVerdict
        if max_abs == 0:
            verdict, reason = "identical", "every video latent is bit-identical with and without the LoRA"
        elif math.isfinite(ratio.hi) and ratio.hi <= max_ratio:
            verdict, reason = (
                "unchanged",
                (f"drift is at most {ratio.hi:.1%} of the distance between two seeds (tolerance {max_ratio:.0%})"),
            )
        elif math.isfinite(ratio.hi):
            verdict, reason = (
                "changed",
                (
                    f"drift is {ratio.estimate:.1%} (CI up to {ratio.hi:.1%}) of the distance "
                    f"between two seeds (tolerance {max_ratio:.0%})"
                ),
            )
        else:
            verdict, reason = "no data", "no seed-to-seed distance to compare against (needs two or more seeds)"
        results.append(
            DriftResult(
                arm=arm,
                strength=strength,
                generations=len(own),
                drift=drift,
                max_abs=max_abs,
                seed_floor=floor,
                ratio=ratio,
                verdict=verdict,
                reason=reason,
            )
        )
    return results
