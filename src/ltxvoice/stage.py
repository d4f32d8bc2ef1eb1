"""What every stage does with its outputs: own its folder, record provenance, count, summarise."""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel
from rich.table import Table

from ltxvoice import kernels
from ltxvoice.records import QUARANTINE_SORT, Quarantined, quarantine_counts, to_frame, write_table

MARKER = ".ltxvoice-stage"


class StageError(RuntimeError):
    """A stage could not produce anything usable. The message says why, for a user."""


def prepare_output_dir(path: Path, stage: str) -> Path:
    """Empty and (re)create a stage's output folder.

    Only a folder this project made (it holds the stage marker) or an empty one is ever cleared, so
    pointing a stage at a folder of your own files fails instead of deleting them."""
    if path.exists():
        if not path.is_dir():
            raise StageError(f"{stage}: output {path} exists and is not a folder")
        marker = path / MARKER
        if any(path.iterdir()) and not marker.is_file():
            raise StageError(f"{stage}: refusing to clear {path}: it holds files this stage did not write")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text(f"{stage}\n", encoding="utf-8")
    return path


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of the given distributions (plus Python and ltxvoice)."""
    found = {"python": platform.python_version()}
    for name in ("ltxvoice", *packages):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Pretty, key-sorted JSON (stable bytes for equal content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_provenance(
    path: Path, stage: str, params: BaseModel, tools: Mapping[str, str], more: Mapping[str, Any] | None = None
) -> Path:
    """Record what made a stage's artifacts: its params section, the versions of its tools, the CPU
    kernels the numerical libraries were held to (``ltxvoice.kernels``) and whatever else the stage
    adds (``more``: model fingerprints, the device, file hashes)."""
    return write_json(
        path,
        {
            **(more or {}),
            "stage": stage,
            "params": params.model_dump(mode="json"),
            "versions": dict(tools),
            "cpu_kernels": kernels.describe(),
        },
    )


@dataclass
class StageResult:
    """What one stage run leaves besides its own artifacts, in one record for
    :func:`write_result`: its tables, quarantine, provenance and metrics, and the counts of its summary.

    ``metrics`` is what ``dvc metrics`` shows: by default the counts (inputs, kept, quarantined by
    reason) plus ``extra``; a stage with numbers of its own (select's dataset report, train's losses)
    gives them instead. ``shown`` are numbers for the summary only (timings, speeds: never metrics,
    which must not change from run to run). ``rejected`` are items the stage's table keeps but marks
    as not kept (select's rejected pairs): counted in the summary, not written to the quarantine."""

    stage: str
    params: BaseModel
    tools: Mapping[str, str]
    inputs: int
    kept: int
    quarantined: list[Quarantined] = field(default_factory=list)
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    extra: Mapping[str, float | int] = field(default_factory=dict)
    metrics: Mapping[str, Any] | None = None
    shown: Mapping[str, float | int] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    rejected: list[Quarantined] = field(default_factory=list)
    write_quarantine: bool = True
    write_metrics: bool = True

    def summary(self, seconds: float = 0.0) -> Summary:
        return Summary(
            stage=self.stage,
            inputs=self.inputs,
            kept=self.kept,
            quarantined=self.rejected + self.quarantined,
            seconds=seconds,
            extra={**self.extra, **self.shown},
        )

    def metrics_data(self) -> dict[str, Any]:
        if self.metrics is not None:
            return dict(self.metrics)
        return Summary(
            stage=self.stage, inputs=self.inputs, kept=self.kept, quarantined=self.quarantined, extra=dict(self.extra)
        ).metrics()


def write_result(out_dir: Path, result: StageResult) -> dict[str, Any]:
    """Write a stage's tables, ``quarantine.parquet``, ``provenance.json`` and ``metrics.json`` under
    ``out_dir`` (the same bytes for the same result); returns the metrics."""
    for name, table in result.tables.items():
        write_table(table, out_dir / name)
    if result.write_quarantine:
        write_table(to_frame(result.quarantined, Quarantined, sort_by=QUARANTINE_SORT), out_dir / "quarantine.parquet")
    write_provenance(out_dir / "provenance.json", result.stage, result.params, result.tools, result.provenance)
    metrics = result.metrics_data()
    if result.write_metrics:
        write_json(out_dir / "metrics.json", metrics)
    return metrics


@dataclass
class Summary:
    """The numbers a stage reports at the end of a run (also its DVC metrics, minus the clock)."""

    stage: str
    inputs: int
    kept: int
    quarantined: list[Quarantined] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict[str, float | int] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """Deterministic numbers only (no timing), for ``dvc metrics``."""
        return {
            "inputs": self.inputs,
            "kept": self.kept,
            "quarantined": len(self.quarantined),
            "quarantined_by_reason": quarantine_counts(self.quarantined),
            **self.extra,
        }

    def table(self) -> Table:
        table = Table(title=f"stage {self.stage}", show_header=True, header_style="bold")
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("inputs", str(self.inputs))
        table.add_row("kept", f"[green]{self.kept}[/green]")
        for reason, n in quarantine_counts(self.quarantined).items():
            table.add_row(f"quarantined: {reason}", f"[yellow]{n}[/yellow]")
        for key, value in self.extra.items():
            table.add_row(key, _fmt(value))
        table.add_row("seconds", f"{self.seconds:.1f}")
        return table


def _fmt(value: float | int) -> str:
    if isinstance(value, float) and not math.isnan(value) and value != int(value):
        return f"{value:.3f}"
    return str(value)


def first_few(items: Iterable[str], n: int = 3) -> str:
    items = list(items)
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")
