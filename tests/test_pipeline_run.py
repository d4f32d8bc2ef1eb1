"""ltxvoice.pipeline: whole-pipeline runs through DVC on a tiny throwaway project (no media, fast)."""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ltxvoice import pipeline as lib
from tests import dvcrepo


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return dvcrepo.make_repo(tmp_path / "project")


def test_builds_then_noops_then_reruns_exactly_what_a_param_change_touches(repo: Path) -> None:
    assert lib.stage_names(repo) == ["count", "score", "other"]
    assert set(lib.stale_stages(repo)) == {"count", "score", "other"}

    first = lib.run(repo)
    assert first.error is None and first.ran == ["count", "score", "other"]
    assert dvcrepo.runs(repo) == ["count", "score", "other"]
    assert {(c.path, c.metric, c.new) for c in first.changes} == {
        ("out/count.json", "n", 3),
        ("out/score.json", "score", 9.0),
        ("out/score.json", "detail.limit_hz", 30.0),
    }
    assert all(c.old is None and c.change is None for c in first.changes)  # new metrics, nothing to subtract

    again = lib.run(repo)
    assert again.ran == [] and again.skipped == ["count", "score", "other"] and again.changes == []
    assert dvcrepo.runs(repo) == []

    dvcrepo.set_param(repo, "select", "max_error_hz", 40.0)
    assert lib.stale_stages(repo) == {"score": "params.yaml: select modified"}
    changed = lib.run(repo)
    assert changed.ran == ["score"] and changed.skipped == ["count", "other"]
    assert dvcrepo.runs(repo) == ["score"]
    assert [(c.metric, c.old, c.new, c.change) for c in changed.changes] == [
        ("detail.limit_hz", 30.0, 40.0, 10.0),
        ("score", 9.0, 12.0, 3.0),
    ]
    report = lib.report_markdown(changed)
    assert "| score | ran | params.yaml: select modified |" in report
    assert "| count | skipped |  |" in report
    assert "| out/score.json | score | 9 | 12 | 3 |" in report


def test_an_upstream_change_reruns_what_follows_it_only(repo: Path) -> None:
    lib.run(repo)
    dvcrepo.runs(repo)
    dvcrepo.set_param(repo, "tones", "seed", 5)
    result = lib.run(repo)
    assert result.ran == ["count", "score"] and result.skipped == ["other"]
    assert dvcrepo.runs(repo) == ["count", "score"]
    why = {s.name: s.why for s in result.stages}
    assert why["count"] == "params.yaml: tones.seed modified"
    assert why["score"] == "an upstream output changed"


def test_targets_reproduce_a_stage_and_what_it_needs_only(repo: Path) -> None:
    result = lib.run(repo, ["score"])
    assert result.ran == ["count", "score"] and dvcrepo.runs(repo) == ["count", "score"]
    assert {s.name: s.outcome for s in result.stages}["other"] == "not a target"
    assert result.summary()["not_targets"] == ["other"]


def test_a_failing_stage_is_reported_with_how_far_the_run_got(repo: Path) -> None:
    step = repo / "step.py"
    step.write_text(
        step.read_text().replace(
            '    limit = params["select"]["max_error_hz"]\n',
            '    limit = params["select"]["max_error_hz"]\n    if limit == 13.0:\n        sys.exit("unlucky limit")\n',
        )
    )
    lib.run(repo)
    dvcrepo.set_param(repo, "select", "max_error_hz", 13.0)
    result = lib.run(repo)
    assert result.error and "failed to reproduce 'score'" in result.error
    assert {s.name: s.outcome for s in result.stages} == {"count": "skipped", "score": "failed", "other": "not reached"}
    assert "**Failed:**" in lib.report_markdown(result)


def test_not_a_dvc_project_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(lib.PipelineError, match=r"not a DVC project"):
        lib.stage_names(tmp_path)


def test_pipeline_error_keeps_its_outcomes_through_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(lib.PipelineError("boom", {"a": "ran", "b": "failed"})))
    assert str(err) == "boom" and err.outcomes == {"a": "ran", "b": "failed"}


def test_diff_metrics_and_flatten() -> None:
    old = {"m.json": lib.flatten({"kept": 40, "by": {"a": 1, "b": 2}, "mode": "bounded"})}
    new = {"m.json": lib.flatten({"kept": 41, "by": {"a": 1, "c": 3}, "mode": "decorrelated"}), "n.json": {"x": 1.5}}
    changes = {(c.path, c.metric): (c.old, c.new, c.change) for c in lib.diff_metrics(old, new)}
    assert changes == {
        ("m.json", "kept"): (40, 41, 1.0),
        ("m.json", "by.b"): (2, None, None),
        ("m.json", "by.c"): (None, 3, None),
        ("m.json", "mode"): ("bounded", "decorrelated", None),
        ("n.json", "x"): (None, 1.5, None),
    }
    assert lib.diff_metrics(old, old) == []


def test_describe_status_reads_every_shape_dvc_status_uses() -> None:
    entries = [
        {"changed deps": {"params.yaml": {"tones": "modified"}, "data/a.parquet": "modified"}},
        {"changed outs": {"data/b": "deleted"}},
        "always changed",
    ]
    assert lib.describe_status(entries) == (
        "params.yaml: tones modified; data/a.parquet: modified; data/b: deleted; always changed"
    )
    assert lib.describe_status(entries, limit=2) == "params.yaml: tones modified; data/a.parquet: modified and 2 more"


def test_reports_and_plots_of_the_stages_are_found_and_rendered(repo: Path, tmp_path: Path) -> None:
    assert lib.find_publishable(repo) == []  # nothing built yet
    lib.run(repo)
    found = lib.find_publishable(repo)
    assert [(p.stage, p.kind, p.path.as_posix()) for p in found] == [
        ("score", "markdown", "out/report/report.md"),
        ("score", "data", "out/curve.csv"),
    ]
    assert [p.key for p in found] == ["score-out-report", "score-out-curve"]

    report = lib.publishable_markdown(found[0], repo, tmp_path)
    png = (repo / "out/report/chart.png").read_bytes()
    assert f"![chart](data:image/png;base64,{base64.b64encode(png).decode()})" in report
    curve = lib.publishable_markdown(found[1], repo, tmp_path)
    assert "![curve.csv](data:image/png;base64," in curve and "Last 5 of 5 rows" in curve
    assert (tmp_path / "score-out-curve.png").read_bytes()[:4] == b"\x89PNG"


def test_inline_images_keeps_urls_and_flags_missing_files(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG fake")
    md = "![a](a.png) ![web](https://example.com/x.png) ![gone](gone.png)"
    out = lib.inline_images(md, tmp_path)
    assert "![a](data:image/png;base64," in out
    assert "![web](https://example.com/x.png)" in out
    assert "![gone](gone.png) (missing: gone.png)" in out
    assert "too large to inline" in lib.inline_images("![a](a.png)", tmp_path, max_bytes=3)


def test_plot_data_shapes_and_chart_errors(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"train": [{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}]}')
    rows = lib.read_plot_data(tmp_path / "a.json")
    assert rows == [{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}]
    (tmp_path / "b.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match=r"b.json: plot data must be a list of records"):
        lib.read_plot_data(tmp_path / "b.json")
    with pytest.raises(ValueError, match=r"no column \['nope'\] to plot"):
        lib.chart(rows, tmp_path / "c.png", y="nope")
    assert lib.chart(rows, tmp_path / "c.png").is_file()


def test_workspace_lock_refuses_a_second_holder_and_names_the_first(repo: Path) -> None:
    with lib.workspace_lock(repo, holder="run A") as path:
        assert "run A" in path.read_text()
        busy = r"another pipeline run is using this workspace \(pid \d+ .*run A\)"
        with pytest.raises(lib.WorkspaceBusy, match=busy):
            with lib.workspace_lock(repo, holder="run B"):
                pass
    with lib.workspace_lock(repo, holder="run C"):  # released: free again
        pass


def _holding(code: str) -> subprocess.Popen[str]:
    """A process that takes a lock with ``code`` (indented under a ``with``) and says "held"."""
    body = textwrap.dedent(code) + '    print("held", flush=True)\n    time.sleep(60)\n'
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\n" + body], stdout=subprocess.PIPE, text=True, env=dvcrepo.env()
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_workspace_lock_across_processes_and_after_a_crash(repo: Path) -> None:
    holder = _holding(f"""
        from ltxvoice.pipeline import workspace_lock
        with workspace_lock({str(repo)!r}, holder="the other process"):
    """)
    try:
        with pytest.raises(lib.WorkspaceBusy, match=r"the other process"):
            with lib.workspace_lock(repo):
                pass
    finally:
        holder.kill()  # a crash: no clean release
        holder.wait()
    deadline = time.monotonic() + 10
    while True:
        try:
            with lib.workspace_lock(repo):
                break
        except lib.WorkspaceBusy:
            assert time.monotonic() < deadline, "the lock outlived its process"
            time.sleep(0.1)


def test_preflight_refuses_while_another_dvc_process_holds_dvcs_lock(repo: Path) -> None:
    lib.preflight(repo)  # free: nothing to say
    holder = _holding(f"""
        from dvc.repo import Repo
        with Repo({str(repo)!r}).lock:
    """)
    try:
        with pytest.raises(lib.WorkspaceBusy, match=r"another dvc process \(a `dvc repro`\?\) holds DVC's lock"):
            lib.preflight(repo)
    finally:
        holder.kill()
        holder.wait()
    with lib.workspace_lock(repo, holder="run A"):
        with pytest.raises(lib.WorkspaceBusy, match="another pipeline run is using this workspace"):
            lib.preflight(repo)
