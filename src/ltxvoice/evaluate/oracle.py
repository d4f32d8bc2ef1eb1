"""The oracle arms of stage ``evaluate``: can this evaluation see the effect at all, on this data?

Before a LoRA is judged by how its generated pitch follows the reference tone, the same pitch
measurement (:func:`ltxvoice.evaluate.sweep.pitch_track`) and the same bootstrap
(:func:`ltxvoice.evaluate.stats.fit_with_replicates`) are run on answers known from the dataset:

* **target arm** - each kept pair's shifted target (``<shift clips>/<id>.wav``) against its
  reference tone. The tone was synthesised at the target pitch, so a perfect LoRA would look like
  this: the pitch-follows-tone slope must come out close to 1.
* **source arm** - each pair's unshifted original (the separated or ingested vocals) against the
  same tone. A "LoRA" that ignored the tone and reproduced the speaker's own voice would look like
  this: its slope is about the source-target correlation the shift plan left in the data.

The pairs are the resampled unit (each pair is one independent clip); both arms use the same draws.
The eval **resolves** the effect only if the target arm recovers the known answer (its CI at or above
``min_target_slope``) and its CI lies wholly above the source arm's; otherwise the report says the
data cannot resolve it and why (too few pairs, too little pitch spread, targets too close to the
sources) instead of giving a verdict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ltxvoice.config import EvalOracleParams, EvalPitchParams
from ltxvoice.evaluate.stats import Interval, SweepRules, fit_with_replicates, seed_counts, to_scale
from ltxvoice.evaluate.sweep import median_f0, pitch_track
from ltxvoice.media import read_wav
from ltxvoice.stage import first_few

PAIR_COLUMNS = ("clip_id", "tone_path", "vocals_path")


@dataclass(frozen=True)
class OracleFiles:
    """The three files of one kept pair."""

    clip_id: str
    tone: Path
    target: Path
    source: Path


@dataclass(frozen=True)
class OraclePair:
    """The measured pitches of one pair (nan where a file has too few voiced frames)."""

    clip_id: str
    tone_hz: float
    target_hz: float
    source_hz: float


@dataclass(frozen=True)
class OracleResult:
    """Both arms' slopes (generated-side pitch on tone pitch, in ``scale``) and whether they resolve."""

    target_slope: Interval
    source_slope: Interval
    n_pairs: int  # pairs with a pitch in the tone, the target and the source
    unvoiced: int  # pairs left out because one of their files has no pitch
    tone_spread: float  # standard deviation of the tone pitches, in semitones
    planned_r: float | None  # source-target correlation the shift plan recorded
    resolved: bool
    reason: str
    scale: str

    def as_metrics(self) -> dict[str, Any]:
        t, s = self.target_slope.as_dict(), self.source_slope.as_dict()
        return {
            "target_slope": t["estimate"],
            "target_slope_ci": [t["lo"], t["hi"]],
            "source_slope": s["estimate"],
            "source_slope_ci": [s["lo"], s["hi"]],
            "n_pairs": self.n_pairs,
            "unvoiced_pairs": self.unvoiced,
            "tone_spread_semitones": _round(self.tone_spread),
            "planned_r": self.planned_r,
            "scale": self.scale,
            "resolved": self.resolved,
            "reason": self.reason,
        }


def _round(v: float) -> float | None:
    return round(v, 4) if math.isfinite(v) else None


def _inside(path: Path, folders: Sequence[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(f.resolve()) for f in folders)


def oracle_files(pairs: pl.DataFrame, params: EvalOracleParams, root: Path) -> list[OracleFiles]:
    """The files of every kept pair, relative paths read against ``root`` (the repository). Each file
    must lie in its configured folder (those are the stage's deps) and exist; otherwise ValueError /
    FileNotFoundError naming how many and the first few."""
    missing_cols = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing_cols:
        raise ValueError(f"{params.pairs} lacks column(s) {', '.join(missing_cols)}")
    if "kept" in pairs.columns:
        pairs = pairs.filter(pl.col("kept"))
    files = [
        OracleFiles(
            row["clip_id"],
            root / row["tone_path"],
            root / params.targets / f"{row['clip_id']}.wav",
            root / row["vocals_path"],
        )
        for row in pairs.sort("clip_id").iter_rows(named=True)
    ]
    outside = [
        f"{f.clip_id}: {path}"
        for f in files
        for path, folders in ((f.tone, [params.tones]), (f.source, params.sources))
        if not _inside(path, [root / d for d in folders])
    ]
    if outside:
        raise ValueError(
            f"{len(outside)} oracle file(s) lie outside the folders configured in evaluate.oracle "
            f"(the stage's deps): {first_few(outside)}"
        )
    absent = [str(p) for f in files for p in (f.tone, f.target, f.source) if not p.is_file()]
    if absent:
        raise FileNotFoundError(f"{len(absent)} oracle file(s) missing: {first_few(absent)}")
    return files


def measure_file(path: Path, pitch: EvalPitchParams) -> float:
    """Median F0 of a WAV file by the evaluation's own pitch measurement (nan if barely voiced)."""
    samples, rate = read_wav(path)
    return median_f0(pitch_track(samples, rate, pitch), pitch)


def measure_pairs(files: Sequence[OracleFiles], pitch: EvalPitchParams) -> list[OraclePair]:
    return [
        OraclePair(f.clip_id, measure_file(f.tone, pitch), measure_file(f.target, pitch), measure_file(f.source, pitch))
        for f in files
    ]


def planned_r(plan: Path) -> float | None:
    """The source-target correlation the shift stage recorded in its plan (None if absent)."""
    if not plan.is_file():
        return None
    value = json.loads(plan.read_text(encoding="utf-8")).get("r_source_target_planned")
    return float(value) if value is not None else None


def analyse_oracle(
    pairs: Sequence[OraclePair], params: EvalOracleParams, rules: SweepRules, plan_r: float | None = None
) -> OracleResult:
    """Both arms' slopes with a pair bootstrap (shared draws), and whether they resolve the effect.

    Not resolved, with every reason that applies: fewer than ``min_pairs`` usable pairs; tone pitches
    spread less than ``min_spread_semitones`` (sd); the target arm's CI reaching below
    ``min_target_slope`` (the measurement does not recover the known answer); the target arm's CI not
    lying above the source arm's."""
    ok = [p for p in pairs if all(math.isfinite(v) and v > 0 for v in (p.tone_hz, p.target_hz, p.source_hz))]
    ok.sort(key=lambda p: p.clip_id)
    n = len(ok)
    x = to_scale([p.tone_hz for p in ok], rules.scale)
    spread = float(np.std(to_scale([p.tone_hz for p in ok], "semitones"))) if n else math.nan
    target, source = Interval.undefined(), Interval.undefined()
    if n >= 2:
        counts = seed_counts(n, rules.bootstrap, np.random.default_rng(rules.seed))
        index = np.arange(n)
        target = fit_with_replicates(
            x, to_scale([p.target_hz for p in ok], rules.scale), index, counts, rules.confidence
        )[0].slope
        source = fit_with_replicates(
            x, to_scale([p.source_hz for p in ok], rules.scale), index, counts, rules.confidence
        )[0].slope
    problems = []
    if n < params.min_pairs:
        problems.append(f"too few pairs: {n} with a measurable pitch (need {params.min_pairs})")
    if not (spread >= params.min_spread_semitones):
        problems.append(
            f"too little pitch spread: the tones' sd is {spread:.2f} semitones (need {params.min_spread_semitones:g})"
        )
    if not (target.lo >= params.min_target_slope):
        problems.append(
            f"the target arm does not recover the known slope 1: CI {_ci(target)} reaches below "
            f"{params.min_target_slope:g}"
        )
    if not (target.lo > source.hi):
        r = f" (the shift plan's source-target r is {plan_r:.2f})" if plan_r is not None else ""
        problems.append(
            f"the target arm's CI {_ci(target)} does not exclude the source arm's {_ci(source)}: targets "
            f"too close to the sources{r}"
        )
    if problems:
        reason = "the eval cannot resolve the effect on this data: " + "; ".join(problems)
    else:
        reason = (
            f"resolved: the target arm's slope CI {_ci(target)} recovers the known answer and lies above the "
            f"source arm's {_ci(source)} ({n} pairs, tone sd {spread:.1f} semitones)"
        )
    return OracleResult(
        target_slope=target,
        source_slope=source,
        n_pairs=n,
        unvoiced=len(pairs) - n,
        tone_spread=spread,
        planned_r=plan_r,
        resolved=not problems,
        reason=reason,
        scale=rules.scale,
    )


def _ci(i: Interval) -> str:
    return f"[{i.lo:.2f}, {i.hi:.2f}]" if math.isfinite(i.lo) and math.isfinite(i.hi) else "[undefined]"


def run_oracle(params: EvalOracleParams, pitch: EvalPitchParams, rules: SweepRules, root: Path) -> OracleResult:
    """The oracle arms on the dataset under ``root``: read the pairs, measure, analyse. Reads only.
    Without a pairs table there is nothing to resolve with: unresolved, and the reason says so."""
    path = root / params.pairs
    if not path.is_file():
        return OracleResult(
            target_slope=Interval.undefined(),
            source_slope=Interval.undefined(),
            n_pairs=0,
            unvoiced=0,
            tone_spread=math.nan,
            planned_r=None,
            resolved=False,
            reason=f"the eval cannot resolve the effect on this data: no oracle data (no pairs table at {path}; "
            "stage select writes it)",
            scale=rules.scale,
        )
    files = oracle_files(pl.read_parquet(path), params, root)
    return analyse_oracle(measure_pairs(files, pitch), params, rules, planned_r(root / params.plan))
