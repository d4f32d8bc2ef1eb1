"""Prefect tasks of stage ``measure``."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import measure
from ltxvoice.config import MeasureParams
from tasks.common import offload


@task(name="measure-clip", cache_policy=NO_CACHE)
def measure_row(row: measure.MeasureInput, params: MeasureParams) -> measure.Measured:
    return offload(measure.measure_file, Path(row.vocals_path), params)
