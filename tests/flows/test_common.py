from __future__ import annotations

import threading
import time

import pytest
from prefect import flow, task

from ltxvoice.config import RunnerParams
from ltxvoice.media import MediaError
from tasks.common import failure_row, run_mapped

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


def test_failure_rows_keep_media_reasons() -> None:
    media = failure_row("shift", "a.wav", MediaError("stem_mismatch", "lengths differ"), 1, "c1")
    assert (media.reason, media.detail, media.item_id) == ("stem_mismatch", "lengths differ", "c1")
    other = failure_row("shift", "a.wav", RuntimeError("boom"), 2)
    assert other.reason == "failed" and other.detail == "RuntimeError: boom (after 2 retries)"
