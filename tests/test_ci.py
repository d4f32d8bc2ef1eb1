"""ltxvoice ci: a params change reruns exactly the dependent stages from a clean clone (data pulled
from the DVC remote) and reports the changed param and the metric deltas; no change runs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ltxvoice import ci, pipeline
from ltxvoice.cli import app
from tests import dvcrepo


@pytest.fixture()
def origin(tmp_path: Path) -> tuple[Path, str]:
    """A project built, pushed to its DVC remote and committed (the base), as on the main branch."""
    repo = dvcrepo.make_repo(tmp_path / "origin", remote=tmp_path / "remote")
    built = pipeline.run(repo, push_after=True)
    assert built.ran == ["count", "score", "other"] and built.pushed
    assert dvcrepo.runs(repo) == ["count", "score", "other"]
    return repo, dvcrepo.commit(repo, "built")


def _clone(origin: Path, dest: Path) -> Path:
    dvcrepo.sh(origin.parent, "git", "clone", "-q", str(origin), str(dest))
    return dest


def test_a_param_change_reruns_exactly_its_stages_from_a_clean_clone(origin: tuple[Path, str], tmp_path: Path) -> None:
    repo, base = origin
    clone = _clone(repo, tmp_path / "clone")
    assert not (clone / "out" / "count.txt").exists()  # a fresh checkout: no data, empty DVC cache
    dvcrepo.set_param(clone, "select", "max_error_hz", 40.0)
    dvcrepo.commit(clone, "raise the select limit")

    result = ci.check(clone, base)
    assert result.ok and result.triggers == ["params.yaml"]
    assert result.run is not None and result.run.ran == ["score"] and result.run.skipped == ["count", "other"]
    assert dvcrepo.runs(clone) == ["score"]  # what really ran
    assert (clone / "out" / "count.txt").read_text() == "3\n"  # pulled from the remote, not rebuilt
    assert [(c.metric, c.old, c.new) for c in result.params] == [("select.max_error_hz", 30.0, 40.0)]
    assert [(c.path, c.metric, c.old, c.new, c.change) for c in result.metrics] == [
        ("out/score.json", "detail.limit_hz", 30.0, 40.0, 10.0),
        ("out/score.json", "score", 9.0, 12.0, 3.0),
    ]
    assert result.run.pushed  # the new score outputs went to the remote

    report = ci.report_markdown(result)
    assert "Changed since the base: `params.yaml`" in report
    assert "| params.yaml | select.max_error_hz | 30 | 40 | 10 |" in report
    assert "| score | ran | params.yaml: select modified |" in report
    assert "| out/score.json | score | 9 | 12 | 3 |" in report

    # the workflow commits the new lock file back; a later push that touches no watched file runs nothing
    retrained = dvcrepo.commit(clone, "retrained [skip ci]")
    (clone / "NOTES.md").write_text("a note\n")
    dvcrepo.commit(clone, "notes")
    again = ci.check(clone, retrained)
    assert again.triggers == [] and again.run is None
    assert dvcrepo.runs(clone) == []
    assert "nothing was reproduced" in ci.report_markdown(again)


def test_a_change_outside_the_watched_files_runs_nothing(origin: tuple[Path, str]) -> None:
    repo, base = origin
    (repo / "NOTES.md").write_text("not a param\n")
    dvcrepo.commit(repo, "notes")
    result = ci.check(repo, base, pull=False, push=False)
    assert result.triggers == [] and result.run is None
    assert dvcrepo.runs(repo) == []


def test_cli_writes_the_report_json_and_the_github_summary(
    origin: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, base = origin
    dvcrepo.set_param(repo, "tones", "seed", 4)  # uncommitted: the workspace counts
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = CliRunner().invoke(
        app,
        [
            "ci",
            "--base",
            base,
            "--params",
            str(repo / "params.yaml"),
            "--no-push",
            "--report",
            str(tmp_path / "r.md"),
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ran"] == ["count", "score"] and data["skipped"] == ["other"]
    assert [c["metric"] for c in data["params_changed"]] == ["tones.seed"]
    assert "| params.yaml | tones.seed | 2 | 4 | 2 |" in summary.read_text()
    assert (tmp_path / "r.md").read_text() == summary.read_text().rstrip("\n") + "\n"


def test_cli_exit_codes(origin: tuple[Path, str]) -> None:
    repo, _ = origin
    params = ["--params", str(repo / "params.yaml")]
    bad = CliRunner().invoke(app, ["ci", "--base", "no-such-ref", *params])
    assert bad.exit_code == 2 and "base ref 'no-such-ref' is not a commit here" in bad.output
    dvcrepo.break_stage(repo, "count")
    dvcrepo.set_param(repo, "tones", "seed", 9)
    failed = CliRunner().invoke(app, ["ci", "--base", "HEAD", "--no-push", *params])
    assert failed.exit_code == 1 and "**Failed:** dvc repro: failed to reproduce 'count'" in failed.output


def test_base_refs(origin: tuple[Path, str]) -> None:
    repo, base = origin
    first = dvcrepo.sh(repo, "git", "rev-list", "--max-parents=0", "HEAD").strip()
    assert ci.resolve_base(repo, ci.NULL_SHA) == first  # a new branch: its parent commit
    assert ci.resolve_base(repo, "HEAD") == base
    with pytest.raises(ci.CIError, match="fetch-depth"):
        ci.resolve_base(repo, "feature/nope")


def test_matching_by_path_or_name() -> None:
    files = ["params.yaml", "data/sources.dvc", "src/x.py", "conf/params.yaml", "dvc.lock"]
    assert ci.matching(files, ci.DEFAULT_WATCH) == ["params.yaml", "data/sources.dvc", "conf/params.yaml", "dvc.lock"]
    assert ci.matching(files, ["src/*"]) == ["src/x.py"]
