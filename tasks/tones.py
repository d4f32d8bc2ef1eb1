"""Prefect tasks of stage ``tones``."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import tones
from ltxvoice.config import TonesParams
from tasks.common import offload


@task(name="tones-clip", cache_policy=NO_CACHE)
def tone_row(row: tones.TonesInput, params: TonesParams, out_dir: Path) -> tones.Tone:
    return offload(tones.make_tone, row.clip_id, row.target_hz, params, out_dir)
