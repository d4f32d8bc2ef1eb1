"""CI retraining: when params or data pointers changed since a base git ref, reproduce and report.

What ``.github/workflows/retrain.yml`` runs as ``ltxvoice ci``, so the same logic runs (and is
tested) on a laptop:

1. compare the workspace with the base ref (``git diff --name-only``, plus untracked files) and
   keep the changes to watched files: params files, ``dvc.yaml``, ``dvc.lock``, ``*.dvc`` data
   pointers. None: stop here, nothing runs.
2. refuse, in one line, to train on a machine without a CUDA GPU when a params file points the LTX-2.3
   model (``encode``, ``train``, ``evaluate``) at real weights, i.e. at a path that is no output of
   the project's ``tiny_models`` stage (a 22B training step on CPU would run for days, not fail),
3. ``dvc pull --allow-missing`` from the default remote (what it lacks is rebuilt),
4. ``dvc repro`` (DVC decides which stages: exactly those that depend on what changed, or whose
   data the remote did not have),
5. ``dvc push`` of the new artifacts,
6. a markdown report: the changed files, ``dvc params diff`` and ``dvc metrics diff`` against the
   base, which stages ran and why, and the ``report.md`` of the evaluate stage when it ran.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltxvoice import pipeline
from ltxvoice.pipeline import MetricChange, PipelineResult, changes_from_dvc_diff, changes_table, markdown_table

DEFAULT_WATCH = ("params.yaml", "dvc.yaml", "dvc.lock", "*.dvc")
# The params that name LTX-2.3 weights (the checkpoint and its Gemma text encoder), by stage section.
WEIGHT_PARAMS = (
    ("encode", "checkpoint"),
    ("encode", "text_encoder"),
    ("train", "model", "checkpoint"),
    ("evaluate", "model"),
    ("evaluate", "gemma"),
)
TINY_STAGE = "tiny_models"  # the stage that generates the tiny random-weight models
REPORT_STAGES = ("evaluate",)  # stages whose report.md goes into the CI report when they ran
REPORT_LIMIT = 20_000  # characters of one stage report in the CI report (a PR comment holds 65536)
NULL_SHA = "0" * 40  # GitHub's `before` for the first push of a branch


class CIError(RuntimeError):
    """CI cannot start (bad base ref, not a git repository). The message is ready for a user."""


@dataclass
class CIResult:
    """What one CI check did."""

    base_ref: str
    base: str | None
    triggers: list[str] = field(default_factory=list)
    params: list[MetricChange] = field(default_factory=list)
    metrics: list[MetricChange] = field(default_factory=list)
    run: PipelineResult | None = None
    reports: dict[str, str] = field(default_factory=dict)  # path -> markdown of the REPORT_STAGES that ran

    @property
    def ok(self) -> bool:
        return self.run is None or self.run.error is None

    def summary(self) -> dict[str, Any]:
        return {
            "base_ref": self.base_ref,
            "base": self.base,
            "triggers": self.triggers,
            "ran": self.run.ran if self.run else [],
            "skipped": self.run.skipped if self.run else [],
            "error": self.run.error if self.run else None,
            "pushed": self.run.pushed if self.run else None,
            "params_changed": [c.__dict__ for c in self.params],
            "metrics_changed": [c.__dict__ for c in self.metrics],
            "reports": sorted(self.reports),
        }


def git(root: Path, *args: str) -> str:
    """``git <args>`` in ``root``; its stdout. A failure raises CIError with git's message."""
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise CIError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def resolve_base(root: Path, ref: str) -> str | None:
    """The commit to compare with. GitHub's all-zero ``before`` (a new branch) means the parent
    commit; with no parent either, None: everything counts as changed."""
    if ref.strip("0") == "" and len(ref) == len(NULL_SHA):
        ref = "HEAD~1"
        try:
            return git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
        except CIError:
            return None
    try:
        return git(root, "rev-parse", "--verify", f"{ref}^{{commit}}").strip()
    except CIError:
        raise CIError(
            f"base ref '{ref}' is not a commit here (fetch it first, e.g. `git fetch --depth=2`, "
            "or actions/checkout with fetch-depth: 0)"
        ) from None


def changed_files(root: Path, base: str | None) -> list[str]:
    """Files that differ between ``base`` and the workspace (committed or not), plus untracked
    files git does not ignore; every tracked file when there is no base."""
    if base is None:
        listed = git(root, "ls-files")
    else:
        listed = git(root, "diff", "--name-only", base, "--")
    untracked = git(root, "ls-files", "--others", "--exclude-standard")
    return sorted({line for line in (listed + untracked).splitlines() if line})


def matching(files: Sequence[str], watch: Sequence[str]) -> list[str]:
    """The files that match a watch pattern, by their whole path or by their name
    (``*.dvc`` matches ``data/sources.dvc``)."""
    return [f for f in files if any(fnmatch.fnmatchcase(f, p) or fnmatch.fnmatchcase(Path(f).name, p) for p in watch)]


def params_files(root: Path) -> list[str]:
    """Every params file a stage reads (params.yaml, and any other file named in dvc.yaml)."""
    from dvc.dependency.param import ParamsDependency

    with pipeline.open_repo(root) as repo:
        files = {
            str(Path(dep.fs_path).relative_to(Path(root).resolve()))
            for stage in repo.index.stages
            for dep in stage.deps
            if isinstance(dep, ParamsDependency)
        }
    return sorted(files | {"params.yaml"})


def params_diff(root: Path, base: str) -> list[MetricChange]:
    """``dvc params diff <base>``: the params the stages use that differ from the base commit."""
    with pipeline.open_repo(root) as repo:
        return changes_from_dvc_diff(repo.params.diff(a_rev=base).get("diff", {}))


def metrics_diff(root: Path, base: str) -> list[MetricChange]:
    """``dvc metrics diff <base>``: the metrics that differ from those committed at the base."""
    with pipeline.open_repo(root) as repo:
        return changes_from_dvc_diff(repo.metrics.diff(a_rev=base).get("diff", {}))


def tiny_model_paths(root: Path) -> list[Path]:
    """The outputs of the project's ``tiny_models`` stage(s), as absolute paths."""
    with pipeline.open_repo(root) as repo:
        return sorted(
            {
                Path(out.fs_path).resolve()
                for stage in repo.index.stages
                if stage.name == TINY_STAGE
                for out in stage.outs
            }
        )


def real_weights(root: Path | str) -> list[str]:
    """``<params file>: <key> = <path>`` for every weight param (``WEIGHT_PARAMS``) set in a params file
    a stage reads whose path is not one of the tiny generated models (paths are relative to the project
    root, where every stage runs)."""
    import yaml

    root = Path(root).resolve()
    tiny = tiny_model_paths(root)
    found = []
    for name in params_files(root):
        data = yaml.safe_load((root / name).read_text(encoding="utf-8")) if (root / name).is_file() else None
        for keys in WEIGHT_PARAMS:
            value: Any = data
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if value is None:
                continue
            path = (root / str(value)).resolve()
            if not any(path == t or t in path.parents for t in tiny):
                found.append(f"{name}: {'.'.join(keys)} = {value}")
    return found


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def require_gpu_for_real_weights(root: Path | str, *, has_gpu: bool | None = None) -> None:
    """Raise CIError (one line) when params point at real LTX-2.3 weights and there is no CUDA GPU."""
    real = real_weights(root)
    if not real:
        return
    if has_gpu is None:
        has_gpu = cuda_available()
    if not has_gpu:
        shown = "; ".join(real[:3]) + (f"; and {len(real) - 3} more" if len(real) > 3 else "")
        raise CIError(
            f"params point at real LTX-2.3 weights ({shown}) and this machine has no CUDA GPU: "
            "training them on CPU is not attempted; run on a GPU runner (repository variable RETRAIN_RUNNER, "
            'e.g. ["self-hosted","gpu"]) or point them at the tiny models under models/tiny/'
        )


def check(
    root: Path | str,
    base_ref: str,
    *,
    watch: Sequence[str] = DEFAULT_WATCH,
    pull: bool = True,
    push: bool = True,
    log: Callable[[str], None] | None = None,
    has_gpu: bool | None = None,
    report_stages: Sequence[str] = REPORT_STAGES,
) -> CIResult:
    """The CI check (see the module doc). Returns what it found and did; a failing stage is in
    ``result.run.error`` (``result.ok`` is False), not raised. Real weights without a GPU raise
    CIError before anything runs (``has_gpu``: None asks torch)."""
    root = Path(root).resolve()
    base = resolve_base(root, base_ref)
    triggers = matching(changed_files(root, base), [*watch, *params_files(root)])
    result = CIResult(base_ref=base_ref, base=base, triggers=triggers)
    if not triggers:
        return result
    require_gpu_for_real_weights(root, has_gpu=has_gpu)
    result.run = pipeline.run(root, pull_first=pull, push_after=push, log=log)
    result.reports = stage_reports(root, result.run.ran, report_stages)
    if base is not None:
        result.params = params_diff(root, base)
        result.metrics = metrics_diff(root, base)
    return result


def stage_reports(root: Path, ran: Sequence[str], stages: Sequence[str]) -> dict[str, str]:
    """The ``report.md`` outputs of the stages named in ``stages`` that ran (a stage of a recipe's
    dvc.yaml, ``recipes/x/dvc.yaml:evaluate``, counts by its name), by path."""
    names = {name for name in ran if name.rsplit(":", 1)[-1] in stages}
    return {
        item.path.as_posix(): (root / item.path).read_text(encoding="utf-8")
        for item in pipeline.find_publishable(root)
        if item.kind == "markdown" and item.stage in names
    }


def report_markdown(result: CIResult) -> str:
    """The CI report (GitHub job summary / PR comment)."""
    base = f"`{result.base_ref}`" + (f" ({result.base[:10]})" if result.base and result.base != result.base_ref else "")
    title = f"# Retraining check against {base}\n\n"
    if not result.triggers:
        return title + "No change to params or data pointers since the base: nothing was reproduced.\n"
    run = result.run
    assert run is not None
    status = f"**Failed:** {run.error}\n\n" if run.error else ""
    pushed = f"; {run.pushed} file(s) pushed to the DVC remote" if run.pushed else ""
    lines = [
        title + status,
        f"Changed since the base: {', '.join(f'`{f}`' for f in result.triggers)}.",
        f"{len(run.ran)} stage(s) ran, {len(run.skipped)} up to date, in {run.seconds:.1f} s{pushed}.",
        "",
        "## Params changed (dvc params diff)",
        "",
        changes_table(result.params, "param") if result.base else "No base commit to compare with.",
        "",
        "## Stages",
        "",
        markdown_table(["stage", "outcome", "why"], [[s.name, s.outcome, s.why] for s in run.stages]),
        "",
        "## Metrics against the base (dvc metrics diff)",
        "",
        changes_table(result.metrics) if result.base else changes_table(run.changes),
        "",
    ]
    for path, text in result.reports.items():
        cut = (
            text
            if len(text) <= REPORT_LIMIT
            else text[:REPORT_LIMIT] + "\n\n(cut here; the whole report is in the artifact)"
        )
        body = re.sub(r"^(#+) ", r"##\1 ", cut.strip(), flags=re.MULTILINE)  # its headings under ours
        lines += [f"## Report: `{path}`", "", body, ""]
    return "\n".join(lines)
