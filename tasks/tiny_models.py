"""Prefect tasks of stage ``tiny_models``."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import tiny_models


@task(name="tiny-model", cache_policy=NO_CACHE)
def write_model(name: str, out_dir: Path, seed: int) -> list[Path]:
    return tiny_models.GENERATORS[name](out_dir, seed)
