"""Fault injection over the cheap early stages (ingest, separate, measure, shift, tones, select), like the
crash tests of storage systems, on a small generated workspace:

    .venv/bin/python benchmarks/faults.py --faults 60 --seed 0 --out benchmarks/results/faults.md

(also what ``pytest -m slow tests/faults`` runs). A clean build first records the sha256 of every file of
every stage's output and of every source. Then, one after another, each fault is injected into one run
of one stage (its real command, ``python -m flows.<stage>``, as ``dvc repro`` runs it):

* ``kill-group``: kill -9 of the stage's whole process group at a seeded random moment of its run;
* ``kill-leader``: kill -9 of the stage process only (what the OOM killer does); its children must end too;
* ``efbig``: the run's file size limit (RLIMIT_FSIZE, ``ulimit -f``) set to a seeded size below its
  largest file, so a write fails as on a full disk (EFBIG standing in for ENOSPC: a small tmpfs needs
  privileges these machines do not give);
* ``read-only``: the output folder (and the run's temporary one) made read-only at a random moment,
  made writable again before the rerun, as a user would;
* ``source-deleted`` (ingest): a source file taken away at a random moment of the run (between its
  probe and its cut when the moment falls there), put back before the rerun;
* ``corrupt-upstream``: a file of the upstream stage's output (the artifact DVC would have cached and
  restored) truncated before the stage reads it; the rerun first rebuilds the upstream stage.

After each fault: the stage's output must be the previous (clean) output, or absent, never a partial
one (for the last two kinds a complete output of the changed input is allowed: every file its tables
name exists); a normal rerun must succeed; every output must then be byte-identical to the clean build;
no temporary folder may be left; no source byte may change; no process of the faulted run may be alive
5 s after its leader died. The counts go to a markdown file with the machine and the command.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

STAGES: dict[str, list[str]] = {
    "ingest": ["--out", "data/ingest"],
    "separate": ["--upstream", "data/ingest", "--out", "data/separate"],
    "measure": ["--upstream", "data/separate", "--out", "data/measure"],
    "shift": ["--upstream", "data/measure", "--out", "data/shift"],
    "tones": ["--upstream", "data/shift", "--out", "data/tones"],
    "select": ["--upstream", "data/tones", "--left-out", "data/shift", "--out", "data/select"],
}
UPSTREAM = {"separate": "ingest", "measure": "separate", "shift": "measure", "tones": "shift", "select": "tones"}
KINDS = ("kill-group", "kill-leader", "efbig", "read-only", "source-deleted", "corrupt-upstream")
SOURCES = "data/demo/sources"


def out_of(stage: str) -> str:
    args = STAGES[stage]
    return args[args.index("--out") + 1]


def tree_hashes(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (a symlink: its target), keyed by relative path."""
    if not path.exists():
        return {}
    found = {}
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_symlink():
            found[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            found[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def leftovers(data: Path) -> list[str]:
    return sorted(p.name for p in data.iterdir() if any(t in p.name for t in (".partial-", ".replaced-", ".failed-")))


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # members that are zombies (ended, not yet collected) do not count
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def set_writable(path: Path, writable: bool) -> None:
    """Folders under ``path`` (and it) made read-only (r-x) or writable again (rwx) for the owner."""
    if not path.is_dir():
        return
    if writable:  # a read-only folder's contents cannot be listed deeper until it is writable? (r-x can)
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    for folder in [path] + [p for p in path.rglob("*") if p.is_dir() and not p.is_symlink()]:
        mode = folder.stat().st_mode
        folder.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def complete(out: Path, root: Path) -> bool:
    """A whole stage output: its metrics and provenance written, and every file its tables name there
    (relative paths are the stage's, from the workspace ``root``, as the stage process ran there).

    Read by a fresh interpreter (``--check-complete``): every stage run is a fork of this process, and
    polars' thread pool, once started here, would be copied into those forks without its threads, so a
    later run's polars call could wait on it for ever (a CI run hung so in ``DataFrame.sort`` of
    ingest's table). A fork of a process that used polars hangs the same way, so no fork here."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--check-complete", str(out), str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"reading the tables of {out} failed: {done.stderr[-2000:]}")
    return done.returncode == 0


def _complete(out: Path, root: Path) -> bool:
    import polars as pl

    if not (out / "metrics.json").is_file() or not (out / "provenance.json").is_file():
        return False
    for table in out.glob("*.parquet"):
        frame = pl.read_parquet(table)
        for name, dtype in frame.schema.items():
            if dtype == pl.String and name.endswith("_path"):
                for value in frame[name].drop_nulls().to_list():
                    if value.startswith(str(out.name)) or f"/{out.name}/" in value:
                        if not (root / value).is_file():  # an absolute value stays as it is
                            return False
    return True


@dataclasses.dataclass
class Outcome:
    n: int
    kind: str
    stage: str
    detail: str
    exit: str  # how the faulted run ended
    partial_accepted: bool = False
    rerun_ok: bool = False
    identical: bool = False
    leftovers: list[str] = dataclasses.field(default_factory=list)
    sources_changed: bool = False
    orphans: int = 0
    tracebacks: bool = False
    note: str = ""
    said: str = ""  # the last line a failed run printed

    @property
    def lost(self) -> bool:
        return not (self.rerun_ok and self.identical) or self.partial_accepted or self.sources_changed


CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3


def drop_permission_override() -> None:
    """As root, permission bits do not stop writes: a stage run drops the capabilities that let root
    pass them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER), from its bounding set too so that
    its ffmpeg does not get them back, and then meets a read-only folder as any user would."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    caps = (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER)
    for cap in caps:
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    mask = ~sum(1 << c for c in caps) & 0xFFFFFFFF
    data[0].effective &= mask
    data[0].permitted &= mask
    data[0].inheritable &= mask
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


class Workspace:
    """The scratch project, and runs of its stages: by default a fork of this process, which has
    imported every stage's flow module already (a stage process spends ~5 s importing scipy, prefect,
    polars; the fault is in what it does next), running the stage's command-line entry (run_flow) in a
    session of its own; with ``exec_runs``, the real command ``python -m flows.<stage>``."""

    def __init__(self, root: Path, env: dict[str, str], exec_runs: bool) -> None:
        self.root, self.env, self.exec_runs = root, env, exec_runs
        self.logs = root / "logs"
        self.logs.mkdir(exist_ok=True)
        self.count = 0

    def start(self, stage: str, preexec: Callable[[], None] | None = None) -> int:
        """Start a run of ``stage``; returns its pid (also its process group)."""
        self.count += 1
        log = self.logs / f"{self.count:04d}-{stage}.log"
        argv = ["--params-path", "params.yaml", *STAGES[stage]]
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        code = 70
        try:
            os.setsid()
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(self.root)
            os.environ.clear()
            os.environ.update(self.env)
            if preexec is not None:
                preexec()
            if os.geteuid() == 0:
                drop_permission_override()
            if self.exec_runs:
                os.execv(sys.executable, [sys.executable, "-m", f"flows.{stage}", *argv])
            from flows.common import run_flow

            module = __import__(f"flows.{stage}", fromlist=[stage])
            code = run_flow(getattr(module, stage), stage, argv)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    @staticmethod
    def wait(pid: int) -> str:
        """How the run ended: ``exit N`` or ``signal N``."""
        _, status = os.waitpid(pid, 0)
        return f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"

    def run(self, stage: str) -> tuple[str, float, str]:
        t0 = time.perf_counter()
        how = self.wait(self.start(stage))
        return how, time.perf_counter() - t0, self.last_log()

    def last_log(self) -> str:
        return sorted(self.logs.glob(f"{self.count:04d}-*.log"))[0].read_text(errors="replace")

    def hashes(self) -> dict[str, dict[str, str]]:
        return {stage: tree_hashes(self.root / out_of(stage)) for stage in STAGES}


def make_workspace(root: Path, clips: int) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["runner"].update(workers=2)
    params["demo"].update(count=clips, width=160, height=96, min_seconds=4.5, max_seconds=6.0)
    params["ingest"].update(width=64, height=64, video_preset="ultrafast")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / ".dvc" / "tmp").mkdir(parents=True)  # the output locks live there, as in a DVC project


@dataclasses.dataclass
class Clean:
    outs: dict[str, dict[str, str]]
    sources: dict[str, str]
    seconds: dict[str, float]
    largest: dict[str, int]


def clean_build(ws: Workspace) -> Clean:
    seconds = {}
    for stage in STAGES:
        how, took, log = ws.run(stage)
        if how != "exit 0":
            raise SystemExit(f"clean build: stage {stage} failed:\n{log[-3000:]}")
        seconds[stage] = took
    largest = {
        s: max((p.stat().st_size for p in (ws.root / out_of(s)).rglob("*") if p.is_file()), default=0) for s in STAGES
    }
    return Clean(ws.hashes(), tree_hashes(ws.root / SOURCES), seconds, largest)


def plan(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` (kind, stage) pairs: kills spread over every stage, the rest where they apply."""
    stages = list(STAGES)
    menu: list[tuple[str, str]] = []
    for stage in stages:
        menu += [("kill-group", stage), ("kill-leader", stage), ("efbig", stage), ("read-only", stage)]
        if stage in UPSTREAM:
            menu.append(("corrupt-upstream", stage))
    menu += [("source-deleted", "ingest")] * 3
    faults = (menu * (n // len(menu) + 1))[:n]
    rng.shuffle(faults)
    return faults


def inject(ws: Workspace, clean: Clean, n: int, kind: str, stage: str, rng: random.Random) -> Outcome:
    root, out = ws.root, ws.root / out_of(stage)
    data = root / "data"
    window = clean.seconds[stage]
    moment = rng.uniform(0.05, 1.0) * window
    detail = f"at {moment:.2f} s of a {window:.1f} s run"
    orphans = 0
    repairs: list[Callable[[], object]] = []
    if kind in ("kill-group", "kill-leader"):
        pid = ws.start(stage)
        time.sleep(moment)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            how = "finished before the kill"
        else:
            os.killpg(pid, signal.SIGKILL) if kind == "kill-group" else os.kill(pid, signal.SIGKILL)
            how = "killed" if ws.wait(pid).startswith("signal") else "finished before the kill"
        deadline = time.monotonic() + 5.0
        while group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if group_alive(pid):
            orphans = 1
            os.killpg(pid, signal.SIGKILL)  # so that the rerun is not disturbed
    elif kind == "efbig":
        limit = rng.randint(1024, max(2048, clean.largest[stage] - 1))
        detail = f"file size limit {limit} B (largest output file {clean.largest[stage]} B)"

        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        how = ws.wait(ws.start(stage, preexec=cap))
    elif kind == "read-only":
        pid = ws.start(stage)
        time.sleep(moment)
        for t in [out] + [p for p in data.iterdir() if p.name.startswith(out.name + ".partial-")]:
            set_writable(t, False)
        how = ws.wait(pid)

        def writable_again() -> None:
            for t in data.iterdir():
                if t.name == out.name or t.name.startswith(out.name + "."):
                    set_writable(t, True)

        repairs.append(writable_again)
    elif kind == "source-deleted":
        sources = sorted(p for p in (root / SOURCES).rglob("*") if p.is_file() and p.suffix in (".mp4", ".mkv"))
        victim = rng.choice(sources)
        aside = root / "aside" / victim.name
        aside.parent.mkdir(exist_ok=True)
        detail = f"{victim.relative_to(root)} taken away {detail}"
        pid = ws.start(stage)
        time.sleep(moment)
        shutil.move(victim, aside)
        how = ws.wait(pid)
        repairs.append(lambda: shutil.move(aside, victim))
    else:  # corrupt-upstream
        up = root / out_of(UPSTREAM[stage])
        files = sorted(p for p in up.rglob("*") if p.is_file() and p.suffix in (".wav", ".mp4", ".parquet"))
        victim = rng.choice(files)
        keep = rng.randint(0, max(0, victim.stat().st_size // 2))
        victim.write_bytes(victim.read_bytes()[:keep])
        detail = f"{victim.relative_to(root)} truncated to {keep} B"
        how = ws.run(stage)[0]
        repairs.append(lambda: ws.run(UPSTREAM[stage]))

    log = ws.last_log()
    after = tree_hashes(out)
    changed_input = kind in ("source-deleted", "corrupt-upstream")
    accepted = bool(after) and after != clean.outs[stage] and not (changed_input and complete(out, root))
    for repair in repairs:
        repair()
    rerun, _, rerun_log = ws.run(stage)
    outcome = Outcome(
        n,
        kind,
        stage,
        detail,
        how,
        partial_accepted=accepted,
        rerun_ok=rerun == "exit 0",
        identical=ws.hashes() == clean.outs,
        leftovers=leftovers(data),
        sources_changed=tree_hashes(root / SOURCES) != clean.sources,
        orphans=orphans,
        tracebacks="Traceback" in log,
    )
    if how not in ("exit 0", "killed", "finished before the kill"):
        last = [line for line in log.splitlines() if line.strip() and "INFO" not in line]
        outcome.said = last[-1].strip()[:220].replace("|", "/") if last else ""
    if not outcome.rerun_ok:
        outcome.note = rerun_log.strip().splitlines()[-1][:200] if rerun_log.strip() else "no output"
    elif not outcome.identical:
        diff = [s for s, h in ws.hashes().items() if h != clean.outs[s]]
        outcome.note = f"differs from the clean build: {', '.join(diff)}"
    return outcome


def report(outcomes: list[Outcome], clean: Clean, command: str, seconds: float, clips: int) -> str:
    uname = " ".join(platform.uname())
    lost = [o for o in outcomes if o.lost]
    by_kind: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_kind.setdefault(o.kind, []).append(o)
    lines = [
        "# Fault injection (benchmarks/faults.py)",
        "",
        f"- command: `{command}`",
        f"- machine: `{uname}`, nproc {os.cpu_count()}",
        f"- workspace: {clips} demo sources (plus the demo's broken files), stages {', '.join(STAGES)}; "
        f"clean build {sum(clean.seconds.values()):.0f} s ("
        + ", ".join(f"{s} {t:.1f} s" for s, t in clean.seconds.items())
        + ")",
        f"- wall time of the whole suite: {seconds:.0f} s",
        "",
        "| | count |",
        "|---|---|",
        f"| faults injected | {len(outcomes)} |",
        f"| runs that the fault ended or failed (the rest finished before the fault mattered) | "
        f"{sum(not o.exit.startswith('finished') and o.exit != 'exit 0' for o in outcomes)} |",
        f"| reruns that finished | {sum(o.rerun_ok for o in outcomes)} |",
        f"| rebuilt byte-identical to the clean build (every stage's output) | {sum(o.identical for o in outcomes)} |",
        f"| partial outputs accepted (output neither the previous one, nor absent, nor complete) | "
        f"{sum(o.partial_accepted for o in outcomes)} |",
        f"| temporary folders left after the rerun | {sum(bool(o.leftovers) for o in outcomes)} |",
        f"| runs with a source byte changed | {sum(o.sources_changed for o in outcomes)} |",
        f"| processes of a killed run alive 5 s after its leader died | {sum(o.orphans for o in outcomes)} |",
        f"| faulted runs that printed a traceback (not one line) | {sum(o.tracebacks for o in outcomes)} |",
        f"| lost (any of: rerun failed, not identical, partial accepted, source changed) | {len(lost)} |",
        "",
        "| kind | injected | ended/failed by it | identical after rerun | lost |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        got = by_kind.get(kind, [])
        if got:
            hit = sum(not o.exit.startswith("finished") and o.exit != "exit 0" for o in got)
            lines.append(
                f"| {kind} | {len(got)} | {hit} | {sum(o.identical for o in got)} | {sum(o.lost for o in got)} |"
            )
    lines += [
        "",
        "## Every fault",
        "",
        "| # | kind | stage | what | run | its last line (a failed run) | rerun | identical | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        note = o.note or ("partial output accepted" if o.partial_accepted else "")
        if o.leftovers:
            note += f" left: {', '.join(o.leftovers)}"
        lines.append(
            f"| {o.n} | {o.kind} | {o.stage} | {o.detail} | {o.exit} | {o.said} | {'ok' if o.rerun_ok else 'FAILED'} | "
            f"{'yes' if o.identical else 'NO'} | {note.strip()} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--faults", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/faults.md")
    ap.add_argument("--keep", action="store_true", help="keep the scratch workspace")
    ap.add_argument("--exec-runs", action="store_true", help="run each stage as `python -m flows.<stage>` (slower)")
    ap.add_argument("--check-complete", nargs=2, type=Path, metavar=("OUT", "ROOT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.check_complete:  # complete()'s own process: exit 0 complete, 1 not
        return 0 if _complete(*args.check_complete) else 1
    started = time.perf_counter()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="ltxvoice-faults-"))
    try:
        import flows.ingest
        import flows.measure
        import flows.select
        import flows.separate
        import flows.shift
        import flows.tones  # noqa: F401 - imported once here; every stage run is a fork of this process
        from flows.common import shared_api

        make_workspace(work, args.clips)
        env = {
            **os.environ,
            "PREFECT_HOME": str(work / ".prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "HOME": str(work / "home"),  # caches (matplotlib's fonts) of the user the runs are
            "MPLCONFIGDIR": str(work / "home" / "matplotlib"),
        }
        (work / "home").mkdir()
        os.environ.update({k: env[k] for k in ("PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED")})
        with shared_api():  # one Prefect API for every stage process, not one started per process
            env["PREFECT_API_URL"] = os.environ["PREFECT_API_URL"]
            demo = subprocess.run(
                [sys.executable, "-m", "flows.demo", "--params-path", "params.yaml", "--out", SOURCES],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
            )
            if demo.returncode != 0:
                raise SystemExit(f"demo sources: {demo.stdout[-2000:]}{demo.stderr[-2000:]}")
            ws = Workspace(work, env, args.exec_runs)
            clean = clean_build(ws)
            print(f"clean build: {json.dumps({s: round(t, 1) for s, t in clean.seconds.items()})}", flush=True)
            outcomes = []
            for n, (kind, stage) in enumerate(plan(args.faults, rng), 1):
                o = inject(ws, clean, n, kind, stage, rng)
                outcomes.append(o)
                print(
                    f"{n:3d} {kind:16s} {stage:8s} {o.exit:26s} rerun {'ok' if o.rerun_ok else 'FAILED'} "
                    f"identical {o.identical} {o.note}",
                    flush=True,
                )
        command = "python benchmarks/faults.py " + " ".join(argv if argv is not None else sys.argv[1:])
        text = report(outcomes, clean, command.strip(), time.perf_counter() - started, args.clips)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(text)
        return 0 if not any(o.lost or o.leftovers or o.orphans for o in outcomes) else 1
    finally:
        if not args.keep:
            for p in [work] + list(work.rglob("*")):
                if p.is_dir() and not p.is_symlink():
                    try:
                        p.chmod(p.stat().st_mode | stat.S_IWUSR)
                    except OSError:
                        pass
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
