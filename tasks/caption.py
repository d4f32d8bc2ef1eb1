"""Prefect tasks of stage ``caption``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import caption
from ltxvoice.config import CaptionParams
from ltxvoice.models.asr import Transcriber


@task(name="caption-clip", cache_policy=NO_CACHE)
def caption_row(
    row: dict[str, Any],
    params: CaptionParams,
    recipe: str,
    labels: Mapping[Path, dict[str, str]],
    dataset_dir: Path,
    transcriber: Transcriber | None,
    english_only: bool = False,
) -> caption.Captioned:
    return caption.caption_clip(row, params, recipe, labels, dataset_dir, transcriber, english_only)
