"""LoRA files for tests, written in the layout the train stage saves (and ComfyUI / ltx-core read):
``diffusion_model.<module>.lora_A.weight`` (rank x in) / ``.lora_B.weight`` (out x rank), bf16,
alpha folded in, settings as JSON-string metadata."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors.torch import save_file

from ltxvoice.models.lora_file import module_kind, transformer_weights

HELIUM = (
    "audio_attn1.to_q",
    "audio_attn1.to_k",
    "audio_attn1.to_v",
    "audio_attn1.to_out.0",
    "audio_attn2.to_q",
    "audio_attn2.to_k",
    "audio_attn2.to_v",
    "audio_attn2.to_out.0",
    "audio_ff.net.0.proj",
    "audio_ff.net.2",
)


def lora_tensors(
    model_path: Path, targets: Iterable[str] = HELIUM, rank: int = 4, seed: int = 0, scale: float = 0.05
) -> dict[str, torch.Tensor]:
    """Random A/B factors for every module of the model whose kind is in ``targets``."""
    wanted = set(targets)
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, shape in sorted(transformer_weights(model_path).shapes.items()):
        module = name.removesuffix(".weight")
        if not name.endswith(".weight") or len(shape) != 2 or module_kind(module) not in wanted:
            continue
        out[f"diffusion_model.{module}.lora_A.weight"] = torch.randn(rank, shape[1], generator=g) * scale
        out[f"diffusion_model.{module}.lora_B.weight"] = torch.randn(shape[0], rank, generator=g) * scale
    if not out:
        raise ValueError(f"no module of {model_path} matches {sorted(wanted)}")
    return out


def save_lora(
    path: Path,
    tensors: dict[str, torch.Tensor],
    step: int | None = None,
    dtype: torch.dtype = torch.bfloat16,
    **settings: object,
) -> Path:
    meta = {
        "format": "lora",
        "rank": json.dumps(next(t.shape[0] for k, t in tensors.items() if "lora_A" in k)),
        "strategy": json.dumps({"name": "helium", "reference_placement": "negative"}),
        **{k: json.dumps(v) for k, v in settings.items()},
    }
    if step is not None:
        meta["step"] = json.dumps(step)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(dtype).contiguous() for k, v in sorted(tensors.items())}, str(path), metadata=meta)
    return path


def write_lora(
    path: Path,
    model_path: Path,
    targets: Iterable[str] = HELIUM,
    rank: int = 4,
    seed: int = 0,
    scale: float = 0.05,
    step: int | None = None,
) -> Path:
    return save_lora(path, lora_tensors(model_path, targets, rank, seed, scale), step=step)
