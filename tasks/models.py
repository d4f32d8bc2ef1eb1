"""Prefect tasks of stage ``models``."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import models
from ltxvoice.config import ModelsParams


@task(name="models-write-tiny", cache_policy=NO_CACHE)
def write_tiny(out_dir: Path, params: ModelsParams) -> dict[str, Path]:
    return models.write_tiny_models(out_dir, params)
