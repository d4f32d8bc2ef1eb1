"""Real `ltxvoice server` / `ltxvoice serve` processes for the operations tests (test_serve, test_ui):
each in its own process group, so it and its children stop together, also when a test fails."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests import dvcrepo

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(prefect_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a server or serve process: this checkout's code, its own PREFECT_HOME,
    analytics off, no inherited API URL unless given in ``extra``."""
    out = {
        **dvcrepo.env(),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    out.pop("PREFECT_API_URL", None)
    return {**out, **extra}


def cli(*args: str, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`ltxvoice <args>` from this checkout, in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-c", "from ltxvoice.cli import app; app()", *args],
        cwd=cwd,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    """Ctrl-C to the process group, then SIGKILL after 20 s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            proc.wait()


def wait(what: str, check: Callable[[], object], timeout: float, log: Path) -> object:
    """Poll ``check`` every second until it returns something truthy; else fail with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except Exception:  # noqa: BLE001 - not up yet
            found = None
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; log:\n{log.read_text()[-4000:]}")
