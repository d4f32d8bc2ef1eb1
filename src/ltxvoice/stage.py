"""What every stage does with its outputs: own its folder, record provenance, count, summarise."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import re
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


class NothingKept(StageError):
    """The stage ran to its end and wrote its whole output (tables, quarantine, metrics), but kept
    nothing: the output is complete (the quarantine says why), the run still fails."""


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


# ------------------------------------------------------------------------------------ atomic outputs
#
# A stage run writes its output folder as a temporary sibling, ``<out>.partial-<pid>``, and only a run
# that finished moves it into place (``commit_output``): the previous output is renamed aside to
# ``<out>.replaced-<pid>``, the new one renamed in, and only then the previous one removed. A run that
# dies (kill -9, a full disk) leaves the previous output, or nothing while the two renames run, never a
# half-written one that DVC could cache; its temporary siblings are removed by the next run
# (``remove_leftovers``, under the output's lock). A run that ends keeping nothing (every input
# quarantined, say by a full disk) does not replace the output either: its folder is kept beside it as
# ``<out>.failed-<pid>`` until the next run, to be read. Records written during the run name files under the
# temporary folder; ``settle_paths`` rewrites them to the final folder before the move.

PARTIAL = ".partial-"
REPLACED = ".replaced-"
FAILED = ".failed-"  # a run that ended keeping nothing: its whole output, kept aside to be read
# files whose bytes may be rewritten as text when they name the temporary folder
TEXT_SUFFIXES = frozenset({".json", ".jsonl", ".md", ".csv", ".tsv", ".txt", ".yaml", ".yml", ".html", ".svg"})


def partial_path(out: Path, pid: int) -> Path:
    """The temporary sibling a run with process id ``pid`` writes ``out`` as."""
    return out.with_name(f"{out.name}{PARTIAL}{pid}")


def leftovers(out: Path) -> list[Path]:
    """Temporary siblings of ``out`` (``<out>.partial-<pid>``, ``<out>.replaced-<pid>``, ``<out>.failed-<pid>``)."""
    if not out.parent.is_dir():
        return []
    found = []
    for p in out.parent.iterdir():
        for tag in (PARTIAL, REPLACED, FAILED):
            rest = p.name.removeprefix(out.name + tag)
            if rest != p.name and rest.isdigit():
                found.append(p)
    return sorted(found)


def remove_leftovers(out: Path) -> list[Path]:
    """Remove what runs that died left beside ``out``; call it only while holding the output's lock
    (then no live run can own them). Returns what was removed."""
    found = leftovers(out)
    for p in found:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, onerror=_writable_then_retry)
        else:
            p.unlink()
    return found


def _writable_then_retry(func: Any, path: str, _exc: Any) -> None:
    """A run that died may have left a read-only folder (made so while it wrote): make its parent
    writable (it is ours, under the output lock) and try once more."""
    parent = Path(path).parent
    parent.chmod(parent.stat().st_mode | 0o700)
    if Path(path).is_dir() and not Path(path).is_symlink():
        Path(path).chmod(Path(path).stat().st_mode | 0o700)
    func(path)


def _rewrite_table(path: Path, old: str, new: str) -> None:
    frame = pl.read_parquet(path)
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            exprs.append(pl.col(name).str.replace_all(old, new, literal=True))
        elif dtype == pl.List(pl.String):
            exprs.append(pl.col(name).list.eval(pl.element().str.replace_all(old, new, literal=True)))
    settled = frame.with_columns(exprs) if exprs else frame
    if old in json.dumps(settled.to_dicts(), default=str):
        raise StageError(f"{path}: a column of a type that cannot be rewritten names the temporary folder {old}")
    write_table(settled, path)


def _names(path: Path, token: bytes) -> bool:
    """Whether the file holds ``token`` (read in blocks, so large files are not loaded whole)."""
    tail = b""
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            if token in tail + block:
                return True
            tail = block[-len(token) :]
    return False


def settle_paths(partial: Path, out: Path) -> list[Path]:
    """Rewrite every mention of the temporary folder ``partial`` (relative, absolute or resolved: its
    name) as ``out`` in the files under it: string columns of Parquet tables, text files, symlink
    targets. A binary file naming it is an error (it would point at a folder that is about to go).
    Returns the files changed."""
    old, new = partial.name, out.name
    # the folder's own name followed by anything but another digit of the pid
    pattern = re.compile(re.escape(old.encode()) + rb"(?![0-9])")
    changed = []
    for path in sorted(partial.rglob("*")):
        if path.is_symlink():
            target = os.readlink(path)
            if old in target:
                path.unlink()
                path.symlink_to(target.replace(old, new))
                changed.append(path)
        elif not path.is_file():
            continue
        elif path.suffix == ".parquet":
            if old in json.dumps(pl.read_parquet(path).to_dicts(), default=str):
                _rewrite_table(path, old, new)
                changed.append(path)
        elif _names(path, old.encode()):
            if path.suffix not in TEXT_SUFFIXES:
                raise StageError(
                    f"{path}: this binary file names the temporary folder {old}; cannot move it into place"
                )
            path.write_bytes(pattern.sub(new.encode(), path.read_bytes()))
            changed.append(path)
    return changed


def _owned(folder: Path) -> bool:
    return folder.is_dir() and (not any(folder.iterdir()) or (folder / MARKER).is_file())


def _link_copy(src: Path, dst: Path) -> None:
    """``src`` at ``dst`` without copying bytes where the file system allows (hard links)."""

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.is_symlink():
        dst.symlink_to(os.readlink(src))
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True, copy_function=link)
    else:
        link(str(src), str(dst))


def commit_output(partial: Path, out: Path, stage: str) -> None:
    """Move a finished run's folder ``partial`` into place as ``out`` (see the notes above).

    What the previous ``out`` holds that the run did not write (DVC's ``.gitignore``, a metrics file of
    a stage that no longer writes it) is kept, as writing in place kept it, unless the run owns the
    whole folder (the stage marker at its top). A folder the stage marks as its own
    (``prepare_output_dir``) never replaces a folder of the user's: that is refused, as clearing it is."""
    settle_paths(partial, out)
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise StageError(f"{stage}: output {out} exists and is not a folder; the new output is left in {partial}")
        whole = (partial / MARKER).is_file()
        mine = [out] if whole else [out / p.name for p in partial.iterdir() if (p / MARKER).is_file()]
        for folder in mine:
            if folder.exists() and not _owned(folder):
                raise StageError(
                    f"{stage}: refusing to replace {folder}: it holds files this stage did not write "
                    f"(the new output is left in {partial})"
                )
        if not whole:
            for entry in out.iterdir():
                if not (partial / entry.name).exists() and not (partial / entry.name).is_symlink():
                    _link_copy(entry, partial / entry.name)
        replaced = out.with_name(partial.name.replace(PARTIAL, REPLACED))
        out.rename(replaced)
        partial.rename(out)
        shutil.rmtree(replaced)
    else:
        partial.rename(out)
