"""The LoRA training run: model setup, the step, checkpoints, resume, curves.

One run = :func:`train`: load the transformer and text connectors from the base checkpoint, encode
every distinct prompt once through the connectors, wrap the transformer with peft LoRA, apply the
memory/speed knobs (:mod:`ltxvoice.train.memory`), then optimise for ``steps`` steps under
accelerate (one process on CPU or a GPU; DDP or FSDP when started by torchrun, see
:mod:`ltxvoice.train.launch`).

Determinism: a step's randomness (sigma, noise, first-frame draws, LoRA dropout) is seeded from
``(seed, step, micro-batch, rank)`` and its items from :class:`ltxvoice.train.data.DataOrder`, so a
resumed run repeats the uninterrupted one exactly (same loss sequence on CPU).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltxvoice.config import TrainParams
from ltxvoice.models.lora_file import LORA_PREFIX
from ltxvoice.models.ltx import load_text_connectors, load_transformer
from ltxvoice.records import Quarantined
from ltxvoice.train import checkpoint as ckpt
from ltxvoice.train import engine
from ltxvoice.train.data import DataOrder, TextCache, check_enough, dataset_fingerprint, load_items
from ltxvoice.train.engine import EngineOptions, Prepared, forward_loss
from ltxvoice.train.lora import LoraSpec, adapter_state, load_adapter_state, lora_parameters, save_lora
from ltxvoice.train.optim import make_optimizer, make_scheduler
from ltxvoice.train.presets import target_patterns
from ltxvoice.train.strategies import StrategySpec

FORMAT_VERSION = 1
# Settings (by their names in TrainParams.flat) that do not change what a step computes
# (recomputation and offload give the same numbers; compile and the attention kernel only round
# differently): changing them keeps a run resumable.
NOT_FINGERPRINTED = (
    "checkpoint_every",
    "keep_last",
    "resume",
    "processes",
    "compile",
    "attention",
    "gradient_checkpointing",
    "checkpoint_keep",
    "offload_blocks",
)


class TrainingError(RuntimeError):
    """The run cannot continue (diverged, no data, nothing to resume). The message says why."""


def lora_spec(params: TrainParams) -> LoraSpec:
    lora = params.lora
    return LoraSpec(
        rank=lora.rank,
        alpha=lora.alpha,
        dropout=lora.dropout,
        patterns=target_patterns(lora.preset, lora.target_modules),
        preset=lora.preset,
    )


def strategy_spec(params: TrainParams) -> StrategySpec:
    model, fm = params.model, params.flow_matching
    return StrategySpec(
        name=model.strategy,
        first_frame_p=model.first_frame_p,
        reference_placement=model.reference_placement,
        reference_gap_s=model.reference_gap_s,
        timestep_sampling=fm.timestep_sampling,
        logit_std=fm.logit_std,
        uniform_share=fm.uniform_share,
    )


def run_fingerprint(params: TrainParams, data_hash: str, checkpoint: Path, world_size: int) -> str:
    """What must be equal for a saved state to continue this run exactly. The settings are hashed by
    their own names (:meth:`TrainParams.flat`), not by the group they sit in."""
    settings = {k: v for k, v in params.flat().items() if k not in NOT_FINGERPRINTED}
    settings["checkpoint"] = Path(checkpoint).name
    base = Path(checkpoint)
    stat = base.stat() if base.is_file() else None
    blob = json.dumps(
        {
            "settings": settings,
            "data": data_hash,
            "world_size": world_size,
            "base": [base.name, stat.st_size if stat else None],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def step_seed(seed: int, step: int, micro: int, rank: int) -> int:
    """A 63-bit seed for one micro-step of one process."""
    digest = hashlib.sha256(f"{seed}:{step}:{micro}:{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def lora_metadata(params: TrainParams, step: int, items: int) -> dict[str, Any]:
    """What the LoRA file carries: the ``train`` settings as grouped in params.yaml, the step and item
    count, the strategy, the target patterns and format facts (JSON values)."""
    spec = lora_spec(params)
    meta: dict[str, Any] = {
        "ltxvoice_format": {
            "version": FORMAT_VERSION,
            "alpha_folded": True,
            "rank": spec.rank,
            "alpha": spec.alpha,
            "folded_scale": spec.scale,
            "prefix": LORA_PREFIX,
            "dtype": "bfloat16",
        },
        "ltxvoice_training": {**params.model_dump(mode="json"), "step": step, "items": items},
        "ltxvoice_strategy": strategy_spec(params).metadata(),
        "ltxvoice_targets": {"preset": spec.preset, "patterns": list(spec.patterns)},
    }
    if params.model.strategy == "audio_reference":
        meta["reference_downscale_factor"] = 1  # read by LTX IC-LoRA loaders; audio is never downscaled
    return meta


def engine_options(params: TrainParams) -> EngineOptions:
    """The step's options from the ``train`` params section."""
    mem, fm = params.memory, params.flow_matching
    return EngineOptions(
        lora=lora_spec(params),
        strategy=strategy_spec(params),
        seed=params.seed,
        mixed_precision=mem.mixed_precision,
        gradient_checkpointing=mem.gradient_checkpointing,
        checkpoint_keep=mem.checkpoint_keep,
        base_weights=mem.base_weights,
        fp8_matmul=mem.fp8_matmul,
        fp8_grad=mem.fp8_grad,
        offload_blocks=mem.offload_blocks,
        compile=mem.compile,
        attention=mem.attention,
        video_loss_weight=fm.video_loss_weight,
        audio_loss_weight=fm.audio_loss_weight,
    )


def prepare_model(transformer: Any, params: TrainParams, device: Any) -> Prepared:
    """:func:`ltxvoice.train.engine.prepare_model` with the options of a ``train`` section."""
    return engine.prepare_model(transformer, engine_options(params), device)


@dataclass
class TrainResult:
    """What a run did (the flow turns it into metrics, plots and provenance)."""

    lora: Path
    steps: int
    start_step: int
    curve: list[tuple[int, float, float]]
    items: int
    quarantined: list[Quarantined]
    checkpoints: list[Path]
    seconds: float
    samples_per_second: float
    peak_memory_gib: float | None
    world_size: int
    distributed: str = "NO"
    resume_notes: list[str] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        return self.curve[-1][1] if self.curve else float("nan")


def train(
    params: TrainParams,
    data_root: Path,
    out_dir: Path,
    *,
    checkpoint: Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    on_step: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Train a LoRA on the precomputed items in ``data_root``; write checkpoints under
    ``out_dir/checkpoints`` and the final LoRA to ``out_dir/lora.safetensors``.

    ``checkpoint`` overrides ``params.model.checkpoint`` (the base model). ``stop_after`` ends the run
    after that many steps in total, as an interruption would (used to test resume). Raises
    :class:`TrainingError` on divergence (non-finite loss) or when no item is usable."""
    import torch

    started = time.perf_counter()
    base = Path(checkpoint or params.model.checkpoint)
    if not base.is_file():
        raise FileNotFoundError(f"train: base checkpoint {base} not found (train.model.checkpoint in params.yaml)")
    opt, saving = params.optimization, params.checkpoints
    accelerator = engine.make_accelerator(params.memory.distributed)
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    if device.type == "cpu":
        device = torch.device("cpu")  # accelerate says cpu:0 under torchrun, which safetensors refuses
    main = accelerator.is_main_process
    spec = strategy_spec(params)
    opts = engine_options(params)
    out_dir = Path(out_dir)
    folder = out_dir / "checkpoints"

    items, quarantined = load_items(data_root, with_reference=spec.uses_reference)
    if not items:
        raise TrainingError(f"train: no usable item in {data_root} ({len(quarantined)} quarantined)")
    order = DataOrder(num_items=len(items), batch_size=opt.batch_size, world_size=world, seed=params.seed)
    try:
        check_enough(items, order, data_root)
    except ValueError as exc:
        raise TrainingError(f"train: {exc}") from None
    fingerprint = run_fingerprint(params, dataset_fingerprint(items), base, world)

    # Text connectors run once per distinct prompt, then leave memory.
    text = TextCache()
    connectors = load_text_connectors(base, str(device), torch.bfloat16)
    compute_dtype = opts.compute_dtype
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=compute_dtype == torch.bfloat16):
        text.fill(items, connectors if compute_dtype == torch.bfloat16 else connectors.float(), device, compute_dtype)
    del connectors
    if device.type == "cuda":
        torch.cuda.empty_cache()

    load_device = "cpu" if (params.memory.offload_blocks or params.memory.base_weights != "bf16") else str(device)
    prepared = prepare_model(load_transformer(base, load_device, torch.bfloat16), params, device)
    if _is_fsdp(accelerator):
        prepared.model.float()  # FSDP flattens each block's parameters and needs one dtype (LoRA is fp32)
    elif world > 1:
        engine.exclude_frozen_from_ddp(prepared.model)
    model = accelerator.prepare_model(prepared.model, device_placement=False)
    trainable = lora_parameters(model)
    optimizer = accelerator.prepare_optimizer(
        make_optimizer(trainable, opt.optimizer, opt.lr, opt.weight_decay), device_placement=False
    )
    scheduler = make_scheduler(optimizer, opt.steps, opt.schedule, opt.warmup_steps, opt.final_lr_ratio)

    start: int = 0
    curve: list[tuple[int, float, float]] = []
    notes: list[str] = []
    if saving.resume:
        state, notes = ckpt.load_latest(folder, fingerprint)
        if state is not None:
            load_adapter_state(unwrap_peft(model), state.adapter)
            if state.optimizer is not None:
                optimizer.load_state_dict(state.optimizer)
            else:
                notes.append("optimizer moments restarted (FSDP checkpoints keep no optimizer state)")
            scheduler.load_state_dict(state.scheduler)
            ckpt.set_rng_states(state.rng)
            start, curve = state.step, list(state.curve)
            notes.append(f"resumed from step {start}")
    if start == 0 and main:
        removed = ckpt.clear(folder)
        if removed:
            notes.append(f"cleared {len(removed)} checkpoint file(s) of another run")
    accelerator.wait_for_everyone()

    end = opt.steps if stop_after is None else min(opt.steps, stop_after)
    saved: list[Path] = []
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)
    bar = _progress(main and progress, start, opt.steps)
    timed_from, timed_steps = time.perf_counter(), 0
    for step in range(start, end):
        lr = optimizer.param_groups[0]["lr"]
        total = torch.zeros((), device=device)
        for micro in range(opt.grad_accum):
            seed = step_seed(params.seed, step, micro, rank)
            torch.manual_seed(seed)  # LoRA dropout draws from the global generator
            random.seed(seed)  # the other global generators too, so a checkpoint's saved RNG state
            np.random.seed(seed % 2**32)  # is a function of (seed, step) like everything else in it
            generator = torch.Generator(device=device).manual_seed(seed)
            batch_items = [items[i] for i in order.indices(step, rank, micro, opt.grad_accum)]
            sync = accelerator.no_sync(model) if micro < opt.grad_accum - 1 else contextlib.nullcontext()
            with sync:
                loss = forward_loss(model, batch_items, text, opts, generator, device).mean()
                accelerator.backward(loss / opt.grad_accum)
            total = total + loss.detach() / opt.grad_accum
        mean_loss = float(accelerator.reduce(total, reduction="mean"))
        if not torch.isfinite(torch.tensor(mean_loss)):
            raise TrainingError(
                f"train: loss is {mean_loss} at step {step + 1}; stopping before saving anything "
                "from this step (lower train.optimization.lr or check the latents)"
            )
        if opt.max_grad_norm > 0:
            accelerator.clip_grad_norm_(trainable, opt.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        curve.append((step + 1, mean_loss, lr))
        timed_steps += 1
        if on_step is not None:
            on_step(step + 1, mean_loss, lr)
        if bar is not None:
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}")
            bar.update(1)
        done = step + 1
        if saving.checkpoint_every and (done % saving.checkpoint_every == 0 or done == opt.steps):
            saved += _save_checkpoint(
                accelerator, model, optimizer, scheduler, params, folder, done, fingerprint, curve, len(items)
            )
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - timed_from
    final = out_dir / "lora.safetensors"
    finished = (curve[-1][0] if curve else start) >= opt.steps
    if finished:
        adapter = _gather_adapter(accelerator, model)
        if adapter is not None:
            save_lora(final, adapter, lora_spec(params), lora_metadata(params, opt.steps, len(items)))
    accelerator.wait_for_everyone()
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if torch.cuda.is_available() else None
    return TrainResult(
        lora=final,
        steps=len(curve),
        start_step=start,
        curve=curve,
        items=len(items),
        quarantined=quarantined,
        checkpoints=saved,
        seconds=time.perf_counter() - started,
        samples_per_second=(timed_steps * order.global_batch * opt.grad_accum / seconds)
        if timed_steps and seconds > 0
        else 0.0,
        peak_memory_gib=peak,
        world_size=world,
        distributed=accelerator.distributed_type.value,
        resume_notes=notes,
    )


def unwrap_peft(model: Any) -> Any:
    """The peft model inside DDP/FSDP/compile wrappers."""
    while not hasattr(model, "get_base_model") and hasattr(model, "module"):
        model = model.module
    return model


def _is_fsdp(accelerator: Any) -> bool:
    return accelerator.distributed_type.value == "FSDP"


def _gather_adapter(accelerator: Any, model: Any) -> dict[str, Any] | None:
    """The full fp32 adapter on the main process (None elsewhere). Under FSDP every process must
    call this: the full state dict is gathered collectively."""
    if _is_fsdp(accelerator):
        from peft import get_peft_model_state_dict

        full = accelerator.get_state_dict(model)
        if not accelerator.is_main_process:
            return None
        peft_model = unwrap_peft(accelerator.unwrap_model(model))
        adapter = get_peft_model_state_dict(peft_model, state_dict=full)
        return {k: v.detach().to("cpu", copy=True) for k, v in adapter.items()}
    if not accelerator.is_main_process:
        return None
    return adapter_state(unwrap_peft(accelerator.unwrap_model(model)))


def _save_checkpoint(
    accelerator: Any,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    params: TrainParams,
    folder: Path,
    step: int,
    fingerprint: str,
    curve: list[tuple[int, float, float]],
    items: int,
) -> list[Path]:
    accelerator.wait_for_everyone()
    written: list[Path] = []
    adapter = _gather_adapter(accelerator, model)
    if adapter is not None:
        written.append(
            save_lora(ckpt.lora_path(folder, step), adapter, lora_spec(params), lora_metadata(params, step, items))
        )
        written.append(
            ckpt.save_state(
                folder,
                ckpt.ResumeState(
                    step=step,
                    fingerprint=fingerprint,
                    adapter=adapter,
                    optimizer=None if _is_fsdp(accelerator) else optimizer.state_dict(),
                    scheduler=scheduler.state_dict(),
                    rng=ckpt.rng_states(),
                    curve=list(curve),
                ),
            )
        )
        ckpt.prune(folder, params.checkpoints.keep_last)
    accelerator.wait_for_everyone()
    return [p for p in written if p.exists()]


def _progress(enabled: bool, start: int, total: int) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)


def write_curves(curve: Sequence[tuple[int, float, float]], path: Path) -> Path:
    """``step,loss,lr`` CSV (DVC plots read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["step", "loss", "lr"])
        for step, loss, lr in curve:
            writer.writerow([step, f"{loss:.6g}", f"{lr:.6g}"])
    return path


def plot_curves(curve: Sequence[tuple[int, float, float]], path: Path, title: str = "LoRA training") -> Path:
    """Loss (with a moving average) and learning rate against step, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = np.array([c[0] for c in curve])
    loss = np.array([c[1] for c in curve])
    lr = np.array([c[2] for c in curve])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, constrained_layout=True)
    ax1.plot(steps, loss, lw=0.8, alpha=0.5, label="loss")
    if len(loss) >= 5:
        k = max(2, len(loss) // 20)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax1.plot(steps[k - 1 :], smooth, lw=1.5, label=f"mean of {k}")
    ax1.set_ylabel("flow-matching loss")
    ax1.set_title(title)
    ax1.legend(loc="upper right")
    ax2.plot(steps, lr, color="tab:orange")
    ax2.set_ylabel("learning rate")
    ax2.set_xlabel("step")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
