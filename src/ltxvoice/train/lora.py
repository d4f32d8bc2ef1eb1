"""peft LoRA on the LTX-2.3 transformer, and the LoRA file exactly as ComfyUI and ltx-core read it.

File format (what ltx-core's ``SingleGPUModelBuilder.lora`` + ``LTXV_LORA_COMFY_RENAMING_MAP`` and
ComfyUI's LoRA loaders consume): one safetensors file, keys
``diffusion_model.<module>.lora_A.weight`` ([rank, in]) and ``diffusion_model.<module>.lora_B.weight``
([out, rank]), bf16, no ``alpha`` keys. Loaders apply ``W + strength * B @ A``, so peft's scaling
``alpha / rank`` is folded into B at export (alpha == rank leaves B unchanged). Training settings and
the strategy go into the safetensors metadata as JSON strings. A file with a NaN or Inf is never
written: the save fails and names the tensors.

Inside training the adapter is kept in peft's own fp32 state (``adapter_state``): resuming restores
those exact values, never the rounded bf16 export.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltxvoice.models.lora_file import LORA_PREFIX
from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable
from ltxvoice.train.presets import target_regex

PEFT_PREFIX = "base_model.model."


@dataclass(frozen=True)
class LoraSpec:
    """What a LoRA adapts and how: rank, alpha (scale = alpha / rank), dropout, target patterns."""

    rank: int
    alpha: float
    dropout: float
    patterns: tuple[str, ...]
    preset: str = "custom"

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


def add_lora(model: Any, spec: LoraSpec, seed: int) -> Any:
    """Wrap an ``LTXModel`` with peft LoRA adapters on the modules ``spec.patterns`` match.

    The base model is frozen; A is initialised from ``seed`` (peft's Kaiming-uniform), B with zeros,
    so the wrapped model starts exactly at the base model. Raises ValueError if nothing matches."""
    import torch

    ensure_torchaudio_importable()
    from peft import LoraConfig, get_peft_model

    model.requires_grad_(False)
    config = LoraConfig(
        r=spec.rank,
        lora_alpha=spec.alpha,  # type: ignore[arg-type]  # peft annotates int; its scaling is alpha / r
        lora_dropout=spec.dropout,
        target_modules=target_regex(spec.patterns),
        init_lora_weights=True,
        bias="none",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            wrapped = get_peft_model(model, config)
        except ValueError as exc:
            raise ValueError(f"LoRA targets {list(spec.patterns)} match no module of the transformer: {exc}") from None
    return wrapped


def lora_parameters(model: Any) -> list[Any]:
    """The trainable (LoRA) parameters, in a stable order."""
    return [p for _, p in sorted(model.named_parameters(), key=lambda kv: kv[0]) if p.requires_grad]


def adapter_state(model: Any) -> dict[str, Any]:
    """peft's adapter state (fp32, detached CPU copies), keyed as peft saves it."""
    ensure_torchaudio_importable()
    from peft import get_peft_model_state_dict

    return {k: v.detach().to("cpu", copy=True) for k, v in get_peft_model_state_dict(model).items()}


def load_adapter_state(model: Any, state: dict[str, Any]) -> None:
    """Put a state from :func:`adapter_state` back, failing if any adapter tensor is not restored."""
    ensure_torchaudio_importable()
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(model, state)
    missing = [k for k in getattr(result, "missing_keys", []) if ".lora_" in k]
    unexpected = list(getattr(result, "unexpected_keys", []))
    if missing or unexpected:
        raise ValueError(
            f"adapter state does not fit the model: {len(missing)} missing, "
            f"{len(unexpected)} unexpected (first: {(missing + unexpected)[:3]})"
        )


def reset_lora(model: Any, seed: int) -> None:
    """Re-initialise every adapter as :func:`add_lora` does (A from ``seed``, B = 0)."""
    import torch

    ensure_torchaudio_importable()
    from peft.tuners.lora import LoraLayer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _, module in sorted(model.named_modules(), key=lambda kv: kv[0]):
            if isinstance(module, LoraLayer):
                for name in module.lora_A:
                    module.reset_lora_parameters(name, True)


def export_lora(state: dict[str, Any], spec: LoraSpec) -> dict[str, Any]:
    """peft adapter state -> the file's tensors: ``diffusion_model.`` keys, B scaled by alpha/rank, bf16."""
    import torch

    out: dict[str, Any] = {}
    for key, value in sorted(state.items()):
        name = key.removeprefix(PEFT_PREFIX)
        if ".lora_A." not in name and ".lora_B." not in name:
            raise ValueError(f"unexpected adapter tensor {key!r} (only lora_A/lora_B are exported)")
        tensor = value.detach().float()
        if ".lora_B." in name:
            tensor = tensor * spec.scale
        out[LORA_PREFIX + name] = tensor.to(torch.bfloat16).contiguous()
    return out


def nonfinite_keys(tensors: dict[str, Any]) -> list[str]:
    """Keys of tensors holding a NaN or an Inf."""
    import torch

    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v.float()).all())]


def save_lora(path: Path, state: dict[str, Any], spec: LoraSpec, metadata: dict[str, Any]) -> Path:
    """Write the LoRA file (see the module docstring); every metadata value is stored as a JSON string.

    Raises ValueError naming the file and the tensors if any value is NaN/Inf (before or after the
    bf16 cast); nothing is written then. The write is atomic (temporary file, then rename)."""
    from safetensors.torch import save

    path = Path(path)
    tensors = export_lora(state, spec)
    bad = sorted(
        {k.removeprefix(PEFT_PREFIX) for k in nonfinite_keys(state)}
        | {k.removeprefix(LORA_PREFIX) for k in nonfinite_keys(tensors)}
    )
    if bad:
        raise ValueError(
            f"{path}: refusing to save a LoRA with NaN/Inf in {len(bad)} tensor(s): "
            f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}"
        )
    meta = {k: json.dumps(v, sort_keys=True) for k, v in sorted(metadata.items())}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(canonical_header(save(tensors, metadata=meta)))
    os.replace(tmp, path)
    return path


def canonical_header(data: bytes) -> bytes:
    """The same safetensors bytes with the metadata entries in sorted order.

    safetensors stores metadata from a hash map whose order changes from process to process; sorting
    it (same JSON length, so the tensor offsets do not move) makes equal LoRAs byte-identical files."""
    size = int.from_bytes(data[:8], "little")
    raw = data[8 : 8 + size]
    header = json.loads(raw, object_pairs_hook=lambda pairs: dict(pairs))
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > size:  # never expected; keep the library's own bytes rather than break the file
        return data
    return data[:8] + text + b" " * (size - len(text)) + data[8 + size :]
