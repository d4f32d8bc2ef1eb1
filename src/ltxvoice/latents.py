"""Precomputed training tensors in the official LTX-2 trainer's on-disk format.

The trainer (``ltx_trainer.datasets.PrecomputedDataset``) reads a ``preprocessed_data_root`` with one
folder per data source and, in each, one ``torch.save``'d dict per sample with the same relative
file name in every folder (here ``<clip_id>.pt``):

``latents/<id>.pt`` - video latents (``scripts/process_videos.py``)
    ``latents``: Tensor [128, F', H', W'] (bf16 by default: the dtype the video VAE ran in), with
    F' = (F - 1) / 8 + 1, H' = H / 32, W' = W / 32; ``num_frames`` = F', ``height`` = H',
    ``width`` = W' (ints, latent units); ``fps``: float, frames per second of the clip.
``audio_latents/<id>.pt`` and ``reference_audio_latents/<id>.pt`` - audio latents
    ``latents``: Tensor [8, T, 16] float32 (T ~ 25 per second of audio); ``num_time_steps`` = T,
    ``frequency_bins`` = 16 (ints); ``duration``: float, seconds of audio encoded.
``conditions/<id>.pt`` - text conditions (``scripts/process_captions.py``): Gemma hidden states
    through the checkpoint's feature extractor, *before* the embeddings connectors (the trainer runs
    the connectors itself): ``video_prompt_embeds`` [1024, 4096], ``audio_prompt_embeds`` [1024, 2048]
    (bf16; 1024 = tokens, left-padded), ``prompt_attention_mask`` [1024] bool (True = real token).

This module is the one place that reads and writes that format: the ``encode`` stage writes it,
``train`` and ``evaluate`` read it. Every tensor is checked for NaN/Inf on write and on read.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

LATENTS_DIR = "latents"
AUDIO_LATENTS_DIR = "audio_latents"
CONDITIONS_DIR = "conditions"
REFERENCE_AUDIO_LATENTS_DIR = "reference_audio_latents"
SOURCE_DIRS = (LATENTS_DIR, AUDIO_LATENTS_DIR, CONDITIONS_DIR, REFERENCE_AUDIO_LATENTS_DIR)

VIDEO_LATENT_CHANNELS = 128
AUDIO_LATENT_CHANNELS = 8
AUDIO_FREQUENCY_BINS = 16


class LatentFileError(ValueError):
    """A latent file that does not hold what its folder promises; the message names the file."""


class NonFiniteError(LatentFileError):
    """A tensor with NaN or Inf values (never written, never trained on)."""


def check_finite(tensor: torch.Tensor, what: str) -> None:
    """Raise :class:`NonFiniteError` naming ``what`` and counting the NaN / Inf values."""
    if tensor.is_floating_point():
        bad = ~torch.isfinite(tensor)
        if bool(bad.any()):
            nan = int(torch.isnan(tensor).sum())
            raise NonFiniteError(f"{what}: {nan} NaN and {int(bad.sum()) - nan} Inf value(s) of {tensor.numel()}")


@dataclass(frozen=True)
class VideoLatents:
    """One clip's video latents, [C, F', H', W'] (not patchified), and the clip's frame rate."""

    latents: torch.Tensor
    fps: float

    def __post_init__(self) -> None:
        if self.latents.ndim != 4:
            raise LatentFileError(f"video latents must be [C, F', H', W'], got shape {list(self.latents.shape)}")

    @property
    def num_frames(self) -> int:
        return int(self.latents.shape[1])

    @property
    def height(self) -> int:
        return int(self.latents.shape[2])

    @property
    def width(self) -> int:
        return int(self.latents.shape[3])

    def to_dict(self) -> dict[str, Any]:
        return {
            "latents": self.latents.contiguous(),
            "num_frames": self.num_frames,
            "height": self.height,
            "width": self.width,
            "fps": float(self.fps),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], what: str = "video latents") -> VideoLatents:
        _require(data, ("latents", "num_frames", "height", "width", "fps"), what)
        latents = data["latents"]
        shape = [data["num_frames"], data["height"], data["width"]]
        if latents.ndim != 4 or list(latents.shape[1:]) != shape:
            raise LatentFileError(
                f"{what}: latents of shape {list(latents.shape)} do not match num_frames/height/width {shape}"
            )
        return cls(latents=latents, fps=float(data["fps"]))


@dataclass(frozen=True)
class AudioLatents:
    """One audio's latents, [8, T, 16], and how many seconds of audio they encode."""

    latents: torch.Tensor
    duration: float

    def __post_init__(self) -> None:
        if self.latents.ndim != 3:
            raise LatentFileError(f"audio latents must be [C, T, F], got shape {list(self.latents.shape)}")

    @property
    def num_time_steps(self) -> int:
        return int(self.latents.shape[1])

    @property
    def frequency_bins(self) -> int:
        return int(self.latents.shape[2])

    def to_dict(self) -> dict[str, Any]:
        return {
            "latents": self.latents.contiguous(),
            "num_time_steps": self.num_time_steps,
            "frequency_bins": self.frequency_bins,
            "duration": float(self.duration),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], what: str = "audio latents") -> AudioLatents:
        _require(data, ("latents", "num_time_steps", "frequency_bins", "duration"), what)
        latents = data["latents"]
        if latents.ndim != 3 or [latents.shape[1], latents.shape[2]] != [
            data["num_time_steps"],
            data["frequency_bins"],
        ]:
            raise LatentFileError(
                f"{what}: latents of shape {list(latents.shape)} do not match num_time_steps/"
                f"frequency_bins {[data['num_time_steps'], data['frequency_bins']]}"
            )
        return cls(latents=latents, duration=float(data["duration"]))


@dataclass(frozen=True)
class TextConditions:
    """One caption's features for the video and audio streams ([tokens, dim] each) and its token mask."""

    video_prompt_embeds: torch.Tensor
    audio_prompt_embeds: torch.Tensor
    prompt_attention_mask: torch.Tensor

    def __post_init__(self) -> None:
        v, a, m = self.video_prompt_embeds, self.audio_prompt_embeds, self.prompt_attention_mask
        if v.ndim != 2 or a.ndim != 2 or m.ndim != 1 or not (v.shape[0] == a.shape[0] == m.shape[0]):
            raise LatentFileError(
                f"text conditions must be [T, Dv], [T, Da] and [T] with one T, got "
                f"{list(v.shape)}, {list(a.shape)}, {list(m.shape)}"
            )

    @property
    def tokens(self) -> int:
        """Real (unpadded) tokens of the caption."""
        return int(self.prompt_attention_mask.sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_prompt_embeds": self.video_prompt_embeds.contiguous(),
            "audio_prompt_embeds": self.audio_prompt_embeds.contiguous(),
            "prompt_attention_mask": self.prompt_attention_mask.to(torch.bool).contiguous(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], what: str = "text conditions") -> TextConditions:
        _require(data, ("video_prompt_embeds", "audio_prompt_embeds", "prompt_attention_mask"), what)
        return cls(data["video_prompt_embeds"], data["audio_prompt_embeds"], data["prompt_attention_mask"])


def _require(data: Any, keys: tuple[str, ...], what: str) -> None:
    if not isinstance(data, dict):
        raise LatentFileError(f"{what}: expected a dict, got {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise LatentFileError(f"{what}: missing key(s) {missing} (has {sorted(data)})")


Record = VideoLatents | AudioLatents | TextConditions


def save(record: Record, path: Path) -> Path:
    """Write one record as the trainer's ``torch.save`` dict, atomically (temp file + rename) and with
    stable bytes: the same tensors give the same file. NaN/Inf anywhere is a :class:`NonFiniteError`
    and nothing is written."""
    data = record.to_dict()
    for key, value in data.items():
        if isinstance(value, torch.Tensor):
            check_finite(value, f"{path.name}: {key}")
    buffer = io.BytesIO()  # the archive's inner folder name then does not depend on the file name
    torch.save(data, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
    return path


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"latent file not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a corrupt file
        raise LatentFileError(f"{path}: cannot be read as a torch.save file ({type(exc).__name__}: {exc})") from None
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, torch.Tensor):
                check_finite(value, f"{path}: {key}")
    return data


def load_video_latents(path: Path) -> VideoLatents:
    return VideoLatents.from_dict(_load(path), str(path))


def load_audio_latents(path: Path) -> AudioLatents:
    return AudioLatents.from_dict(_load(path), str(path))


def load_text_conditions(path: Path) -> TextConditions:
    return TextConditions.from_dict(_load(path), str(path))


@dataclass(frozen=True)
class ItemPaths:
    """Where one item's files are under a precomputed root (the trainer's ``preprocessed_data_root``)."""

    video: Path
    audio: Path
    conditions: Path
    reference_audio: Path


def item_paths(root: Path, clip_id: str) -> ItemPaths:
    name = f"{clip_id}.pt"
    return ItemPaths(
        video=root / LATENTS_DIR / name,
        audio=root / AUDIO_LATENTS_DIR / name,
        conditions=root / CONDITIONS_DIR / name,
        reference_audio=root / REFERENCE_AUDIO_LATENTS_DIR / name,
    )


@dataclass(frozen=True)
class Item:
    """Everything precomputed for one clip."""

    clip_id: str
    video: VideoLatents
    audio: AudioLatents
    conditions: TextConditions
    reference_audio: AudioLatents | None


def load_item(root: Path, clip_id: str) -> Item:
    """One clip's files; the reference audio latents are ``None`` when the root has none for it."""
    paths = item_paths(root, clip_id)
    return Item(
        clip_id=clip_id,
        video=load_video_latents(paths.video),
        audio=load_audio_latents(paths.audio),
        conditions=load_text_conditions(paths.conditions),
        reference_audio=load_audio_latents(paths.reference_audio) if paths.reference_audio.is_file() else None,
    )
