"""Flow of stage ``evaluate``: structure of every LoRA checkpoint, then the recipe's controlled test
with the LoRA off and on (fused by ltx-core), statistics, report (see ltxvoice.evaluate)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.common import check_dvc_deps, finish, pipeline_file, run_flow, stage_params
from ltxvoice.config import EvaluateParams
from ltxvoice.evaluate import report
from ltxvoice.evaluate import run as lib
from ltxvoice.evaluate.best import write_choice
from ltxvoice.evaluate.sweep import Arm, Run
from ltxvoice.models.asr import backend_version
from ltxvoice.models.lora_file import transformer_weights
from ltxvoice.stage import StageError, StageResult, prepare_output_dir, versions
from tasks.common import failure_row, run_mapped
from tasks.evaluate import (
    distance,
    generate_arm,
    inspect_checkpoint,
    load_generator,
    load_listener,
    oracle_arms,
    write_audio,
)


@flow(name="evaluate")
def evaluate(params_path: str = "params.yaml", checkpoint: str = "", out: str = "data/evaluate") -> dict:
    """Evaluate every LoRA checkpoint of the train stage (or one file given as --checkpoint)."""
    params, cfg = stage_params(params_path, EvaluateParams)
    if checkpoint:
        checkpoints = [lib.single_checkpoint(Path(checkpoint))]
    else:
        o = cfg.oracle
        oracle_paths = [o.pairs, o.tones, o.targets, o.plan, *o.sources] if cfg.recipe == "helium" else []
        asr_paths = [Path(cfg.asr.model)] if cfg.asr is not None and Path(cfg.asr.model).exists() else []
        check_dvc_deps(
            "evaluate",
            [cfg.model, cfg.checkpoints] + ([cfg.final] if cfg.final else []) + oracle_paths + asr_paths,
            pipeline_file(params_path),
        )
        checkpoints = lib.list_checkpoints(cfg.checkpoints, cfg.final)
    try:
        model = transformer_weights(cfg.model)
    except (FileNotFoundError, ValueError) as exc:
        raise StageError(f"evaluate: {exc}") from None
    out_dir = prepare_output_dir(Path(out), "evaluate")

    structures = run_mapped(inspect_checkpoint, checkpoints, runner=params.runner, desc="structure", model=model)
    screened = [(c, s, lib.screen(c, s)) for c, s in zip(checkpoints, structures)]
    quarantined = [q for _, _, q in screened if q is not None]
    good = [(c, s) for c, s, q in screened if q is None and not isinstance(s, BaseException)]
    distances = {cur.name: distance(prev, cur) for (prev, _), (cur, _) in zip(good, good[1:])}
    tools = versions("ltx-core", "torch", "praat-parselmouth", "safetensors")
    if cfg.asr is not None:
        tools |= backend_version(cfg.asr)
    if not good:
        finish(
            out_dir,
            StageResult(
                "evaluate",
                cfg,
                tools,
                inputs=len(checkpoints),
                kept=0,
                quarantined=quarantined,
                metrics={"inputs": len(checkpoints), "evaluated": 0},
            ),
            head=f"evaluate: none of {len(checkpoints)} checkpoint(s) can be loaded: "
            + "; ".join(f"{q.item_id}: {q.reason} ({q.detail})" for q in quarantined),
        )

    try:
        oracle = oracle_arms(cfg, Path.cwd()) if cfg.recipe == "helium" else None
    except (FileNotFoundError, ValueError) as exc:  # a pair's file missing or outside the declared deps
        raise StageError(f"evaluate: {exc}") from None
    try:
        generator = load_generator(cfg)
    except ValueError as exc:  # a partial checkpoint, no CUDA device, ...: one line, not a traceback
        raise StageError(f"evaluate: {exc}") from None
    try:
        listener = load_listener(cfg)
    except FileNotFoundError as exc:  # no such ASR model: said before any generation
        raise StageError(f"evaluate: {exc}") from None
    refs = lib.references(cfg) if cfg.recipe == "helium" else None
    base = generate_arm(generator, Arm.base(), cfg, refs, listener)
    write_audio(base, out_dir / "samples")
    results = []
    for ckpt, structure in good:
        try:
            lora = Run()
            for arm in lib.lora_arms(ckpt, cfg):
                lora.extend(generate_arm(generator, arm, cfg, refs, listener))
        except Exception as exc:  # one checkpoint that cannot be generated with does not stop the others
            quarantined.append(failure_row("evaluate", str(ckpt.path), exc, 0, ckpt.name))
            continue
        write_audio(lora, out_dir / "samples" / ckpt.name)
        results.append(lib.analyse_checkpoint(ckpt, structure, distances.get(ckpt.name), base, lora, cfg))

    choice = lib.best_choice(results, cfg)
    write_choice(choice, out_dir / "best")
    label = lib.model_label(cfg.model)
    summary, text = report.write_outputs(
        out_dir, results, quarantined, cfg, label, generator.text_source, len(checkpoints), oracle, choice
    )
    create_markdown_artifact(markdown=text, key="evaluate-report", description="LoRA checkpoint evaluation")
    return finish(
        out_dir,
        StageResult(
            "evaluate", cfg, tools, inputs=len(checkpoints), kept=len(results), quarantined=quarantined, metrics=summary
        ),
        head="evaluate: no checkpoint could be evaluated",
    )


if __name__ == "__main__":
    sys.exit(run_flow(evaluate, "evaluate"))
