from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ltxvoice.config import IngestParams
from ltxvoice.records import Quarantined
from ltxvoice.stage import MARKER, StageError, Summary, prepare_output_dir, write_provenance


def test_prepare_output_dir_owns_only_its_folders(tmp_path: Path) -> None:
    out = prepare_output_dir(tmp_path / "stage", "ingest")
    (out / "old.mp4").write_bytes(b"stale")
    prepare_output_dir(out, "ingest")
    assert sorted(p.name for p in out.iterdir()) == [MARKER]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "holiday.mp4").write_bytes(b"precious")
    with pytest.raises(StageError, match="refusing to clear"):
        prepare_output_dir(mine, "ingest")
    assert (mine / "holiday.mp4").read_bytes() == b"precious"


def test_summary_metrics_have_no_clock() -> None:
    q = [Quarantined("ingest", "a", None, "silent", "x")]
    s = Summary(stage="ingest", inputs=3, kept=2, quarantined=q, seconds=12.5, extra={"n": 1})
    assert s.metrics() == {"inputs": 3, "kept": 2, "quarantined": 1, "quarantined_by_reason": {"silent": 1}, "n": 1}
    assert s.table().row_count == 5  # inputs, kept, one reason, n, seconds


def test_provenance_records_params_and_versions(tmp_path: Path) -> None:
    path = write_provenance(tmp_path / "p.json", "ingest", IngestParams(sources=[Path("x")]), {"ffmpeg": "5.1"})
    data = json.loads(path.read_text())
    assert data["stage"] == "ingest" and data["params"]["frames"] == 121 and data["versions"] == {"ffmpeg": "5.1"}


def _partial_with_records(tmp_path: Path, pid: int = 4242) -> tuple[Path, Path]:
    from ltxvoice.records import write_table
    from ltxvoice.stage import partial_path

    out = tmp_path / "data" / "ingest"
    partial = partial_path(out, pid)
    (partial / "clips").mkdir(parents=True)
    (partial / "clips" / MARKER).write_text("ingest\n")
    (partial / "clips" / "a.wav").write_bytes(b"RIFF audio")
    rows = {"audio_path": [str(partial / "clips" / "a.wav")], "paths": [[str(partial.resolve() / "clips")]]}
    write_table(pl.DataFrame(rows), partial / "clips.parquet")
    (partial / "plan.json").write_text(json.dumps({"where": f"{partial}/clips", "other": f"{partial.name}9"}))
    return out, partial


def test_settle_paths_rewrites_tables_and_text_to_the_final_folder(tmp_path: Path) -> None:
    from ltxvoice.records import write_table
    from ltxvoice.stage import settle_paths

    out, partial = _partial_with_records(tmp_path)
    changed = settle_paths(partial, out)
    assert sorted(p.name for p in changed) == ["clips.parquet", "plan.json"]
    table = pl.read_parquet(partial / "clips.parquet")
    assert table["audio_path"].to_list() == [str(out / "clips" / "a.wav")]
    assert table["paths"].to_list() == [[str(out.resolve() / "clips")]]
    # the same bytes as a table written with the final paths in the first place
    clean = tmp_path / "clean.parquet"
    write_table(table, clean)
    assert clean.read_bytes() == (partial / "clips.parquet").read_bytes()
    plan = json.loads((partial / "plan.json").read_text())
    assert plan == {"where": f"{out}/clips", "other": f"{partial.name}9"}  # another pid's folder is not this one
    (partial / "model.bin").write_bytes(b"\x00weights\x00" + str(partial).encode())
    with pytest.raises(StageError, match="binary file names the temporary folder"):
        settle_paths(partial, out)


def test_commit_output_replaces_only_when_complete_and_keeps_what_the_run_did_not_write(tmp_path: Path) -> None:
    from ltxvoice.stage import commit_output, leftovers, remove_leftovers

    out, partial = _partial_with_records(tmp_path)
    (out / "clips").mkdir(parents=True)
    (out / "clips" / MARKER).write_text("ingest\n")
    (out / "clips" / "old.wav").write_bytes(b"old")
    (out / ".gitignore").write_text("/clips\n")  # DVC's, not the stage's
    commit_output(partial, out, "ingest")
    assert not partial.exists() and leftovers(out) == []
    assert sorted(p.name for p in (out / "clips").iterdir()) == [MARKER, "a.wav"]  # old.wav went with the old output
    assert (out / ".gitignore").read_text() == "/clips\n"
    assert pl.read_parquet(out / "clips.parquet")["audio_path"].to_list() == [str(out / "clips" / "a.wav")]

    # a folder of the user's where the stage's folder goes is refused, and left as it was
    out2, partial2 = _partial_with_records(tmp_path / "two", pid=77)
    (out2 / "clips").mkdir(parents=True)
    (out2 / "clips" / "holiday.mp4").write_bytes(b"precious")
    with pytest.raises(StageError, match="refusing to replace"):
        commit_output(partial2, out2, "ingest")
    assert (out2 / "clips" / "holiday.mp4").read_bytes() == b"precious"
    assert remove_leftovers(out2) == [partial2] and not partial2.exists()


def test_leftovers_of_a_dead_run_are_removed_even_when_read_only(tmp_path: Path) -> None:
    from ltxvoice.stage import partial_path, remove_leftovers

    out = tmp_path / "out"
    dead = partial_path(out, 12345)
    (dead / "clips").mkdir(parents=True)
    (dead / "clips" / "a.wav").write_bytes(b"half")
    for folder in (dead / "clips", dead):
        folder.chmod(0o555)
    mine = tmp_path / "out.partial-notapid"  # not a temporary folder of this project: left alone
    mine.mkdir()
    assert remove_leftovers(out) == [dead]
    assert not dead.exists() and mine.is_dir()
