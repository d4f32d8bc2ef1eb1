"""Typed records and their Parquet tables.

A record is a frozen dataclass; its fields *are* the table schema (Python type -> polars dtype).
A stage that adds columns declares them as a dataclass of its own (see ``ltxvoice.ingest.Clip``
and ``ltxvoice.records.Quarantined``), so tests can check every table against its declaration.
Tables are written sorted and compressed the same way every time, so equal records give equal bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")

_SCALARS: dict[type, pl.DataType] = {
    str: pl.String(),
    int: pl.Int64(),
    float: pl.Float64(),
    bool: pl.Boolean(),
}


def _dtype(tp: Any) -> pl.DataType:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union type {tp}")
        return _dtype(args[0])
    if origin in (list, tuple, Sequence):
        (inner,) = typing.get_args(tp)[:1]
        return pl.List(_dtype(inner))
    if tp in _SCALARS:
        return _SCALARS[tp]
    raise TypeError(f"unsupported record field type {tp!r}")


def schema_of(*record_types: type) -> pl.Schema:
    """The polars schema of one record type, or of several concatenated (a stage's input + its columns)."""
    columns: dict[str, pl.DataType] = {}
    for cls in record_types:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in columns:
                raise TypeError(f"column {f.name!r} of {cls.__name__} is already declared")
            columns[f.name] = _dtype(hints[f.name])
    return pl.Schema(columns)


def to_frame(records: Iterable[Any], record_type: type, sort_by: Sequence[str] = ()) -> pl.DataFrame:
    """Records -> DataFrame with exactly the record type's schema (an empty table keeps its columns)."""
    schema = schema_of(record_type)
    rows = [dataclasses.asdict(r) for r in records]
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return frame.sort(list(sort_by), maintain_order=True) if sort_by else frame


def from_frame(frame: pl.DataFrame, record_type: type[R]) -> list[R]:
    """DataFrame rows -> records (extra columns are ignored, missing ones are an error)."""
    names = [f.name for f in dataclasses.fields(record_type)]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"table has no column(s) {missing} needed by {record_type.__name__}")
    return [record_type(**row) for row in frame.select(names).iter_rows(named=True)]


def check_schema(frame: pl.DataFrame, expected: pl.Schema, what: str) -> None:
    """Raise ValueError naming every column that is missing, unexpected or of the wrong type."""
    problems = []
    for name, dtype in expected.items():
        if name not in frame.schema:
            problems.append(f"missing column {name!r}")
        elif frame.schema[name] != dtype:
            problems.append(f"column {name!r} is {frame.schema[name]}, expected {dtype}")
    extra = [c for c in frame.columns if c not in expected]
    if extra:
        problems.append(f"unexpected column(s) {extra}")
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))


def write_table(frame: pl.DataFrame, path: Path) -> Path:
    """Write Parquet deterministically (fixed compression, no per-run metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.write_parquet(tmp, compression="zstd", compression_level=3, statistics=True)
    tmp.replace(path)
    return path


def read_table(path: Path, expected: pl.Schema | None = None) -> pl.DataFrame:
    """Read a Parquet table; with ``expected``, check its schema."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: table not found (has the stage that writes it run?)")
    frame = pl.read_parquet(path)
    if expected is not None:
        check_schema(frame, expected, str(path))
    return frame


@dataclasses.dataclass(frozen=True)
class Quarantined:
    """An input a stage could not use: the file, which item of it, and why, in words."""

    stage: str
    path: str
    item_id: str | None
    reason: str
    detail: str


QUARANTINE_SORT = ("path", "item_id", "reason")


def quarantine_counts(items: Iterable[Quarantined]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for q in items:
        counts[q.reason] = counts.get(q.reason, 0) + 1
    return dict(sorted(counts.items()))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def content_id(*parts: object, length: int = 16) -> str:
    """A short, stable id from content: the same parts always give the same id."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def add_columns(frame: pl.DataFrame, added: dict[str, Any], record_type: type, key: str = "clip_id") -> pl.DataFrame:
    """A stage's output table: the input rows that got a record (keyed by ``key``), with the record's
    columns appended in declaration order. Rows without a record were quarantined by the stage."""
    extra = to_frame(added.values(), record_type).with_columns(pl.Series(key, list(added), dtype=pl.String))
    return frame.join(extra, on=key, how="inner", maintain_order="left")
