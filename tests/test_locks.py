from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ltxvoice import locks


class Busy(RuntimeError):
    pass


def test_a_held_lock_refuses_naming_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "out.lock"
    with locks.exclusive(path, Busy, holder="first"):
        with pytest.raises(Busy, match=rf"pid {os.getpid()} on .* since .*, first"):
            with locks.exclusive(path, Busy):
                pass
    assert path.read_text() == ""  # released cleanly: nothing stale left


def test_a_lock_left_by_a_killed_holder_is_reported_stale_and_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "out.lock"
    code = (
        "import os, signal, sys; from pathlib import Path; from ltxvoice import locks\n"
        f"with locks.exclusive(Path({str(path)!r}), RuntimeError, 'stage ingest'):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], check=False)
    assert child.returncode == -signal.SIGKILL
    record = path.read_text()
    assert record.startswith("pid ") and "stage ingest" in record  # its line stays behind
    said: list[str] = []
    with locks.exclusive(path, Busy, holder="second", stale=said.append):
        assert f"pid {os.getpid()}" in path.read_text()
    assert len(said) == 1 and "\n" not in said[0]
    assert "stale lock" in said[0] and "(gone) since" in said[0] and "taking it over" in said[0]
    # taken over and released cleanly: the next taker has nothing to report
    said.clear()
    with locks.exclusive(path, Busy, stale=said.append):
        pass
    assert said == []


def test_a_recorded_pid_that_is_alive_but_not_holding_is_still_stale(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "out.lock"
    path.write_text(f"pid {os.getpid()} on {socket.gethostname()} since 2026-01-02 03:04:05, stage x\n")
    said: list[str] = []
    with locks.exclusive(path, Busy, stale=said.append):
        pass
    assert said and f"pid {os.getpid()} (alive but not holding it" in said[0] and "since 2026-01-02 03:04:05" in said[0]
    assert not locks.pid_alive(2**22 + 12345)  # above Linux's pid_max
