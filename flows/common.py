"""What every stage flow shares: params first, a bounded task runner, one-line errors, a summary."""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import errno
import functools
import inspect
import logging
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from prefect import Flow
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from rich.console import Console

from ltxvoice import lifeline, locks
from ltxvoice.config import Params, ParamsError, RunnerParams, S, debugging, load_params
from ltxvoice.records import quarantine_counts
from ltxvoice.stage import (
    FAILED,
    PARTIAL,
    NothingKept,
    StageError,
    StageResult,
    Summary,
    commit_output,
    first_few,
    partial_path,
    remove_leftovers,
    settle_paths,
    write_result,
)

console = Console(stderr=True)


_STARTED: contextvars.ContextVar[float] = contextvars.ContextVar("stage_started")


def stage_params(params_path: str | Path, section: type[S]) -> tuple[Params, S]:
    """Load and validate the whole params.yaml, then return it with the stage's own section. A stage
    flow reads its params first, so its clock (the seconds its summary shows) starts here."""
    _STARTED.set(time.perf_counter())
    params = load_params(params_path)
    return params, params.require(section)


def pipeline_file(params_path: str | Path) -> Path:
    """The dvc.yaml a params file belongs to: the one beside it (params.yaml -> dvc.yaml at the root,
    recipes/<name>/params.yaml -> recipes/<name>/dvc.yaml, whose stages run from the root)."""
    return Path(params_path).parent / "dvc.yaml"


def check_dvc_deps(stage: str, paths: Sequence[Path], dvc_yaml: Path = Path("dvc.yaml")) -> None:
    """Every input path a stage reads from params must be a declared dep of the stage in dvc.yaml,
    or DVC would not rerun it when those files change. Under ``dvc repro`` a gap is an error;
    when the flow is run by hand it is a warning."""
    if not dvc_yaml.is_file():
        return
    spec = yaml.safe_load(dvc_yaml.read_text()) or {}
    # deps are relative to the stage's working directory: the repository root for every pipeline here
    deps = [Path(d).resolve() for d in (spec.get("stages", {}).get(stage, {}).get("deps") or []) if isinstance(d, str)]
    undeclared = [str(p) for p in paths if not any(p.resolve() == d or d in p.resolve().parents for d in deps)]
    if not undeclared:
        return
    msg = (
        f"{stage}: {', '.join(undeclared)} (from params.yaml) is not a dep of stage '{stage}' in {dvc_yaml}; "
        "add it there so DVC reruns the stage when those files change"
    )
    if os.environ.get("DVC_STAGE"):
        raise StageError(msg)
    console.print(f"[yellow]warning:[/yellow] {msg}")


def show(summary: Summary) -> None:
    console.print(summary.table())


def task_runner(runner: RunnerParams) -> TaskRunner[Any]:
    """The task runner ``params.runner`` asks for: a thread pool of ``workers`` threads (kinds
    ``thread`` and ``process``; with ``process`` the tasks' library calls run in as many worker
    processes, tasks.common.offload), or a Dask cluster (``kind: dask``): the one at ``dask_address``,
    or a local one of ``workers`` single-thread processes. Work in flight stays bounded by ``workers``
    either way (tasks.common.run_mapped)."""
    if runner.kind == "dask":
        from prefect_dask import DaskTaskRunner

        if runner.dask_address:
            return DaskTaskRunner(address=runner.dask_address)
        # Dask's nanny starts each worker with MALLOC_TRIM_THRESHOLD_=65536 (it returns freed memory to
        # the system at once). That also fixes glibc's mmap threshold, so every NumPy array over 128 KiB
        # is mapped and unmapped: the per-clip DSP ran 1.55x slower (tone synthesis, 16 clips: 3.6 s
        # against 2.3 s). None unsets it for the local cluster's workers (remote workers: README, Dask).
        import dask

        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
        return DaskTaskRunner(cluster_kwargs={"n_workers": runner.workers, "threads_per_worker": 1, "processes": True})
    return ThreadPoolTaskRunner(max_workers=runner.workers)


def with_runner(flow: Flow, params: Params) -> Flow:
    """The flow bound to the task runner ``params.runner`` asks for."""
    return flow.with_options(task_runner=task_runner(params.runner))


@contextlib.contextmanager
def shared_api(needed: bool = True) -> Iterator[None]:
    """One Prefect API for this process and the processes it starts. Under Prefect's embedded
    (ephemeral) API every process starts an API server of its own, which costs seconds each: Dask
    workers (runner kind dask) and the stage commands ``dvc repro`` runs (the pipeline flow). When
    ``needed`` and no API URL is configured, start that server once here, point this process at it
    and export its address (PREFECT_API_URL) to child processes; Prefect also hands it to every
    task it sends to a Dask worker. Nothing changes when an API URL is configured."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if not needed or PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    if server.server_process is not None:  # the server ends with this process, however it ends
        lifeline.reap_with(os.getpid(), server.server_process.pid)
    saved = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield
    finally:
        if saved is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = saved


@contextlib.contextmanager
def stage_run_settings() -> Iterator[None]:
    """Prefect settings for running stage flows in this process.

    Without an API URL (Prefect's embedded API, which ends with this process) flow-run heartbeats
    are turned off: they let a long-lived server mark runs that died as crashed, and nothing here
    outlives the run to read them. They are not free: at the end of every flow run Prefect joins its
    heartbeat thread, which sleeps in whole seconds, so each stage waited 0-1 s (0.5 s on average)
    after its work was done (benchmarks/results/helium_cpu.md). With an API URL configured (a
    server, ``shared_api``), Prefect's own settings apply."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        yield


def run_flow(flow: Flow, stage: str, argv: Sequence[str] | None = None) -> int:
    """Command-line entry of a stage flow: ``--<parameter> VALUE`` for each flow parameter.

    Params are validated before Prefect starts; expected errors print one line and exit 1."""
    fn: Callable[..., Any] = flow.fn
    parser = argparse.ArgumentParser(prog=f"python -m flows.{stage}", description=(fn.__doc__ or "").strip())
    for name, param in inspect.signature(fn).parameters.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", dest=name, default=param.default, help=f"(default: {param.default})"
        )
    args = vars(parser.parse_args(argv))
    out = Path(args["out"]) if args.get("out") else None
    lifeline.watch_parent(functools.partial(_parent_gone, stage))
    logging.getLogger("prefect.flow_runs").addFilter(_ONE_LINE)  # once: filters are a set
    partial: Path | None = None
    try:
        params = load_params(args.get("params_path", "params.yaml"))
        params.require(stage)
        with contextlib.ExitStack() as held:
            if out is not None:  # one writer per output folder, whoever starts it (dvc repro, by hand, ...)
                locks.check_writable(out)
                locks.check_writable(out.parent)  # the new output is made beside it and renamed into place
                lock = locks.output_lock_path(out)
                held.enter_context(locks.exclusive(lock, _busy(stage, out), f"stage {stage}", _warn(stage)))
                for gone in remove_leftovers(out):
                    console.print(
                        f"[yellow]{stage}:[/yellow] removed {gone}, left by a run that did not finish", soft_wrap=True
                    )
                if stage not in IN_PLACE:
                    partial = partial_path(out, os.getpid())
                    partial.mkdir(parents=True)
                    args["out"] = str(partial)
            try:
                with shared_api(params.runner.kind == "dask"), stage_run_settings():
                    with_runner(flow, params)(**args)
            except NothingKept as exc:
                if out is None or partial is None:
                    raise
                # a run that kept nothing never replaces an output (a full disk can fail every item); its
                # folder stays beside it until the next run, for its quarantine to be read
                failed = out.with_name(f"{out.name}{FAILED}{os.getpid()}")
                settle_paths(partial, failed)
                partial.rename(failed)
                partial = None
                raise NothingKept(f"{str(exc).replace(partial_path(out, os.getpid()).name, failed.name)}") from None
            if out is not None and partial is not None:
                commit_output(partial, out, stage)
                partial = None
    except (ParamsError, StageError, FileNotFoundError, PermissionError) as exc:
        _say(stage, str(exc), out)
        return 1
    except OSError as exc:
        if exc.errno not in FULL:
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        _say(stage, f"{exc.strerror or exc}{where}; the previous output is left as it was", out)
        return 1
    except pl.exceptions.PolarsError as exc:  # a table that cannot be read or written (truncated, disk full)
        _say(stage, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", out)
        return 1
    finally:
        if partial is not None:  # the run failed: what it wrote is not an output
            shutil.rmtree(partial, ignore_errors=True)
    return 0


# A disk that is full, a file size or quota limit, a file system that turned read-only: the run ends
# with one line (its temporary folder removed), not a traceback.
FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS})

# Stages that write their output folder in place rather than as a temporary sibling moved into place
# when complete (run_flow): train resumes from the checkpoints an interrupted run left there (each
# checkpoint and resume state is itself written to a temporary file and renamed).
IN_PLACE = frozenset({"train"})


def destination(out_dir: Path) -> Path:
    """Where a stage's output folder ends up: ``out_dir`` itself, or, when run_flow has this process
    write it as a temporary sibling (``ltxvoice.stage.partial_path``), the folder that will replace.
    Checks that compare the output with the inputs (an output inside the sources) use this."""
    final = out_dir.with_name(out_dir.name.removesuffix(f"{PARTIAL}{os.getpid()}"))
    return final if partial_path(final, os.getpid()) == out_dir else out_dir


def expected_error(exc: BaseException) -> bool:
    """A refusal or a failure this project explains in one line (as run_flow prints it)."""
    if isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, PermissionError)):
        return exc.errno in FULL
    return isinstance(exc, (ParamsError, StageError, FileNotFoundError, PermissionError, pl.exceptions.PolarsError))


class _OneLineRefusals(logging.Filter):
    """Prefect logs the traceback of the exception a flow run ended with; for an expected refusal
    (``expected_error``) that would bury its one line, so it is dropped unless ``--debug``."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and expected_error(exc) and not debugging():
            record.exc_info, record.exc_text = None, None
        return True


_ONE_LINE = _OneLineRefusals()


def _say(stage: str, message: str, out: Path | None) -> None:
    """A run's error in one line (with ``--debug``, the traceback first). Names of the run's temporary
    folder are given as the output folder they were to become."""
    if debugging():
        traceback.print_exc()
    if out is not None:
        message = message.replace(partial_path(out, os.getpid()).name, out.name)
    console.print(f"[red]{stage}: error:[/red] {message}", soft_wrap=True)


def _parent_gone(stage: str, pid: int) -> None:
    """The run that started this stage (``ltxvoice pipeline``) was killed: stop now rather than go
    on writing outputs nobody will record."""
    console.print(f"[red]{stage}: error:[/red] the run that started this stage (pid {pid}) has ended; stopping")
    os._exit(1)


def _warn(stage: str) -> Callable[[str], None]:
    return lambda line: console.print(f"[yellow]{stage}: warning:[/yellow] {line}", soft_wrap=True)


def _busy(stage: str, out: Path) -> Callable[[str], StageError]:
    def refuse(who: str) -> StageError:
        return StageError(
            f"{out} is being written by another run of this stage ({who}); "
            f"{stage} was not started, try again when that run has finished"
        )

    return refuse


def finish(
    out_dir: Path, result: StageResult, *, head: str | None = None, none_found: str = "", see: Path | None = None
) -> dict[str, Any]:
    """How every stage ends: its tables, quarantine, provenance and metrics written (``write_result``),
    its summary shown, and an error when nothing is left, saying why: ``head`` (by default "<stage>:
    nothing left of N input(s)"), then the counts per reason and where to look (``see``, by default
    the quarantine), or ``none_found`` when nothing was quarantined either. Returns the metrics."""
    metrics = write_result(out_dir, result)
    show(result.summary(time.perf_counter() - _STARTED.get(time.perf_counter())))
    if result.kept == 0:
        reasons = first_few(f"{n} {r}" for r, n in quarantine_counts(result.rejected + result.quarantined).items())
        head = head or f"{result.stage}: nothing left of {result.inputs} input(s)"
        where = see or out_dir / "quarantine.parquet"
        raise NothingKept(
            f"{head}: {reasons} (see {where})" if reasons else f"{head}{': ' + none_found if none_found else ''}"
        )
    return metrics


def read_manifest(path: Path, stage: str) -> pl.DataFrame:
    """The upstream stage's table; a clear error when it has not been built."""
    if not path.is_file():
        raise StageError(f"{stage}: {path} not found; run the stages before it first (dvc repro)")
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StageError(
            f"{stage}: {path} cannot be read ({first}); rebuild the stage that writes it (dvc repro)"
        ) from None
