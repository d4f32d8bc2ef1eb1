"""`ltxvoice server` + `ltxvoice serve` for real: a local Prefect server on 127.0.0.1 (temporary
PREFECT_HOME, free port), the pipeline served as a scheduled deployment over a tiny DVC project,
runs triggered through the API; two runs at once do not both run over the workspace."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dvcrepo
from tests.prefectstack import ROOT
from tests.prefectstack import cli as _cli
from tests.prefectstack import free_port as _free_port
from tests.prefectstack import stop as _stop
from tests.prefectstack import wait as _wait


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """(tiny project, API URL, log folder) with `ltxvoice server` running, stopped afterwards."""
    env = {
        **dvcrepo.env(),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    project = dvcrepo.make_repo(tmp_path / "project")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = _cli("server", "--port", str(port), cwd=project, env=env, log=tmp_path / "server.log")
    try:
        _wait(
            "the server",
            lambda: urllib.request.urlopen(f"{api}/health", timeout=5).status == 200,
            240,
            tmp_path / "server.log",
        )
        yield project, api, tmp_path
    finally:
        _stop(server)


def test_serve_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ltxvoice.cli import app

    project = dvcrepo.make_repo(tmp_path / "project")
    api = f"http://127.0.0.1:{_free_port()}/api"
    out = CliRunner().invoke(app, ["serve", "--params", str(project / "params.yaml"), "--api-url", api])
    assert out.exit_code == 1
    assert f"serve: no Prefect API at {api}" in out.output and "ltxvoice server" in out.output


@pytest.mark.slow
def test_serve_schedules_runs_and_never_overlaps(stack: tuple[Path, str, Path]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    project, api, logs = stack
    env = {
        **dvcrepo.env(),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "PREFECT_HOME": str(logs / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "LTXV_TEST_STAGE_SLEEP": "6",
    }
    served = _cli("serve", cwd=project, env=env, log=logs / "serve.log")

    async def scenario() -> tuple:
        async with get_client() as client:
            deadline = time.monotonic() + 180
            while True:
                try:
                    dep = await client.read_deployment_by_name("pipeline/tiny")
                    break
                except Exception:  # noqa: BLE001 - not registered yet
                    assert served.poll() is None, (logs / "serve.log").read_text()
                    assert time.monotonic() < deadline, (logs / "serve.log").read_text()
                    await asyncio.sleep(1)
            first = await client.create_flow_run_from_deployment(dep.id)
            second = await client.create_flow_run_from_deployment(dep.id)
            deadline = time.monotonic() + 240
            while True:
                runs = [await client.read_flow_run(r.id) for r in (first, second)]
                if all(r.state and r.state.is_final() for r in runs):
                    break
                tail = (logs / "serve.log").read_text()[-4000:]
                assert time.monotonic() < deadline, f"runs stuck: {[r.state for r in runs]}\n{tail}"
                await asyncio.sleep(1)
            artifacts = await client.read_artifacts()
            return dep, runs, artifacts

    try:
        with temporary_settings({PREFECT_API_URL: api}):
            dep, runs, artifacts = asyncio.run(scenario())
    finally:
        _stop(served)

    assert dep.parameters == {"project_dir": str(project.resolve())}
    assert [s.schedule.interval.total_seconds() for s in dep.schedules] == [3600.0]  # ops.interval_minutes: 60
    assert dep.global_concurrency_limit.limit == 1
    assert dep.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    states = sorted(r.state.type.value for r in runs)
    assert states == ["CANCELLED", "COMPLETED"], [(r.state.type, r.state.message) for r in runs]
    done = next(r for r in runs if r.state.type.value == "COMPLETED")
    refused = next(r for r in runs if r.state.type.value == "CANCELLED")
    assert "concurrency limit" in refused.state.message  # refused by Prefect before it started, not by the lock
    assert dvcrepo.runs(project) == ["count", "score", "other"]  # the pipeline ran once, never twice at a time
    report = next(a for a in artifacts if a.key == "pipeline-run" and a.flow_run_id == done.id)
    assert "| count | ran |" in report.data


def test_server_on_a_port_in_use_says_so_in_one_line() -> None:

    from typer.testing import CliRunner

    from ltxvoice.cli import app

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = CliRunner().invoke(app, ["server", "--port", str(port)])
    assert out.exit_code == 1
    assert out.output.startswith(f"server: port {port} on 127.0.0.1 is in use by another program; ")
    assert len(out.output.strip().splitlines()) == 1


def test_serve_with_invalid_params_fails_before_registering(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ltxvoice.cli import app

    bad = tmp_path / "params.yaml"
    bad.write_text("ops:\n  cron: '0 3 * * *'\n  cron: '0 4 * * *'\n")
    out = CliRunner().invoke(app, ["serve", "--params", str(bad), "--api-url", "http://127.0.0.1:9/api"])
    assert out.exit_code == 1
    assert out.output.strip() == (
        f"{bad}: not valid YAML at line 3: key 'cron' is given twice (first at line 2); "
        "remove one: YAML readers disagree on which wins"
    )
