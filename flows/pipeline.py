"""The whole pipeline as one Prefect flow, for the UI and schedules (see ltxvoice.pipeline).

It reproduces through DVC, so what runs is exactly what ``dvc repro`` would run (each stage's
command starts that stage's own flow, which shows in the UI beside this one), and reports what
ran, what was skipped and how the metrics changed. ``serve`` serves it as a scheduled deployment
(``ltxvoice serve``): one run at a time per deployment (a run that comes due while another is
going is cancelled), and a workspace lock besides.
"""

from __future__ import annotations

import datetime
import sys
import traceback
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

import tasks.pipeline as t
from ltxvoice.config import OpsParams, Params, debugging, load_params
from ltxvoice.pipeline import PipelineError, run, workspace_lock


@flow(name="pipeline")
def pipeline(
    project_dir: str = ".",
    targets: list[str] | None = None,
    force: bool = False,
    pull: bool = False,
    push: bool | None = None,
) -> dict[str, Any]:
    """Reproduce the project's DVC pipeline (only what is stale, as `dvc repro` decides) and report
    what ran, what was skipped and the metric changes; publish the reports and plots of the stages
    that ran as artifacts. pull: `dvc pull` first; push: `dvc push` after (default: ops.push)."""
    root = Path(project_dir).resolve()
    params = load_params(root / "params.yaml") if (root / "params.yaml").is_file() else Params()
    with workspace_lock(root, holder=f"Prefect flow run {flow_run.get_name() or flow_run.get_id()}"):
        result = run(
            root,
            targets or None,
            force=force,
            pull_first=pull,
            push_after=params.ops.push if push is None else push,
            log=t.log,
            step=t.step,
        )
        t.publish(root, result)
    if result.error:
        raise PipelineError(result.error, {s.name: s.outcome for s in result.stages})
    return result.summary()


def schedules(ops: OpsParams) -> list[Any]:
    """The deployment's schedule from ``params.ops``: its cron or interval, in its time zone (none:
    runs only when triggered)."""
    from prefect.schedules import Cron, Interval

    if ops.cron:
        return [Cron(ops.cron, timezone=ops.timezone)]
    if ops.interval_minutes:
        return [Interval(datetime.timedelta(minutes=ops.interval_minutes), timezone=ops.timezone)]
    return []


def deployment(root: Path, ops: OpsParams) -> Any:
    """The scheduled deployment of :func:`pipeline` over the project at ``root``. Deployment
    concurrency 1 with CANCEL_NEW: a run that comes due while one is going is cancelled, not queued."""
    from prefect.client.schemas.objects import (
        ConcurrencyLimitConfig,
        ConcurrencyLimitStrategy,
    )
    from prefect.deployments.runner import EntrypointType

    return pipeline.to_deployment(
        name=ops.deployment,
        schedules=schedules(ops),
        parameters={"project_dir": str(Path(root).resolve())},
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
        entrypoint_type=EntrypointType.MODULE_PATH,
        tags=["ltxvoice"],
        description=f"`dvc repro` of {Path(root).resolve()} with a report (ltxvoice serve)",
    )


def serve(root: Path, ops: OpsParams) -> None:
    """Register the deployment with the Prefect API and run its flow runs here until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment(root, ops))


def main() -> int:
    """``python -m flows.pipeline``: one run over the project in the current folder, now."""
    try:
        pipeline()
    except PipelineError as exc:
        if debugging():
            traceback.print_exc()
        print(f"pipeline: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
