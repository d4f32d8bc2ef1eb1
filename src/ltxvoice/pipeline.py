"""Whole-pipeline runs through DVC, for schedules and CI.

DVC decides what runs: its lock file and hashes are the one source of truth, so this module never
keeps its own idea of what is stale. It asks DVC's Python API (the calls behind ``dvc status``,
``dvc repro``, ``dvc metrics``, ``dvc pull/push``) and turns the answers into plain records:
which stages ran and why, which were skipped, how the metrics moved, and which reports and plots
the stages wrote (for publishing). No Prefect here; ``flows/pipeline.py`` wraps these calls.

The stage list is read from the project (``dvc.yaml`` through DVC's index), never hard-coded, so
stages added later are picked up as they are.

DVC resolves paths against the working directory, so every call that opens the project runs with
the working directory set to the project root for its duration (:func:`open_repo`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import yaml

from ltxvoice import lifeline, locks

if TYPE_CHECKING:
    from dvc.repo import Repo

T = TypeVar("T")
Outcome = Literal["ran", "skipped", "failed", "not reached", "not a target"]

LOCK_NAME = "ltxvoice-pipeline.lock"
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
DATA_TYPES = (".csv", ".tsv", ".json", ".yaml", ".yml")


class PipelineError(RuntimeError):
    """The pipeline could not be reproduced. ``outcomes`` says how far it got, stage by stage."""

    def __init__(self, message: str, outcomes: Mapping[str, Outcome] | None = None) -> None:
        super().__init__(message)
        self.outcomes: dict[str, Outcome] = dict(outcomes or {})

    def __reduce__(self) -> tuple[Any, ...]:  # keep the outcomes when Prefect stores or ships the error
        return (type(self), (str(self), self.outcomes))


class WorkspaceBusy(RuntimeError):
    """Another pipeline run holds the workspace. The message names it."""


# ----------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class StageRun:
    """One stage in one pipeline run: what happened to it, and why DVC thought it was stale."""

    name: str
    outcome: Outcome
    why: str = ""


@dataclass(frozen=True)
class MetricChange:
    """One metric that differs between two snapshots (``change`` is new - old for numbers)."""

    path: str
    metric: str
    old: Any
    new: Any
    change: float | None


@dataclass
class PipelineResult:
    """What a whole-pipeline run did."""

    stages: list[StageRun]
    changes: list[MetricChange] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    pushed: int | None = None

    @property
    def ran(self) -> list[str]:
        return [s.name for s in self.stages if s.outcome == "ran"]

    @property
    def skipped(self) -> list[str]:
        return [s.name for s in self.stages if s.outcome == "skipped"]

    def summary(self) -> dict[str, Any]:
        """Plain data (JSON-ready) for a flow's return value or a CI log."""
        return {
            "ran": self.ran,
            "skipped": self.skipped,
            "failed": [s.name for s in self.stages if s.outcome == "failed"],
            "not_reached": [s.name for s in self.stages if s.outcome == "not reached"],
            "not_targets": [s.name for s in self.stages if s.outcome == "not a target"],
            "metric_changes": [c.__dict__ for c in self.changes],
            "error": self.error,
            "pushed": self.pushed,
            "seconds": round(self.seconds, 1),
        }


# ------------------------------------------------------------------------------------ talking to DVC


@contextlib.contextmanager
def open_repo(root: Path | str) -> Iterator[Repo]:
    """DVC's repo object for the project at ``root``, with the working directory set to ``root``
    while it is open (DVC resolves stage and output paths against it)."""
    from dvc.repo import Repo

    root = Path(root).resolve()
    if not (root / ".dvc").is_dir():
        raise PipelineError(f"{root}: not a DVC project (no .dvc folder; run `dvc init` there)")
    with contextlib.chdir(root), Repo(str(root)) as repo:
        yield repo


@contextlib.contextmanager
def dvc_log(sink: Callable[[str], None] | None) -> Iterator[None]:
    """Send DVC's own progress lines ("Running stage 'x'", "didn't change, skipping", ...) to
    ``sink`` (and only there) while inside the block: DVC run as a library logs instead of printing."""
    if sink is None:
        yield
        return
    forward = sink

    class _Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage().strip()
            if text:
                forward(text)

    log = logging.getLogger("dvc")
    saved = (list(log.handlers), log.level, log.propagate)
    log.handlers = [_Forward(level=logging.INFO)]  # instead of DVC's own console handlers, if set up
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.handlers, log.level, log.propagate = saved[0], saved[1], saved[2]


def stage_names(root: Path | str) -> list[str]:
    """Every stage of the project (dvc.yaml stages and .dvc data sources), upstream first; stages
    that do not depend on each other keep their order in the files."""
    with open_repo(root) as repo:
        return stage_names_of(repo)


def stage_names_of(repo: Repo) -> list[str]:
    """:func:`stage_names` for an open repo."""
    import networkx as nx

    position = {stage: i for i, stage in enumerate(repo.index.stages)}
    order = nx.lexicographical_topological_sort(repo.index.graph.reverse(), key=lambda s: f"{position.get(s, 0):09d}")
    return [stage.addressing for stage in order]


def stale_stages(root: Path | str) -> dict[str, str]:
    """``dvc status``: the stages DVC would rerun because something of their own changed, each with
    a one-line reason. Stages further down run too when an upstream output changes; DVC finds that
    out while reproducing, so it is not predicted here."""
    with open_repo(root) as repo:
        status = repo.status()
    return {name: describe_status(entries) for name, entries in status.items()}


def describe_status(entries: Sequence[Any], limit: int = 4) -> str:
    """One line from a stage's ``dvc status --json`` entries, e.g.
    ``params.yaml: tones modified; data/shift/clips.parquet: modified`` (the first ``limit`` changes)."""
    parts: list[str] = []
    for entry in entries:
        if isinstance(entry, str):  # "changed checksum", "always changed"
            parts.append(entry)
            continue
        for kind, changes in entry.items():
            if not isinstance(changes, Mapping):
                parts.append(f"{kind}: {changes}")
                continue
            for path, change in changes.items():
                if isinstance(change, Mapping):  # params: {section: modified}
                    inner = ", ".join(f"{k} {v}" for k, v in change.items())
                    parts.append(f"{path}: {inner}")
                else:
                    parts.append(f"{path}: {change}")
    shown = "; ".join(parts[:limit])
    return shown + (f" and {len(parts) - limit} more" if len(parts) > limit else "")


def metrics_snapshot(root: Path | str) -> dict[str, dict[str, Any]]:
    """The project's current metrics (``dvc metrics show``), flattened: {file: {"a.b": value}}.
    A metrics file that is missing or unreadable is left out."""
    with open_repo(root) as repo:
        shown = repo.metrics.show(hide_workspace=False, on_error="return")
    rev: Mapping[str, Any] = shown.get("workspace") or next(iter(shown.values()), {})
    out: dict[str, dict[str, Any]] = {}
    for path, entry in (rev.get("data") or {}).items():
        if isinstance(entry, Mapping) and isinstance(entry.get("data"), Mapping):
            out[path] = flatten(entry["data"])
    return out


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``), as DVC shows them."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def diff_metrics(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> list[MetricChange]:
    """Every metric that was added, removed or changed between two snapshots, sorted by file and name."""
    changes: list[MetricChange] = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path, {}), new.get(path, {})
        for key in sorted(set(a) | set(b)):
            before, after = a.get(key), b.get(key)
            if before == after and (key in a) == (key in b):
                continue
            changes.append(MetricChange(path, key, before, after, _delta(before, after)))
    return changes


def _delta(old: Any, new: Any) -> float | None:
    if _is_number(old) and _is_number(new):
        return round(float(new) - float(old), 10)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def changes_from_dvc_diff(diff: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[MetricChange]:
    """The ``diff`` part of ``dvc metrics diff --json`` / ``dvc params diff --json`` as records."""
    return [
        MetricChange(path, key, v.get("old"), v.get("new"), _delta(v.get("old"), v.get("new")))
        for path in sorted(diff)
        for key, v in sorted(diff[path].items())
    ]


def reproduce(
    root: Path | str,
    targets: Sequence[str] | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Outcome]:
    """``dvc repro [targets]`` through DVC's public Python API, one stage at a time in the order
    ``dvc repro`` takes (upstream first): stage name -> "ran" or "skipped" as DVC decided. A failing
    stage raises :class:`PipelineError` carrying what happened so far; the stages after it are not run.

    Stage commands run with this interpreter's folder first on PATH, so ``python -m flows.<stage>``
    in dvc.yaml means this environment's Python, as when ``dvc repro`` runs in the activated venv."""
    from dvc.exceptions import DvcException

    outcomes: dict[str, Outcome] = {}
    env_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    # the stage processes watch this process and stop if it is killed (ltxvoice.lifeline)
    with open_repo(root) as repo, dvc_log(log), _environ(PATH=env_path, **{lifeline.PARENT_ENV: str(os.getpid())}):
        # as `dvc repro`: the stages of the given targets (default: the dvc.yaml in the project root) and
        # every stage they depend on; the recipes' pipelines are targets of their own
        wanted = {s.addressing for t in (targets or ["dvc.yaml"]) for s in repo.stage.collect(t, with_deps=True)}
        order = [name for name in stage_names_of(repo) if name in wanted]
        for name in order:
            try:
                done = repo.reproduce(name, single_item=True, force=force)
            except DvcException as exc:
                outcomes[name] = "failed"
                cause = f": {exc.__cause__}" if exc.__cause__ else ""
                raise PipelineError(f"dvc repro: {exc}{cause}", outcomes) from exc
            outcomes[name] = "ran" if done else "skipped"
    return outcomes


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def pull(root: Path | str, *, log: Callable[[str], None] | None = None) -> int:
    """``dvc pull --allow-missing``: fetch and check out whatever the default remote has of the
    current lock file; what it lacks is left for ``dvc repro`` to rebuild. Returns the files fetched."""
    from dvc.exceptions import DvcException

    with open_repo(root) as repo, dvc_log(log):
        if not repo.config.get("core", {}).get("remote"):
            return 0
        try:
            done = repo.pull(allow_missing=True)
        except DvcException as exc:
            raise PipelineError(f"dvc pull: {exc}") from exc
    stats = done.get("stats", {}) if isinstance(done, Mapping) else {}
    return int(stats.get("fetched", 0))


def push(root: Path | str, *, log: Callable[[str], None] | None = None) -> int:
    """``dvc push`` to the default remote. Returns the number of files sent."""
    from dvc.exceptions import DvcException

    with open_repo(root) as repo, dvc_log(log):
        if not repo.config.get("core", {}).get("remote"):
            raise PipelineError("dvc push: no default remote (see `dvc remote list`; README, Operations)")
        try:
            return int(repo.push() or 0)
        except DvcException as exc:
            raise PipelineError(f"dvc push: {exc}") from exc


def assemble(
    order: Sequence[str],
    stale: Mapping[str, str],
    outcomes: Mapping[str, Outcome],
    before: Mapping[str, Mapping[str, Any]],
    after: Mapping[str, Mapping[str, Any]],
    *,
    error: str | None = None,
    seconds: float = 0.0,
) -> PipelineResult:
    """A run's result from its parts: every stage of ``order`` with its outcome (a stage DVC never
    visited is "not reached" after a failure, else "not a target": the run named other stages)
    and the reason it was stale, plus the metric changes between the two snapshots."""
    default: Outcome = "not reached" if error else "not a target"
    names = list(order) + [n for n in outcomes if n not in order]
    stages = [StageRun(n, outcomes.get(n, default), stale.get(n, "")) for n in names]
    for i, s in enumerate(stages):
        if s.outcome == "ran" and not s.why:
            stages[i] = StageRun(s.name, s.outcome, "an upstream output changed")
    return PipelineResult(stages=stages, changes=diff_metrics(before, after), error=error, seconds=seconds)


class Step(Protocol):
    """How :func:`run` calls each of its steps: ``step(name, fn, *args, **kwargs)`` returns
    ``fn(*args, **kwargs)``. The Prefect flow passes one that runs each step as a task."""

    def __call__(self, name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


def direct(name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """The plain :class:`Step`: call it."""
    return fn(*args, **kwargs)


def run(
    root: Path | str,
    targets: Sequence[str] | None = None,
    *,
    force: bool = False,
    pull_first: bool = False,
    push_after: bool = False,
    log: Callable[[str], None] | None = None,
    step: Step = direct,
) -> PipelineResult:
    """One whole-pipeline run, the only sequence there is (``ltxvoice pipeline``, the scheduled
    deployment and CI all come here): optionally pull, find what is stale, snapshot the metrics,
    reproduce, snapshot them again, and push when something ran and ``push_after``. A failing stage
    does not raise: the result carries the error and how far it got (the caller decides the exit
    code). Each step goes through ``step`` (its names: pull, stages, stale, metrics, repro, push)."""
    started = time.perf_counter()
    if pull_first:
        step("pull", pull, root, log=log)
    order = step("stages", stage_names, root)
    stale = step("stale", stale_stages, root)
    before = step("metrics", metrics_snapshot, root)
    error: str | None = None
    try:
        outcomes = step("repro", reproduce, root, targets, force=force, log=log)
    except PipelineError as exc:
        outcomes, error = exc.outcomes, str(exc)
    result = assemble(
        order,
        stale,
        outcomes,
        before,
        step("metrics", metrics_snapshot, root),
        error=error,
        seconds=time.perf_counter() - started,
    )
    if push_after and not error and result.ran:
        result.pushed = step("push", push, root, log=log)
    return result


# ------------------------------------------------------------------------------------------ reports


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def changes_table(changes: Sequence[MetricChange], what: str = "metric") -> str:
    if not changes:
        return f"No {what} changed."
    return markdown_table(
        ["file", what, "old", "new", "change"], [[c.path, c.metric, c.old, c.new, c.change] for c in changes]
    )


def report_markdown(result: PipelineResult, title: str = "Pipeline run") -> str:
    """The run as markdown: stages (ran / skipped / failed and why) and the metric changes."""
    ran, skipped = result.ran, result.skipped
    head = f"# {title}\n\n"
    if result.error:
        head += f"**Failed:** {result.error}\n\n"
    took = f", in {result.seconds:.1f} s" if result.seconds else ""
    pushed = f"; {result.pushed} file(s) pushed to the DVC remote" if result.pushed else ""
    head += f"{len(ran)} stage(s) ran, {len(skipped)} up to date{took}{pushed}.\n\n"
    stages = markdown_table(["stage", "outcome", "why"], [[s.name, s.outcome, s.why or ""] for s in result.stages])
    return head + "## Stages\n\n" + stages + "\n\n## Metric changes\n\n" + changes_table(result.changes) + "\n"


@dataclass(frozen=True)
class Publishable:
    """A report or plot a stage wrote: a markdown file (with its images), an image, or plot data."""

    stage: str
    kind: Literal["markdown", "image", "data"]
    path: Path
    props: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A Prefect artifact key: lower-case letters, digits and dashes."""
        stem = self.path.with_suffix("").as_posix() if self.kind != "markdown" else self.path.parent.as_posix()
        return re.sub(r"[^a-z0-9]+", "-", f"{self.stage}-{stem}".lower()).strip("-")[:100]


def find_publishable(root: Path | str) -> list[Publishable]:
    """The reports and plots the project's stages declare and that exist now, in stage order:
    a ``report.md`` in (or as) a stage output, and every plot (stage ``plots`` outputs and
    dvc.yaml's top-level ``plots``): images as they are, data files (csv/tsv/json/yaml) to chart."""
    root = Path(root).resolve()
    found: list[Publishable] = []
    seen: set[Path] = set()

    def add(
        stage: str, kind: Literal["markdown", "image", "data"], path: Path, props: Mapping[str, Any] | None = None
    ) -> None:
        rel = path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else path
        if rel not in seen:
            seen.add(rel)
            found.append(Publishable(stage, kind, rel, dict(props or {})))

    with open_repo(root) as repo:
        order = {name: i for i, name in enumerate(stage_names_of(repo))}
        stages = sorted(repo.index.stages, key=lambda s: order.get(s.addressing, 0))
        dvcfiles = sorted(
            {Path(s.dvcfile.path).resolve() for s in stages if s.dvcfile.path.endswith(("dvc.yaml", "dvc.yml"))}
        )
        for stage in stages:
            for out in stage.outs:
                path = Path(out.fs_path)
                if out.plot:
                    _add_plot(stage.addressing, path, out.plot if isinstance(out.plot, Mapping) else {}, add)
                elif path.is_dir() and (path / "report.md").is_file():
                    add(stage.addressing, "markdown", path / "report.md")
                elif path.suffix == ".md" and path.is_file():
                    add(stage.addressing, "markdown", path)
    for dvcfile in dvcfiles:
        spec = yaml.safe_load(dvcfile.read_text(encoding="utf-8")) or {}
        for entry in spec.get("plots") or []:
            for name, props in entry.items() if isinstance(entry, Mapping) else [(entry, {})]:
                props = props if isinstance(props, Mapping) else {}
                files = list(props["y"]) if isinstance(props.get("y"), Mapping) else [name]
                for f in files:
                    _add_plot("plots", dvcfile.parent / f, props, add)
    return [p for p in found if (root / p.path).exists()]


def _add_plot(stage: str, path: Path, props: Mapping[str, Any], add: Callable[..., None]) -> None:
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.suffix.lower() in IMAGE_TYPES:
                add(stage, "image", child, props)
            elif child.suffix.lower() in DATA_TYPES:
                add(stage, "data", child, props)
    elif path.suffix.lower() in IMAGE_TYPES:
        add(stage, "image", path, props)
    elif path.suffix.lower() in DATA_TYPES:
        add(stage, "data", path, props)


def image_markdown(path: Path, alt: str, max_bytes: int = 2_000_000) -> str:
    """An image as markdown: inline (a base64 data URI, which the Prefect UI shows) when it is at
    most ``max_bytes``, else its path."""
    size = path.stat().st_size
    if size > max_bytes:
        return f"`{path}` ({size / 1e6:.1f} MB, too large to inline)"
    mime = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"![{alt}](data:{mime};base64,{data})"


_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def inline_images(markdown: str, base_dir: Path, max_bytes: int = 2_000_000) -> str:
    """A markdown report with its relative image links replaced by inline images, so it shows
    where the files are not reachable (the Prefect UI). Links that are URLs stay as they are."""

    def swap(m: re.Match[str]) -> str:
        alt, target = m.group(1), m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return m.group(0)
        path = base_dir / target
        if not path.is_file() or path.suffix.lower() not in IMAGE_TYPES:
            return f"{m.group(0)} (missing: {target})" if not path.is_file() else m.group(0)
        return image_markdown(path, alt, max_bytes)

    return _IMAGE_LINK.sub(swap, markdown)


def read_plot_data(path: Path) -> list[dict[str, Any]]:
    """Rows of a DVC plot data file: CSV/TSV with a header, or JSON/YAML as a list of records (or a
    mapping holding one such list, as DVC accepts)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        import polars as pl

        return pl.read_csv(path, separator="\t" if suffix == ".tsv" else ",", infer_schema_length=None).to_dicts()
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    if isinstance(data, Mapping):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else None
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise ValueError(f"{path}: plot data must be a list of records (or a mapping holding one)")
    return [dict(r) for r in data]


def chart(
    rows: Sequence[Mapping[str, Any]],
    out_png: Path,
    *,
    x: str | None = None,
    y: Sequence[str] | str | None = None,
    title: str = "",
) -> Path:
    """A line chart of plot data (a training curve: ``y`` against ``x``, by default every numeric
    column against ``step``/``epoch``/the row number), written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError(f"{title or out_png.name}: no rows to plot")
    numeric = [k for k in rows[0] if all(_is_number(r.get(k)) for r in rows)]
    x = x or next((k for k in ("step", "epoch", "iteration", "x") if k in numeric), None)
    ys = [y] if isinstance(y, str) else list(y or [k for k in numeric if k != x])
    missing = [k for k in ys if k not in rows[0]]
    if missing or not ys:
        raise ValueError(f"{title or out_png.name}: no column {missing or 'with numbers'} to plot")
    xs = [r[x] for r in rows] if x else list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for key in ys[:8]:
        ax.plot(xs, [r[key] for r in rows], label=key)
    ax.set_xlabel(x or "row")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, metadata={"Software": None})
    plt.close(fig)
    return out_png


def publishable_markdown(item: Publishable, root: Path, scratch: Path) -> str:
    """The markdown to publish for one report or plot (images inlined; data charted, last rows tabled)."""
    path = root / item.path
    title = f"## {item.stage}: `{item.path.as_posix()}`\n\n"
    if item.kind == "markdown":
        return title + inline_images(path.read_text(encoding="utf-8"), path.parent)
    if item.kind == "image":
        return title + image_markdown(path, item.path.name) + "\n"
    rows = read_plot_data(path)
    y = item.props.get("y")
    png = chart(
        rows,
        scratch / f"{item.key}.png",
        x=item.props.get("x"),
        y=y if isinstance(y, (str, list)) else None,
        title=item.path.name,
    )
    tail = rows[-5:]
    table = markdown_table(list(tail[0]), [list(r.values()) for r in tail]) if tail else ""
    return title + image_markdown(png, item.path.name) + f"\n\nLast {len(tail)} of {len(rows)} rows:\n\n{table}\n"


# -------------------------------------------------------------------------------------------- lock


@contextlib.contextmanager
def workspace_lock(root: Path | str, holder: str = "") -> Iterator[Path]:
    """Hold the project's pipeline lock (``.dvc/tmp/ltxvoice-pipeline.lock``) for the block, or
    raise :class:`WorkspaceBusy` at once naming who holds it. A guard beside Prefect's deployment
    concurrency limit: two runs over one workspace would fight over its outputs. The operating
    system drops the lock when its process ends, so a crashed run never leaves it stuck."""
    root = Path(root).resolve()

    def busy(who: str) -> WorkspaceBusy:
        return WorkspaceBusy(
            f"{root}: another pipeline run is using this workspace ({who}); "
            "it was left alone, try again when it has finished"
        )

    with locks.exclusive(root / ".dvc" / "tmp" / LOCK_NAME, busy, holder) as path:
        yield path


def preflight(root: Path | str) -> None:
    """Refuse at once, before any Prefect run starts, when the workspace is busy: another pipeline run
    holds its lock, or another dvc process (a ``dvc repro``, say) holds DVC's. Raises WorkspaceBusy."""
    from dvc.lock import LockError

    with workspace_lock(root):
        pass
    with open_repo(root) as repo:
        try:
            with repo.lock:
                pass
        except LockError:
            raise WorkspaceBusy(
                f"{Path(root).resolve()}: another dvc process (a `dvc repro`?) holds DVC's lock "
                "(.dvc/tmp/lock); it was left alone, try again when it has finished"
            ) from None
