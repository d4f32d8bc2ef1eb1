"""The whole-pipeline flow on a tiny throwaway DVC project: report, artifacts, lock, schedules."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from flows.pipeline import deployment, pipeline, schedules
from ltxvoice.config import OpsParams, ParamsError
from ltxvoice.pipeline import PipelineError, WorkspaceBusy, workspace_lock
from tests import dvcrepo


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return dvcrepo.make_repo(tmp_path / "project")


def _artifacts(key: str) -> list:
    """Every version of an artifact, newest first."""
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC
        )


def test_flow_reproduces_reports_and_publishes(repo: Path) -> None:
    summary = pipeline(project_dir=str(repo))
    assert summary["ran"] == ["count", "score", "other"] and summary["error"] is None
    assert dvcrepo.runs(repo) == ["count", "score", "other"]
    run_report = _artifacts("pipeline-run")[0]
    assert "| score | ran |" in run_report.data
    score_report = _artifacts("score-out-report")[0]
    assert score_report.type == "markdown" and "![chart](data:image/png;base64," in score_report.data
    assert "![curve.csv](data:image/png;base64," in _artifacts("score-out-curve")[0].data
    table = _artifacts("pipeline-metric-changes")[0]
    assert table.type == "table" and "out/score.json" in str(table.data)

    dvcrepo.set_param(repo, "select", "max_error_hz", 40.0)
    summary = pipeline(project_dir=str(repo))
    assert summary["ran"] == ["score"] and summary["skipped"] == ["count", "other"]
    assert ("score", 9.0, 12.0) in {(c["metric"], c["old"], c["new"]) for c in summary["metric_changes"]}


def test_a_second_run_over_a_busy_workspace_does_nothing(repo: Path) -> None:
    with workspace_lock(repo, holder="an earlier run"):
        with pytest.raises(WorkspaceBusy, match=r"an earlier run"):
            pipeline(project_dir=str(repo))
    assert dvcrepo.runs(repo) == []
    assert not (repo / "dvc.lock").exists()


def test_a_failing_stage_fails_the_flow_after_reporting(repo: Path) -> None:
    dvcrepo.break_stage(repo, "count")
    with pytest.raises(PipelineError, match=r"failed to reproduce 'count'"):
        pipeline(project_dir=str(repo))
    assert "**Failed:**" in _artifacts("pipeline-run")[0].data


def test_cli_runs_the_flow_and_says_what_ran(repo: Path) -> None:
    from typer.testing import CliRunner

    from ltxvoice.cli import app

    args = ["pipeline", "--params", str(repo / "params.yaml")]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "ran: count, score, other; up to date: nothing; 3 metric(s) changed" in " ".join(out.output.split())
    with workspace_lock(repo, holder="someone else"):
        busy = CliRunner().invoke(app, args)
    assert busy.exit_code == 1 and "another pipeline run is using this workspace" in " ".join(busy.output.split())


def test_invalid_params_fail_before_any_work(repo: Path) -> None:
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text() + "bogus: 1\n")
    with pytest.raises(ParamsError, match=r"bogus: unknown key"):
        pipeline(project_dir=str(repo))
    assert dvcrepo.runs(repo) == []


def test_schedules_and_deployment_from_ops_params(repo: Path) -> None:
    nightly = schedules(OpsParams(cron="0 3 * * *", timezone="Europe/Berlin"))
    assert [(s.cron, s.timezone) for s in nightly] == [("0 3 * * *", "Europe/Berlin")]
    hourly = schedules(OpsParams(cron=None, interval_minutes=90))
    assert [s.interval.total_seconds() for s in hourly] == [5400.0]
    assert schedules(OpsParams(cron=None)) == []

    dep = deployment(repo, OpsParams(deployment="nightly"))
    assert dep.name == "nightly" and dep.parameters == {"project_dir": str(repo.resolve())}
    assert dep.entrypoint == "flows.pipeline.pipeline"
    assert dep.concurrency_limit == 1 and dep.concurrency_options.collision_strategy.value == "CANCEL_NEW"


def test_ops_params_are_checked() -> None:
    from ltxvoice.config import parse_params

    with pytest.raises(ParamsError, match=r"ops: set cron or interval_minutes, not both"):
        parse_params({"ops": {"cron": "0 3 * * *", "interval_minutes": 5}})
    with pytest.raises(ParamsError, match=r"ops.cron: cron needs 5 fields"):
        parse_params({"ops": {"cron": "every night"}})
    with pytest.raises(ParamsError, match=r"ops.timezone: not a known IANA time zone"):
        parse_params({"ops": {"timezone": "Mars/Olympus"}})
