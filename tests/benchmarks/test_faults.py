"""The fault suite's own checks (benchmarks/faults.py), fast: what counts as a complete stage output,
and that checking one leaves the suite's process safe to fork (every stage run is a fork of it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.benchmarks import BENCH, script


def _load():
    return script("faults")


def _stage_output(root: Path) -> Path:
    out = root / "data" / "ingest"
    (out / "clips").mkdir(parents=True)
    (out / "clips" / "a.wav").write_bytes(b"RIFF")
    (out / "metrics.json").write_text(json.dumps({"kept": 1}))
    (out / "provenance.json").write_text("{}")
    table = {"clip_id": ["a", "b"], "audio_path": ["data/ingest/clips/a.wav", "data/ingest/clips/b.wav"]}
    pl.DataFrame(table).write_parquet(out / "clips.parquet")
    return out


def test_complete_reads_the_tables_paths_from_the_workspace_not_the_callers_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = _load()
    root = tmp_path / "ws"
    out = _stage_output(root)
    monkeypatch.chdir(tmp_path)  # not the workspace: the suite's process runs from the repository
    assert not faults.complete(out, root)  # clips/b.wav is named but missing
    (out / "clips" / "b.wav").write_bytes(b"RIFF")
    assert faults.complete(out, root)
    (out / "provenance.json").unlink()
    assert not faults.complete(out, root)


FORK_AFTER_COMPLETE = """
import os, sys, time, importlib.util
from pathlib import Path
spec = importlib.util.spec_from_file_location("faults", sys.argv[1])
faults = importlib.util.module_from_spec(spec)
sys.modules["faults"] = faults
spec.loader.exec_module(faults)
out, root = Path(sys.argv[2]), Path(sys.argv[3])
assert faults.complete(out, root)
pid = os.fork()  # what the suite does next: a stage run
if pid == 0:
    import polars as pl
    pl.DataFrame({"a": list(range(200_000)), "b": [str(i % 97) for i in range(200_000)]}).sort(["b", "a"])
    pl.read_parquet(out / "clips.parquet").sort("clip_id")
    os._exit(0)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(os.WEXITSTATUS(status))
    time.sleep(0.1)
os.kill(pid, 9)
sys.exit("the fork hung in polars")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_stage_run_forked_after_complete_can_still_use_polars(tmp_path: Path) -> None:
    # polars' thread pool, once started in a process, is copied into its forks without its threads: a
    # fork's next pooled polars call then waits for ever (a CI run of the fault suite hung so). The
    # suite's process must never start it; checked in a fresh interpreter, as the suite runs.
    root = tmp_path / "ws"
    out = _stage_output(root)
    (out / "clips" / "b.wav").write_bytes(b"RIFF")
    done = subprocess.run(
        [sys.executable, "-c", FORK_AFTER_COMPLETE, str(BENCH / "faults.py"), str(out), str(root)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
