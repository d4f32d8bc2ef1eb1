from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from flows.common import run_flow
from flows.ingest import ingest as ingest_flow
from ltxvoice import ingest as lib
from ltxvoice.records import Quarantined, read_table, schema_of
from ltxvoice.stage import StageError


def _write_params(tmp: Path, sources: list[Path], **ingest: object) -> Path:
    data = {
        "runner": {"workers": 2, "retries": 1, "retry_delay_s": 0},
        "ingest": {
            "sources": [str(s) for s in sources],
            "frames": 25,
            "fps": 25.0,
            "width": 64,
            "height": 64,
            "video_preset": "ultrafast",
            **ingest,
        },
    }
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture()
def mixed_sources(tmp_path: Path, good_sources: Path, bad_folder: tuple[Path, dict[str, str]]) -> Path:
    folder = tmp_path / "sources"
    shutil.copytree(good_sources, folder / "good")
    shutil.copytree(bad_folder[0], folder / "bad")
    return folder


def test_flow_writes_manifest_quarantine_and_metrics(
    tmp_path: Path, mixed_sources: Path, bad_folder: tuple[Path, dict[str, str]]
) -> None:
    params = _write_params(tmp_path, [mixed_sources], frames=121)
    out = tmp_path / "out"
    metrics = ingest_flow(params_path=str(params), out=str(out))

    clips = read_table(out / "clips.parquet", schema_of(lib.Clip))
    quarantine = read_table(out / "quarantine.parquet", schema_of(Quarantined))
    assert clips.height == 2  # a.mp4 and b.mkv each give one 121-frame clip
    assert sorted(quarantine["reason"].to_list()) == sorted(bad_folder[1].values())
    assert metrics["kept"] == 2 and metrics["quarantined"] == len(bad_folder[1])
    assert json.loads((out / "metrics.json").read_text()) == metrics
    for row in clips.iter_rows(named=True):
        assert Path(row["video_path"]).is_file() and Path(row["audio_path"]).is_file()
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["versions"]["ffmpeg"] and provenance["params"]["frames"] == 121


def test_a_task_that_keeps_failing_is_quarantined_not_fatal(
    tmp_path: Path, good_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_cut = lib.cut
    calls: dict[str, int] = {}

    def flaky(src: lib.Source, params, out_dir):  # type: ignore[no-untyped-def]
        calls[src.path] = calls.get(src.path, 0) + 1
        if src.path.endswith("a.mp4"):
            raise OSError("disk hiccup")
        return real_cut(src, params, out_dir)

    monkeypatch.setattr(lib, "cut", flaky)
    params = _write_params(tmp_path, [good_sources])
    out = tmp_path / "out"
    metrics = ingest_flow(params_path=str(params), out=str(out))
    assert metrics["kept"] == 1
    q = pl.read_parquet(out / "quarantine.parquet").row(0, named=True)
    assert q["reason"] == "failed" and "OSError: disk hiccup (after 1 retry)" in q["detail"]
    assert calls[str(good_sources / "a.mp4")] == 2  # first try + one retry


def test_zero_usable_clips_fails_with_why(tmp_path: Path, bad_folder: tuple[Path, dict[str, str]]) -> None:
    params = _write_params(tmp_path, [bad_folder[0]], frames=121)
    with pytest.raises(StageError, match=r"no usable clips from 9 file\(s\) in .*: 1 empty_file, 1 no_audio_stream"):
        ingest_flow(params_path=str(params), out=str(tmp_path / "out"))
    # the quarantine is still written, so the user can see every reason
    assert pl.read_parquet(tmp_path / "out" / "quarantine.parquet").height == 9


def test_invalid_params_fail_before_any_work(
    tmp_path: Path, good_sources: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = _write_params(tmp_path, [good_sources], frames=120)
    out = tmp_path / "out"
    code = run_flow(ingest_flow, "ingest", ["--params-path", str(params), "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "ingest.frames: frames % 8 must be 1" in err
    assert not out.exists()


def test_output_over_sources_is_refused(tmp_path: Path, good_sources: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(good_sources, src)
    params = _write_params(tmp_path, [src])
    with pytest.raises(StageError, match="never written to"):
        ingest_flow(params_path=str(params), out=str(src / "out"))


def test_a_second_writer_of_the_same_output_is_refused_in_one_line(
    tmp_path: Path, good_sources: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ltxvoice import locks

    params = _write_params(tmp_path, [good_sources])
    out = tmp_path / "out"
    never = StageError  # the refusal's type; the message is what matters

    with locks.exclusive(locks.output_lock_path(out), never, holder="stage ingest (the first run)"):
        code = run_flow(ingest_flow, "ingest", ["--params-path", str(params), "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert f"{out} is being written by another run of this stage" in " ".join(err.split())
    assert "the first run" in err and "Traceback" not in err
    assert not out.exists()  # refused before any work


def test_an_unwritable_output_is_found_before_any_work(
    tmp_path: Path, good_sources: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = _write_params(tmp_path, [good_sources])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    code = run_flow(ingest_flow, "ingest", ["--params-path", str(params), "--out", str(blocker / "out")])
    assert code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"{blocker / 'out'}: cannot write there" in err and "nothing was done" in err
    assert blocker.read_text() == "not a folder\n"


def test_run_flow_writes_a_temporary_folder_and_moves_it_into_place(
    tmp_path: Path, good_sources: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ltxvoice.stage import leftovers, partial_path

    params = _write_params(tmp_path, [good_sources])
    out = tmp_path / "out"
    dead = partial_path(out, 999_999_999)  # what a killed run left
    (dead / "clips").mkdir(parents=True)
    (dead / "clips" / "half.wav").write_bytes(b"half")
    assert run_flow(ingest_flow, "ingest", ["--params-path", str(params), "--out", str(out)]) == 0
    assert f"removed{dead}" in "".join(capsys.readouterr().err.split())  # rich may wrap the line
    assert leftovers(out) == []
    clips = read_table(out / "clips.parquet", schema_of(lib.Clip))
    assert all(Path(p).parent == out / "clips" and Path(p).is_file() for p in clips["audio_path"].to_list())
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    # a run that ends keeping nothing leaves the previous output as it was; its own (whole) output waits
    # beside it until the next run, and the message names it there, not in the temporary folder
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "broken.mp4").write_bytes(b"not a video")
    failing = _write_params(empty, [empty])
    assert run_flow(ingest_flow, "ingest", ["--params-path", str(failing), "--out", str(out)]) == 1
    failed = out.with_name(f"out.failed-{os.getpid()}")
    err = "".join(capsys.readouterr().err.split())
    assert f"(see{failed / 'quarantine.parquet'})" in err and ".partial-" not in err
    assert read_table(failed / "quarantine.parquet").height == 1
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert leftovers(out) == [failed]

    # a rerun gives the same bytes, and removes what the failed run left
    assert run_flow(ingest_flow, "ingest", ["--params-path", str(params), "--out", str(out)]) == 0
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert leftovers(out) == []


def test_a_full_disk_is_one_line_and_leaves_the_previous_output(
    tmp_path: Path, good_sources: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from ltxvoice import records
    from ltxvoice.stage import leftovers

    params = _write_params(tmp_path, [good_sources])
    out = tmp_path / "out"
    assert run_flow(ingest_flow, "ingest", ["--params-path", str(params), "--out", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    capsys.readouterr()

    def full(frame: pl.DataFrame, path: Path) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(records, "write_table", full)
    monkeypatch.setattr("ltxvoice.stage.write_table", full)
    assert run_flow(ingest_flow, "ingest", ["--params-path", str(params), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No space left on device writing" in err
    assert "the previous output is left as it was" in " ".join(err.split())
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert leftovers(out) == []


@pytest.mark.slow  # two stage processes, each starting Prefect's embedded API (~30 s each)
def test_a_stage_command_that_keeps_nothing_says_it_in_one_line_and_the_traceback_only_with_debug(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.mp4").write_bytes(b"not a video")
    (tmp_path / "params.yaml").write_text("ingest:\n  sources: [src]\n")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / ".prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    said = {}
    for debug in ("0", "1"):
        done = subprocess.run(
            [sys.executable, "-m", "flows.ingest", "--out", "data/ingest"],
            cwd=tmp_path,
            env={**env, "LTXVOICE_DEBUG": debug},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 1, done.stderr
        said[debug] = done.stdout + done.stderr
    assert "ingest: error: no usable clips from 1 file(s) in src: 1 unreadable" in said["0"]
    assert "Traceback" not in said["0"]
    assert "Traceback (most recent call last)" in said["1"] and "NothingKept" in said["1"]
