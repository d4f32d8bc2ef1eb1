"""``lora inspect``: what a LoRA file holds and whether every key lands on a weight of the model.

ltx-core's fusion (and ComfyUI's loader) silently ignore a LoRA key with no matching model weight,
so a file with misnamed keys "loads" and does nothing. :func:`inspect_lora` reads only the file (and
the model checkpoint's header, never its tensors) and reports: tensor count, dtypes, whether every
value is finite, the modules touched grouped video / audio / cross-modal, the rank(s), alpha keys,
unpaired A/B halves, shape mismatches, and every key that does not match a model weight (a key in
another naming, e.g. ``lora_up``/``lora_down`` or without the ``diffusion_model.`` prefix, is
unmatched: ltx-core's fusion reads only this format).

Matching follows the loaders: ``diffusion_model.<module>.lora_{A,B}.weight`` addresses the weight
``model.diffusion_model.<module>.weight`` of a unified LTX-2.3 checkpoint. Without a checkpoint the
file is checked against the full-size LTX-2.3 transformer built on the meta device from ltx-core.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ltxvoice.train.presets import module_group

_KEY = re.compile(r"^(?P<prefix>diffusion_model\.)?(?P<module>.+)\.(?P<half>lora_A|lora_B)\.weight$")
CHECKPOINT_PREFIX = "model.diffusion_model."


@dataclass
class LoraReport:
    """The result of inspecting one LoRA file (``ok`` is the one-word verdict)."""

    path: str
    reference: str
    tensors: int
    dtypes: dict[str, int]
    all_finite: bool
    nonfinite_keys: list[str]
    modules: int
    groups: dict[str, int]
    ranks: list[int]
    alpha_keys: list[str]
    unpaired: list[str]
    unmatched_keys: list[str]
    shape_mismatches: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (self.tensors > 0 and self.all_finite and not self.unmatched_keys and not self.unpaired
                and not self.shape_mismatches and not self.alpha_keys)

    def problems(self) -> list[str]:
        out = []
        if self.tensors == 0:
            out.append("no LoRA tensors")
        if not self.all_finite:
            out.append(f"{len(self.nonfinite_keys)} tensor(s) hold NaN/Inf")
        if self.unmatched_keys:
            out.append(f"{len(self.unmatched_keys)} key(s) match no model weight (loaders ignore them silently)")
        if self.unpaired:
            out.append(f"{len(self.unpaired)} module(s) have lora_A without lora_B or the reverse")
        if self.shape_mismatches:
            out.append(f"{len(self.shape_mismatches)} tensor(s) do not fit their weight's shape")
        if self.alpha_keys:
            out.append(f"{len(self.alpha_keys)} alpha key(s): this format folds alpha into lora_B")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "problems": self.problems()}

    def text(self) -> str:
        lines = [
            f"{self.path}",
            f"  checked against: {self.reference}",
            f"  tensors: {self.tensors} ({', '.join(f'{n} {d}' for d, n in sorted(self.dtypes.items()))})",
            f"  all finite: {'yes' if self.all_finite else 'NO'}",
            f"  modules: {self.modules} (video {self.groups.get('video', 0)}, audio {self.groups.get('audio', 0)}, "
            f"cross-modal {self.groups.get('cross_modal', 0)}, other {self.groups.get('other', 0)})",
            f"  rank: {', '.join(map(str, self.ranks)) or '-'}",
            f"  unmatched keys: {len(self.unmatched_keys)}",
        ]
        lines += [f"    {k}" for k in self.unmatched_keys]
        for name, keys in (("non-finite", self.nonfinite_keys), ("unpaired", self.unpaired),
                           ("shape mismatches", self.shape_mismatches), ("alpha keys", self.alpha_keys)):
            if keys:
                lines.append(f"  {name}: {len(keys)}")
                lines += [f"    {k}" for k in keys[:20]] + ([f"    ... {len(keys) - 20} more"] if len(keys) > 20 else [])
        lines.append("  verdict: " + ("ok" if self.ok else "PROBLEMS: " + "; ".join(self.problems())))
        return "\n".join(lines)


def checkpoint_tensor_shapes(checkpoint: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor key of a safetensors file with its shape, read from the header only (fast on 40 GB)."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    with safe_open(str(checkpoint), framework="pt") as f:
        for key in f.keys():
            shapes[key] = tuple(f.get_slice(key).get_shape())
    return shapes


def model_weight_shapes(model: Path | None) -> tuple[dict[str, tuple[int, ...]], str]:
    """``<module>.weight`` -> shape for every LoRA-addressable weight, and a description of the source.

    From a unified checkpoint's header (keys under ``model.diffusion_model.``), or, without one, from
    the full-size LTX-2.3 transformer built by ltx-core on the meta device."""
    if model is not None:
        model = Path(model)
        if not model.is_file():
            raise FileNotFoundError(f"model checkpoint not found: {model}")
        shapes = {k[len(CHECKPOINT_PREFIX):]: s for k, s in checkpoint_tensor_shapes(model).items()
                  if k.startswith(CHECKPOINT_PREFIX)}
        if not shapes:
            raise ValueError(f"{model}: no '{CHECKPOINT_PREFIX}' tensors: not a unified LTX-2.3 checkpoint")
        return shapes, str(model)
    from ltxvoice.models.ltx import build_transformer, ltx23_config

    meta = build_transformer(ltx23_config(), device="meta")
    return {k: tuple(v.shape) for k, v in meta.state_dict().items()}, "LTX-2.3 transformer (48 blocks, ltx-core 1.0.0)"


def inspect_lora(path: Path, model: Path | None = None) -> LoraReport:
    """Inspect a LoRA safetensors file, optionally against a unified LTX-2.3 checkpoint.

    Raises FileNotFoundError for a missing file and ValueError for a file that is not safetensors."""
    import torch
    from safetensors import safe_open

    from ltxvoice.train.lora import read_metadata

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LoRA file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    weights, reference = model_weight_shapes(model)

    dtypes = Counter(str(t.dtype).removeprefix("torch.") for t in tensors.values())
    nonfinite = sorted(k for k, t in tensors.items()
                       if t.is_floating_point() and not bool(torch.isfinite(t.float()).all()))
    alpha_keys = sorted(k for k in tensors if k.endswith(".alpha"))
    halves: dict[str, dict[str, Any]] = {}
    unmatched, mismatched = [], []
    for key, tensor in sorted(tensors.items()):
        if key in alpha_keys:
            continue
        m = _KEY.match(key)
        if m is None:
            unmatched.append(key)
            continue
        module, half = m.group("module"), m.group("half")
        weight = weights.get(f"{module}.weight")
        if m.group("prefix") is None or weight is None:
            unmatched.append(key)
            continue
        halves.setdefault(module, {})[half] = tensor
        if len(weight) != 2 or tensor.ndim != 2:
            mismatched.append(f"{key}: {tuple(tensor.shape)} for weight {weight}")
        elif half == "lora_A" and tensor.shape[1] != weight[1]:
            mismatched.append(f"{key}: {tuple(tensor.shape)}, weight in_features {weight[1]}")
        elif half == "lora_B" and tensor.shape[0] != weight[0]:
            mismatched.append(f"{key}: {tuple(tensor.shape)}, weight out_features {weight[0]}")
    unpaired = sorted(m for m, h in halves.items() if set(h) != {"lora_A", "lora_B"})
    ranks = set()
    for module, h in halves.items():
        if set(h) == {"lora_A", "lora_B"}:
            a, b = h["lora_A"], h["lora_B"]
            ranks.add(int(a.shape[0]))
            if a.ndim == 2 and b.ndim == 2 and b.shape[1] != a.shape[0]:
                mismatched.append(f"{module}: lora_B {tuple(b.shape)} does not match lora_A {tuple(a.shape)}")
    groups = Counter(module_group(m) for m in halves)
    return LoraReport(path=str(path), reference=reference, tensors=len(tensors), dtypes=dict(dtypes),
                      all_finite=not nonfinite, nonfinite_keys=nonfinite, modules=len(halves),
                      groups={g: groups.get(g, 0) for g in ("video", "audio", "cross_modal", "other")},
                      ranks=sorted(ranks), alpha_keys=alpha_keys, unpaired=unpaired, unmatched_keys=unmatched,
                      shape_mismatches=mismatched, metadata=read_metadata(path))
