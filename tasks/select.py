"""Prefect tasks of stage ``select``."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import select
from ltxvoice.config import MeasureParams, SelectParams
from tasks.common import offload


@task(name="select-clip", cache_policy=NO_CACHE)
def select_row(row: select.SelectInput, params: SelectParams, measure: MeasureParams) -> select.Selected:
    return offload(
        select.judge_files,
        Path(row.vocals_path),
        Path(row.shifted_vocals_path),
        row.target_hz,
        row.voiced_seconds,
        row.voiced_fraction,
        params,
        measure,
    )
