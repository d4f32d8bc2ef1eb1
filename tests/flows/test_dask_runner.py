"""Per-clip stages on a Dask cluster (prefect-dask) give the same outputs as the default thread runner."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect import flow, task

from flows.common import task_runner, with_runner
from flows.demo import demo
from flows.ingest import ingest
from ltxvoice.config import Params, ParamsError, RunnerParams, load_params
from tasks.common import run_mapped

ROOT = Path(__file__).resolve().parents[2]


def _digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (by relative path), the stage's whole output."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_runner_kind_picks_the_task_runner() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(task_runner(RunnerParams()), ThreadPoolTaskRunner)
    local = task_runner(RunnerParams(kind="dask", workers=3))
    assert isinstance(local, DaskTaskRunner) and local.cluster_kwargs["n_workers"] == 3
    remote = task_runner(RunnerParams(kind="dask", dask_address="tcp://10.0.0.5:8786"))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"


def test_a_dask_address_without_dask_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"runner": {"dask_address": "tcp://x:8786"}}))
    with pytest.raises(ParamsError, match=r"runner: dask_address is set but kind is not dask"):
        load_params(tmp_path / "params.yaml")


@task
def _where(x: int) -> tuple[int, int]:
    if x == 3:
        raise ValueError("three is bad")
    return x * 10, os.getpid()


@flow
def _mapped_twice() -> list[list]:
    runner = RunnerParams(kind="dask", workers=2, retries=0)
    return [
        run_mapped(_where, list(range(6)), runner=runner.model_copy(update={"batch_size": size}), desc="dask")
        for size in (1, 2)
    ]


@task
def _malloc_trim() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


@flow
def _worker_env() -> str | None:
    return _malloc_trim.submit().result()


@pytest.mark.slow
def test_local_dask_workers_keep_glibcs_dynamic_malloc_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dask's default (65536) made the per-clip DSP 1.55x slower in its workers
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # a nanny started earlier in this process sets it here
    dask = Params(runner=RunnerParams(kind="dask", workers=1))
    assert with_runner(_worker_env, dask)() is None


@pytest.mark.slow
def test_mapped_tasks_run_in_dask_worker_processes() -> None:
    dask = Params(runner=RunnerParams(kind="dask", workers=2))
    for results in with_runner(_mapped_twice, dask)():
        assert [r[0] for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50]
        assert isinstance(results[3], ValueError)  # a failing item comes back as its error, not fatal
        assert os.getpid() not in {r[1] for i, r in enumerate(results) if i != 3}


@pytest.mark.slow
def test_same_manifest_hashes_from_the_thread_and_the_dask_runner(tmp_path: Path) -> None:
    """ingest over generated demo sources: in-process with threads, then as `dvc repro` runs it
    (`python -m flows.ingest`, Prefect's embedded API) on a local Dask cluster."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["runner"].update(workers=2, batch_size=2, retry_delay_s=0)
    params["demo"].update(count=3, width=160, height=96, min_seconds=5.0, max_seconds=5.5)
    params["ingest"].update(sources=[str(tmp_path / "sources")], width=64, height=64, video_preset="ultrafast")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    demo(params_path=str(path), out=str(tmp_path / "sources"))

    out = tmp_path / "ingest"
    assert with_runner(ingest, load_params(path))(params_path=str(path), out=str(out))["kept"] == 3
    threads = _digests(out)
    shutil.rmtree(out)

    params["runner"]["kind"] = "dask"
    path.write_text(yaml.safe_dump(params))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )  # a new database: migrations first
    done = subprocess.run(
        [sys.executable, "-m", "flows.ingest", "--params-path", str(path), "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    log = done.stdout + done.stderr
    assert "Dask" in log and log.count("Starting temporary server") == 1  # workers share the flow's API
    dask = _digests(out)

    assert {"clips.parquet", "quarantine.parquet", "metrics.json"} <= set(threads)
    assert len([k for k in threads if k.endswith((".mp4", ".wav"))]) == 3 * 2  # a video and a WAV per clip
    assert dask == threads
