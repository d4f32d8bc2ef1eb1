"""Prefect tasks of stage ``encode``: captions, media batches and the decoded-latent check, each over
models loaded once per process (a GPU holds one copy; tasks run one after another)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import encode
from ltxvoice.config import EncodeParams

_loaded: dict[str, tuple[Any, Any]] = {}


def models(kind: str, params: EncodeParams, device: str) -> Any:
    """The ``text`` / ``media`` / ``decode`` models for these params, loaded on first use."""
    key = (params, device)
    if kind not in _loaded or _loaded[kind][0] != key:
        if kind == "text":
            value: Any = encode.TextEncoders(params, device)
        elif kind == "media":
            value = encode.MediaEncoders(params, device)
        else:
            value = encode.decoders(params, device)
        _loaded[kind] = (key, value)
    return _loaded[kind][1]


def release(kind: str) -> None:
    """Drop a kind of models (the text encoder is large; free it before the VAEs run)."""
    _loaded.pop(kind, None)
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@task(name="encode-captions", cache_policy=NO_CACHE)
def encode_captions(rows: list[dict[str, Any]], params: EncodeParams, device: str, root: Path) -> dict[str, Any]:
    """{clip_id: real tokens of its caption | the exception it failed with}. The conditions are on disk
    only (a real one is ~12 MB; hundreds of them would not fit in memory together)."""
    encoders = models("text", params, device)
    out: dict[str, Any] = {}
    for row in rows:
        try:
            out[row["clip_id"]] = encode.encode_caption(
                row["caption"], encoders, encode.lat.item_paths(root, row["clip_id"]).conditions
            ).tokens
        except Exception as exc:  # noqa: BLE001 - quarantined by the flow
            out[row["clip_id"]] = exc
    return out


@task(name="encode-media", cache_policy=NO_CACHE)
def encode_media(
    rows: list[dict[str, Any]], bucket: encode.Bucket, params: EncodeParams, device: str, root: Path, batch: bool
) -> list[encode.MediaResult]:
    """Read and encode clips of one bucket; one result per row (with its error if it failed)."""
    encoders = models("media", params, device)
    inputs, failed = [], []
    for row in rows:
        try:
            inputs.append(encode.read_media(row, bucket))
        except Exception as exc:  # noqa: BLE001
            failed.append(encode.MediaResult(clip_id=row["clip_id"], error=exc))
    return encode.encode_media(inputs, encoders, root, batch) + failed


@task(name="encode-verify", cache_policy=NO_CACHE)
def verify(items: Any, params: EncodeParams, device: str, out_dir: Path) -> dict[str, Any]:
    return encode.verify(items, models("decode", params, device), out_dir, params.verify_samples, params.checkpoint)
