"""Flow of stage ``train``: a LoRA on the encode stage's latents (see ltxvoice.train)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import check_dvc_deps, finish, pipeline_file, run_flow, stage_params
from ltxvoice.config import TrainParams
from ltxvoice.stage import StageError, StageResult, versions
from ltxvoice.train.data import AUDIO_DIR, CONDITIONS_DIR, REFERENCE_DIR, VIDEO_DIR
from ltxvoice.train.optim import OptimizerUnavailable
from ltxvoice.train.trainer import TrainingError, plot_curves, write_curves
from tasks.train import train_lora

TOOLS = ("torch", "ltx-core", "peft", "accelerate", "safetensors", "bitsandbytes")


@flow(name="train")
def train(params_path: str = "params.yaml", upstream: str = "data/encode", out: str = "data/train") -> dict:
    """Train the LoRA (resuming from the newest matching checkpoint) and write its curves and metrics."""
    params, cfg = stage_params(params_path, TrainParams)
    folders = [VIDEO_DIR, AUDIO_DIR, CONDITIONS_DIR] + (
        [REFERENCE_DIR] if cfg.model.strategy == "audio_reference" else []
    )
    check_dvc_deps("train", [Path(upstream) / f for f in folders] + [cfg.model.checkpoint], pipeline_file(params_path))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = train_lora(cfg, params_path, upstream, out)
    except (TrainingError, OptimizerUnavailable) as exc:
        raise StageError(str(exc)) from None
    if not result.lora.is_file():
        raise StageError(
            f"train: the run ended at step {result.steps} of {cfg.optimization.steps} without a final LoRA"
        )
    write_curves(result.curve, out_dir / "curves.csv")
    plot_curves(
        result.curve,
        out_dir / "curves.png",
        title=f"train: {cfg.model.strategy}, preset {cfg.lora.preset}, rank {cfg.lora.rank}",
    )
    losses = [c[1] for c in result.curve]
    window = max(1, min(50, len(losses) // 10 or 1))
    metrics = {
        "items": result.items,
        "quarantined": len(result.quarantined),
        "steps": len(result.curve),
        "resumed_from_step": result.start_step,
        "loss_first": round(sum(losses[:window]) / window, 6),
        "loss_last": round(sum(losses[-window:]) / window, 6),
        "processes": result.world_size,
    }
    shown = {k: metrics[k] for k in ("steps", "loss_first", "loss_last")}
    return finish(
        out_dir,
        StageResult(
            "train",
            cfg,
            versions(*TOOLS),
            inputs=result.items + len(result.quarantined),
            kept=result.items,
            quarantined=result.quarantined,
            metrics=metrics,
            shown={**shown, "samples_per_s": round(result.samples_per_second, 3)},
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(train, "train"))
