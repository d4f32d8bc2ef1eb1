"""Prefect tasks of stage ``shift``."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import shift
from ltxvoice.config import MeasureParams, ShiftParams
from tasks.common import offload


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@task(name="shift-clip", cache_policy=NO_CACHE)
def shift_row(
    row: shift.ShiftInput, plan: dict[str, shift.Planned], params: ShiftParams, measure: MeasureParams, out_dir: Path
) -> shift.Shifted:
    return offload(
        shift.shift_clip,
        row.clip_id,
        row.f0_hz,
        plan[row.clip_id],
        Path(row.vocals_path),
        _path(row.other_path),
        _path(row.video_path),
        params,
        measure.floor_hz,
        measure.ceiling_hz,
        out_dir,
    )
