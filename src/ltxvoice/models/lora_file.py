"""LoRA files for the LTX-2.3 transformer: the key format, how modules are grouped, and what a file
holds (:func:`inspect_lora`), read without building a model.

The format the train stage writes and ComfyUI and ltx-core load: one safetensors file with keys
``diffusion_model.<module>.lora_A.weight`` ([rank, in]) and ``diffusion_model.<module>.lora_B.weight``
([out, rank]), alpha folded into B, no ``alpha`` keys. ``<module>`` is a module of ltx-core's
``LTXModel`` (``transformer_blocks.3.audio_attn1.to_q``), whose weight a unified checkpoint keeps as
``model.diffusion_model.<module>.weight``.

Loaders skip a key that lands on no model weight without a word, so a file with misnamed keys
"loads" and does nothing. :func:`inspect_lora` reports, from the file alone and the weight shapes
of the transformer it is meant for (:func:`transformer_weights`: a checkpoint's header, or the
full-size LTX-2.3 architecture built on the meta device): tensor count, dtypes, non-finite tensors
(NaNs in gate LoRA weights are a published failure), rank(s), the modules adapted by group (video,
audio, the audio-video bridge) and kind, the blocks touched, the norms of the weight updates B·A per
group, and every problem: keys that match no weight (another naming such as ``lora_up``/``lora_down``
or a PEFT ``base_model.model.`` prefix, a key without the ``diffusion_model.`` prefix - ComfyUI's
loader needs it -, a module the model does not have), unpaired A/B halves, factors that do not fit
their weight, and ``alpha`` keys (this format folds alpha into B). The ``lora inspect`` command
prints :meth:`LoraReport.text`; the evaluate stage keeps :meth:`LoraReport.as_dict` and screens
checkpoints on it.

Norms and distances are computed exactly from the rank-r factors (never forming B·A):
||B·A||² = <BᵀB, A·Aᵀ> and <B₁A₁, B₂A₂> = <B₁ᵀB₂, A₁A₂ᵀ>, all r x r. :func:`checkpoint_distance`
says how far one checkpoint moved from the previous (the helium card: step 1500 vs 2000 "about 8%
apart by weight norm").
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

LORA_PREFIX = "diffusion_model."
A_SUFFIX = ".lora_A.weight"
B_SUFFIX = ".lora_B.weight"
_KEY = re.compile(r"^(?P<prefix>diffusion_model\.)?(?P<module>.+)\.lora_(?P<half>[AB])\.weight$")

# ------------------------------------------------------------------------------------------------
# Module names

ModuleGroup = Literal["video", "audio", "cross_modal", "other"]
GROUPS: tuple[ModuleGroup, ...] = ("video", "audio", "cross_modal", "other")
_BLOCK = re.compile(r"^transformer_blocks\.(\d+)\.([^.]+)\.(.+)$")
_CROSS_MODAL = ("audio_to_video_attn", "video_to_audio_attn")
_VIDEO = ("attn1", "attn2", "ff")


def module_group(name: str) -> ModuleGroup:
    """Which side of the audio-video transformer a module belongs to.

    In a block (``transformer_blocks.<i>.<sub>.<leaf>``): ``audio_to_video_attn`` and
    ``video_to_audio_attn`` are the cross-modal bridges, ``audio_attn1``/``audio_attn2``/``audio_ff``
    the audio stream, ``attn1``/``attn2``/``ff`` the video stream. Outside the blocks an ``audio_``
    module (``audio_patchify_proj``, ...) is audio; everything else (patchify, AdaLN, output
    projections of the video stream, per-block tables) is ``other``."""
    block = _BLOCK.match(name)
    sub = block.group(2) if block else name.split(".", 1)[0]
    if sub in _CROSS_MODAL:
        return "cross_modal"
    if sub.startswith("audio_"):
        return "audio"
    if block and sub in _VIDEO:
        return "video"
    return "other"


def module_kind(name: str) -> str:
    """A module's name without its block (``audio_attn1.to_q`` for ``transformer_blocks.3.audio_attn1.to_q``)."""
    block = _BLOCK.match(name)
    return f"{block.group(2)}.{block.group(3)}" if block else name


def module_block(name: str) -> int | None:
    """The transformer block a module is in, or None outside the blocks."""
    block = _BLOCK.match(name)
    return int(block.group(1)) if block else None


def lora_module(key: str) -> str | None:
    """The module a LoRA key adapts (``transformer_blocks.3.audio_attn1.to_q`` for
    ``diffusion_model.transformer_blocks.3.audio_attn1.to_q.lora_A.weight``), or None for a key that
    is not a ``lora_A``/``lora_B`` weight in this format."""
    m = _KEY.match(key)
    return m.group("module") if m and m.group("prefix") else None


# ------------------------------------------------------------------------------------------------
# The model a file is checked against


@dataclass(frozen=True)
class TransformerWeights:
    """Weight shapes of an LTX-2.3 transformer by module weight name (``<module>.weight``), and
    where they come from."""

    shapes: Mapping[str, tuple[int, ...]]
    source: str


LTX23_ARCHITECTURE = "the LTX-2.3 transformer architecture (48 blocks, ltx-core 1.0.0)"


def transformer_weights(checkpoint: Path | None = None) -> TransformerWeights:
    """The transformer's weight shapes from a unified LTX-2.3 checkpoint's header (its tensors are
    never read), or without one from the full-size architecture built on the meta device.

    Raises FileNotFoundError for a missing checkpoint and ValueError for a file without
    ``model.diffusion_model.`` tensors."""
    from ltxvoice.models.ltx import KEY_PREFIX

    if checkpoint is None:
        from ltxvoice.models.ltx import build_transformer, ltx23_config

        meta = build_transformer(ltx23_config(), device="meta")
        return TransformerWeights({k: tuple(v.shape) for k, v in meta.state_dict().items()}, LTX23_ARCHITECTURE)
    from safetensors import safe_open

    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"LTX checkpoint not found: {path}")
    prefix = KEY_PREFIX["transformer"]
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {k[len(prefix):]: tuple(f.get_slice(k).get_shape()) for k in f.keys() if k.startswith(prefix)}
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    if not shapes:
        raise ValueError(f"{path}: no transformer weights ({prefix}*): not a unified LTX-2.3 checkpoint")
    return TransformerWeights(shapes, str(path))


# ------------------------------------------------------------------------------------------------
# Inspection


@dataclass(frozen=True)
class LoraReport:
    """What one LoRA file holds, checked against a transformer (``ok``: fit to load)."""

    path: str
    sha256: str
    reference: str  # the transformer the keys were matched against
    tensors: int
    dtypes: dict[str, int]  # dtype -> tensors
    non_finite: list[str]  # keys holding NaN or Inf
    ranks: list[int]
    modules: int  # complete A/B pairs that fit a weight of the model
    blocks: list[int]  # transformer blocks touched
    touched: dict[str, int]  # module group -> modules adapted
    kinds: dict[str, int]  # module kind (e.g. audio_attn1.to_q) -> modules adapted
    unmatched: list[str]  # keys that adapt no model weight: loaders drop them silently
    unpaired: list[str]  # lora_A without its lora_B or the reverse
    shape_mismatch: list[str]  # B·A would not have the shape of the weight it is added to
    alpha_keys: list[str]  # this format folds alpha into lora_B
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
            out.append(f"{len(self.unmatched)} key(s) match no model weight and would be ignored by loaders, "
                       f"e.g. {self.unmatched[0]}")
        if self.unpaired:
            out.append(f"{len(self.unpaired)} lora_A/lora_B key(s) without their pair, e.g. {self.unpaired[0]}")
        if self.shape_mismatch:
            out.append(f"{len(self.shape_mismatch)} module(s) whose B·A does not fit the model weight, "
                       f"e.g. {self.shape_mismatch[0]}")
        if self.alpha_keys:
            out.append(f"{len(self.alpha_keys)} alpha key(s): this format folds alpha into lora_B, "
                       f"e.g. {self.alpha_keys[0]}")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every field (norms rounded to 6 digits), the problems and the verdict."""
        d = dict(self.__dict__)
        d["norms"] = {k: round(v, 6) for k, v in self.norms.items()}
        return {**d, "problems": self.problems(), "ok": self.ok}

    def text(self) -> str:
        """The report for a terminal."""
        t = self.touched
        lines = [
            self.path,
            f"  checked against: {self.reference}",
            f"  tensors: {self.tensors} ({', '.join(f'{n} {d}' for d, n in self.dtypes.items())})",
            f"  all finite: {'NO' if self.non_finite else 'yes'}",
            f"  modules: {self.modules} (video {t['video']}, audio {t['audio']}, cross-modal {t['cross_modal']}, "
            f"other {t['other']}) in {len(self.blocks)} block(s)",
            f"  rank: {', '.join(map(str, self.ranks)) or '-'}",
            f"  ||B·A||: {self.norms['total']:.4g}",
            f"  unmatched keys: {len(self.unmatched)}",
        ]
        lines += [f"    {k}" for k in self.unmatched]
        for name, keys in (("non-finite", self.non_finite), ("unpaired", self.unpaired),
                           ("shape mismatches", self.shape_mismatch), ("alpha keys", self.alpha_keys)):
            if keys:
                lines.append(f"  {name}: {len(keys)}")
                lines += [f"    {k}" for k in keys[:20]] + ([f"    ... {len(keys) - 20} more"] if len(keys) > 20 else [])
        lines.append("  verdict: " + ("ok" if self.ok else "PROBLEMS: " + "; ".join(self.problems())))
        return "\n".join(lines)


def read_metadata(path: Path) -> dict[str, Any]:
    """A LoRA file's metadata with JSON values decoded (non-JSON strings are kept as they are)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return _decoded(f.metadata() or {})


def _decoded(raw: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def _pairs(keys: list[str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """{module: {"A": key, "B": key}} for the keys in this format, and the other keys."""
    modules: dict[str, dict[str, str]] = defaultdict(dict)
    other = []
    for key in keys:
        module = lora_module(key)
        if module is None:
            other.append(key)
        else:
            modules[module]["A" if key.endswith(A_SUFFIX) else "B"] = key
    return dict(modules), other


def _factors(f: Any, pair: dict[str, str]) -> tuple[Any, Any]:
    import torch

    return f.get_tensor(pair["A"]).to(torch.float64), f.get_tensor(pair["B"]).to(torch.float64)


def _square_norm(a: Any, b: Any) -> float:
    return float(((b.T @ b) * (a @ a.T)).sum())


def inspect_lora(path: Path, weights: TransformerWeights | None = None) -> LoraReport:
    """Inspect a LoRA safetensors file against a transformer's weights (default: the full-size
    LTX-2.3 architecture, see :func:`transformer_weights`). Tensors are read one at a time.

    Raises FileNotFoundError for a missing file and ValueError naming the file when it is not a
    readable safetensors file."""
    import torch
    from safetensors import safe_open

    from ltxvoice.records import sha256_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LoRA file not found: {path}")
    try:
        handle = safe_open(str(path), "pt")
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    weights = weights or transformer_weights()
    with handle as f:
        keys = sorted(f.keys())
        metadata = _decoded(f.metadata() or {})
        dtypes: Counter[str] = Counter()
        non_finite = []
        for key in keys:
            t = f.get_tensor(key)
            dtypes[str(t.dtype).removeprefix("torch.")] += 1
            if t.is_floating_point() and not bool(torch.isfinite(t.float()).all()):
                non_finite.append(key)
        alpha_keys = [k for k in keys if k.endswith(".alpha")]
        modules, other = _pairs([k for k in keys if k not in alpha_keys])
        unmatched = list(other)
        unpaired, mismatch, ranks = [], [], set()
        touched: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        blocks: set[int] = set()
        squares: dict[str, float] = defaultdict(float)
        for module, pair in sorted(modules.items()):
            shape = weights.shapes.get(f"{module}.weight")
            if shape is None:
                unmatched += list(pair.values())
                continue
            if set(pair) != {"A", "B"}:
                unpaired += list(pair.values())
                continue
            a, b = _factors(f, pair)
            if a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0] or (b.shape[0], a.shape[1]) != tuple(shape):
                mismatch.append(f"{module}: B{tuple(b.shape)}·A{tuple(a.shape)} does not fit its weight {tuple(shape)}")
                continue
            group, block = module_group(module), module_block(module)
            ranks.add(int(a.shape[0]))
            touched[group] += 1
            kinds[module_kind(module)] += 1
            if block is not None:
                blocks.add(block)
            if pair["A"] not in non_finite and pair["B"] not in non_finite:  # NaN norms say nothing
                squares[group] += _square_norm(a, b)
    norms: dict[str, float] = {g: math.sqrt(max(squares.get(g, 0.0), 0.0)) for g in GROUPS}
    norms["total"] = math.sqrt(max(sum(squares.values()), 0.0))
    return LoraReport(
        path=str(path), sha256=sha256_file(path), reference=weights.source, tensors=len(keys),
        dtypes=dict(sorted(dtypes.items())), non_finite=non_finite, ranks=sorted(ranks),
        modules=sum(touched.values()), blocks=sorted(blocks), touched={g: touched.get(g, 0) for g in GROUPS},
        kinds=dict(sorted(kinds.items())), unmatched=sorted(unmatched), unpaired=sorted(unpaired),
        shape_mismatch=mismatch, alpha_keys=alpha_keys, norms=norms, metadata=metadata)


# ------------------------------------------------------------------------------------------------
# Distance between two checkpoints


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
    from safetensors import safe_open

    with safe_open(str(previous), "pt") as fp, safe_open(str(current), "pt") as fc:
        mp, _ = _pairs(list(fp.keys()))
        mc, _ = _pairs(list(fc.keys()))
        sq_p: dict[str, float] = defaultdict(float)
        sq_c: dict[str, float] = defaultdict(float)
        diff: dict[str, float] = defaultdict(float)
        for module in sorted(set(mp) | set(mc)):
            group = module_group(module)
            pp = _factors(fp, mp[module]) if set(mp.get(module, {})) == {"A", "B"} else None
            pc = _factors(fc, mc[module]) if set(mc.get(module, {})) == {"A", "B"} else None
            np_ = _square_norm(*pp) if pp else 0.0
            nc = _square_norm(*pc) if pc else 0.0
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
