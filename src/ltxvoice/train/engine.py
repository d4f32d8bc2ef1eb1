"""The training step's machinery, independent of params.yaml: model setup and the forward loss.

:class:`EngineOptions` is everything a step depends on. The stage builds it from ``train`` params
(:func:`ltxvoice.train.trainer.engine_options`); the GPU benchmark builds it directly. This module
imports neither pydantic nor polars, so it runs where only torch, peft, accelerate and ltx-core are.

How ltx-core's transformer is driven (facts from ``ltx_core.model.transformer``):

- ``LTXModel.forward(video: Modality, audio: Modality, perturbations=None)`` returns the predicted
  velocities ``(video [B, Tv, 128], audio [B, Ta, 128])`` for patchified tokens.
- ``Modality(latent [B, T, 128], sigma [B], timesteps [B, T] or [B, 1], positions, context
  [B, L, D], context_mask)``: per-token timesteps let some tokens be clean (0) while others are noisy;
  ``positions`` are ``[B, 3, T, 2]`` (time in seconds, pixel y, pixel x; start/end bounds) for video and
  ``[B, 1, T, 2]`` (seconds) for audio, as built by ltx-core's patchifiers.
- Blocks run in ``LTXModel._process_transformer_blocks``; :mod:`ltxvoice.train.memory` replaces that
  loop per instance for selective checkpointing and block offload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ltxvoice.train.data import Item, TextCache, batch_tensors
from ltxvoice.train.lora import LoraSpec, add_lora
from ltxvoice.train.memory import (
    BlockOffload,
    compile_blocks,
    install_block_runner,
    quantize_frozen_linears,
    set_attention,
)
from ltxvoice.train.strategies import StrategySpec, flow_loss, prepare_inputs


@dataclass(frozen=True)
class EngineOptions:
    """What the model setup and one training step depend on."""

    lora: LoraSpec
    strategy: StrategySpec
    seed: int = 42
    mixed_precision: Literal["bf16", "no"] = "bf16"
    gradient_checkpointing: float = 1.0
    checkpoint_keep: Literal["nothing", "attention"] = "nothing"
    base_weights: Literal["bf16", "fp8", "int8"] = "bf16"
    fp8_matmul: bool = False
    fp8_grad: bool = False
    offload_blocks: bool = False
    compile: bool = False
    attention: str = "default"
    video_loss_weight: float = 1.0
    audio_loss_weight: float = 1.0

    @property
    def compute_dtype(self) -> Any:
        import torch

        return torch.bfloat16 if self.mixed_precision == "bf16" else torch.float32


@dataclass
class Prepared:
    """A transformer ready to train: the peft-wrapped model and what was done to it."""

    model: Any
    ltx: Any
    device: Any
    compute_dtype: Any
    checkpointed: frozenset[int]
    offload: BlockOffload | None
    quantized: int


def unwrap(model: Any) -> Any:
    """The ``LTXModel`` inside DDP/FSDP/compile/peft wrappers."""
    seen = 0
    while seen < 8:
        seen += 1
        if hasattr(model, "module") and not hasattr(model, "transformer_blocks"):
            model = model.module  # DDP / FSDP
            continue
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod  # torch.compile
            continue
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()  # peft
            continue
        break
    return model


def place(ltx: Any, device: Any, offload: bool) -> BlockOffload | None:
    """Move the model to ``device``; with ``offload`` the blocks' frozen tensors stay in CPU memory."""
    if not offload:
        ltx.to(device)
        return None
    for name, child in ltx.named_children():
        if name != "transformer_blocks":
            child.to(device)
    for p in ltx.parameters(recurse=False):
        p.data = p.data.to(device)
    for p in ltx.transformer_blocks.parameters():
        if p.requires_grad:
            p.data = p.data.to(device)
    return BlockOffload(ltx.transformer_blocks, device)


def prepare_model(transformer: Any, opts: EngineOptions, device: Any) -> Prepared:
    """LoRA + memory/speed knobs on an ``LTXModel`` whose weights are loaded (on CPU or ``device``).

    Order matters: peft first (it must see real ``nn.Linear`` layers), then quantization of the
    frozen block linears (straight onto ``device``, or kept on CPU for offload), then placement."""
    import torch

    device = torch.device(device)
    if opts.mixed_precision == "no":
        transformer = transformer.float()
    model = add_lora(transformer, opts.lora, opts.seed)
    ltx = unwrap(model)
    quantized = 0
    if opts.base_weights != "bf16":
        where = torch.device("cpu") if opts.offload_blocks else device
        quantized = quantize_frozen_linears(
            model, opts.base_weights, opts.fp8_matmul, where, len(ltx.transformer_blocks), fp8_grad=opts.fp8_grad
        )
    offload = place(ltx, device, opts.offload_blocks)
    blocks = install_block_runner(ltx, opts.gradient_checkpointing, offload, opts.checkpoint_keep)
    set_attention(ltx, opts.attention)
    if opts.compile:
        compile_blocks(ltx)
    model.train()
    return Prepared(
        model=model,
        ltx=ltx,
        device=device,
        compute_dtype=opts.compute_dtype,
        checkpointed=blocks,
        offload=offload,
        quantized=quantized,
    )


def forward_loss(
    model: Any, items: Sequence[Item], text: TextCache, opts: EngineOptions, generator: Any, device: Any
) -> Any:
    """One forward pass on ``items``: per-sample flow-matching loss [B] (fp32)."""
    import torch

    dtype = opts.compute_dtype
    batch = batch_tensors(items, device, torch.float32)
    video_ctx, audio_ctx = text.contexts(items, device, dtype)
    inputs = prepare_inputs(batch, video_ctx, audio_ctx, opts.strategy, generator, dtype)
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        video_pred, audio_pred = model(video=inputs.video, audio=inputs.audio, perturbations=None)
    return flow_loss(video_pred, audio_pred, inputs, opts.video_loss_weight, opts.audio_loss_weight)


def exclude_frozen_from_ddp(model: Any) -> int:
    """Tell DDP to leave the frozen base alone (every process loads the same weights itself).

    Without this DDP broadcasts every frozen weight at start and keeps references to them, so a base
    quantized after wrapping would keep its bf16 copy alive. Only the LoRA parameters are then
    synchronised. Returns how many tensors DDP will ignore."""
    names = [n for n, p in model.named_parameters() if not p.requires_grad] + [n for n, _ in model.named_buffers()]
    model._ddp_params_and_buffers_to_ignore = names
    return len(names)


def make_accelerator(distributed: Literal["ddp", "fsdp"] = "ddp") -> Any:
    """accelerate, one process or several (started by torchrun): DDP, or FSDP when asked.

    Autocast is applied by :func:`forward_loss` itself (bf16 or off), so accelerate's mixed precision
    stays off. DDP never re-broadcasts buffers (the quantized frozen weights are buffers) and assumes
    every LoRA parameter is used in every step (true of all strategies here). Without a GPU,
    several processes talk over gloo (DDP only: FSDP on CPU is refused rather than run as DDP)."""
    import os

    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, FullyShardedDataParallelPlugin

    ddp = DistributedDataParallelKwargs(find_unused_parameters=False, broadcast_buffers=False)
    fsdp = None
    if distributed == "fsdp" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if not torch.cuda.is_available():  # accelerate would quietly run DDP on CPU instead
            raise RuntimeError(
                "distributed: fsdp needs CUDA GPUs (accelerate shards only on GPUs); "
                "use distributed: ddp to train with several CPU processes"
            )
        fsdp = FullyShardedDataParallelPlugin(
            fsdp_version=2,
            auto_wrap_policy="transformer_based_wrap",
            transformer_cls_names_to_wrap=["BasicAVTransformerBlock"],
            state_dict_type="FULL_STATE_DICT",
            reshard_after_forward=True,
        )
    return Accelerator(
        mixed_precision="no",
        kwargs_handlers=[ddp],
        device_placement=False,
        fsdp_plugin=fsdp,
        cpu=not torch.cuda.is_available(),
    )
