"""Stage ``separate``: the vocals (and the rest) of each clip, with a MelBand Roformer through audio-separator.

``separate.model: none`` is a choice for audio that is already clean speech (the demo): no stems are
written, the clip's own audio is used as its vocals, and the manifest says ``separation_model = none``.
Otherwise audio-separator loads ``<model_dir>/<model>`` (+ its .yaml) and never touches the network when
the files are there. Results are cached per clip by content (audio bytes + model files + settings), so a
rerun after an unrelated change only separates new audio.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltxvoice.config import SeparateParams
from ltxvoice.media import read_wav, resample, write_wav
from ltxvoice.models.roformer import ensure_offline_checks
from ltxvoice.records import content_id, sha256_file

STAGE = "separate"


@dataclass(frozen=True)
class SeparateInput:
    """The columns ``separate`` reads of a clip (the ingest stage's table)."""

    clip_id: str
    audio_path: str
    audio_sha256: str


@dataclass(frozen=True)
class Separated:
    """Columns ``separate`` adds to a clip."""

    separation_model: str
    vocals_path: str
    other_path: str | None


def model_files(params: SeparateParams) -> list[Path]:
    """The checkpoint and its yaml; FileNotFoundError naming what is missing."""
    ckpt = params.model_dir / params.model
    files = [ckpt, ckpt.with_suffix(".yaml")]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"separate.model: {', '.join(missing)} not found. Put the real {params.model} and its .yaml in "
            f"{params.model_dir} (or set separate.model: none for audio that is already clean vocals)"
        )
    return files


def model_fingerprint(params: SeparateParams) -> str:
    """Identifies what separation would do: model file contents and settings."""
    digests = [sha256_file(f) for f in model_files(params)]
    return content_id(*digests, params.segment_size, params.overlap)


def load_separator(params: SeparateParams, output_dir: Path) -> Any:
    """audio-separator's Separator with ``params.model`` loaded, writing its stems to ``output_dir``;
    RuntimeError (not the exit audio-separator calls) when the checkpoint does not fit its yaml."""
    # audio-separator switches off Python warnings for the whole process when its log level is
    # above DEBUG; keep the caller's filters.
    import warnings

    saved = warnings.filters[:]
    try:
        from audio_separator.separator import Separator

        separator = Separator(
            log_level=logging.ERROR,
            model_file_dir=str(params.model_dir),
            output_dir=str(output_dir),
            output_format="WAV",
            sample_rate=44100,
            use_soundfile=True,
            mdxc_params={
                "segment_size": params.segment_size,
                "override_model_segment_size": True,
                "batch_size": 1,
                "overlap": params.overlap,
                "pitch_shift": 0,
            },
        )
        separator.load_model(params.model)
    except SystemExit:
        raise RuntimeError(
            f"audio-separator could not load {params.model_dir / params.model}: the checkpoint does not "
            "match its yaml (see the log above)"
        ) from None
    finally:
        warnings.filters[:] = saved  # type: ignore[index]  # typeshed says Sequence; it is the module's list
    return separator


class VocalSeparator:
    """audio-separator's Separator, loaded once, turning one mono WAV into (vocals, other) at its rate."""

    def __init__(self, params: SeparateParams) -> None:
        model_files(params)
        ensure_offline_checks(params.model_dir)
        # The stems go to a scratch folder of this separator's own, removed when the separator is
        # collected (the stage's worker threads end), at the process's exit, or at once when loading fails.
        self._tmp = Path(tempfile.mkdtemp(prefix="ltxvoice-separate-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmp, ignore_errors=True)
        try:
            self._separator = load_separator(params, self._tmp)
        except BaseException:
            self._cleanup()
            raise

    def __call__(self, audio: Path) -> tuple[np.ndarray, np.ndarray, int]:
        stem = content_id(audio.resolve(), os.getpid(), id(self))
        names = {"vocals": f"{stem}.vocals", "other": f"{stem}.other"}
        outputs = [self._tmp / f"{names['vocals']}.wav", self._tmp / f"{names['other']}.wav"]
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                self._separator.separate(str(audio), custom_output_names=names)
            vocals, rate = read_wav(outputs[0])
            other, _ = read_wav(outputs[1])
        finally:
            for p in outputs:
                p.unlink(missing_ok=True)
        return vocals, other, rate


def to_rate(samples: np.ndarray, rate: int, target: int, length: int) -> np.ndarray:
    """Resample and fix the length to ``length`` samples."""
    samples = resample(samples, rate, target).astype(np.float32)
    if samples.size >= length:
        return samples[:length]
    return np.concatenate([samples, np.zeros(length - samples.size, np.float32)])


def cache_paths(cache_dir: Path, audio_sha256: str, fingerprint: str) -> list[Path]:
    """Where the stems of this audio (by content) under this model and settings are cached."""
    key = content_id(audio_sha256, fingerprint)
    return [cache_dir / f"{key}.vocals.wav", cache_dir / f"{key}.other.wav"]


def is_cached(cache_dir: Path, audio_sha256: str, fingerprint: str) -> bool:
    """Both stems are in the cache: the clip needs no model."""
    return all(p.is_file() for p in cache_paths(cache_dir, audio_sha256, fingerprint))


def separate_clip(
    clip_id: str,
    audio_path: Path,
    audio_sha256: str,
    params: SeparateParams,
    out_dir: Path,
    separator: VocalSeparator | None,
    cache_dir: Path | None = None,
    fingerprint: str = "",
) -> Separated:
    """Vocals and the rest of one clip, at the clip's own rate and length, as WAVs in ``out_dir``."""
    if not params.enabled:
        return Separated(separation_model="none", vocals_path=str(audio_path), other_path=None)
    vocals_out, other_out = out_dir / f"{clip_id}.vocals.wav", out_dir / f"{clip_id}.other.wav"
    cached = cache_paths(cache_dir, audio_sha256, fingerprint) if cache_dir else []
    if cached and all(p.is_file() for p in cached):
        shutil.copyfile(cached[0], vocals_out)
        shutil.copyfile(cached[1], other_out)
    else:
        if separator is None:
            raise ValueError("separate_clip needs a VocalSeparator when separate.model is not none")
        mix, rate = read_wav(audio_path)
        vocals, other, stem_rate = separator(audio_path)
        write_wav(vocals_out, to_rate(vocals, stem_rate, rate, mix.size), rate)
        write_wav(other_out, to_rate(other, stem_rate, rate, mix.size), rate)
        if cache_dir:
            cache_dir.mkdir(parents=True, exist_ok=True)
            for src, dst in zip((vocals_out, other_out), cached):
                tmp = dst.with_name(dst.name + f".{os.getpid()}.tmp")
                shutil.copyfile(src, tmp)
                tmp.replace(dst)
    return Separated(separation_model=params.model, vocals_path=str(vocals_out), other_path=str(other_out))
