"""Prefect tasks of the whole-pipeline flow: each step of ltxvoice.pipeline.run as a task, and the
publishing of its report (DVC decides what runs)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from ltxvoice import pipeline

T = TypeVar("T")


def log(line: str) -> None:
    """DVC's progress lines into the Prefect run's log."""
    get_run_logger().info(line)


def step(name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """A :class:`ltxvoice.pipeline.Step`: the step runs as task ``pipeline-<name>`` (its own run, state
    and log in the UI)."""
    return task(name=f"pipeline-{name}", cache_policy=NO_CACHE)(fn)(*args, **kwargs)


@task(name="pipeline-publish", cache_policy=NO_CACHE)
def publish(root: Path, result: pipeline.PipelineResult) -> list[str]:
    """The run report, its metric changes as a table, and the reports and plots of the stages that
    ran (dataset reports, training curves) as Prefect artifacts. Returns the artifact keys."""
    create_markdown_artifact(
        key="pipeline-run",
        markdown=pipeline.report_markdown(result),
        description="Stages that ran or were skipped, and the metric changes",
    )
    keys = ["pipeline-run"]
    if result.changes:
        create_table_artifact(
            key="pipeline-metric-changes",
            table=[c.__dict__ for c in result.changes],
            description="Metrics that changed in this run (old, new, change)",
        )
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
