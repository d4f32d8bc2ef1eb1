"""Nothing a run starts outlives it.

``kill -9`` of ``ltxvoice pipeline`` (what the kernel's OOM killer does) gives its process no chance
to clean up, so the processes it started must notice by themselves:

* the stage processes ``dvc repro`` starts inherit :data:`PARENT_ENV` and watch that pid
  (:func:`watch_parent`): when it is gone they stop at once, releasing their output lock;
* the worker processes of ``runner.kind: process`` watch the stage process that started them
  (:func:`exit_with`) and exit when it is gone;
* the temporary Prefect server gets a small watchdog process (:func:`reap_with`, ``python -m
  ltxvoice.lifeline <parent> <child>``) that ends it when its parent is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

PARENT_ENV = "LTXVOICE_PARENT_PID"
POLL_S = 0.5


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc: kill(0) said it exists


def watch_parent(on_gone: Callable[[int], None], env: dict[str, str] | None = None) -> threading.Thread | None:
    """When :data:`PARENT_ENV` names a pid, call ``on_gone(pid)`` from a daemon thread once that
    process has ended. Returns the thread, or None when there is nothing to watch."""
    value = (os.environ if env is None else env).get(PARENT_ENV, "")
    if not value.isdigit():
        return None
    pid = int(value)

    def watch() -> None:
        while alive(pid):
            time.sleep(POLL_S)
        on_gone(pid)

    thread = threading.Thread(target=watch, name="ltxvoice-lifeline", daemon=True)
    thread.start()
    return thread


def exit_with(parent: int) -> None:
    """Make this process exit as soon as ``parent`` has ended (a worker process's initializer: a
    ``kill -9`` of the stage that started it must not leave it running)."""
    watch_parent(lambda _: os._exit(1), {PARENT_ENV: str(parent)})


def reap_with(parent: int, child: int) -> subprocess.Popen[bytes]:
    """Start a watchdog process that terminates ``child`` (then kills it after 5 s) once ``parent``
    has ended, and ends by itself when ``child`` does."""
    return subprocess.Popen(
        [sys.executable, "-m", "ltxvoice.lifeline", str(parent), str(child)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a signal to the parent's process group does not reach the watchdog
    )


def _watchdog(parent: int, child: int) -> int:
    while alive(child):
        if not alive(parent):
            for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
                try:
                    os.kill(child, sig)
                except ProcessLookupError:
                    return 0
                deadline = time.monotonic() + grace
                while alive(child) and time.monotonic() < deadline:
                    time.sleep(0.1)
            return 0
        time.sleep(POLL_S)
    return 0


if __name__ == "__main__":
    raise SystemExit(_watchdog(int(sys.argv[1]), int(sys.argv[2])))
