"""Processes a run starts end when the run is killed: the watchdog and the parent watch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from ltxvoice import lifeline


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not lifeline.alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_alive() -> None:
    assert lifeline.alive(os.getpid())
    done = subprocess.Popen(["true"])
    done.wait()
    assert not lifeline.alive(done.pid)


def test_the_watchdog_ends_the_child_when_the_parent_is_killed() -> None:
    parent = subprocess.Popen(["sleep", "60"])
    child = subprocess.Popen(["sleep", "60"])
    try:
        dog = lifeline.reap_with(parent.pid, child.pid)
        time.sleep(0.3)
        assert child.poll() is None  # parent alive: left alone
        parent.kill()
        parent.wait()
        assert _wait_gone(child.pid, 10) or child.poll() is not None
        child.wait(timeout=5)
        assert dog.wait(timeout=10) == 0
    finally:
        for p in (parent, child):
            if p.poll() is None:
                p.kill()


def test_a_process_watching_its_parent_stops_when_it_is_gone() -> None:
    parent = subprocess.Popen(["sleep", "60"])
    code = textwrap.dedent("""
        import os, time
        from ltxvoice import lifeline
        lifeline.watch_parent(lambda pid: os._exit(7))
        print("watching", flush=True)
        time.sleep(60)
        raise SystemExit(0)
    """)
    env = {**os.environ, lifeline.PARENT_ENV: str(parent.pid)}
    watcher = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout is not None and watcher.stdout.readline().strip() == "watching"
        time.sleep(0.3)
        assert watcher.poll() is None
        parent.kill()
        parent.wait()
        assert watcher.wait(timeout=10) == 7
    finally:
        for p in (parent, watcher):
            if p.poll() is None:
                p.kill()


def test_nothing_is_watched_without_the_variable() -> None:
    assert lifeline.watch_parent(lambda pid: None, env={}) is None
    assert lifeline.watch_parent(lambda pid: None, env={lifeline.PARENT_ENV: "x"}) is None


def test_worker_processes_end_when_the_stage_that_started_them_is_killed() -> None:
    """runner kind process: kill -9 of the stage process (its leader only, as the OOM killer does) must
    not leave its worker processes running."""
    code = textwrap.dedent("""
        import os, time
        from ltxvoice.config import RunnerParams
        from tasks.common import offload, worker_processes
        with worker_processes(RunnerParams(kind="process", workers=2)):
            print(offload(os.getpid), flush=True)
            time.sleep(60)
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(root, "src"), root])}
    stage = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        assert stage.stdout is not None
        worker = int(stage.stdout.readline())
        assert worker != stage.pid and lifeline.alive(worker)
        stage.kill()
        stage.wait()
        assert _wait_gone(worker, 5)
    finally:
        if stage.poll() is None:
            stage.kill()
