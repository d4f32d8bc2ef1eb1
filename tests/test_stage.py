from __future__ import annotations

import json
from pathlib import Path

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
