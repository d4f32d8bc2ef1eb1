"""Prefect tasks of stage ``separate``."""

from __future__ import annotations

import threading
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import separate
from ltxvoice.config import SeparateParams

_local = threading.local()


def _separator(params: SeparateParams) -> separate.VocalSeparator:
    """One loaded model per worker thread (audio-separator's Separator is not thread-safe)."""
    if getattr(_local, "params", None) != params:
        import torch

        torch.set_num_threads(params.torch_threads)
        _local.separator = separate.VocalSeparator(params)
        _local.params = params
    return _local.separator


@task(name="separate-clip", cache_policy=NO_CACHE)
def separate_row(
    row: separate.SeparateInput, params: SeparateParams, out_dir: Path, cache_dir: Path, fingerprint: str
) -> separate.Separated:
    # a clip whose stems are cached needs no model: a rerun that separates nothing new loads none
    cached = separate.is_cached(cache_dir, row.audio_sha256, fingerprint)
    return separate.separate_clip(
        row.clip_id,
        Path(row.audio_path),
        row.audio_sha256,
        params,
        out_dir,
        None if cached else _separator(params),
        cache_dir,
        fingerprint,
    )
