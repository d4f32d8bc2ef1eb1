"""Structure of a LoRA checkpoint, read without a model build, and the distance between two.

What the published cards and forum threads check by hand: how many tensors, their dtypes, whether
all are finite (NaNs in gate LoRA weights are a reported failure), the rank, which parts of the
model the LoRA touches (video, audio, the audio-video bridge), and which keys match no weight of
the model - ltx-core's fusion skips such keys without a word, so a LoRA saved with the wrong
prefix loads and does nothing. Norms of the weight updates B·A per module group show where the
training moved the model; the relative distance between consecutive checkpoints shows whether it
is still moving (the helium card: step 1500 vs 2000 "about 8% apart by weight norm").

Norms and distances are computed exactly from the rank-r factors (never forming B·A):
||B·A||² = <BᵀB, A·Aᵀ> and <B₁A₁, B₂A₂> = <B₁ᵀB₂, A₁A₂ᵀ>, all r x r.

:func:`inspect_lora` is the one entry point the stage uses; the train stage's ``lora inspect``
covers the key-level part of the same report and can stand in for it.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from ltxvoice.records import sha256_file

A_SUFFIX = ".lora_A.weight"
B_SUFFIX = ".lora_B.weight"

# The submodules of an LTX-2.3 transformer block, by the stream they belong to.
MODALITY: dict[str, str] = {
    "attn1": "video", "attn2": "video", "ff": "video",
    "audio_attn1": "audio", "audio_attn2": "audio", "audio_ff": "audio",
    "audio_to_video_attn": "cross_modal", "video_to_audio_attn": "cross_modal",
}
GROUPS = ("video", "audio", "cross_modal", "other")
_BLOCK = re.compile(r"^transformer_blocks\.(\d+)\.([^.]+)\.(.+)$")


def lora_module_name(key: str) -> str | None:
    """The model module a LoRA key adapts, as ltx-core names it (``transformer_blocks.3.audio_attn1.to_q``),
    or None for a key that is not a ``lora_A``/``lora_B`` weight. Uses ltx-core's own renaming map,
    so a key that ltx-core would not rename onto the model is reported as unmatched."""
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP

    renamed = LTXV_LORA_COMFY_RENAMING_MAP.apply_to_key(key)
    if renamed is None:
        return None
    for suffix in (A_SUFFIX, B_SUFFIX):
        if renamed.endswith(suffix):
            return renamed[: -len(suffix)]
    return None


def module_group(module: str) -> tuple[str, str, int | None]:
    """(modality group, submodule kind such as ``audio_attn1.to_q``, block index) of a module name."""
    m = _BLOCK.match(module)
    if not m:
        return "other", module, None
    sub, leaf = m.group(2), m.group(3)
    return MODALITY.get(sub, "other"), f"{sub}.{leaf}", int(m.group(1))


def model_weights(model_path: Path) -> dict[str, tuple[int, ...]]:
    """Transformer weight shapes of an LTX-2.3 unified checkpoint, under the names ltx-core loads
    them by (the checkpoint's ``model.diffusion_model.`` prefix removed). Reads headers only."""
    from ltx_core.model.transformer.model_configurator import LTXV_MODEL_COMFY_RENAMING_MAP

    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"LTX checkpoint not found: {path}")
    shapes: dict[str, tuple[int, ...]] = {}
    with safe_open(str(path), "pt") as f:
        for key in f.keys():
            name = LTXV_MODEL_COMFY_RENAMING_MAP.apply_to_key(key)
            if name is not None:
                shapes[name] = tuple(f.get_slice(key).get_shape())
    if not shapes:
        raise ValueError(f"{path}: no transformer weights (model.diffusion_model.*) in this checkpoint")
    return shapes


@dataclass(frozen=True)
class LoraStructure:
    """The structure report of one LoRA file."""

    path: str
    sha256: str
    tensors: int
    dtypes: list[str]
    non_finite: list[str]  # keys holding NaN or Inf
    ranks: list[int]
    modules: int  # complete A/B pairs
    blocks: list[int]  # transformer blocks touched
    touched: dict[str, int]  # modality group -> modules adapted
    kinds: dict[str, int]  # submodule kind (e.g. audio_attn1.to_q) -> modules adapted
    unmatched: list[str]  # keys that adapt no model weight: ltx-core drops them silently
    unpaired: list[str]  # lora_A without its lora_B or the reverse
    shape_mismatch: list[str]  # B·A would not have the shape of the weight it is added to
    norms: dict[str, float]  # ||B·A||_F summed (in squares) over each group, and "total"
    metadata: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """What makes this file unfit to load, one sentence each (empty: fit)."""
        out = []
        if self.tensors == 0:
            out.append("holds no tensors")
        if self.non_finite:
            out.append(f"{len(self.non_finite)} tensor(s) hold NaN/Inf, e.g. {self.non_finite[0]}")
        if self.unmatched:
            out.append(f"{len(self.unmatched)} key(s) match no model weight and would be ignored by ltx-core, "
                       f"e.g. {self.unmatched[0]}")
        if self.unpaired:
            out.append(f"{len(self.unpaired)} lora_A/lora_B key(s) without their pair, e.g. {self.unpaired[0]}")
        if self.shape_mismatch:
            out.append(f"{len(self.shape_mismatch)} module(s) whose B·A does not fit the model weight, "
                       f"e.g. {self.shape_mismatch[0]}")
        return out

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["norms"] = {k: round(v, 6) for k, v in self.norms.items()}
        d["problems"] = self.problems()
        return d


def _metadata(f: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (f.metadata() or {}).items():
        try:
            out[k] = json.loads(v)
        except (TypeError, ValueError):
            out[k] = v
    return out


def _factors(f: Any, module_keys: dict[str, dict[str, str]], module: str) -> tuple[torch.Tensor, torch.Tensor]:
    keys = module_keys[module]
    return f.get_tensor(keys["A"]).to(torch.float64), f.get_tensor(keys["B"]).to(torch.float64)


def _index(keys: list[str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """{module: {"A": key, "B": key}} for recognised keys, and the keys that are not lora_A/B."""
    modules: dict[str, dict[str, str]] = defaultdict(dict)
    other = []
    for key in keys:
        module = lora_module_name(key)
        if module is None:
            other.append(key)
        else:
            modules[module]["A" if key.endswith(A_SUFFIX) else "B"] = key
    return dict(modules), other


def inspect_lora(path: Path, model: dict[str, tuple[int, ...]] | None = None) -> LoraStructure:
    """Read a LoRA safetensors file and report its structure (see :class:`LoraStructure`).

    ``model`` (from :func:`model_weights`) enables the unmatched-key and shape checks; without it
    every recognised key counts as matched. Raises ValueError naming the file when it is not a
    readable safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LoRA checkpoint not found: {path}")
    try:
        handle = safe_open(str(path), "pt")
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    with handle as f:
        keys = sorted(f.keys())
        metadata = _metadata(f)
        dtypes, non_finite = set(), []
        for key in keys:
            t = f.get_tensor(key)
            dtypes.add(str(t.dtype).removeprefix("torch."))
            if t.is_floating_point() and not bool(torch.isfinite(t.float()).all()):
                non_finite.append(key)
        modules, other = _index(keys)
        unmatched = list(other)
        unpaired, mismatch, ranks = [], [], set()
        touched: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        blocks: set[int] = set()
        squares: dict[str, float] = defaultdict(float)
        for module, pair in sorted(modules.items()):
            if set(pair) != {"A", "B"}:
                unpaired += list(pair.values())
                continue
            weight = f"{module}.weight"
            if model is not None and weight not in model:
                unmatched += [pair["A"], pair["B"]]
                continue
            a, b = _factors(f, modules, module)
            if a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0] or (
                    model is not None and (b.shape[0], a.shape[1]) != tuple(model[weight])):
                mismatch.append(f"{module}: B{tuple(b.shape)}·A{tuple(a.shape)} vs weight "
                                f"{tuple(model[weight]) if model is not None else '?'}")
                continue
            group, kind, block = module_group(module)
            ranks.add(int(a.shape[0]))
            touched[group] += 1
            kinds[kind] += 1
            if block is not None:
                blocks.add(block)
            if pair["A"] not in non_finite and pair["B"] not in non_finite:  # NaN norms say nothing
                squares[group] += float(((b.T @ b) * (a @ a.T)).sum())
    norms = {g: math.sqrt(max(squares.get(g, 0.0), 0.0)) for g in GROUPS}
    norms["total"] = math.sqrt(max(sum(squares.values()), 0.0))
    return LoraStructure(
        path=str(path), sha256=sha256_file(path), tensors=len(keys), dtypes=sorted(dtypes),
        non_finite=non_finite, ranks=sorted(ranks), modules=sum(touched.values()), blocks=sorted(blocks),
        touched={g: touched.get(g, 0) for g in GROUPS}, kinds=dict(sorted(kinds.items())),
        unmatched=sorted(unmatched), unpaired=sorted(unpaired), shape_mismatch=mismatch, norms=norms,
        metadata=metadata)


@dataclass(frozen=True)
class CheckpointDistance:
    """How far LoRA ``current`` is from ``previous``: ||D_cur - D_prev|| / ||D_prev|| over all
    modules (D = B·A), per group, and the relative change of the total norm."""

    previous: str
    current: str
    relative: float
    norm_change: float
    by_group: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        r = lambda v: None if not math.isfinite(v) else round(v, 6)  # noqa: E731
        return {"previous": self.previous, "current": self.current, "relative": r(self.relative),
                "norm_change": r(self.norm_change), "by_group": {k: r(v) for k, v in self.by_group.items()}}


def checkpoint_distance(previous: Path, current: Path) -> CheckpointDistance:
    """Exact distance between the weight updates of two LoRA files (modules present in only one
    count fully). Non-finite factors make the distance nan."""
    with safe_open(str(previous), "pt") as fp, safe_open(str(current), "pt") as fc:
        mp, _ = _index(list(fp.keys()))
        mc, _ = _index(list(fc.keys()))
        sq_p: dict[str, float] = defaultdict(float)
        sq_c: dict[str, float] = defaultdict(float)
        diff: dict[str, float] = defaultdict(float)
        for module in sorted(set(mp) | set(mc)):
            group = module_group(module)[0]
            pp = _factors(fp, mp, module) if set(mp.get(module, {})) == {"A", "B"} else None
            pc = _factors(fc, mc, module) if set(mc.get(module, {})) == {"A", "B"} else None
            np_ = float(((pp[1].T @ pp[1]) * (pp[0] @ pp[0].T)).sum()) if pp else 0.0
            nc = float(((pc[1].T @ pc[1]) * (pc[0] @ pc[0].T)).sum()) if pc else 0.0
            cross = float(((pc[1].T @ pp[1]) * (pc[0] @ pp[0].T)).sum()) if pp and pc else 0.0
            sq_p[group] += np_
            sq_c[group] += nc
            diff[group] += np_ + nc - 2.0 * cross
    total_p, total_c, total_d = sum(sq_p.values()), sum(sq_c.values()), sum(diff.values())

    def rel(d: float, p: float) -> float:
        if not (math.isfinite(d) and math.isfinite(p)):
            return math.nan
        return math.sqrt(max(d, 0.0) / p) if p > 0 else (0.0 if d <= 0 else math.inf)

    norm_change = (math.sqrt(total_c) - math.sqrt(total_p)) / math.sqrt(total_p) if total_p > 0 else math.nan
    return CheckpointDistance(previous=str(previous), current=str(current), relative=rel(total_d, total_p),
                              norm_change=norm_change,
                              by_group={g: rel(diff[g], sq_p[g]) for g in GROUPS if g in diff})
