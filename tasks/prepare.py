"""Prefect tasks of stage ``prepare``."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import prepare
from ltxvoice.config import PrepareParams


@task(name="prepare-clip", cache_policy=NO_CACHE)
def prepare_row(row: prepare.PrepareInput, params: PrepareParams, out_dir: Path) -> prepare.Prepared:
    return prepare.prepare_clip(row, params, out_dir)
