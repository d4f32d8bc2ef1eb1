"""Mapping library calls over items as Prefect tasks, with retries, bounded parallelism and a
progress bar; an item whose task still fails after its retries becomes a quarantine row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from prefect import Task
from prefect.futures import as_completed
from tqdm import tqdm

from ltxvoice.config import RunnerParams
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
    """Submit ``task(item, **kwargs)`` for every item on the flow's task runner.

    Returns one entry per item, in input order: the task's result, or the exception it ended with."""
    if not items:
        return []
    configured = task.with_options(retries=runner.retries, retry_delay_seconds=runner.retry_delay_s)
    futures = [configured.submit(item, **kwargs) for item in items]
    index = {id(f): i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(items)
    with tqdm(total=len(items), desc=desc, unit="item", dynamic_ncols=True) as bar:
        for fut in as_completed(futures):
            try:
                results[index[id(fut)]] = fut.result()
            except Exception as exc:  # the task's own error, after its retries
                results[index[id(fut)]] = exc
            bar.update(1)
    return results


def failure_row(stage: str, path: str, exc: BaseException, retries: int) -> Quarantined:
    """A task that kept failing is quarantined with the error it raised, never dropped."""
    return Quarantined(
        stage=stage,
        path=path,
        item_id=None,
        reason="failed",
        detail=f"{type(exc).__name__}: {exc} (after {retries} retr{'y' if retries == 1 else 'ies'})",
    )
