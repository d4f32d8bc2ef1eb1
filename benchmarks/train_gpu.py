#!/usr/bin/env python
"""GPU benchmark of LoRA training on the full-size LTX-2.3 transformer (random bf16 weights).

One command (on a machine with an H200; 2 GPUs add the DDP rows):

    OUT=/tmp/out python benchmarks/train_gpu.py            # default configs, writes $OUT/train_gpu.{md,json}
    python benchmarks/train_gpu.py --configs helium_b8,helium_b8_compile --out /tmp/out
    python benchmarks/train_gpu.py --list                   # every config and what it measures

It builds the 48-block transformer from ltx-core's own configurator on the meta device, materialises
it on the GPU with random bf16 weights, adds a rank-32 LoRA with the helium preset (960 tensors),
and times full training steps of the project's own code path (``ltxvoice.train.engine``: strategy
inputs, forward, flow-matching loss, backward, clipping, AdamW) for the three recipe shapes:

- helium: 256x256x121 video (16x8x8 latents) + 4.84 s audio (121 latent steps) + 2 s reference (50),
  audio-reference IC-LoRA strategy (reference clean at negative positions)
- register: 192x192x97 video at 24 fps (13x6x6) + 4.04 s audio (101), text-to-AV
- talking head: 1280x704x145 (19x22x40 = 16720 tokens) + 5.8 s audio (145), text-to-AV, first frame p 0.5

Text contexts are 1024 tokens (Gemma's padded prompt) at the connector output widths (4096 / 2048).
Speed knobs measured: share of blocks recomputed in backward (gradient checkpointing), FP8 storage
of the frozen base with FP8 tensor-core matmuls (``torch._scaled_mm``, activations scaled per token),
``torch.compile`` per block, the low-memory mode (FP8 storage + block offload), and DDP over 2 GPUs
(torchrun). Attention is SDPA; the text cross-attention runs unmasked (connector output has no
padding), which lets SDPA use its flash kernel. Each config resets the LoRA and uses the same per-step
seeds, so the loss columns compare configs of one shape and batch on identical inputs.

Configs run in an order that only ever goes forward (DDP first while the GPUs are empty, then bf16,
then the base is quantized to FP8, then offloaded); a config that runs out of memory is recorded as
OOM and the run goes on; configs that would start after ``--budget-s`` are recorded as skipped.
``--tiny`` runs the same logic on CPU with the tiny model (used by the test suite).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "src", ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@dataclass(frozen=True)
class Shape:
    """Latent sizes of one recipe (patch size 1: one token per latent cell / audio step)."""

    name: str
    frames: int
    height: int
    width: int
    fps: float
    audio_steps: int
    reference_steps: int | None
    first_frame_p: float
    pixels: str


SHAPES = {
    "helium": Shape("helium", 16, 8, 8, 25.0, 121, 50, 0.0, "256x256x121 + 4.84 s audio + 2 s reference"),
    "register": Shape("register", 13, 6, 6, 24.0, 101, None, 0.0, "192x192x97 + 4.04 s audio"),
    "talking_head": Shape("talking_head", 19, 22, 40, 25.0, 145, None, 0.5, "1280x704x145 + 5.8 s audio"),
}
TINY_SHAPES = {
    "helium": Shape("helium", 3, 2, 2, 25.0, 12, 5, 0.0, "tiny"),
    "register": Shape("register", 2, 2, 2, 24.0, 10, None, 0.0, "tiny"),
    "talking_head": Shape("talking_head", 3, 2, 4, 25.0, 14, None, 0.5, "tiny"),
}
PROMPT_TOKENS = 1024
PHASES = ("ddp", "bf16", "fp8", "lowmem")


@dataclass(frozen=True)
class Config:
    """One measured setting."""

    name: str
    shape: str
    batch: int
    phase: str = "bf16"  # ddp | bf16 | fp8 | lowmem
    checkpointing: float = 1.0
    fp8_matmul: bool = False
    fp8_grad: bool = False
    compile: bool = False
    attention: str = "default"
    keep: str = "nothing"
    steps: int = 5
    warmup: int = 2
    processes: int = 1
    note: str = ""

    def knobs(self) -> str:
        parts = [f"ckpt {self.checkpointing:g}" + (f" (keeps {self.keep})" if self.keep != "nothing" else "")]
        if self.phase in ("fp8", "lowmem") or (self.phase == "ddp" and self.fp8_matmul):
            parts.append(
                "fp8 base"
                + (" + fp8 matmul" if self.fp8_matmul else " (upcast)")
                + (" + fp8 grad" if self.fp8_grad else "")
            )
        if self.phase == "lowmem":
            parts.append("block offload")
        if self.compile:
            parts.append("compile")
        if self.attention != "default":
            parts.append(f"{self.attention} attention")
        if self.processes > 1:
            parts.append(f"DDP x{self.processes}")
        return ", ".join(parts)


def _configs() -> list[Config]:
    c = Config
    return [
        c("ddp2_helium_b8", "helium", 8, phase="ddp", processes=2, note="eager baseline settings on 2 GPUs"),
        c(
            "ddp2_helium_b8_fp8_ckpt50",
            "helium",
            8,
            phase="ddp",
            processes=2,
            checkpointing=0.5,
            fp8_matmul=True,
            note="fast settings on 2 GPUs",
        ),
        c(
            "ddp2_helium_b8_fast",
            "helium",
            8,
            phase="ddp",
            processes=2,
            checkpointing=0.0,
            fp8_matmul=True,
            fp8_grad=True,
            compile=True,
            attention="cudnn",
            warmup=3,
            note="the single-GPU helium settings on 2 GPUs",
        ),
        c("helium_b1", "helium", 1, note="issue baseline: 0.98 samples/s, 37.2 GiB"),
        c("helium_b8", "helium", 8, note="issue baseline: 4.17 samples/s, 43.2 GiB"),
        c("helium_b16", "helium", 16, note="issue baseline: 4.3 samples/s, 50.1 GiB"),
        c("helium_b8_ckpt50", "helium", 8, checkpointing=0.5),
        c("helium_b8_ckpt0", "helium", 8, checkpointing=0.0),
        c("helium_b16_ckpt50", "helium", 16, checkpointing=0.5),
        c("helium_b8_compile", "helium", 8, compile=True, warmup=3),
        c("register_b16", "register", 16, note="issue baseline: 8.5 samples/s"),
        c("talking_head_b1", "talking_head", 1, steps=3, warmup=1, note="issue baseline: 0.196 samples/s, 49.1 GiB"),
        c("talking_head_b2", "talking_head", 2, steps=3, warmup=1, note="issue baseline: 0.20 samples/s"),
        c("talking_head_b1_ckpt50", "talking_head", 1, checkpointing=0.5, steps=3, warmup=1),
        c("helium_b8_fp8", "helium", 8, phase="fp8", fp8_matmul=True),
        c("helium_b8_fp8_ckpt50", "helium", 8, phase="fp8", fp8_matmul=True, checkpointing=0.5),
        c("helium_b8_fp8_ckpt0", "helium", 8, phase="fp8", fp8_matmul=True, checkpointing=0.0),
        c("helium_b16_fp8_ckpt50", "helium", 16, phase="fp8", fp8_matmul=True, checkpointing=0.5),
        c("helium_b16_fp8_ckpt25", "helium", 16, phase="fp8", fp8_matmul=True, checkpointing=0.25),
        c(
            "helium_b8_fp8_compile_ckpt50",
            "helium",
            8,
            phase="fp8",
            fp8_matmul=True,
            checkpointing=0.5,
            compile=True,
            warmup=3,
        ),
        c("register_b16_fp8_ckpt50", "register", 16, phase="fp8", fp8_matmul=True, checkpointing=0.5),
        c("talking_head_b1_fp8", "talking_head", 1, phase="fp8", fp8_matmul=True, steps=3, warmup=1),
        c("talking_head_b2_fp8", "talking_head", 2, phase="fp8", fp8_matmul=True, steps=3, warmup=1),
        c(
            "talking_head_b1_fp8_ckpt50",
            "talking_head",
            1,
            phase="fp8",
            fp8_matmul=True,
            checkpointing=0.5,
            steps=3,
            warmup=1,
        ),
        # session 3: one compiled graph for all blocks, cuDNN attention, attention kept in recomputed blocks
        c("helium_b8_ckpt0_cudnn", "helium", 8, checkpointing=0.0, attention="cudnn"),
        c("helium_b8_ckpt0_compile", "helium", 8, checkpointing=0.0, compile=True, warmup=3),
        c("helium_b8_ckpt0_compile_cudnn", "helium", 8, checkpointing=0.0, compile=True, attention="cudnn", warmup=3),
        c("helium_b8_ckpt50_compile_cudnn", "helium", 8, checkpointing=0.5, compile=True, attention="cudnn", warmup=3),
        c(
            "helium_b12_ckpt25_compile_cudnn",
            "helium",
            12,
            checkpointing=0.25,
            compile=True,
            attention="cudnn",
            warmup=3,
        ),
        c(
            "helium_b16_ckpt50_compile_cudnn",
            "helium",
            16,
            checkpointing=0.5,
            compile=True,
            attention="cudnn",
            warmup=3,
        ),
        c("talking_head_b1_cudnn", "talking_head", 1, attention="cudnn", steps=3, warmup=1),
        c("talking_head_b1_keepattn_cudnn", "talking_head", 1, keep="attention", attention="cudnn", steps=3, warmup=1),
        c("talking_head_b1_ckpt50_cudnn", "talking_head", 1, checkpointing=0.5, attention="cudnn", steps=3, warmup=1),
        c(
            "talking_head_b1_ckpt50_keepattn_cudnn",
            "talking_head",
            1,
            checkpointing=0.5,
            keep="attention",
            attention="cudnn",
            steps=3,
            warmup=1,
        ),
        c("talking_head_b1_compile_cudnn", "talking_head", 1, compile=True, attention="cudnn", steps=3, warmup=2),
        c(
            "talking_head_b1_ckpt50_compile_cudnn",
            "talking_head",
            1,
            checkpointing=0.5,
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_ckpt25_compile_cudnn",
            "talking_head",
            1,
            checkpointing=0.25,
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_ckpt75_compile_cudnn",
            "talking_head",
            1,
            checkpointing=0.75,
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_ckpt90_compile_cudnn",
            "talking_head",
            1,
            checkpointing=0.9,
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_keepattn_compile_cudnn",
            "talking_head",
            1,
            keep="attention",
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "register_b16_ckpt0_compile_cudnn",
            "register",
            16,
            checkpointing=0.0,
            compile=True,
            attention="cudnn",
            warmup=3,
        ),
        c(
            "helium_b8_fp8_ckpt0_compile_cudnn",
            "helium",
            8,
            phase="fp8",
            fp8_matmul=True,
            checkpointing=0.0,
            compile=True,
            attention="cudnn",
            warmup=3,
        ),
        c(
            "helium_b16_fp8_ckpt25_compile_cudnn",
            "helium",
            16,
            phase="fp8",
            fp8_matmul=True,
            checkpointing=0.25,
            compile=True,
            attention="cudnn",
            warmup=3,
        ),
        c(
            "talking_head_b1_fp8_compile_cudnn",
            "talking_head",
            1,
            phase="fp8",
            fp8_matmul=True,
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_fp8_ckpt75_compile_cudnn",
            "talking_head",
            1,
            phase="fp8",
            fp8_matmul=True,
            checkpointing=0.75,
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_fp8_keepattn_compile_cudnn",
            "talking_head",
            1,
            phase="fp8",
            fp8_matmul=True,
            keep="attention",
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_fp8_keepattn_ckpt75_compile_cudnn",
            "talking_head",
            1,
            phase="fp8",
            fp8_matmul=True,
            checkpointing=0.75,
            keep="attention",
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_fp8_keepattn_ckpt60_compile_cudnn",
            "talking_head",
            1,
            phase="fp8",
            fp8_matmul=True,
            checkpointing=0.6,
            keep="attention",
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_fp8grad_keepattn_ckpt75_compile_cudnn",
            "talking_head",
            1,
            phase="fp8",
            fp8_matmul=True,
            fp8_grad=True,
            checkpointing=0.75,
            keep="attention",
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "talking_head_b1_fp8grad_keepattn_ckpt60_compile_cudnn",
            "talking_head",
            1,
            phase="fp8",
            fp8_matmul=True,
            fp8_grad=True,
            checkpointing=0.6,
            keep="attention",
            compile=True,
            attention="cudnn",
            steps=3,
            warmup=2,
        ),
        c(
            "helium_b8_fp8grad_ckpt0_compile_cudnn",
            "helium",
            8,
            phase="fp8",
            fp8_matmul=True,
            fp8_grad=True,
            checkpointing=0.0,
            compile=True,
            attention="cudnn",
            warmup=3,
        ),
        c(
            "register_b16_fp8grad_ckpt0_compile_cudnn",
            "register",
            16,
            phase="fp8",
            fp8_matmul=True,
            fp8_grad=True,
            checkpointing=0.0,
            compile=True,
            attention="cudnn",
            warmup=3,
        ),
        c(
            "register_b16_fp8_ckpt0_compile_cudnn",
            "register",
            16,
            phase="fp8",
            fp8_matmul=True,
            checkpointing=0.0,
            compile=True,
            attention="cudnn",
            warmup=3,
        ),
        c("helium_b1_lowmem", "helium", 1, phase="lowmem", steps=4, note="target: < 22 GiB (24 GB cards)"),
        c("helium_b4_lowmem", "helium", 4, phase="lowmem", steps=4),
        c(
            "helium_b4_lowmem_fp8mm",
            "helium",
            4,
            phase="lowmem",
            fp8_matmul=True,
            steps=4,
            note="FP8 matmuls instead of the upcast: no dequantise kernels",
        ),
    ]


CONFIGS = {c.name: c for c in _configs()}
# About 6.5 minutes on one H200 (+ about 1.5 with the two DDP rows on a 2-GPU machine); the
# compile rows add 1-3 minutes of compilation each: run them with --configs.
DEFAULT = [
    "ddp2_helium_b8",
    "ddp2_helium_b8_fp8_ckpt50",
    "helium_b1",
    "helium_b8",
    "helium_b16",
    "helium_b8_ckpt50",
    "register_b16",
    "talking_head_b1",
    "helium_b8_fp8",
    "helium_b8_fp8_ckpt50",
    "helium_b8_fp8_ckpt0",
    "helium_b16_fp8_ckpt50",
    "register_b16_fp8_ckpt50",
    "talking_head_b1_fp8",
    "talking_head_b2_fp8",
    "helium_b1_lowmem",
]


def log(msg: str) -> None:
    print(f"[train_gpu {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- the model --------------------------------------------------------------------------------


def random_transformer(tiny: bool, device: Any, seed: int = 0) -> Any:
    """The LTX-2.3 transformer (or the tiny one) built on meta, materialised on ``device`` in bf16
    with random weights: linear weights ~ N(0, 1/fan_in), biases 0, norm scales 1, AdaLN tables small."""
    import torch

    from ltxvoice.models.ltx import build_transformer, ltx23_config, tiny_ltx_config

    config = tiny_ltx_config() if tiny else ltx23_config()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = build_transformer(config, device="meta")
    finally:
        torch.set_default_dtype(previous)
    return fill_random_(model.to_empty(device=device), device, seed)


def fill_random_(model: Any, device: Any, seed: int = 0) -> Any:
    """Random weights in place (also used by the official trainer's arm, train_gpu_official.py):
    linear weights ~ N(0, 1/fan_in), biases 0, norm scales 1, AdaLN tables small; frozen."""
    import torch

    g = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if "scale_shift_table" in name:
                p.normal_(0.0, 0.02, generator=g)
            elif leaf == "bias":
                p.zero_()
            elif p.ndim == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, p.shape[-1] ** -0.5, generator=g)
        for _, b in model.named_buffers():
            b.zero_()
    return model.requires_grad_(False)


def synthetic_batch(
    shape: Shape, batch: int, video_dim: int, audio_dim: int, device: Any, seed: int
) -> tuple[list, Any]:
    """``batch`` random items of ``shape`` and a TextCache holding one shared random prompt context."""
    import torch

    from ltxvoice.train.data import TextCache, synthetic_item

    items = [
        synthetic_item(
            f"{shape.name}{seed}_{i}",
            frames=shape.frames,
            height=shape.height,
            width=shape.width,
            audio_steps=shape.audio_steps,
            reference_steps=shape.reference_steps,
            prompt_tokens=8,
            video_dim=8,
            audio_dim=8,
            fps=shape.fps,
            seed=seed * 1000 + i,
        )
        for i in range(batch)
    ]
    g = torch.Generator().manual_seed(seed)
    video_ctx = torch.randn(PROMPT_TOKENS, video_dim, generator=g).to(torch.bfloat16).to(device)
    audio_ctx = torch.randn(PROMPT_TOKENS, audio_dim, generator=g).to(torch.bfloat16).to(device)
    text = TextCache()
    for item in items:
        text.put(item.clip_id, video_ctx, audio_ctx)
    return items, text


class Session:
    """One peft-wrapped transformer whose knobs change config by config (phases only go forward)."""

    def __init__(self, tiny: bool, device: Any) -> None:
        import torch

        from ltxvoice.train.engine import unwrap
        from ltxvoice.train.lora import LoraSpec, add_lora
        from ltxvoice.train.presets import PRESETS

        self.tiny, self.device = tiny, torch.device(device)
        self.spec = LoraSpec(rank=32, alpha=32.0, dropout=0.0, patterns=PRESETS["helium"], preset="helium")
        started = time.perf_counter()
        self.model = add_lora(random_transformer(tiny, self.device), self.spec, seed=0)
        self.ltx = unwrap(self.model)
        self.phase = "bf16"
        self.offload: Any = None
        n_lora = sum(1 for n, _ in self.model.named_parameters() if ".lora_" in n)
        log(
            f"model ready in {time.perf_counter() - started:.1f} s: {len(self.ltx.transformer_blocks)} blocks, "
            f"{sum(p.numel() for p in self.model.parameters()) / 1e9:.2f} B params, {n_lora} LoRA tensors"
        )

    @property
    def dims(self) -> tuple[int, int]:
        return self.ltx.inner_dim, self.ltx.audio_inner_dim

    def enter(self, phase: str) -> None:
        import torch

        from ltxvoice.train.engine import place
        from ltxvoice.train.memory import quantize_frozen_linears

        order = PHASES.index
        if order(phase) < order(self.phase):
            raise RuntimeError(f"phase {phase} after {self.phase}")
        if self.phase == "bf16" and phase in ("fp8", "lowmem"):
            started = time.perf_counter()
            n = quantize_frozen_linears(self.model, "fp8", False, self.device, len(self.ltx.transformer_blocks))
            _free()
            log(f"quantized {n} frozen block linears to FP8 in {time.perf_counter() - started:.1f} s")
        if phase == "lowmem" and self.offload is None:
            started = time.perf_counter()
            self.offload = place(self.ltx, self.device, offload=True)
            _free()
            held = torch.cuda.memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else 0.0
            log(
                f"frozen block weights offloaded to {'pinned ' if self.device.type == 'cuda' else ''}CPU memory "
                f"in {time.perf_counter() - started:.1f} s; {held:.2f} GiB left allocated on the device"
            )
        self.phase = phase
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def configure(self, cfg: Config) -> Any:
        from ltxvoice.train.engine import EngineOptions
        from ltxvoice.train.memory import (
            compile_blocks,
            install_block_runner,
            set_attention,
            set_fp8_matmul,
            uncompile_blocks,
        )
        from ltxvoice.train.strategies import StrategySpec

        install_block_runner(self.ltx, cfg.checkpointing, self.offload, cfg.keep)
        set_attention(self.ltx, cfg.attention)
        set_fp8_matmul(self.model, cfg.fp8_matmul, cfg.fp8_grad)
        uncompile_blocks(self.ltx)
        if cfg.compile:
            compile_blocks(self.ltx)
        shape = self.shapes[cfg.shape]
        strategy = StrategySpec(
            "audio_reference" if shape.reference_steps else "text_to_av", first_frame_p=shape.first_frame_p
        )
        return EngineOptions(
            lora=self.spec,
            strategy=strategy,
            gradient_checkpointing=cfg.checkpointing,
            checkpoint_keep=cfg.keep,
            attention=cfg.attention,
            base_weights="bf16" if self.phase == "bf16" else "fp8",
            fp8_matmul=cfg.fp8_matmul,
            fp8_grad=cfg.fp8_grad,
            offload_blocks=self.offload is not None,
            compile=cfg.compile,
        )

    @property
    def shapes(self) -> dict[str, Shape]:
        return TINY_SHAPES if self.tiny else SHAPES


def _free() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_config(
    session: Session,
    cfg: Config,
    model: Any = None,
    rank: int = 0,
    world: int = 1,
    reduce: Any = None,
    profile: int = 0,
) -> dict[str, Any]:
    """Time ``cfg.warmup + cfg.steps`` training steps; samples/s over the timed steps (all processes).
    With ``profile`` > 0, that many more steps run under torch.profiler afterwards (``profile`` key:
    see train_gpu_profile.py), and the memory held before step 1 is recorded."""
    import torch

    from ltxvoice.train.engine import forward_loss
    from ltxvoice.train.lora import lora_parameters, reset_lora

    model = model or session.model
    device = session.device
    cuda = device.type == "cuda"
    opts = session.configure(cfg)
    reset_lora(session.model, seed=0)
    params = lora_parameters(model)
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0, fused=cuda)
    items, text = synthetic_batch(session.shapes[cfg.shape], cfg.batch, *session.dims, device, seed=rank + 1)
    _free()
    resident = None
    if profile:
        from train_gpu_profile import resident_tensors

        resident = resident_tensors(device)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    losses: list[Any] = []
    loss: Any = None
    started = time.perf_counter()
    timed_from = started

    def one_step(step: int, optimizer: Any = optimizer) -> Any:
        torch.manual_seed(step)
        generator = torch.Generator(device=device).manual_seed(1000 + 7919 * rank + step)
        loss = forward_loss(model, items, text, opts, generator, device).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    profiled: dict[str, Any] | None = None
    try:
        for step in range(cfg.warmup + cfg.steps):
            if step == cfg.warmup:
                if cuda:
                    torch.cuda.synchronize(device)
                timed_from = time.perf_counter()
            loss = one_step(step)
            losses.append(loss)
        if cuda:
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - timed_from
        if profile:
            from train_gpu_profile import profile_steps

            profiled = profile_steps(one_step, cfg.warmup + cfg.steps, profile, device)
            profiled["timed_step_ms"] = elapsed / cfg.steps * 1e3
            profiled["resident"] = resident
    except Exception as exc:  # recorded (OOM or another error), and the run goes on to the next config
        loss = None  # drop the failed step's graph before freeing
        optimizer.zero_grad(set_to_none=True)
        del optimizer, losses, one_step
        _free()
        status = "OOM" if isinstance(exc, torch.OutOfMemoryError) else f"error: {type(exc).__name__}: {str(exc)[:200]}"
        return {"status": status, "seconds": round(time.perf_counter() - started, 1)}
    values = [float(v) for v in losses]
    samples = cfg.batch * cfg.steps * world
    out: dict[str, Any] = {
        "status": "ok" if all(v == v and abs(v) != float("inf") for v in values) else "non-finite loss",
        "samples_per_s": samples / elapsed,
        "step_s": elapsed / cfg.steps,
        "first_step_s": round(time.perf_counter() - started - elapsed, 2),
        "loss_first": values[0],
        "loss_mean": sum(values[cfg.warmup :]) / cfg.steps,
        "losses": values,  # every step, warm-up included: step k has the same inputs in every config
        "seconds": round(time.perf_counter() - started, 1),
    }
    if profiled is not None:
        out["profile"] = profiled
    if cuda:
        peak = torch.tensor(
            [torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device)],
            dtype=torch.float64,
            device=device,
        )
        if reduce is not None:
            peak = reduce(peak)
        out["peak_alloc_gib"] = float(peak[0]) / 2**30
        out["peak_reserved_gib"] = float(peak[1]) / 2**30
    del optimizer, one_step
    _free()
    return out


def attention_kernels(kind: str, device: Any, tokens: int = 1024) -> list[str]:
    """The GPU kernels one video self-attention (forward + backward, 32 heads x 128) of attention
    ``kind`` launches, from the profiler: which fused kernel SDPA really picked."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from ltxvoice.train.memory import CudnnFirstAttention

    if kind == "cudnn":
        function: Any = CudnnFirstAttention()
    else:
        from ltx_core.model.transformer.attention import AttentionFunction

        function = AttentionFunction(kind)
    q, k, v = (torch.randn(1, tokens, 4096, device=device, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    function(q, k, v, 32).sum().backward()  # warm-up (cuDNN builds its plan)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        function(q, k, v, 32).sum().backward()
        torch.cuda.synchronize(device)
    names = {e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA}
    words = ("attn", "attention", "fmha", "flash", "cudnn", "sdpa")
    return sorted(n[:90] for n in names if any(w in n.lower() for w in words))


# --- the run ----------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "host": platform.node(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpus"] = torch.cuda.device_count()
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    for pkg in ("peft", "accelerate", "ltx_core"):
        try:
            mod = __import__(pkg)
            env[pkg] = getattr(mod, "__version__", "?")
        except Exception as exc:  # recorded, not fatal: the run fails later with the real error
            env[pkg] = f"missing ({exc})"
    return env


def run_ddp(names: list[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Launch the DDP configs in one torchrun job and read their results back."""
    processes = max(CONFIGS[n].processes for n in names)
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "ddp.json"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(processes),
            str(Path(__file__).resolve()),
            "--worker",
            "--configs",
            ",".join(names),
            "--result",
            str(result_file),
        ]
        if args.tiny:
            cmd.append("--tiny")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        log(f"DDP: {' '.join(cmd[2:])}")
        try:
            done = subprocess.run(cmd, env=env, check=False, timeout=args.ddp_timeout_s)
        except subprocess.TimeoutExpired:
            return {n: {"status": f"DDP run timed out after {args.ddp_timeout_s:.0f} s"} for n in names}
        if done.returncode != 0 or not result_file.is_file():
            return {n: {"status": f"DDP run failed (exit {done.returncode})"} for n in names}
        return json.loads(result_file.read_text())


def worker(args: argparse.Namespace) -> int:
    """One DDP process (started by :func:`run_ddp` through torchrun)."""
    import torch

    from ltxvoice.train.engine import exclude_frozen_from_ddp, make_accelerator

    accelerator = make_accelerator("ddp")
    device = accelerator.device if accelerator.device.type != "cpu" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    session = Session(args.tiny, device)
    # one DDP wrapper for all configs: later knobs only touch frozen weights (which DDP ignores) and the
    # block loop
    exclude_frozen_from_ddp(session.model)
    ddp_model = accelerator.prepare_model(session.model, device_placement=False)
    results: dict[str, Any] = {}
    for name in sorted(args.configs.split(","), key=lambda n: CONFIGS[n].fp8_matmul):
        cfg = CONFIGS[name]
        if cfg.fp8_matmul and session.phase == "bf16":
            session.enter("fp8")
        res = run_config(
            session,
            cfg,
            model=ddp_model,
            rank=accelerator.process_index,
            world=accelerator.num_processes,
            reduce=lambda t: accelerator.reduce(t, reduction="max"),
        )
        results[name] = res
        if accelerator.is_main_process:
            log(f"{name}: {json.dumps(res)}")
        accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        Path(args.result).write_text(json.dumps(results))
    accelerator.wait_for_everyone()
    return 0


def loss_delta(row: dict[str, Any], base: dict[str, Any]) -> float:
    """Mean relative loss difference against ``base`` over the steps both ran (step k of every config
    sees the same inputs and noise, so this isolates what the settings change)."""
    pairs = list(zip(row["losses"], base["losses"]))
    return sum((a - b) / b for a, b in pairs) / len(pairs)


def render(rows: list[dict[str, Any]], env: dict[str, Any], command: str, total_s: float, tiny: bool = False) -> str:
    def num(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, (int, float)) else "-"

    baseline = {
        (r["shape"], r["batch"]): r
        for r in rows
        if r.get("status") == "ok"
        and r["phase"] == "bf16"
        and r["checkpointing"] == 1.0
        and not r["compile"]
        and r.get("attention", "default") == "default"
        and r.get("keep", "nothing") == "nothing"
    }
    lines = [
        "# LoRA training on the full-size LTX-2.3 transformer (random bf16 weights)"
        if not tiny
        else "# LoRA training benchmark, --tiny: the 2-block test model on CPU (checks the logic, measures nothing)",
        "",
        f"- command: `{command}`",
        f"- machine: {env.get('gpu', 'CPU')} x{env.get('gpus', 0)} ({env.get('gpu_memory_gib', '-')} GiB), "
        f"torch {env['torch']}, CUDA {env.get('cuda')}, peft {env.get('peft')}, accelerate {env.get('accelerate')}",
        f"- LoRA: rank 32, alpha 32, helium preset (960 tensors), AdamW, bf16 autocast, SDPA; "
        f"total wall time {total_s:.0f} s",
        "- samples/s over the timed steps (after warm-up); peak = torch.cuda max allocated / reserved since the "
        "config started (includes the resident weights); loss columns: same inputs per shape and batch, "
        "Δ = mean relative loss difference, step by step over the steps both ran, vs the eager bf16 row "
        "(ckpt 1, SDPA default) of that shape and batch",
    ]
    kernels = {k.removeprefix("attention_kernels_"): v for k, v in env.items() if k.startswith("attention_kernels_")}
    lines += [
        f"- attention kernels ({kind}, one video self-attention forward + backward): "
        f"{', '.join(f'`{n}`' for n in names)}"
        for kind, names in kernels.items()
    ]
    lines += [
        "",
        "| config | shape | batch | settings | samples/s | s/step | peak alloc GiB | peak reserved GiB | "
        "loss step 1 | loss mean | Δ loss | status | note |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        base = baseline.get((r["shape"], r["batch"]))
        delta = loss_delta(r, base) if base and "losses" in r and "losses" in base else None
        lines.append(
            f"| {r['name']} | {r['shape']} | {r['batch']} | {r['knobs']} | {num(r.get('samples_per_s'), '.3f')} | "
            f"{num(r.get('step_s'), '.3f')} | {num(r.get('peak_alloc_gib'), '.1f')} | "
            f"{num(r.get('peak_reserved_gib'), '.1f')} | {num(r.get('loss_first'), '.4f')} | "
            f"{num(r.get('loss_mean'), '.4f')} | {num(delta, '+.2%') if delta is not None else '-'} | "
            f"{r.get('status')} | {r.get('note', '')} |"
        )
    ok = [r for r in rows if r.get("status") == "ok"]

    def best(shape: str, phase_filter: Any = lambda r: r["processes"] == 1) -> dict[str, Any] | None:
        cands = [r for r in ok if r["shape"] == shape and phase_filter(r)]
        return max(cands, key=lambda r: r["samples_per_s"]) if cands else None

    lines += ["", "## Against the issue's targets", ""]
    for shape, target in (("helium", 6.0), ("talking_head", 0.3), ("register", None)):
        b = best(shape)
        if b:
            goal = f" (target >= {target})" if target else ""
            lines.append(
                f"- best single-GPU {shape}: {b['samples_per_s']:.3f} samples/s{goal} with `{b['name']}` "
                f"({b['knobs']}, batch {b['batch']})"
            )
    low = [r for r in ok if r["phase"] == "lowmem"]
    for r in low:
        lines.append(
            f"- low-memory {r['name']}: peak {num(r.get('peak_alloc_gib'), '.1f')} GiB allocated / "
            f"{num(r.get('peak_reserved_gib'), '.1f')} GiB reserved (target < 22), "
            f"{r['samples_per_s']:.3f} samples/s"
        )
    for r in (r for r in ok if r["processes"] > 1):
        same = ("shape", "batch", "checkpointing", "keep", "fp8_matmul", "fp8_grad", "compile", "attention")
        single = next((s for s in ok if s["processes"] == 1 and all(s.get(k) == r.get(k) for k in same)), None)
        ratio = (
            f", {r['samples_per_s'] / single['samples_per_s']:.2f}x `{single['name']}` (target >= 1.8x)"
            if single
            else ""
        )
        lines.append(f"- {r['name']}: {r['samples_per_s']:.3f} samples/s on {r['processes']} GPUs{ratio}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="default", help="'default', 'all' or a comma list (see --list)")
    parser.add_argument("--out", default=os.environ.get("OUT", "benchmarks/results"), help="folder for the results")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no config after this many seconds")
    parser.add_argument("--ddp-timeout-s", type=float, default=300.0, help="limit of the DDP part (torchrun job)")
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU (tests the logic)")
    parser.add_argument(
        "--profile", type=int, default=0, help="profile this many more steps per config (train_gpu_profile.py)"
    )
    parser.add_argument("--list", action="store_true", help="list the configs and exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.list:
        for c in CONFIGS.values():
            print(
                f"{c.name:32s} {c.shape:13s} batch {c.batch:2d}  {c.knobs()}{'  [default]' if c.name in DEFAULT else ''}"
            )
        return 0
    from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable

    ensure_torchaudio_importable()
    if args.worker:
        return worker(args)
    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    names = (
        DEFAULT if args.configs == "default" else list(CONFIGS) if args.configs == "all" else args.configs.split(",")
    )
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; see --list")
    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        parser.error("no CUDA GPU here; use --tiny for the CPU logic check")
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    gpus = torch.cuda.device_count() if cuda else 2
    started = time.perf_counter()
    env = environment()
    log(f"environment: {json.dumps(env)}")
    selected = sorted((CONFIGS[n] for n in names), key=lambda c: PHASES.index(c.phase))
    if cuda:
        for kind in sorted({"default"} | {c.attention for c in selected}):
            try:
                env[f"attention_kernels_{kind}"] = attention_kernels(kind, device)
            except Exception as exc:  # recorded: the configs of that kind then fail with the real error
                env[f"attention_kernels_{kind}"] = [f"failed: {exc}"]
            log(f"attention {kind}: {env[f'attention_kernels_{kind}']}")
    results: dict[str, dict[str, Any]] = {}

    ddp = [c.name for c in selected if c.phase == "ddp"]
    if ddp:
        if gpus < max(CONFIGS[n].processes for n in ddp):
            results.update({n: {"status": f"skipped: needs {CONFIGS[n].processes} GPUs"} for n in ddp})
        else:
            results.update(run_ddp(ddp, args))
    session = None
    for cfg in (c for c in selected if c.phase != "ddp"):
        elapsed = time.perf_counter() - started
        if elapsed > args.budget_s:
            results[cfg.name] = {"status": f"skipped: budget ({elapsed:.0f} s > {args.budget_s:.0f} s)"}
            continue
        if session is None:
            session = Session(args.tiny, device)
        session.enter(cfg.phase)
        log(f"{cfg.name}: {cfg.shape} batch {cfg.batch}, {cfg.knobs()} ...")
        res = run_config(session, cfg, profile=args.profile)
        log(f"{cfg.name}: {json.dumps(res)}")
        results[cfg.name] = res

    rows = [{**asdict(c), "knobs": c.knobs(), **results.get(c.name, {"status": "not run"})} for c in selected]
    total = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/train_gpu.py" + ("" if args.configs == "default" else f" --configs {args.configs}")
    (out / "train_gpu.md").write_text(render(rows, env, command, total, args.tiny), encoding="utf-8")
    (out / "train_gpu.json").write_text(json.dumps({"environment": env, "rows": rows, "seconds": total}, indent=1))
    log(f"wrote {out / 'train_gpu.md'} in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
