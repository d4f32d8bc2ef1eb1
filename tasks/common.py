"""Mapping library calls over items as Prefect tasks, with retries, bounded parallelism and a
progress bar; an item whose task still fails after its retries becomes a quarantine row. With
``runner.kind: process`` the tasks' library calls (``offload``) run in worker processes."""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from ltxvoice import lifeline
from ltxvoice.config import RunnerParams
from ltxvoice.media import MediaError
from ltxvoice.records import Quarantined

T = TypeVar("T")
P = ParamSpec("P")

# The worker processes of the flow being run (runner kind `process`), None otherwise. A context
# variable: Prefect runs each task in a copy of the flow's context, so its tasks see the flow's pool.
_POOL: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("ltxvoice_pool", default=None)
# Worker processes stay up this long between calls, so the stages of one process (the pipeline
# flow, a benchmark) share them; each runs one BLAS/OpenMP thread, as many workers as cores.
_IDLE_S = 600
MIN_ITEMS_PER_WORKER = 4
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def offload(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``: in one of the flow's worker processes when its runner kind is
    ``process``, else right here. For the pure library calls of per-clip tasks (Praat, WORLD and
    NumPy work that holds Python's GIL, ffmpeg runs): ``fn`` must be importable by name (a library
    function) and its arguments and result picklable. Its exception is raised here, as it was
    raised there. Results do not depend on where it runs."""
    pool = _POOL.get()
    if pool is None:
        return fn(*args, **kwargs)
    return pool.submit(fn, *args, **kwargs).result()


@contextlib.contextmanager
def worker_processes(runner: RunnerParams, items: int | None = None) -> Iterator[None]:
    """Within this block, ``offload`` sends work to ``runner.workers`` processes (kind ``process``),
    started at the first use and kept for the next flows of this process (joblib's loky executor:
    the workers import only what the calls need, not Prefect or the flow). A worker's start costs
    about a second of CPU (a Python process importing the DSP libraries), more than a clip's work:
    with fewer than ``MIN_ITEMS_PER_WORKER`` items per worker the calls stay in this process."""
    if runner.kind != "process" or (items is not None and items < MIN_ITEMS_PER_WORKER * runner.workers):
        yield
        return
    from joblib.externals.loky import get_reusable_executor

    pool = get_reusable_executor(
        max_workers=runner.workers,
        timeout=_IDLE_S,
        env=_ONE_THREAD,
        initializer=lifeline.exit_with,  # a kill -9 of this process leaves no worker behind
        initargs=(os.getpid(),),
    )
    token = _POOL.set(pool)
    try:
        yield
    finally:
        _POOL.reset(token)


def run_mapped(
    task: Task[..., T],
    items: Sequence[Any],
    *,
    runner: RunnerParams,
    desc: str,
    **kwargs: Any,
) -> list[T | BaseException]:
    """Run ``task(item, **kwargs)`` for every item on the flow's task runner, at most
    ``runner.batch_size`` items per Prefect task run, with at most ``runner.workers`` task runs in
    flight whatever runner the flow was started with (so a flow called directly or from a deployment
    is bounded too).

    With batch_size 1 every item is its own task run with Prefect's retries. A larger batch runs the
    task's function on each item in turn inside one task run (fewer API round trips: faster on small
    items), retrying a failing item ``runner.retries`` times before giving up on it alone. The items
    are cut into a multiple of ``workers`` batches of near-equal size (``batches``), so that no
    worker is left running the last batch alone while the others idle.

    Returns one entry per item, in input order: the result, or the exception it ended with."""
    if not items:
        return []
    size = runner.batch_size
    if size == 1:
        configured = task.with_options(retries=runner.retries, retry_delay_seconds=runner.retry_delay_s)
        submit = [(1, lambda item=item: configured.submit(item, **kwargs)) for item in items]
    else:
        batch = run_batch.with_options(name=f"{task.name}-batch", retries=0)
        groups = batches(items, size, runner.workers)
        submit = [
            (len(g), lambda g=g: batch.submit(task.fn, g, kwargs, runner.retries, runner.retry_delay_s)) for g in groups
        ]
    slots = threading.BoundedSemaphore(runner.workers)
    futures = []
    with (
        worker_processes(runner, len(items)),
        tqdm(total=len(items), desc=desc, unit="item", dynamic_ncols=True) as bar,
    ):
        for count, start in submit:
            slots.acquire()
            future = start()
            future.add_done_callback(_progress(slots, bar, count))
            futures.append((count, future))
        results: list[Any] = []
        for count, future in futures:
            try:
                outcome = future.result()
            except Exception as exc:  # the task's own error, after its retries
                outcome = exc if size == 1 else [exc] * count
            results.extend([outcome] if size == 1 else outcome)
    return results


def _progress(slots: threading.BoundedSemaphore, bar: tqdm, count: int) -> Callable[[Any], None]:
    """A finished task run frees its slot and moves the bar by its items."""

    def done(_: Any) -> None:
        slots.release()
        bar.update(count)

    return done


def batches(items: Sequence[T], size: int, workers: int) -> list[list[T]]:
    """``items`` in order, cut into consecutive batches of at most ``size``: as few as that allows,
    rounded up to a multiple of ``workers`` (13 batches of 8 on 2 workers leave one worker alone
    with the 13th; 14 batches of 7-8 do not), sizes differing by at most one."""
    if not items:
        return []
    fewest = math.ceil(len(items) / size)
    count = min(len(items), math.ceil(fewest / workers) * workers)
    base, extra = divmod(len(items), count)
    out, start = [], 0
    for i in range(count):
        end = start + base + (i < extra)
        out.append(list(items[start:end]))
        start = end
    return out


@task(name="batch", cache_policy=NO_CACHE)
def run_batch(
    fn: Callable[..., T], items: list[Any], kwargs: dict[str, Any], retries: int, delay_s: float
) -> list[T | BaseException]:
    """``fn(item, **kwargs)`` for each item; an item that keeps failing yields its exception."""
    out: list[Any] = []
    for item in items:
        for attempt in range(retries + 1):
            try:
                out.append(fn(item, **kwargs))
                break
            except Exception as exc:
                if attempt == retries:
                    out.append(exc)
                elif delay_s:
                    time.sleep(delay_s)
    return out


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


def _field(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def map_rows(
    task: Task[..., T],
    rows: Sequence[Any],
    *,
    stage: str,
    runner: RunnerParams,
    path_key: str,
    desc: str,
    **kwargs: Any,
) -> tuple[dict[str, T], list[Quarantined]]:
    """Run ``task(row, **kwargs)`` for every manifest row (a stage's input record, or a mapping);
    {clip_id: result} for the rows that worked, a quarantine row (naming the row's ``path_key``) for
    each that did not."""
    done: dict[str, T] = {}
    quarantined: list[Quarantined] = []
    results: list[T | BaseException] = run_mapped(task, rows, runner=runner, desc=desc, **kwargs)
    for row, result in zip(rows, results):
        clip_id = _field(row, "clip_id")
        if isinstance(result, BaseException):
            quarantined.append(failure_row(stage, str(_field(row, path_key)), result, runner.retries, clip_id))
        else:
            done[clip_id] = result
    return done, quarantined
