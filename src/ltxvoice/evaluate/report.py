"""What the ``evaluate`` stage writes besides metrics: DVC plot tables (CSV), PNG plots and a
short markdown report. Every report starts with what the numbers come from (a random-weight test
model, a random text context) so a number is never read as evidence it is not."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from ltxvoice.config import EvaluateParams
from ltxvoice.evaluate.best import Choice
from ltxvoice.evaluate.oracle import OracleResult
from ltxvoice.evaluate.run import CheckpointResult
from ltxvoice.evaluate.stats import Interval
from ltxvoice.records import Quarantined

PLOTS = ("slope.csv", "voiced.csv", "drift.csv", "structure.csv", "voice.csv")


def _f(v: float | None, digits: int = 4) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), digits) + 0.0  # no -0.0


def column(arm: str, strength: float) -> str:
    """A plot-column prefix for an arm that charting tools read as a plain field name (no '@' or
    '.': Vega-Lite reads a dot as a nested field): base, lora_0p5, lora_1."""
    return "base" if arm == "base" else f"lora_{strength:g}".replace(".", "p").replace("-", "m")


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", label).strip("_") or "x"


def plot_tables(results: Sequence[CheckpointResult]) -> dict[str, pl.DataFrame]:
    """Wide tables for ``dvc plots``, one row per checkpoint (x: step), columns per arm:
    slope.csv (slope and CI, slope over base and CI), voiced.csv, drift.csv, structure.csv, voice.csv
    (pitch_cents, vuv_f1, level_dbfs, wer with CIs; wer of the labelled prompts too)."""
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in PLOTS}
    for r in results:
        key: dict[str, Any] = {"checkpoint": r.checkpoint.name, "step": r.checkpoint.step}
        slope, voiced, drift, voice = dict(key), dict(key), dict(key), dict(key)
        for v in r.voice:
            c = column(v.arm, v.strength)
            for name in ("pitch_cents", "vuv_f1", "level_dbfs", "wer"):
                i: Interval = getattr(v, name)
                voice |= {f"{c}_{name}": _f(i.estimate), f"{c}_{name}_lo": _f(i.lo), f"{c}_{name}_hi": _f(i.hi)}
        for a in r.sweep:
            c = column(a.arm, a.strength)
            slope |= {
                f"{c}_slope": _f(a.fit.slope.estimate),
                f"{c}_slope_lo": _f(a.fit.slope.lo),
                f"{c}_slope_hi": _f(a.fit.slope.hi),
            }
            if a.arm != "base":
                slope |= {
                    f"{c}_vs_base": _f(a.vs_base.estimate),
                    f"{c}_vs_base_lo": _f(a.vs_base.lo),
                    f"{c}_vs_base_hi": _f(a.vs_base.hi),
                }
            voiced |= {f"{c}_voiced_share": _f(a.voiced_share), f"{c}_voiced_fraction": _f(a.mean_voiced_fraction)}
        for cond in r.conditions:
            c = column(cond.arm, cond.strength)
            voiced |= {
                f"{c}_{_safe(cond.condition)}_voiced_fraction": _f(cond.voiced_fraction.estimate),
                f"{c}_{_safe(cond.condition)}_level_dbfs": _f(cond.level_dbfs.estimate, 2),
            }
            if math.isfinite(cond.wer.estimate):
                w = f"{c}_{_safe(cond.condition)}_wer"
                voice |= {w: _f(cond.wer.estimate), f"{w}_lo": _f(cond.wer.lo), f"{w}_hi": _f(cond.wer.hi)}
        for d in r.drift:
            c = column(d.arm, d.strength)
            drift |= {
                f"{c}_drift": _f(d.drift.estimate, 6),
                f"{c}_drift_lo": _f(d.drift.lo, 6),
                f"{c}_drift_hi": _f(d.drift.hi, 6),
                f"{c}_ratio": _f(d.ratio.estimate),
            }
        s = r.structure
        structure = {
            **key,
            **{f"norm_{g}": _f(v, 6) for g, v in s.norms.items()},
            "distance_to_previous": _f(r.distance.relative, 6) if r.distance else None,
            "norm_change": _f(r.distance.norm_change, 6) if r.distance else None,
            "unmatched": len(s.unmatched),
            "non_finite": len(s.non_finite),
        }
        for name, row in zip(PLOTS, (slope, voiced, drift, structure, voice)):
            if len(row) > len(key):
                tables[name].append(row)
    empty = pl.DataFrame(schema={"checkpoint": pl.String, "step": pl.Int64})
    return {
        name: pl.DataFrame(rows, schema_overrides={"step": pl.Int64}, infer_schema_length=None) if rows else empty
        for name, rows in tables.items()
    }


def write_plot_tables(results: Sequence[CheckpointResult], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in plot_tables(results).items():
        path = folder / name
        frame.write_csv(path, float_precision=6)
        paths.append(path)
    return paths


def write_figures(
    results: Sequence[CheckpointResult], folder: Path, drift_tolerance: float | None = None
) -> list[Path]:
    """slope.png (slope with CI per checkpoint and arm) and drift.png (video drift / seed floor)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    xs = list(range(len(results)))
    labels = [r.checkpoint.name for r in results]
    arms = sorted({(a.strength, a.arm) for r in results for a in r.sweep})
    if arms:
        fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(results) + 2), 3.6), dpi=100)
        for k, (_, arm) in enumerate(arms):
            pts = [(x, a.fit.slope) for x, r in zip(xs, results) for a in r.sweep if a.arm == arm]
            off = (k - (len(arms) - 1) / 2) * 0.08
            ax.errorbar(
                [x + off for x, _ in pts],
                [_nan(i.estimate) for _, i in pts],
                yerr=_yerr([i for _, i in pts]),
                fmt="o",
                capsize=3,
                label=arm,
            )
        ax.axhline(0, lw=0.8, c="grey")
        ax.axhline(1, lw=0.8, c="grey", ls=":")
        written.append(
            _save(
                fig,
                ax,
                xs,
                labels,
                folder / "slope.png",
                ylabel="generated vs tone pitch slope",
                title="Helium sweep: slope with CI",
            )
        )
    darms = sorted({(d.strength, d.arm) for r in results for d in r.drift})
    if darms:
        fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(results) + 2), 3.6), dpi=100)
        for _, arm in darms:
            pts = [(x, d.ratio) for x, r in zip(xs, results) for d in r.drift if d.arm == arm]
            ax.errorbar(
                [x for x, _ in pts],
                [_nan(i.estimate) for _, i in pts],
                yerr=_yerr([i for _, i in pts]),
                fmt="s",
                capsize=3,
                label=arm,
            )
        if drift_tolerance is not None:
            ax.axhline(drift_tolerance, lw=0.8, c="grey", ls="--", label="'unchanged' tolerance")
        written.append(
            _save(
                fig,
                ax,
                xs,
                labels,
                folder / "drift.png",
                ylabel="drift / seed-to-seed distance",
                title="Video drift (LoRA on vs off, same seed)",
            )
        )
    return written


def _save(fig: Any, ax: Any, xs: list[int], labels: list[str], path: Path, *, ylabel: str, title: str) -> Path:
    """Label the checkpoint axis, write the figure as a reproducible PNG (no software stamp), close it."""
    import matplotlib.pyplot as plt

    ax.set(xticks=xs, ylabel=ylabel, title=title)
    ax.set_xticklabels(labels, rotation=20)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def _nan(v: float) -> float:
    return v if math.isfinite(v) else float("nan")


def _yerr(intervals: list[Interval]) -> list[list[float]]:
    lo = [max(0.0, i.estimate - i.lo) if math.isfinite(i.lo) and math.isfinite(i.estimate) else 0.0 for i in intervals]
    hi = [max(0.0, i.hi - i.estimate) if math.isfinite(i.hi) and math.isfinite(i.estimate) else 0.0 for i in intervals]
    return [lo, hi]


def _clip(text: str, limit: int = 80) -> str:
    """A transcript for the report: at most ``limit`` characters (Whisper loops on noise; details/ has it all)."""
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _ci(i: Interval, digits: int = 2) -> str:
    if not math.isfinite(i.estimate):
        return "n/a"
    if not (math.isfinite(i.lo) and math.isfinite(i.hi)):
        return f"{i.estimate:.{digits}f}"
    return f"{i.estimate:.{digits}f} [{i.lo:.{digits}f}, {i.hi:.{digits}f}]"


def markdown(
    results: Sequence[CheckpointResult],
    quarantined: Sequence[Quarantined],
    params: EvaluateParams,
    label: dict[str, Any],
    text_source: str,
    figures: Sequence[str] = (),
    oracle: OracleResult | None = None,
    choice: Choice | None = None,
) -> str:
    """The stage report: provenance warnings first, the oracle arms and the best checkpoint, then one
    section per checkpoint."""
    conf = f"{params.stats.confidence:.0%}"
    lines = ["# LoRA checkpoint evaluation", ""]
    warnings = [label["note"]] if label.get("note") else []
    if "random" in text_source:
        warnings.append(f"Text conditioning: {text_source}; prompts (caption, manner keywords) carry no meaning here.")
    for w in warnings:
        lines += [f"> **{w}**", ""]
    lines += [
        f"Model: `{label['path']}` ({label['kind']}). Recipe: **{params.recipe}**. "
        f"Arms: base (no LoRA) and LoRA at strength {', '.join(f'{s:g}' for s in params.strengths)}; "
        f"{params.seeds} seeds; {params.sampler.steps} Euler steps, CFG video {params.sampler.cfg_video:g} / "
        f"audio {params.sampler.cfg_audio:g}; {params.frames} frames {params.width}x{params.height} at "
        f"{params.fps:g} fps. Intervals: {conf} bootstrap over seeds.",
        "",
    ]
    if params.recipe == "helium":
        h = params.helium
        lines += [
            f'Helium sweep: caption "{h.caption}", tones {", ".join(f"{t:g}" for t in h.tones_hz)} Hz '
            f"({h.tone_seconds:g} s, reference at {h.reference_placement} positions); pitch measured by Praat "
            f"on the generated span only (the reference is dropped before decoding and the decoded length is "
            f"checked). Slope in {params.stats.scale}. Decision: **tracks** if the slope CI and the slope-over-"
            f"base CI both lie at or above {params.stats.min_slope:g}; **does not track** if either lies below "
            f"it; **inconclusive** otherwise, or if under {params.stats.min_voiced_share:.0%} of generations "
            f"are voiced, or under {params.stats.min_seeds} seeds have voiced speech at 2+ tones.",
            "",
        ]
        if params.asr is not None and h.speech is not None:
            per_seed = "every tone" if h.wer_per_seed is None else f"{h.wer_per_seed} tone(s) per seed, in turn"
            lines += [
                f'WER: the sweep asks for the words "{h.speech}" (quoted after the caption); '
                f"`{params.asr.model}` ({params.asr.backend}, beam {params.asr.beam_size}, temperature 0, language "
                f"{params.asr.language or 'detected'}) transcribes the generated span of {per_seed}; WER against "
                "those words (lowercased, punctuation removed), averaged per seed, CI over seeds."
                + (
                    " On this model the generated audio is not speech: the WER is real measurement code on "
                    "meaningless audio (Whisper hears nothing, or loops on noise: WER 1 or more)."
                    if label["kind"] != "LTX-2.3"
                    else ""
                ),
                "",
            ]
    if oracle is not None:
        lines += _oracle_section(oracle, conf)
    if choice is not None:
        lines += [
            "## Best checkpoint",
            "",
            f"Rule (params `evaluate.best`): lowest {params.best.metric} of the LoRA arm at strength "
            f"{params.best_strength:g} among checkpoints whose vuv_f1 is at least the base model's minus "
            f"{params.best.vuv_f1_tolerance:g}"
            + (
                f" and whose wer is at most the base model's plus {params.best.wer_tolerance:g}."
                if params.asr is not None
                else " (wer is not measured, so not part of the rule)."
            ),
            "",
            f"**{choice.checkpoint or 'none'}**: {choice.reason}",
            "",
        ]
    for r in results:
        lines += _section(r)
    if quarantined:
        lines += ["## Not evaluated", "", "| checkpoint | reason | detail |", "|---|---|---|"]
        lines += [f"| {q.item_id} | {q.reason} | {q.detail} |" for q in quarantined] + [""]
    for fig in figures:
        lines += [f"![{Path(fig).stem}]({fig})", ""]
    return "\n".join(lines)


def _oracle_section(o: OracleResult, conf: str) -> list[str]:
    """What the eval can resolve on this data: the known answers measured like a generation."""
    return [
        "## Oracle arms",
        "",
        "The same pitch measurement and bootstrap (resampling pairs) on the dataset's known answers: each "
        "kept pair's shifted target against its reference tone (slope should be about 1) and its unshifted "
        f"source against the same tone (slope about the source-target correlation the shift plan left"
        f"{f', r = {o.planned_r:.2f}' if o.planned_r is not None else ''}). Slopes in {o.scale}, {conf} CIs.",
        "",
        "| arm | slope | pairs |",
        "|---|---|---|",
        f"| target (shifted) | {_ci(o.target_slope)} | {o.n_pairs} |",
        f"| source (unshifted) | {_ci(o.source_slope)} | {o.n_pairs} |",
        "",
        (o.reason[:1].upper() + o.reason[1:] if o.resolved else "**Cannot resolve:** " + o.reason) + ".",
        "",
    ]


def _section(r: CheckpointResult) -> list[str]:
    s = r.structure
    step = f" (step {r.checkpoint.step})" if r.checkpoint.step is not None else ""
    lines = [f"## {r.checkpoint.name}{step}", ""]
    touched = ", ".join(f"{g} {n}" for g, n in s.touched.items() if n)
    lines += [
        f"Structure: {s.tensors} tensors ({', '.join(s.dtypes)}), rank {', '.join(map(str, s.ranks)) or '-'}, "
        f"{s.modules} modules in {len(s.blocks)} blocks ({touched or 'none'}); ||B·A|| total "
        f"{s.norms['total']:.4g} (" + ", ".join(f"{g} {v:.4g}" for g, v in s.norms.items() if g != "total" and v) + ")."
    ]
    if r.distance is not None:
        lines += [
            f"Distance to {Path(r.distance.previous).stem}: {r.distance.relative:.1%} of its weight update; "
            f"norm change {r.distance.norm_change:+.1%}."
        ]
    problems = s.problems()
    lines += [("**Problems:** " + "; ".join(problems)) if problems else "No structural problems.", ""]
    if r.sweep:
        lines += ["| arm | voiced | slope | over base | verdict |", "|---|---|---|---|---|"]
        for a in r.sweep:
            verdict = a.verdict if a.verdict else ("**leak**" if a.leak else "leak control")
            lines.append(
                f"| {a.arm} | {a.voiced_share:.0%} | {_ci(a.fit.slope)} | "
                f"{_ci(a.vs_base) if a.arm != 'base' else '-'} | {verdict}: {a.reason} |"
            )
        lines.append("")
    if r.voice:
        lines += [
            "| arm | pitch_cents | vuv_f1 | level (RMS dBFS) | wer |",
            "|---|---|---|---|---|",
        ]
        for v in r.voice:
            lines.append(
                f"| {v.arm} | {_ci(v.pitch_cents, 1)} | {_ci(v.vuv_f1, 3)} | {_ci(v.level_dbfs, 1)} | {_ci(v.wer, 2)} |"
            )
        lines.append("")
        reasons = sorted({f"{v.arm}: {v.wer_reason}" for v in r.voice if not math.isfinite(v.wer.estimate)})
        lines += [f"wer {'; '.join(reasons)}.", ""] if reasons else []
        heard = [h for h in r.heard if h.arm != "base"][:3] + [h for h in r.heard if h.arm == "base"][:1]
        if heard:
            lines += [
                "Heard (first transcripts): "
                + "; ".join(f'{h.arm} seed {h.seed} {h.condition}: "{_clip(h.text)}" (wer {h.wer:.2f})' for h in heard)
                + ".",
                "",
            ]
    if r.conditions:
        lines += [
            "| arm | prompt | voiced fraction | vs base | level dBFS | vs base | wer |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in r.conditions:
            base = c.arm == "base"
            lines.append(
                f"| {c.arm} | {c.condition} | {_ci(c.voiced_fraction)} | "
                f"{'-' if base else _ci(c.voiced_vs_base)} | {_ci(c.level_dbfs, 1)} | "
                f"{'-' if base else _ci(c.level_vs_base, 1)} | {_ci(c.wer, 2)} |"
            )
        lines.append("")
    if r.drift:
        lines += ["| arm | video drift | / seed-to-seed | verdict |", "|---|---|---|---|"]
        for d in r.drift:
            lines.append(f"| {d.arm} | {_ci(d.drift, 4)} | {_ci(d.ratio, 3)} | {d.verdict}: {d.reason} |")
        lines.append("")
    return lines


def write_outputs(
    out_dir: Path,
    results: Sequence[CheckpointResult],
    quarantined: Sequence[Quarantined],
    params: EvaluateParams,
    label: dict[str, Any],
    text_source: str,
    inputs: int,
    oracle: OracleResult | None = None,
    choice: Choice | None = None,
) -> tuple[dict, str]:
    """Write per-checkpoint metrics (``metrics/<checkpoint>.json``) and details, the plot tables,
    figures and the markdown report; return the summary metrics (with the oracle arms and the best
    checkpoint) and the report."""
    from ltxvoice.evaluate.run import details, metrics, wer_reason
    from ltxvoice.records import quarantine_counts
    from ltxvoice.stage import write_json

    reasons = {name: wer_reason(params, prompt) for name, prompt in params.prompts.items()}
    for r in results:
        write_json(out_dir / "metrics" / f"{r.checkpoint.name}.json", metrics(r, label, text_source, reasons))
        write_json(out_dir / "details" / f"{r.checkpoint.name}.json", details(r, label, text_source))
    write_plot_tables(results, out_dir / "plots")
    figures = write_figures(results, out_dir / "report", params.stats.max_drift_ratio)
    text = markdown(results, quarantined, params, label, text_source, [p.name for p in figures], oracle, choice)
    (out_dir / "report").mkdir(parents=True, exist_ok=True)
    (out_dir / "report" / "report.md").write_text(text + "\n", encoding="utf-8")
    summary = {
        "inputs": inputs,
        "evaluated": len(results),
        "quarantined": len(quarantined),
        "quarantined_by_reason": quarantine_counts(quarantined),
        "model": label["kind"],
        "verdicts": {r.checkpoint.name: {a.arm: a.verdict for a in r.sweep if a.verdict} for r in results if r.sweep},
        "drift": {r.checkpoint.name: {d.arm: d.verdict for d in r.drift} for r in results if r.drift},
    }
    voice = {
        r.checkpoint.name: {
            v.arm: {name: v.as_metrics()[name] for name in ("pitch_cents", "vuv_f1", "wer", "wer_lo", "wer_hi")}
            for v in r.voice
        }
        for r in results
        if r.voice
    }
    if voice:
        summary["voice"] = voice
    if oracle is not None:
        summary["oracle"] = oracle.as_metrics()
    if choice is not None:
        summary["best_checkpoint"] = choice.checkpoint
        summary["best_reason"] = choice.reason
    return summary, text
