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

from pydantic import BaseModel
from rich.table import Table

from ltxvoice import kernels
from ltxvoice.records import Quarantined, quarantine_counts

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


def write_provenance(path: Path, stage: str, params: BaseModel, tools: Mapping[str, str]) -> Path:
    """Record what made a stage's artifacts: its params section, the versions of its tools and the CPU
    kernels the numerical libraries were held to (``ltxvoice.kernels``)."""
    return write_json(path, {"stage": stage, "params": params.model_dump(mode="json"), "versions": dict(tools),
                             "cpu_kernels": kernels.describe()})


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
