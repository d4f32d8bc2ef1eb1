"""Prefect tasks of the whole-pipeline flow: thin wrappers around ltxvoice.pipeline (DVC decides)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from ltxvoice import pipeline


def _log(line: str) -> None:
    get_run_logger().info(line)


@task(name="pipeline-stages", cache_policy=NO_CACHE)
def list_stages(root: Path) -> list[str]:
    return pipeline.stage_names(root)


@task(name="pipeline-stale", cache_policy=NO_CACHE)
def find_stale(root: Path) -> dict[str, str]:
    """``dvc status``: the stages that will rerun for a change of their own, and why."""
    stale = pipeline.stale_stages(root)
    get_run_logger().info("stale: %s", ", ".join(f"{k} ({v})" for k, v in stale.items()) or "nothing")
    return stale


@task(name="pipeline-metrics", cache_policy=NO_CACHE)
def snapshot_metrics(root: Path) -> dict[str, dict[str, Any]]:
    return pipeline.metrics_snapshot(root)


@task(name="pipeline-pull", cache_policy=NO_CACHE)
def pull(root: Path) -> int:
    return pipeline.pull(root, log=_log)


@task(name="pipeline-repro", cache_policy=NO_CACHE)
def reproduce(root: Path, targets: list[str] | None, force: bool) -> dict[str, pipeline.Outcome]:
    """``dvc repro``; fails with :class:`ltxvoice.pipeline.PipelineError` (carrying how far it got)."""
    return pipeline.reproduce(root, targets, force=force, log=_log)


@task(name="pipeline-push", cache_policy=NO_CACHE)
def push(root: Path) -> int:
    return pipeline.push(root, log=_log)


@task(name="pipeline-publish", cache_policy=NO_CACHE)
def publish(root: Path, result: pipeline.PipelineResult) -> list[str]:
    """The run report, its metric changes as a table, and the reports and plots of the stages that
    ran (dataset reports, training curves) as Prefect artifacts. Returns the artifact keys."""
    create_markdown_artifact(key="pipeline-run", markdown=pipeline.report_markdown(result),
                             description="Stages that ran or were skipped, and the metric changes")
    keys = ["pipeline-run"]
    if result.changes:
        create_table_artifact(key="pipeline-metric-changes", table=[c.__dict__ for c in result.changes],
                              description="Metrics that changed in this run (old, new, change)")
        keys.append("pipeline-metric-changes")
    ran = set(result.ran)
    items = [p for p in pipeline.find_publishable(root) if p.stage in ran or (p.stage == "plots" and ran)]
    with tempfile.TemporaryDirectory(prefix="ltxvoice-publish-") as scratch:
        for item in items:
            try:
                markdown = pipeline.publishable_markdown(item, root, Path(scratch))
            except (OSError, ValueError) as exc:  # a malformed plot file must not hide the run report
                get_run_logger().warning("not published: %s: %s", item.path, exc)
                continue
            create_markdown_artifact(key=item.key, markdown=markdown, description=f"{item.stage}: {item.path}")
            keys.append(item.key)
    return keys
