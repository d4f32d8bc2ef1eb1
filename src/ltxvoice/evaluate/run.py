"""Stage ``evaluate``: which checkpoints, which arms, and the numbers for each checkpoint.

Per checkpoint the stage reports its structure and its distance to the previous checkpoint
(:mod:`ltxvoice.models.lora_file`), and - when the file is fit to load - what it does when users load
it: the recipe's controlled test run with the LoRA off (the base arm, generated once for all
checkpoints) and on at each strength (:mod:`.sampler` through :mod:`.sweep`), analysed by :mod:`.stats`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltxvoice.config import EvaluateParams, TonesParams, quoted_line
from ltxvoice.dsp.tone import synthesize
from ltxvoice.evaluate.best import Candidate, Choice, choose
from ltxvoice.evaluate.stats import (
    ArmResult,
    ConditionResult,
    DriftResult,
    Interval,
    SweepRules,
    analyse_conditions,
    analyse_drift,
    analyse_sweep,
)
from ltxvoice.evaluate.sweep import Arm, Reference, Run, drift
from ltxvoice.evaluate.voice import NOT_TRANSCRIBED, Heard, Listener, VoiceResult, analyse_voice
from ltxvoice.models.lora_file import CheckpointDistance, LoraReport, read_metadata
from ltxvoice.records import Quarantined, sha256_file
from ltxvoice.tones import draw_timbre

if TYPE_CHECKING:
    from ltxvoice.evaluate.sampler import LTXGenerator

STAGE = "evaluate"
STEP_FILE = re.compile(r"^step_(\d+)\.safetensors$")
TONE_RATE = 48000

UNREADABLE = "unreadable"
NON_FINITE = "non_finite"
NO_MATCHING_KEYS = "no_matching_keys"
SHAPE_MISMATCH = "shape_mismatch"


@dataclass(frozen=True)
class Checkpoint:
    """One LoRA file to evaluate: ``step_<N>`` from the checkpoints folder, or the final file."""

    name: str
    path: Path
    step: int | None


def list_checkpoints(folder: Path, final: Path | None) -> list[Checkpoint]:
    """``step_<N>.safetensors`` in ``folder`` by step, then ``final`` unless it is byte-identical to
    one of them (the trainer's final file is usually its last checkpoint). Its step comes from its
    ``step`` metadata when present. Raises FileNotFoundError when there is nothing to evaluate."""
    found: list[Checkpoint] = []
    if folder.is_dir():
        for path in folder.iterdir():
            m = STEP_FILE.match(path.name)
            if m and path.is_file():
                found.append(Checkpoint(path.stem, path, int(m.group(1))))
    found.sort(key=lambda c: c.step or 0)
    if final is not None and final.is_file():
        hashes = {sha256_file(c.path) for c in found}
        if sha256_file(final) not in hashes:
            found.append(Checkpoint("final", final, _metadata_step(final)))
    if not found:
        raise FileNotFoundError(
            f"no LoRA checkpoint to evaluate: no step_<N>.safetensors in {folder}"
            + (f" and no {final}" if final is not None else "")
        )
    return found


def single_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint given by hand (``ltxvoice evaluate --checkpoint FILE``)."""
    if not path.is_file():
        raise FileNotFoundError(f"LoRA checkpoint not found: {path}")
    m = STEP_FILE.match(path.name)
    return Checkpoint(path.stem, path, int(m.group(1)) if m else _metadata_step(path))


def _metadata_step(path: Path) -> int | None:
    """The training step a LoRA file says it was saved at (the train stage writes it under
    ``ltxvoice_training``; a plain ``step`` entry is read too)."""
    try:
        meta = read_metadata(path)
        training = meta.get("ltxvoice_training")
        value = meta.get("step", training.get("step") if isinstance(training, dict) else None)
        return int(value) if value is not None else None
    except Exception:  # an unreadable file is reported (and quarantined) by the structure check
        return None


def screen(checkpoint: Checkpoint, structure: LoraReport | BaseException) -> Quarantined | None:
    """Whether a checkpoint can be generated with: None if so, else the quarantine row saying why.
    A file with unmatched keys is still generated with (users would load it just so) and its
    problems are reported; one that would change nothing or produce NaNs is not."""
    path = str(checkpoint.path)
    if isinstance(structure, BaseException):
        return Quarantined(STAGE, path, checkpoint.name, UNREADABLE, str(structure))
    if structure.non_finite:
        return Quarantined(
            STAGE,
            path,
            checkpoint.name,
            NON_FINITE,
            f"{len(structure.non_finite)} tensor(s) hold NaN/Inf, e.g. {structure.non_finite[0]}",
        )
    if structure.shape_mismatch:
        return Quarantined(STAGE, path, checkpoint.name, SHAPE_MISMATCH, structure.shape_mismatch[0])
    if structure.modules == 0:
        return Quarantined(
            STAGE,
            path,
            checkpoint.name,
            NO_MATCHING_KEYS,
            f"none of its {structure.tensors} tensors adapts a weight of the model "
            f"(e.g. {structure.unmatched[0] if structure.unmatched else 'no lora_A/lora_B keys'}): "
            "ltx-core would load it and change nothing",
        )
    return None


def rules(params: EvaluateParams) -> SweepRules:
    s = params.stats
    return SweepRules(
        min_slope=s.min_slope,
        min_voiced_share=s.min_voiced_share,
        min_seeds=s.min_seeds,
        confidence=s.confidence,
        bootstrap=s.bootstrap,
        seed=s.seed,
        scale=s.scale,
    )


def references(params: EvaluateParams) -> list[Reference]:
    """The helium sweep's reference tones: one timbre (drawn as stage ``tones`` draws one, from
    ``helium.tone_seed``) at every pitch of ``helium.tones_hz``, so only the pitch varies."""
    h = params.helium
    tones = TonesParams(seconds=h.tone_seconds, rate=TONE_RATE)
    timbre = draw_timbre(tones, h.tone_seed)
    return [
        Reference(
            f,
            synthesize(f, h.tone_seconds, TONE_RATE, timbre, seed=h.tone_seed, level_dbfs=tones.level_dbfs),
            TONE_RATE,
        )
        for f in h.tones_hz
    ]


def lora_arms(checkpoint: Checkpoint, params: EvaluateParams) -> list[Arm]:
    return [Arm.lora_at(checkpoint.path, s) for s in params.strengths]


def model_label(model_path: Path) -> dict[str, Any]:
    """What the numbers come from: the tiny random-weight test checkpoint this project writes, a
    model of another depth, or a full-size (48-block) LTX-2.3 checkpoint."""
    from safetensors import safe_open

    from ltxvoice.models.ltx import tiny_ltx_config

    with safe_open(str(model_path), "pt") as f:
        config = json.loads((f.metadata() or {}).get("config", "{}"))
    layers = config.get("transformer", {}).get("num_layers")
    if config == tiny_ltx_config():
        kind = "random-weight test model"
        note = (
            "Numbers from the tiny random-weight LTX-2.3 test checkpoint (ltxvoice.models.ltx, 2 blocks): "
            "they show the evaluation runs end to end, not what the LoRA does."
        )
    elif layers != 48:
        kind = "test-size model"
        note = f"Numbers from a {layers}-block model, not the 48-block LTX-2.3: not evidence about the LoRA."
    else:
        kind = "LTX-2.3"
        note = ""
    return {"path": str(model_path), "kind": kind, "blocks": layers, "note": note}


def interval(i: Interval, digits: int = 4) -> dict[str, float | None]:
    return i.as_dict(digits)


def _num(v: float, digits: int = 4) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), digits) + 0.0  # no -0.0


@dataclass(frozen=True)
class CheckpointResult:
    """Everything the stage says about one checkpoint."""

    checkpoint: Checkpoint
    structure: LoraReport
    distance: CheckpointDistance | None
    sweep: list[ArmResult]
    conditions: list[ConditionResult]
    drift: list[DriftResult]
    voice: list[VoiceResult]
    heard: list[Heard] = field(default_factory=list)  # the ASR's transcripts (base arm and this checkpoint's)


def wer_reason(params: EvaluateParams, prompt: str | None = None) -> str:
    """Why an arm (or a prompt, given) has no WER, as it is for these params."""
    if params.asr is None:
        if params.recipe == "helium":
            return "not measured: evaluate.asr and evaluate.helium.speech are null (no ASR model, no words asked for)"
        return "not measured: evaluate.asr is null (no ASR model configured)"
    if prompt is not None and quoted_line(prompt) is None:
        return "not measured: the prompt quotes no line to say"
    return NOT_TRANSCRIBED


def make_listener(params: EvaluateParams) -> Listener | None:
    """The ASR of ``params.asr`` (loaded once; never downloads), or None when WER is not measured."""
    if params.asr is None:
        return None
    from ltxvoice.models.asr import load_transcriber

    per_seed = params.helium.wer_per_seed if params.recipe == "helium" else None
    return Listener(load_transcriber(params.asr), params.asr.language, per_seed)


def analyse_checkpoint(
    checkpoint: Checkpoint,
    structure: LoraReport,
    distance: CheckpointDistance | None,
    base: Run,
    lora: Run,
    params: EvaluateParams,
) -> CheckpointResult:
    """The statistics of one checkpoint's LoRA arms against the shared base arm."""
    r = rules(params)
    both = Run().extend(base).extend(lora)
    sweep = analyse_sweep(both.sweep, r) if params.recipe == "helium" else []
    voice = analyse_voice(both.sweep, r, wer_reason(params)) if params.recipe == "helium" else []
    conditions = analyse_conditions(both.conditions, r) if params.recipe != "helium" else []
    points, floor, _ = drift(both.latents)
    drifts = analyse_drift(points, floor, params.stats.max_drift_ratio, r) if points else []
    return CheckpointResult(checkpoint, structure, distance, sweep, conditions, drifts, voice, both.heard)


def best_choice(results: list[CheckpointResult], params: EvaluateParams) -> Choice:
    """The best checkpoint by ``params.best``: each checkpoint's LoRA arm at the judged strength
    against the base arm's vuv_f1 and, when ``params.asr`` measures it, wer (see :mod:`ltxvoice.evaluate.best`)."""
    strength = params.best_strength
    candidates, base_f1, base_wer = [], math.nan, math.nan
    for r in results:
        for v in r.voice:
            if v.arm == "base":
                base_f1, base_wer = v.vuv_f1.estimate, v.wer.estimate
            elif v.strength == strength:
                c = r.checkpoint
                candidates.append(
                    Candidate(c.name, c.step, c.path, v.pitch_cents.estimate, v.vuv_f1.estimate, v.wer.estimate)
                )
    return choose(candidates, base_f1, params.best, base_wer if params.asr is not None else None)


def metrics(
    result: CheckpointResult, label: dict[str, Any], text_source: str, wer_reasons: dict[str, str] | None = None
) -> dict[str, Any]:
    """The DVC metrics of one checkpoint: numbers and verdicts, keyed (not listed) for ``dvc metrics``.
    ``wer_reasons``: per prompt label, why it has no WER (see :func:`wer_reason`)."""
    wer_reasons = wer_reasons or {}
    s = result.structure
    out: dict[str, Any] = {
        "checkpoint": result.checkpoint.name,
        "step": result.checkpoint.step,
        "model": label["kind"],
        "text": "random" if "random" in text_source else text_source,
        "structure": {
            "tensors": s.tensors,
            "modules": s.modules,
            "rank": s.ranks[0] if len(s.ranks) == 1 else s.ranks,
            "dtypes": ",".join(s.dtypes),
            "non_finite": len(s.non_finite),
            "unmatched": len(s.unmatched),
            "unpaired": len(s.unpaired),
            "shape_mismatch": len(s.shape_mismatch),
            "touched": s.touched,
            "norm": {k: _num(v, 6) for k, v in s.norms.items()},
        },
    }
    if result.distance is not None:
        out["distance_to_previous"] = {
            "relative": _num(result.distance.relative, 6),
            "norm_change": _num(result.distance.norm_change, 6),
        }
    if result.sweep:
        out["helium"] = {a.arm: _arm_metrics(a) for a in result.sweep}
    if result.voice:
        out["voice"] = {v.arm: v.as_metrics() for v in result.voice}
    if result.conditions:
        by_arm: dict[str, dict[str, Any]] = {}
        for c in result.conditions:
            by_arm.setdefault(c.arm, {})[c.condition] = {
                "voiced_fraction": _num(c.voiced_fraction.estimate),
                "voiced_vs_base": _num(c.voiced_vs_base.estimate),
                "voiced_vs_base_lo": _num(c.voiced_vs_base.lo),
                "voiced_vs_base_hi": _num(c.voiced_vs_base.hi),
                "level_dbfs": _num(c.level_dbfs.estimate, 2),
                "level_vs_base": _num(c.level_vs_base.estimate, 2),
                "level_vs_base_lo": _num(c.level_vs_base.lo, 2),
                "level_vs_base_hi": _num(c.level_vs_base.hi, 2),
                "wer": _num(c.wer.estimate),
                "wer_lo": _num(c.wer.lo),
                "wer_hi": _num(c.wer.hi),
            }
            if not math.isfinite(c.wer.estimate):
                by_arm[c.arm][c.condition]["wer_reason"] = wer_reasons.get(c.condition, NOT_TRANSCRIBED)
        out["conditions"] = by_arm
    if result.drift:
        out["drift"] = {
            d.arm: {
                "drift": _num(d.drift.estimate, 6),
                "drift_lo": _num(d.drift.lo, 6),
                "drift_hi": _num(d.drift.hi, 6),
                "seed_floor": _num(d.seed_floor, 6),
                "ratio": _num(d.ratio.estimate),
                "ratio_hi": _num(d.ratio.hi),
                "max_abs": _num(d.max_abs, 6),
                "verdict": d.verdict,
            }
            for d in result.drift
        }
    return out


def _arm_metrics(a: ArmResult) -> dict[str, Any]:
    m: dict[str, Any] = {
        "slope": _num(a.fit.slope.estimate),
        "slope_lo": _num(a.fit.slope.lo),
        "slope_hi": _num(a.fit.slope.hi),
        "r": _num(a.fit.r.estimate),
        "voiced_share": _num(a.voiced_share),
        "mean_voiced_fraction": _num(a.mean_voiced_fraction),
        "generations": a.generations,
        "seeds_with_data": a.fit.seeds,
    }
    if a.arm == "base":
        m["leak"] = a.leak
    else:
        m |= {
            "vs_base": _num(a.vs_base.estimate),
            "vs_base_lo": _num(a.vs_base.lo),
            "vs_base_hi": _num(a.vs_base.hi),
            "verdict": a.verdict,
        }
    return m


def details(result: CheckpointResult, label: dict[str, Any], text_source: str) -> dict[str, Any]:
    """Everything, including reasons and the full structure report (not a DVC metric)."""
    return {
        "checkpoint": {
            "name": result.checkpoint.name,
            "path": str(result.checkpoint.path),
            "step": result.checkpoint.step,
        },
        "model": label,
        "text": text_source,
        "structure": result.structure.as_dict(),
        "distance_to_previous": result.distance.as_dict() if result.distance else None,
        "helium": [
            {
                "arm": a.arm,
                "strength": a.strength,
                "generations": a.generations,
                "voiced_share": _num(a.voiced_share),
                "mean_voiced_fraction": _num(a.mean_voiced_fraction),
                "slope": interval(a.fit.slope),
                "intercept": _num(a.fit.intercept),
                "r": interval(a.fit.r),
                "points": a.fit.points,
                "seeds_with_data": a.fit.seeds,
                "valid_share": _num(a.fit.valid_share),
                "vs_base": interval(a.vs_base),
                "leak": a.leak,
                "verdict": a.verdict,
                "reason": a.reason,
            }
            for a in result.sweep
        ],
        "voice": [{"arm": v.arm, "strength": v.strength, **v.as_metrics()} for v in result.voice],
        "conditions": [
            {
                "arm": c.arm,
                "strength": c.strength,
                "condition": c.condition,
                "generations": c.generations,
                "voiced_fraction": interval(c.voiced_fraction),
                "level_dbfs": interval(c.level_dbfs, 2),
                "voiced_vs_base": interval(c.voiced_vs_base),
                "level_vs_base": interval(c.level_vs_base, 2),
                "wer": interval(c.wer),
            }
            for c in result.conditions
        ],
        "transcripts": [h.as_dict() for h in result.heard],
        "drift": [
            {
                "arm": d.arm,
                "strength": d.strength,
                "generations": d.generations,
                "drift": interval(d.drift, 6),
                "seed_floor": _num(d.seed_floor, 6),
                "ratio": interval(d.ratio),
                "max_abs": _num(d.max_abs, 6),
                "verdict": d.verdict,
                "reason": d.reason,
            }
            for d in result.drift
        ],
    }


def make_generator(params: EvaluateParams) -> LTXGenerator:
    """The LTX-2.3 generator for these params: shared components loaded once from ``params.model``."""
    import torch

    from ltxvoice.evaluate.sampler import GemmaPromptEncoder, LTXGenerator, LTXModels, Shape, resolve_dtype
    from ltxvoice.models.device import resolve_device

    torch.set_num_threads(params.torch_threads)
    device = resolve_device(params.device, "evaluate.device")
    dtype = resolve_dtype(params.dtype, device)
    text = GemmaPromptEncoder(params.gemma, device, dtype) if params.text_encoder == "gemma" and params.gemma else None
    models = LTXModels(
        params.model, device=device, dtype=dtype, text_seed=params.seed, text_encoder=text, gemma_root=params.gemma
    )
    shape = Shape(frames=params.frames, height=params.height, width=params.width, fps=params.fps)
    return LTXGenerator(models, shape, params.sampler, params.helium.reference_placement, params.helium.reference_gap_s)


def run_arm(
    generator: Any,
    arm: Arm,
    params: EvaluateParams,
    refs: list[Reference] | None = None,
    progress: Any = None,
    listener: Listener | None = None,
) -> Run:
    """The recipe's controlled test for one arm: the helium tone sweep, or the labelled prompts; with a
    ``listener`` (:func:`make_listener`) the generations that say words are scored for WER."""
    from ltxvoice.evaluate.sweep import run_prompts, run_sweep

    common = dict(
        batch_size=params.sampler.batch_size,
        keep_audio_seeds=params.sample_seeds,
        progress=progress,
        listener=listener,
    )
    if params.recipe == "helium":
        return run_sweep(
            generator,
            arm,
            params.helium.prompt,
            refs if refs is not None else references(params),
            params.seed_list,
            params.pitch,
            **common,
        )
    return run_prompts(generator, arm, params.prompts, params.seed_list, params.pitch, **common)


def generations_per_arm(params: EvaluateParams) -> int:
    per_seed = len(params.helium.tones_hz) if params.recipe == "helium" else len(params.prompts)
    return per_seed * params.seeds
