"""Stage ``select``: keep a pair only if its target speech really is at the target pitch.

Each shifted clip's vocals are measured again with a pitch range that follows the target (a fixed
floor cannot see a low voice moved down 7 semitones) and the pair is kept only if

* the original is voiced enough (``min_voiced_seconds``/``min_voiced_fraction``: whispered or barely
  voiced speech has no pitch to move),
* the re-measured pitch is within the gate of the target (``max_error_hz``, or ``max_error_cents``),
* the shift left the formants where they were: F1 and F2 (all-pole fits to each signal's harmonics,
  ``ltxvoice.dsp.formants``), compared frame by frame over the frames voiced in both where the
  original resolves the formant, change by at most ``max_formant_change`` (median of the per-frame
  ratios). A change that cannot be measured (fewer than ``formants.MIN_FRAMES`` such frames, e.g. a
  very high voice whose F1 sits below its second harmonic throughout) is recorded as nan and does
  not reject the pair; ``dataset_report`` counts those pairs.

Every pair gets a row with its numbers and, when rejected, the first reason that applies.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ltxvoice.config import MeasureParams, SelectParams
from ltxvoice.dsp.formants import formant_change
from ltxvoice.dsp.pitch import adapted_range, cents, praat_track, world_track
from ltxvoice.media import MediaError, read_wav, resample
from ltxvoice.shift import pearson

STAGE = "select"

BARELY_VOICED = "barely_voiced"
OFF_TARGET = "pitch_off_target"
FORMANTS_MOVED = "formants_moved"
UNMEASURABLE = "unmeasurable"


@dataclass(frozen=True)
class SelectInput:
    """The columns ``select`` reads of a pair (the tones stage's table)."""

    clip_id: str
    vocals_path: str
    shifted_vocals_path: str
    target_hz: float
    voiced_seconds: float
    voiced_fraction: float


@dataclass(frozen=True)
class Selected:
    """Columns ``select`` adds."""

    measured_target_hz: float
    error_hz: float
    error_cents: float
    f1_change: float
    f2_change: float
    kept: bool
    reason: str | None


def _relative_change(after: float, before: float) -> float:
    if not (math.isfinite(after) and math.isfinite(before) and before > 0):
        return float("nan")
    return after / before - 1.0


def judge(
    original: np.ndarray,
    shifted: np.ndarray,
    rate: int,
    target_hz: float,
    voiced_seconds: float,
    voiced_fraction: float,
    select: SelectParams,
    measure: MeasureParams,
) -> Selected:
    """Re-measure one shifted clip against its original vocals and decide."""
    floor, ceiling = adapted_range(target_hz, measure.floor_hz, measure.ceiling_hz)
    xp = resample(original, rate, measure.pitch_rate)
    yp = resample(shifted, rate, measure.pitch_rate)
    after = (
        praat_track(yp, measure.pitch_rate, floor, ceiling)
        if measure.method == "praat"
        else world_track(yp, measure.pitch_rate, floor, ceiling)
    )
    before = praat_track(xp, measure.pitch_rate, measure.floor_hz, measure.ceiling_hz)
    x = resample(original, rate, measure.analysis_rate)
    y = resample(shifted, rate, measure.analysis_rate)
    moved = formant_change(x, y, measure.analysis_rate, before, after, measure.max_formant_hz)
    d1, d2 = moved.f1, moved.f2
    measured = after.median()
    err_hz = measured - target_hz
    err_cents = cents(measured, target_hz)
    reason = None
    if voiced_seconds < select.min_voiced_seconds or voiced_fraction < select.min_voiced_fraction:
        reason = BARELY_VOICED
    elif not math.isfinite(measured):
        reason = UNMEASURABLE
    elif (abs(err_hz) > select.max_error_hz) if select.gate == "hz" else (abs(err_cents) > select.max_error_cents):
        reason = OFF_TARGET
    elif abs(d1) > select.max_formant_change or abs(d2) > select.max_formant_change:  # nan: not measurable
        reason = FORMANTS_MOVED
    return Selected(
        measured_target_hz=round(measured, 4),
        error_hz=round(err_hz, 4),
        error_cents=round(err_cents, 4),
        f1_change=round(d1, 5),
        f2_change=round(d2, 5),
        kept=reason is None,
        reason=reason,
    )


def judge_files(
    original: Path,
    shifted: Path,
    target_hz: float,
    voiced_seconds: float,
    voiced_fraction: float,
    select: SelectParams,
    measure: MeasureParams,
) -> Selected:
    x, rate = read_wav(original)
    y, rate_y = read_wav(shifted)
    if rate != rate_y or x.size != y.size:
        raise MediaError(
            "length_mismatch", f"{shifted} is {y.size} samples at {rate_y} Hz, {original} {x.size} at {rate} Hz"
        )
    return judge(x, y, rate, target_hz, voiced_seconds, voiced_fraction, select, measure)


def _num(value: Any) -> float:
    """A polars aggregate (typed as any scalar) as the float it is for a numeric column."""
    return float(value)


def dataset_report(pairs: pl.DataFrame, upstream: dict[str, int], out_dir: Path) -> dict[str, Any]:
    """Numbers, plots (histograms, source-vs-target scatter) and a markdown report of a selected set."""
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = pairs.filter(pl.col("kept"))
    rejected = pairs.filter(~pl.col("kept"))
    by_reason = dict(sorted(Counter(rejected["reason"].to_list()).items()))
    metrics: dict[str, Any] = {
        "pairs_measured": pairs.height,
        "kept": kept.height,
        "rejected_by_reason": by_reason,
        "left_out_before_select": dict(sorted(upstream.items())),
        "mode": pairs["shift_mode"][0] if pairs.height else None,
        "engine": pairs["engine"][0] if pairs.height else None,
    }
    if kept.height:
        metrics |= {
            "target_hz_min": round(_num(kept["target_hz"].min()), 2),
            "target_hz_max": round(_num(kept["target_hz"].max()), 2),
            "r_source_target": round(pearson(kept["f0_hz"].to_list(), kept["target_hz"].to_list()), 4),
            "abs_error_hz_median": round(_num(kept["error_hz"].abs().median()), 3),
            "abs_error_hz_max": round(_num(kept["error_hz"].abs().max()), 3),
            "semitones_abs_max": round(_num(kept["semitones"].abs().max()), 3),
        }
    if "f1_change" in pairs.columns:  # kept without a formant check: the original resolves no formant enough
        unmeasured = kept.filter(pl.col("f1_change").is_nan() | pl.col("f2_change").is_nan())
        metrics["kept_formants_unmeasured"] = unmeasured.height
    _plots(pairs, out_dir)
    (out_dir / "report.md").write_text(_markdown(metrics), encoding="utf-8")
    return metrics


def _plots(pairs: pl.DataFrame, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = pairs.filter(pl.col("kept"))
    rejected = pairs.filter(~pl.col("kept"))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
    bins = np.geomspace(50, 500, 31)
    axes[0].hist(kept["f0_hz"].to_numpy(), bins=bins, color="tab:blue")
    axes[0].set(xscale="log", title="source pitch (kept)", xlabel="Hz", ylabel="pairs")
    axes[1].hist(kept["target_hz"].to_numpy(), bins=bins, color="tab:orange")
    axes[1].set(xscale="log", title="target pitch (kept)", xlabel="Hz")
    fig.tight_layout()
    fig.savefig(out_dir / "histograms.png", metadata={"Software": None})
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.scatter(kept["f0_hz"], kept["target_hz"], s=14, label=f"kept ({kept.height})")
    if rejected.height:
        ax.scatter(
            rejected["f0_hz"],
            rejected["target_hz"],
            s=14,
            marker="x",
            c="tab:red",
            label=f"rejected ({rejected.height})",
        )
    ax.plot([50, 500], [50, 500], lw=0.8, c="grey")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="source pitch (Hz)",
        ylabel="target pitch (Hz)",
        title=f"r (kept) = {pearson(kept['f0_hz'].to_list(), kept['target_hz'].to_list()):.2f}",
    )
    ticks = [60, 100, 150, 200, 300, 400]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out_dir / "scatter.png", metadata={"Software": None})
    plt.close(fig)


def _markdown(metrics: dict[str, Any]) -> str:
    lines = ["# Helium pairs: selection report", "", "| what | value |", "|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, dict):
            for k, v in value.items():
                lines.append(f"| {key}: {k} | {v} |")
        else:
            lines.append(f"| {key} | {value} |")
    lines += ["", "![histograms](histograms.png)", "", "![scatter](scatter.png)", ""]
    return "\n".join(lines)
