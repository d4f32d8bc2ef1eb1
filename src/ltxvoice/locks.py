"""Exclusive locks that name their holder and die with it.

``flock`` on a file under ``.dvc/tmp``: the operating system drops the lock when the holding process
ends, however it ends (``kill -9`` included), so a crashed run never leaves one stuck. The file holds
one line saying who holds it (pid, host, since when, what), which the refusal quotes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ltxvoice import lifeline

_HOLDER = re.compile(r"pid (?P<pid>\d+) on (?P<host>\S+) since (?P<since>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (a zombie counts as gone)."""
    return lifeline.alive(pid)


def stale_notice(record: str, path: Path) -> str:
    """What to say about a lock file found still naming a holder although nobody holds the lock:
    the run that took it ended without releasing it (killed). ``record`` is the file's line."""
    found = _HOLDER.search(record)
    if found is None:
        return f"stale lock {path} ({record!r}, holder unknown, not holding it); taking it over"
    pid, host, since = int(found["pid"]), found["host"], found["since"]
    if host != socket.gethostname():
        state = f"on {host}, not holding it"
    elif pid_alive(pid):
        state = "alive but not holding it: its id was reused or it let the lock go without clearing it"
    else:
        state = "gone"
    return f"stale lock {path} left by pid {pid} ({state}) since {since}; taking it over"


def _stderr(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


@contextlib.contextmanager
def exclusive(
    path: Path, refuse: Callable[[str], Exception], holder: str = "", stale: Callable[[str], None] = _stderr
) -> Iterator[Path]:
    """Hold ``path`` locked for the block, or raise ``refuse(<who holds it>)`` at once.

    A lock file that still names a holder when the lock is free was left by a run that died holding
    it (the kernel dropped the lock, nobody cleared the line): it is taken over and said so, with
    ``stale(<one line>)`` (by default a warning on stderr), never silently."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise refuse(who) from None
        left = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        if left:
            stale(stale_notice(left, path))
        info = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{info}{', ' + holder if holder else ''}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def output_lock_path(out_dir: Path) -> Path:
    """Where the lock of one output folder lives: the project's ``.dvc/tmp`` (when run from the project
    root, as every stage is) or the system's temporary folder, named after the folder's absolute path."""
    key = hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:16]
    base = Path(".dvc/tmp") if Path(".dvc").is_dir() else Path(tempfile.gettempdir())
    return base / "ltxvoice-outputs" / f"{out_dir.name}-{key}.lock"


def check_writable(out_dir: Path) -> None:
    """Raise PermissionError (one line naming the folder) unless files can be created in ``out_dir``, or
    in its nearest existing parent when it does not exist yet. Nothing is left behind."""
    here = out_dir
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        with tempfile.TemporaryFile(dir=here):
            pass
    except OSError as exc:
        raise PermissionError(
            f"{out_dir}: cannot write there ({exc.strerror or exc} in {here}); nothing was done"
        ) from None
