"""Prefect tasks of stage ``demo``."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import demo
from ltxvoice.config import DemoParams


@task(name="demo-clip", cache_policy=NO_CACHE)
def make_clip(item: dict, params: DemoParams, out_dir: Path) -> demo.DemoClip:
    return demo.make_clip(item, params, out_dir)
