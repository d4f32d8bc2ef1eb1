"""Precomputed training items (the encode stage's latents) and a resumable, seeded data order.

On-disk format: the official LTX-2 trainer's layout (``packages/ltx-trainer``), one ``<clip_id>.pt``
per clip in each folder of the encode output:

- ``latents/``: ``{"latents": [128, F, H, W], "num_frames": F, "height": H, "width": W, "fps": float}``
- ``audio_latents/`` and ``reference_audio_latents/``: ``{"latents": [8, T, 16], "num_time_steps": T,
  "frequency_bins": 16, "duration": seconds}``
- ``conditions/``: ``{"video_prompt_embeds": [L, Dv], "audio_prompt_embeds": [L, Da],
  "prompt_attention_mask": [L] bool}`` - Gemma features before the text connectors.

:func:`read_item` is the one function that knows this format; point it at ``ltxvoice.latents`` when
that module lands (issue 5). Everything else works on :class:`Item`.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ltxvoice.records import Quarantined

VIDEO_DIR = "latents"
AUDIO_DIR = "audio_latents"
CONDITIONS_DIR = "conditions"
REFERENCE_DIR = "reference_audio_latents"
DEFAULT_FPS = 24.0  # the official trainer's fallback when a video latent has no fps


class ItemError(ValueError):
    """One precomputed item cannot be trained on; ``reason`` is a short quarantine code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Item:
    """One training clip: latents (non-patchified, CPU), its text features and optional reference."""

    clip_id: str
    video: Any  # [128, F, H, W]
    fps: float
    audio: Any  # [8, T, 16]
    reference: Any | None  # [8, Tr, 16]
    video_features: Any  # [L, Dv]
    audio_features: Any  # [L, Da]
    text_mask: Any  # [L] bool

    def shape_key(self) -> tuple[Any, ...]:
        """Items batch together only when every latent shape (and fps) agrees."""
        return (
            tuple(self.video.shape),
            self.fps,
            tuple(self.audio.shape),
            None if self.reference is None else tuple(self.reference.shape),
            tuple(self.video_features.shape),
            tuple(self.audio_features.shape),
        )


def list_clip_ids(root: Path) -> list[str]:
    """Clip ids present in ``root/latents`` (sorted). Raises FileNotFoundError naming the folder."""
    folder = Path(root) / VIDEO_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no video latents folder (run the encode stage first)")
    return sorted(p.stem for p in folder.glob("*.pt"))


def _load(path: Path, keys: Sequence[str]) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise ItemError("missing_file", f"{path}: not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise ItemError("unreadable", f"{path}: cannot load ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ItemError("bad_format", f"{path}: expected a dict, got {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ItemError("bad_format", f"{path}: missing key(s) {missing}")
    return data


def read_item(root: Path, clip_id: str, with_reference: bool) -> Item:
    """Read one clip's precomputed files from an encode output folder (see the module docstring).

    Raises :class:`ItemError` (reason + a sentence naming the file) for a missing/unreadable file, a
    wrong shape or a non-finite value."""
    import torch

    root = Path(root)
    video = _load(root / VIDEO_DIR / f"{clip_id}.pt", ["latents"])
    audio = _load(root / AUDIO_DIR / f"{clip_id}.pt", ["latents"])
    cond = _load(root / CONDITIONS_DIR / f"{clip_id}.pt", ["video_prompt_embeds", "prompt_attention_mask"])
    reference = _load(root / REFERENCE_DIR / f"{clip_id}.pt", ["latents"])["latents"] if with_reference else None

    v, a = video["latents"], audio["latents"]
    checks = [(v, 4, root / VIDEO_DIR), (a, 3, root / AUDIO_DIR)]
    if reference is not None:
        checks.append((reference, 3, root / REFERENCE_DIR))
    for tensor, ndim, folder in checks:
        if not isinstance(tensor, torch.Tensor) or tensor.ndim != ndim or tensor.numel() == 0:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise ItemError("bad_shape", f"{folder / (clip_id + '.pt')}: latents must be {ndim}-D, got {shape}")
    if reference is not None and tuple(reference.shape[::2]) != tuple(a.shape[::2]):
        raise ItemError(
            "bad_shape",
            f"{root / REFERENCE_DIR / (clip_id + '.pt')}: reference latents "
            f"{tuple(reference.shape)} do not match the audio latents' channels/bins {tuple(a.shape)}",
        )
    vf = cond["video_prompt_embeds"]
    af = cond.get("audio_prompt_embeds", vf)  # legacy single-embedding files drive both connectors
    mask = cond["prompt_attention_mask"]
    if vf.ndim != 2 or af.ndim != 2 or mask.ndim != 1 or not (vf.shape[0] == af.shape[0] == mask.shape[0]):
        raise ItemError(
            "bad_shape",
            f"{root / CONDITIONS_DIR / (clip_id + '.pt')}: prompt features "
            f"{tuple(vf.shape)}/{tuple(af.shape)} and mask {tuple(mask.shape)} disagree",
        )
    for name, tensor in (
        ("video latents", v),
        ("audio latents", a),
        ("reference latents", reference),
        ("prompt features", vf),
        ("audio prompt features", af),
    ):
        if tensor is not None and not bool(torch.isfinite(tensor.float()).all()):
            raise ItemError("nonfinite", f"{root}: {clip_id}: {name} hold NaN/Inf")
    fps = video.get("fps")
    return Item(
        clip_id=clip_id,
        video=v,
        fps=float(fps) if fps is not None else DEFAULT_FPS,
        audio=a,
        reference=reference,
        video_features=vf,
        audio_features=af,
        text_mask=mask.bool(),
    )


def load_items(root: Path, with_reference: bool, stage: str = "train") -> tuple[list[Item], list[Quarantined]]:
    """Every readable item of an encode output, plus a quarantine row for each that is not.

    Items whose shapes differ from the most common shape are quarantined (``shape_mismatch``): a batch
    needs one shape, and the encode stage writes one shape per recipe."""
    from ltxvoice.records import Quarantined

    items: list[Item] = []
    bad: list[Quarantined] = []
    for clip_id in list_clip_ids(root):
        try:
            items.append(read_item(root, clip_id, with_reference))
        except ItemError as exc:
            bad.append(
                Quarantined(
                    stage=stage,
                    path=str(Path(root) / VIDEO_DIR / f"{clip_id}.pt"),
                    item_id=clip_id,
                    reason=exc.reason,
                    detail=exc.detail,
                )
            )
    if items:
        common, _ = Counter(i.shape_key() for i in items).most_common(1)[0]
        keep = [i for i in items if i.shape_key() == common]
        for i in items:
            if i.shape_key() != common:
                bad.append(
                    Quarantined(
                        stage=stage,
                        path=str(Path(root) / VIDEO_DIR / f"{i.clip_id}.pt"),
                        item_id=i.clip_id,
                        reason="shape_mismatch",
                        detail=f"shapes {i.shape_key()} differ from the dataset's {common}",
                    )
                )
        items = keep
    return items, bad


def _tensor_bytes(t: Any) -> bytes:
    import torch

    return str((tuple(t.shape), str(t.dtype))).encode() + t.contiguous().view(-1).view(torch.uint8).numpy().tobytes()


def dataset_fingerprint(items: Sequence[Item]) -> str:
    """A hash of the items' ids and contents: resuming is only allowed on the same data."""
    h = hashlib.sha256()
    for item in items:
        h.update(item.clip_id.encode())
        for t in (item.video, item.audio, item.reference, item.video_features, item.audio_features, item.text_mask):
            if t is not None:
                h.update(_tensor_bytes(t))
    return h.hexdigest()


@functools.lru_cache(maxsize=8)
def _permutation(num_items: int, seed: int, epoch: int) -> list[int]:
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_items, generator=g).tolist()


@dataclass(frozen=True)
class DataOrder:
    """Which items each optimisation step uses, as a pure function of (seed, step).

    The item stream is the concatenation of seeded permutations of the dataset, one per epoch; step
    ``s`` takes the ``global_batch`` items starting at ``s * global_batch`` and process ``rank`` takes its
    contiguous ``batch_size`` slice. Resuming at step ``s`` therefore continues the exact order."""

    num_items: int
    batch_size: int
    world_size: int
    seed: int

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def epoch_order(self, epoch: int) -> list[int]:
        return _permutation(self.num_items, self.seed, epoch)

    def indices(self, step: int, rank: int = 0, micro: int = 0, micro_steps: int = 1) -> list[int]:
        """Item indices for process ``rank`` at optimisation ``step`` (micro-batch ``micro``)."""
        start = ((step * micro_steps + micro) * self.global_batch) + rank * self.batch_size
        out = []
        for pos in range(start, start + self.batch_size):
            epoch, offset = divmod(pos, self.num_items)
            out.append(self.epoch_order(epoch)[offset])
        return out

    def epochs(self, steps: int, micro_steps: int = 1) -> float:
        return steps * micro_steps * self.global_batch / max(1, self.num_items)


def seconds_per_audio_step() -> float:
    """Audio latent time step in seconds (16 kHz, hop 160, 4x downsampling in the audio VAE)."""
    return 160 * 4 / 16000


def batch_tensors(items: Sequence[Item], device: Any, dtype: Any) -> dict[str, Any]:
    """Stack a batch's latents on ``device`` (text contexts come from :class:`TextCache`)."""
    import torch

    def stack(xs: list[Any]) -> Any:
        return torch.stack(xs).to(device=device, dtype=dtype, non_blocking=True)

    out = {"video": stack([i.video for i in items]), "audio": stack([i.audio for i in items]), "fps": items[0].fps}
    if items[0].reference is not None:
        out["reference"] = stack([i.reference for i in items])
    return out


class TextCache:
    """Connector outputs per distinct prompt, computed once (the connectors are frozen).

    The connectors' learnable registers replace padding, so their output mask is all ones and is
    not kept: the transformer then runs its text cross-attention unmasked (identical result, and
    it lets SDPA pick its fused kernels). A constant caption (helium) costs one entry."""

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[Any, Any]] = {}
        self._key_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    @staticmethod
    def _key(item: Item) -> str:
        h = hashlib.sha256()
        for t in (item.video_features, item.audio_features, item.text_mask):
            h.update(_tensor_bytes(t))
        return h.hexdigest()

    def fill(self, items: Sequence[Item], connectors: Any, device: Any, dtype: Any) -> None:
        """Run the video and audio connectors on each distinct prompt of ``items`` (batch 1 each)."""
        from ltxvoice.models.ltx import run_text_connectors

        for item in items:
            key = self._key(item)
            self._key_of[item.clip_id] = key
            if key in self._by_key:
                continue
            vf = item.video_features[None].to(device=device, dtype=dtype)
            af = item.audio_features[None].to(device=device, dtype=dtype)
            video_ctx, audio_ctx, binary = run_text_connectors(connectors, vf, af, item.text_mask[None].to(device))
            if not bool(binary.bool().all()):
                raise ValueError(
                    f"{item.clip_id}: text connectors left masked tokens; "
                    "the prompt length must be a multiple of the connectors' 128 registers"
                )
            self._by_key[key] = (video_ctx[0].detach().to("cpu"), audio_ctx[0].detach().to("cpu"))

    def put(self, clip_id: str, video_context: Any, audio_context: Any) -> None:
        """Register connector outputs computed elsewhere ([L, Dv], [L, Da]) for ``clip_id``."""
        key = f"given:{clip_id}"
        self._key_of[clip_id] = key
        self._by_key[key] = (video_context, audio_context)

    def contexts(self, items: Sequence[Item], device: Any, dtype: Any) -> tuple[Any, Any]:
        import torch

        pairs = [self._by_key[self._key_of[i.clip_id]] for i in items]
        video = torch.stack([p[0] for p in pairs]).to(device=device, dtype=dtype, non_blocking=True)
        audio = torch.stack([p[1] for p in pairs]).to(device=device, dtype=dtype, non_blocking=True)
        return video, audio


def check_enough(items: Sequence[Item], order: DataOrder, root: Path) -> None:
    """A step needs ``global_batch`` items; fewer than that would repeat items inside one step."""
    if len(items) < order.global_batch:
        raise ValueError(
            f"{root}: {len(items)} usable item(s) but a step needs {order.global_batch} "
            f"(batch_size {order.batch_size} x {order.world_size} process(es))"
        )


def synthetic_item(
    clip_id: str,
    *,
    frames: int,
    height: int,
    width: int,
    audio_steps: int,
    reference_steps: int | None,
    prompt_tokens: int,
    video_dim: int,
    audio_dim: int,
    fps: float = 25.0,
    seed: int = 0,
    dtype: Any = None,
) -> Item:
    """A random item with the format's shapes (latent frames/height/width, audio latent steps).

    For tests and benchmarks only: the latents are Gaussian noise, the prompt features too, and the
    last quarter of the prompt tokens are padding (mask False), as a padded Gemma prompt has."""
    import torch

    dtype = dtype or torch.bfloat16
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> Any:
        return torch.randn(*shape, generator=g).to(dtype)

    mask = torch.zeros(prompt_tokens, dtype=torch.bool)
    mask[: max(1, prompt_tokens - prompt_tokens // 4)] = True
    return Item(
        clip_id=clip_id,
        video=randn(128, frames, height, width),
        fps=fps,
        audio=randn(8, audio_steps, 16),
        reference=randn(8, reference_steps, 16) if reference_steps else None,
        video_features=randn(prompt_tokens, video_dim),
        audio_features=randn(prompt_tokens, audio_dim),
        text_mask=mask,
    )


def write_item(root: Path, item: Item) -> None:
    """Write one item in the official trainer's per-file format (see the module docstring)."""
    import torch

    root = Path(root)
    _, f, h, w = item.video.shape
    files = {
        VIDEO_DIR: {"latents": item.video.contiguous(), "num_frames": f, "height": h, "width": w, "fps": item.fps},
        AUDIO_DIR: {
            "latents": item.audio.contiguous(),
            "num_time_steps": item.audio.shape[1],
            "frequency_bins": item.audio.shape[2],
            "duration": item.audio.shape[1] * seconds_per_audio_step(),
        },
        CONDITIONS_DIR: {
            "video_prompt_embeds": item.video_features.contiguous(),
            "audio_prompt_embeds": item.audio_features.contiguous(),
            "prompt_attention_mask": item.text_mask.contiguous(),
        },
    }
    if item.reference is not None:
        files[REFERENCE_DIR] = {
            "latents": item.reference.contiguous(),
            "num_time_steps": item.reference.shape[1],
            "frequency_bins": item.reference.shape[2],
            "duration": item.reference.shape[1] * seconds_per_audio_step(),
        }
    for folder, data in files.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        torch.save(data, root / folder / f"{item.clip_id}.pt")
