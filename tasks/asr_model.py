"""Prefect tasks of stage ``asr_model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import asr_model


@task(name="asr-model", cache_policy=NO_CACHE)
def assemble_model(name: str, sha256: str, out_dir: Path) -> dict[str, Any]:
    return asr_model.assemble(name, sha256, out_dir)
