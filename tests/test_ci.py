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
    assert result.reports == {}  # the evaluate stage's report goes in only when evaluate ran; here none is

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


def _with_tiny_models_stage(repo: Path) -> None:
    """Give the tiny project a `tiny_models` stage (as the real pipeline has) that writes models/tiny/."""
    import yaml

    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    dvc["stages"]["tiny_models"] = {
        "cmd": "python -c \"import pathlib; p = pathlib.Path('models/tiny'); p.mkdir(parents=True, exist_ok=True); "
        "(p / 'ltx.safetensors').write_text('tiny')\"",
        "outs": ["models/tiny"],
    }
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))


def test_real_weights_without_a_gpu_are_refused_before_anything_runs(
    origin: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, base = origin
    clone = _clone(repo, tmp_path / "clone")
    _with_tiny_models_stage(clone)
    dvcrepo.set_param(clone, "tones", "seed", 5)
    params = yaml_load(clone / "params.yaml")
    params["train"] = {"model": {"checkpoint": "models/ltx-2.3-22b-dev.safetensors"}}
    params["encode"] = {"checkpoint": "models/tiny/ltx.safetensors"}  # tiny: not reported
    yaml_dump(clone / "params.yaml", params)
    dvcrepo.commit(clone, "train the real model")

    assert ci.real_weights(clone) == ["params.yaml: train.model.checkpoint = models/ltx-2.3-22b-dev.safetensors"]
    with pytest.raises(ci.CIError) as refused:
        ci.check(clone, base, has_gpu=False)
    assert str(refused.value).startswith(
        "params point at real LTX-2.3 weights (params.yaml: train.model.checkpoint = "
        "models/ltx-2.3-22b-dev.safetensors) and this machine has no CUDA GPU"
    )
    assert "RETRAIN_RUNNER" in str(refused.value)
    assert dvcrepo.runs(clone) == []  # refused before `dvc pull` / `dvc repro`: nothing ran
    assert not (clone / "out" / "count.txt").exists()

    # the command line: one line, exit 2, as CI shows it (the GPU probe forced to say none)
    monkeypatch.setattr(ci, "cuda_available", lambda: False)
    out = CliRunner().invoke(app, ["ci", "--base", base, "--params", str(clone / "params.yaml"), "--no-push"])
    assert out.exit_code == 2
    assert out.output.startswith("ci: params point at real LTX-2.3 weights (params.yaml: train.model.checkpoint")
    assert len(out.output.strip().splitlines()) == 1
    assert dvcrepo.runs(clone) == []

    # with a GPU the same params run
    done = ci.check(clone, base, push=False, has_gpu=True)
    assert done.ok and done.run is not None and "count" in done.run.ran


def test_tiny_weights_train_on_cpu(origin: tuple[Path, str], tmp_path: Path) -> None:
    repo, base = origin
    clone = _clone(repo, tmp_path / "clone")
    _with_tiny_models_stage(clone)
    params = yaml_load(clone / "params.yaml")
    params["train"] = {"model": {"checkpoint": "models/tiny/ltx.safetensors"}}
    params["encode"] = {"checkpoint": "models/tiny/ltx.safetensors", "text_encoder": "models/tiny"}
    yaml_dump(clone / "params.yaml", params)
    dvcrepo.commit(clone, "tiny models")

    assert ci.real_weights(clone) == []
    result = ci.check(clone, base, push=False, has_gpu=False)
    assert result.ok and result.run is not None
    assert sorted(result.run.ran) == ["tiny_models"]  # params of count/score/other unchanged
    assert (clone / "models" / "tiny" / "ltx.safetensors").read_text() == "tiny"


def yaml_load(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def yaml_dump(path: Path, data: dict) -> None:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_the_report_of_a_stage_that_ran_goes_into_the_ci_report(origin: tuple[Path, str]) -> None:
    repo, base = origin
    dvcrepo.set_param(repo, "select", "max_error_hz", 50.0)
    result = ci.check(repo, base, pull=False, push=False, report_stages=("score",))  # as "evaluate" is by default
    assert result.run is not None and result.run.ran == ["score"]
    assert list(result.reports) == ["out/report/report.md"]
    report = ci.report_markdown(result)
    assert "## Report: `out/report/report.md`\n\n### Score report\n\nscore 15.0" in report
    assert result.summary()["reports"] == ["out/report/report.md"]

    dvcrepo.set_param(repo, "tones", "seed", 7)  # score reruns, but `count` is not a report stage
    again = ci.check(repo, base, pull=False, push=False, report_stages=("count",))
    assert again.run is not None and "count" in again.run.ran and again.reports == {}


def test_the_workflow_runs_ltxvoice_ci_on_the_configured_runner() -> None:
    """retrain.yml: the runner comes from RETRAIN_RUNNER (a JSON label list) with the hosted CPU runner
    as the default, and the options its `ltxvoice ci` line passes are ones the command has."""
    import re

    import yaml

    workflow = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "retrain.yml"
    job = yaml.safe_load(workflow.read_text())["jobs"]["retrain"]
    found = re.fullmatch(r"\$\{\{ fromJSON\(vars\.RETRAIN_RUNNER \|\| '(.*)'\) \}\}", job["runs-on"])
    assert found and json.loads(found.group(1)) == "ubuntu-latest", job["runs-on"]
    (line,) = [s["run"] for s in job["steps"] if "ltxvoice ci" in s.get("run", "")]
    options = re.findall(r"(--[a-z-]+)", line)
    assert options == ["--base", "--report", "--json"]
    helped = CliRunner().invoke(app, ["ci", "--help"], env={"COLUMNS": "200"})
    for option in options:
        assert option in helped.output, option
    comment = next(s for s in job["steps"] if s.get("name") == "Report on the pull request")
    assert "--body-file ci-report.md" in comment["run"]
