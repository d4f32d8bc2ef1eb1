"""Mapping library calls over items as Prefect tasks, with retries, bounded parallelism and a
progress bar; an item whose task still fails after its retries becomes a quarantine row."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, TypeVar

from prefect import Task
from tqdm import tqdm

from ltxvoice.config import RunnerParams
from ltxvoice.media import MediaError
from ltxvoice.records import Quarantined

T = TypeVar("T")


def run_mapped(
    task: Task[..., T],
    items: Sequence[Any],
    *,
    runner: RunnerParams,
    desc: str,
    **kwargs: Any,
) -> list[T | BaseException]:
    """Submit ``task(item, **kwargs)`` for every item on the flow's task runner, with at most
    ``runner.workers`` in flight whatever runner the flow was started with (so a flow called
    directly or from a deployment is bounded too).

    Returns one entry per item, in input order: the task's result, or the exception it ended with."""
    if not items:
        return []
    configured = task.with_options(retries=runner.retries, retry_delay_seconds=runner.retry_delay_s)
    slots = threading.BoundedSemaphore(runner.workers)
    futures = []
    with tqdm(total=len(items), desc=desc, unit="item", dynamic_ncols=True) as bar:
        for item in items:
            slots.acquire()
            future = configured.submit(item, **kwargs)
            future.add_done_callback(lambda _: (slots.release(), bar.update(1)))
            futures.append(future)
        results: list[Any] = []
        for future in futures:
            try:
                results.append(future.result())
            except Exception as exc:  # the task's own error, after its retries
                results.append(exc)
    return results


def failure_row(stage: str, path: str, exc: BaseException, retries: int, item_id: str | None = None) -> Quarantined:
    """A task that kept failing is quarantined with the error it raised, never dropped. A MediaError
    is the input's fault and keeps its own reason; anything else is 'failed'."""
    if isinstance(exc, MediaError):
        return Quarantined(stage=stage, path=path, item_id=item_id, reason=exc.reason, detail=exc.detail)
    return Quarantined(
        stage=stage,
        path=path,
        item_id=item_id,
        reason="failed",
        detail=f"{type(exc).__name__}: {exc} (after {retries} retr{'y' if retries == 1 else 'ies'})",
    )


def map_rows(
    task: Task[..., T],
    rows: Sequence[dict[str, Any]],
    *,
    stage: str,
    runner: RunnerParams,
    path_key: str,
    desc: str,
    **kwargs: Any,
) -> tuple[dict[str, T], list[Quarantined]]:
    """Run ``task(row, **kwargs)`` for every manifest row; {clip_id: result} for the rows that worked,
    a quarantine row (naming ``row[path_key]``) for each that did not."""
    done: dict[str, T] = {}
    quarantined: list[Quarantined] = []
    for row, result in zip(rows, run_mapped(task, rows, runner=runner, desc=desc, **kwargs)):
        if isinstance(result, BaseException):
            quarantined.append(failure_row(stage, str(row[path_key]), result, runner.retries, row["clip_id"]))
        else:
            done[row["clip_id"]] = result
    return done, quarantined
