"""Prefect tasks of stage ``ingest``."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice import ingest
from ltxvoice.config import IngestParams
from ltxvoice.records import Quarantined
from tasks.common import offload


@task(name="ingest-describe", cache_policy=NO_CACHE)
def describe_source(path: Path) -> ingest.Source | Quarantined:
    return ingest.describe(path)


@task(name="ingest-cut", cache_policy=NO_CACHE)
def cut_source(source: ingest.Source, params: IngestParams, out_dir: Path) -> ingest.CutResult:
    return offload(ingest.cut, source, params, out_dir)
