from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from ltxvoice.records import (
    Quarantined,
    check_schema,
    content_id,
    from_frame,
    quarantine_counts,
    read_table,
    schema_of,
    sha256_file,
    to_frame,
    write_table,
)


@dataclass(frozen=True)
class Row:
    id: str
    n: int
    x: float
    ok: bool
    note: str | None


@dataclass(frozen=True)
class Added:
    score: float


def test_schema_follows_the_dataclass() -> None:
    assert schema_of(Row) == pl.Schema(
        {"id": pl.String, "n": pl.Int64, "x": pl.Float64, "ok": pl.Boolean, "note": pl.String}
    )
    assert list(schema_of(Row, Added)) == ["id", "n", "x", "ok", "note", "score"]
    with pytest.raises(TypeError, match="already declared"):
        schema_of(Row, Row)


def test_round_trip_and_empty_table_keeps_columns(tmp_path: Path) -> None:
    rows = [Row("b", 2, 0.5, True, None), Row("a", 1, 1.5, False, "hi")]
    frame = to_frame(rows, Row, sort_by=["id"])
    assert frame["id"].to_list() == ["a", "b"]
    path = write_table(frame, tmp_path / "t.parquet")
    back = from_frame(read_table(path, schema_of(Row)), Row)
    assert back == sorted(rows, key=lambda r: r.id)
    empty = to_frame([], Row)
    assert empty.schema == schema_of(Row) and empty.height == 0


def test_tables_are_byte_identical_for_equal_records(tmp_path: Path) -> None:
    rows = [Row(str(i), i, i / 3, i % 2 == 0, None) for i in range(50)]
    a = write_table(to_frame(rows, Row), tmp_path / "a.parquet")
    b = write_table(to_frame(list(rows), Row), tmp_path / "b.parquet")
    assert sha256_file(a) == sha256_file(b)


def test_check_schema_names_every_problem() -> None:
    frame = pl.DataFrame({"id": ["a"], "n": ["1"], "extra": [1]})
    with pytest.raises(ValueError) as info:
        check_schema(frame, schema_of(Row), "t.parquet")
    msg = str(info.value)
    assert "column 'n' is String, expected Int64" in msg
    assert "missing column 'x'" in msg
    assert "unexpected column(s) ['extra']" in msg


def test_read_table_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="table not found"):
        read_table(tmp_path / "nope.parquet")


def test_content_id_is_stable_and_sensitive() -> None:
    assert content_id("abc", 0, 121, 25.0) == content_id("abc", 0, 121, 25.0)
    assert len(content_id("abc")) == 16
    assert content_id("abc", 0) != content_id("abc", 1)
    # separators matter: ("ab", "c") is not ("a", "bc")
    assert content_id("ab", "c") != content_id("a", "bc")


def test_quarantine_counts() -> None:
    q = [
        Quarantined("ingest", "a", None, "silent", ""),
        Quarantined("ingest", "b", None, "silent", ""),
        Quarantined("ingest", "c", None, "empty_file", ""),
    ]
    assert quarantine_counts(q) == {"empty_file": 1, "silent": 2}
