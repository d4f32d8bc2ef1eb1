from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from prefect import flow, task

from ltxvoice.config import RunnerParams
from ltxvoice.media import MediaError, probe
from tasks.common import batches, failure_row, offload, run_mapped

_lock = threading.Lock()
_state = {"now": 0, "peak": 0}


@task
def _busy(x: int) -> int:
    with _lock:
        _state["now"] += 1
        _state["peak"] = max(_state["peak"], _state["now"])
    time.sleep(0.05)
    with _lock:
        _state["now"] -= 1
    if x == 3:
        raise ValueError("three is bad")
    return x * 10


@flow
def _mapped(workers: int, batch_size: int) -> list:
    runner = RunnerParams(workers=workers, retries=0, batch_size=batch_size)
    return run_mapped(_busy, list(range(12)), runner=runner, desc="test")


@pytest.mark.parametrize("batch_size", [1, 2])
def test_parallelism_is_bounded_by_params_whatever_the_runner(batch_size: int) -> None:
    _state.update(now=0, peak=0)
    results = _mapped(2, batch_size)  # called directly: the flow's default task runner is not sized by params
    assert _state["peak"] <= 2
    assert [r for i, r in enumerate(results) if i != 3] == [i * 10 for i in range(12) if i != 3]
    assert isinstance(results[3], ValueError)


@task
def _in_worker(x: int) -> tuple[int, int, str | None]:
    if x == 3:
        offload(probe, Path("/nonexistent/three.mp4"))  # a library error, raised in the worker
    return x * 10, offload(os.getpid), offload(os.environ.get, "OPENBLAS_CORETYPE")


@flow
def _offloaded(kind: str) -> list:
    runner = RunnerParams(workers=2, retries=0, batch_size=2, kind=kind)  # type: ignore[arg-type]
    return run_mapped(_in_worker, list(range(8)), runner=runner, desc="test")


def test_process_kind_runs_the_library_calls_in_worker_processes() -> None:
    for kind in ("process", "thread"):
        results = _offloaded(kind)
        ok = [r for i, r in enumerate(results) if i != 3]
        assert [r[0] for r in ok] == [0, 10, 20, 40, 50, 60, 70]
        pids = {r[1] for r in ok}
        assert (os.getpid() not in pids) if kind == "process" else (pids == {os.getpid()})
        kernels = {r[2] for r in ok}  # workers inherit the kernel caps (ltxvoice.kernels): same bits
        assert kernels == {os.environ.get("OPENBLAS_CORETYPE")}
        error = results[3]  # comes back as the library raised it, reason and detail intact
        assert isinstance(error, MediaError) and error.reason == "unreadable" and "No such file" in error.detail


def test_failure_rows_keep_media_reasons() -> None:
    media = failure_row("shift", "a.wav", MediaError("stem_mismatch", "lengths differ"), 1, "c1")
    assert (media.reason, media.detail, media.item_id) == ("stem_mismatch", "lengths differ", "c1")
    other = failure_row("shift", "a.wav", RuntimeError("boom"), 2)
    assert other.reason == "failed" and other.detail == "RuntimeError: boom (after 2 retries)"


@pytest.mark.parametrize(
    ("n", "size", "workers", "sizes"),
    [
        (104, 8, 2, [8] * 6 + [7] * 8),  # 13 batches of 8 would leave one worker alone with the last
        (24, 8, 2, [6] * 4),
        (16, 8, 2, [8, 8]),
        (5, 8, 2, [3, 2]),
        (17, 8, 4, [5, 4, 4, 4]),
        (2, 8, 4, [1, 1]),
        (9, 4, 1, [3, 3, 3]),
        (0, 8, 2, []),
    ],
)
def test_batches_are_balanced_over_the_workers_in_order(n: int, size: int, workers: int, sizes: list[int]) -> None:
    got = batches(list(range(n)), size, workers)
    assert [len(b) for b in got] == sizes
    assert [x for b in got for x in b] == list(range(n))


def test_stage_run_settings_turn_heartbeats_off_only_without_an_api_url() -> None:
    from prefect.settings import get_current_settings, temporary_settings

    from flows.common import stage_run_settings

    with temporary_settings(restore_defaults={"api.url"}):
        with stage_run_settings():
            assert get_current_settings().flows.heartbeat_frequency is None
    with temporary_settings(updates={"api.url": "http://127.0.0.1:1/api"}):
        before = get_current_settings().flows.heartbeat_frequency
        with stage_run_settings():
            assert get_current_settings().flows.heartbeat_frequency == before


def test_an_upstream_table_that_cannot_be_read_is_named_in_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import polars as pl

    from flows.common import expected_error, read_manifest
    from ltxvoice.stage import StageError

    table = tmp_path / "clips.parquet"
    pl.DataFrame({"clip_id": ["a", "b"]}).write_parquet(table)
    assert read_manifest(table, "measure").height == 2
    table.write_bytes(table.read_bytes()[:20])  # truncated, as a corrupt cache or a full disk leaves it
    with pytest.raises(StageError, match=rf"measure: {table} cannot be read \(.*\); rebuild the stage") as err:
        read_manifest(table, "measure")
    assert "\n" not in str(err.value) and expected_error(err.value)
    assert not expected_error(RuntimeError("a bug")) and not expected_error(OSError(5, "I/O error"))


@flow
def _few(count: int) -> list:
    runner = RunnerParams(workers=2, retries=0, batch_size=2, kind="process")
    return run_mapped(_in_worker, [0, 1, 2, 4, 5, 6, 7][:count], runner=runner, desc="test")


def test_a_few_items_stay_in_the_flows_process() -> None:
    """Starting worker processes costs more than a handful of clips: under 4 per worker, no pool."""
    assert {r[1] for r in _few(7)} == {os.getpid()}
