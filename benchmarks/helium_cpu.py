"""CPU benchmark of the helium chain ingest -> select, as the pipeline runs it (Prefect flows, one per
stage) and, on the same clips, as bare loops.

    python benchmarks/helium_cpu.py --clips 104            # writes benchmarks/results/helium_cpu.md
    python benchmarks/helium_cpu.py --digest DIR           # the dataset digest of a select output folder

Demo sources are generated first (not timed). The pipeline runs twice over them, with ``--workers``
(default: params.yaml's runner) and with 1 worker, both with the runner kind of params.yaml
(``process``: the per-clip work in worker processes) or ``--kind``; each flow's time includes its
Prefect start (ephemeral API, with the settings the stage commands use: flows.common.stage_run_settings;
with ``--kind dask`` one API server that the Dask workers share, flows.common.shared_api),
its table I/O, provenance and the select report. Both runs must give the same dataset digest: the
kept pairs table (every column but file paths: measurements, decisions and the sha256 of every clip,
target and tone file) and the quarantine reasons. Then, on the same clips, one thread, no Prefect:

* the bare chain: the library functions the stage tasks call, in one loop (measure.measure_file,
  shift.shift_clip with its WAV writes and mux, tones.make_tone, select.judge_files): the pipeline's
  own per-clip work without the orchestration;
* the bare DSP: the same analysis and synthesis on arrays in memory (measure_samples, shift,
  synthesize, judge), timed per function;
* the bare Praat+PSOLA chain the issue compares with: Praat AC pitch of the clip, PSOLA, Praat AC
  pitch of the result, nothing else;
* the media floor: the CPU time of the ffmpeg and ffprobe processes the chain starts (ingest's
  per-source work, ``ingest.cut``, again in one loop; the shift stage's mux, counted in the bare chain's
  loop), and from it the best ratio the chain could reach on this machine if everything else but the
  bare Praat+PSOLA chain itself cost nothing and every core were busy all the time (``best_ratio``)."""

from __future__ import annotations

import argparse
import atexit
import cProfile
import hashlib
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import yaml
from machine import describe  # benchmarks/machine.py (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL = 0.30  # the pipeline's clips/min over the bare Praat+PSOLA chain's


def best_ratio(media_cpu_s: float, bare_chain_s: float, cores: int) -> float:
    """The highest ratio (pipeline clips/min over the bare Praat+PSOLA chain's) a chain can reach that
    must do ``media_cpu_s`` of CPU work per clip (its ffmpeg runs) besides the bare chain's own
    ``bare_chain_s`` per clip (one thread), on ``cores`` cores kept busy all the time and nothing else
    costing anything: the bare chain's time over that floor's wall time."""
    return bare_chain_s / ((media_cpu_s + bare_chain_s) / cores)


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dataset_digest(select_dir: Path) -> str:
    """sha256 over select's pairs table without its path columns (so the scratch folders a run used do
    not count; the files' own sha256 columns do) and its quarantine reasons, rows sorted by clip."""
    import polars as pl

    pairs = pl.read_parquet(select_dir / "pairs.parquet")
    pairs = pairs.drop([c for c in pairs.columns if c.endswith("_path")]).sort("clip_id")
    quarantine = pl.read_parquet(select_dir / "quarantine.parquet")
    keep = [c for c in ("stage", "item_id", "reason", "detail") if c in quarantine.columns]
    quarantine = quarantine.select(keep).sort(keep[:2]) if keep else quarantine
    h = hashlib.sha256(pairs.write_csv().encode())
    h.update(quarantine.write_csv().encode())
    return h.hexdigest()


# The library calls the bare DSP spends its time in: (label, file suffix, function name)
PROFILED = [
    ("DAP all-pole fits (formants.dap)", "formants.py", "dap"),
    ("tone synthesis (tone.synthesize, own time)", "tone.py", "synthesize"),
    ("Praat pitch (to_pitch_ac)", "~", "<built-in method parselmouth.to_pitch_ac>"),
    ("Praat PSOLA (praat.call)", "~", "<built-in method parselmouth.praat.call>"),
    ("harmonic peaks (formants.harmonic_powers)", "formants.py", "harmonic_powers"),
    ("resampling (scipy resample_poly)", "_signaltools.py", "resample_poly"),
    ("WORLD pitch (pitch.world_track)", "pitch.py", "world_track"),
    ("STFT + inverse (restore_envelope)", "_spectral_py.py", "stft"),
    ("", "_spectral_py.py", "istft"),
    ("formant roots (numpy eigvals)", "_linalg.py", "eigvals"),
]


def _profile_table(stats: pstats.Stats, clips: int) -> list[tuple[str, float, int]]:
    """(label, ms per clip, calls per clip) of ``PROFILED``: cumulative time, except the tone's own time
    (its noise helpers are small), rows with the same label summed."""
    out: dict[str, list[float]] = {}
    label = ""
    for name, suffix, func in PROFILED:
        label = name or label
        for (file, _, fn), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
            if fn == func and file.endswith(suffix):
                row = out.setdefault(label, [0.0, 0.0])
                row[0] += (tottime if func == "synthesize" else cumtime) * 1000 / clips
                row[1] += ncalls / clips
    return [(k, v[0], round(v[1])) for k, v in out.items()]


class CpuMeter:
    """Whole-machine CPU busy time (all processes: the flow, its worker processes, ffmpeg) over a span."""

    def __enter__(self) -> CpuMeter:
        self._t, self._c = time.perf_counter(), psutil.cpu_times()
        return self

    def __exit__(self, *_: object) -> None:
        c = psutil.cpu_times()
        self.wall = time.perf_counter() - self._t
        idle = (c.idle + getattr(c, "iowait", 0.0)) - (self._c.idle + getattr(self._c, "iowait", 0.0))
        total = sum(c) - sum(self._c)
        self.cores_busy = (total - idle) / total * psutil.cpu_count() if total > 0 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder (clips, models, outputs)")
    ap.add_argument("--clips", type=int, default=104)
    ap.add_argument("--workers", type=int, default=None, help="default: params.yaml's runner.workers")
    ap.add_argument("--kind", choices=("thread", "process", "dask"), default=None, help="default: params.yaml's")
    ap.add_argument("--engine", default="psola")
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one params.yaml value (YAML), e.g. ingest.video_preset=ultrafast; repeatable",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/helium_cpu.md")
    ap.add_argument("--digest", type=Path, help="print the dataset digest of this select output folder and exit")
    args = ap.parse_args()
    if args.digest:
        print(dataset_digest(args.digest))
        return

    import flows.demo
    import flows.ingest
    import flows.measure
    import flows.select
    import flows.separate
    import flows.shift
    import flows.tones
    from flows.common import shared_api, stage_run_settings, with_runner
    from ltxvoice.config import parse_params

    work = Path(tempfile.mkdtemp(prefix="ltxvoice-bench-"))
    if not args.keep:  # the clips and models are scratch: gone when the benchmark ends
        atexit.register(shutil.rmtree, work, ignore_errors=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    workers = args.workers or params["runner"]["workers"]
    kind = args.kind or params["runner"].get("kind", "thread")
    params["runner"].update(workers=workers, kind=kind)
    params["demo"].update(count=args.clips, bad_files=False, whisper_share=0.0)
    params["ingest"]["sources"] = [str(work / "sources")]
    params["shift"]["engine"] = args.engine
    for item in args.param:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot and section in params and isinstance(params[section], dict)):
            ap.error(f"--param {item!r}: expected SECTION.KEY=VALUE with a section of params.yaml")
        params[section][name] = yaml.safe_load(value)
    parse_params(params)  # an invalid override fails here, before any work
    p = work / "params.yaml"
    p.write_text(yaml.safe_dump(params))

    def bound(n: int):  # type: ignore[no-untyped-def]
        b = parse_params({**params, "runner": {**params["runner"], "workers": n}})
        return [
            with_runner(f, b)
            for f in (
                flows.demo.demo,
                flows.ingest.ingest,
                flows.separate.separate,
                flows.measure.measure,
                flows.shift.shift,
                flows.tones.tones,
                flows.select.select,
            )
        ]

    def stages(n: int, d: Path) -> list[tuple[str, Callable[[], object]]]:
        _, ingest, separate, measure, shift, tones, select = bound(n)
        return [
            ("ingest", lambda: ingest(params_path=str(p), out=str(d / "ingest"))),
            (
                "separate (model: none)",
                lambda: separate(params_path=str(p), upstream=str(d / "ingest"), out=str(d / "separate")),
            ),
            ("measure", lambda: measure(params_path=str(p), upstream=str(d / "separate"), out=str(d / "measure"))),
            ("shift", lambda: shift(params_path=str(p), upstream=str(d / "measure"), out=str(d / "shift"))),
            ("tones", lambda: tones(params_path=str(p), upstream=str(d / "shift"), out=str(d / "tones"))),
            (
                "select",
                lambda: select(
                    params_path=str(p), upstream=str(d / "tones"), left_out=str(d / "shift"), out=str(d / "select")
                ),
            ),
        ]

    dsp_stages = ("measure", "shift", "tones", "select")
    load_before = os.getloadavg()
    runs: dict[int, list[tuple[str, float, float]]] = {}
    digests: dict[int, str] = {}
    with shared_api(kind == "dask"), stage_run_settings():  # as the stage commands run them (flows.common.run_flow)
        bound(workers)[0](params_path=str(p), out=str(work / "sources"))
        for n in dict.fromkeys((workers, 1)):
            d = work / f"data-{n}"
            runs[n] = []
            for name, run in stages(n, d):
                with CpuMeter() as meter:
                    run()
                runs[n].append((name, meter.wall, meter.cores_busy))
                print(f"{n} worker(s), {name}: {meter.wall:.1f} s, {meter.cores_busy:.2f} cores busy", flush=True)
            digests[n] = dataset_digest(d / "select")
    d = work / f"data-{workers}"
    import polars as pl

    from ltxvoice import measure as measure_lib
    from ltxvoice import select as select_lib
    from ltxvoice import shift as shift_lib
    from ltxvoice import tones as tones_lib
    from ltxvoice.config import load_params
    from ltxvoice.dsp.pitch import adapted_range, praat_track
    from ltxvoice.dsp.shifting import shift as shift_samples
    from ltxvoice.dsp.tone import synthesize
    from ltxvoice.measure import measure_samples
    from ltxvoice.media import read_wav
    from ltxvoice.select import judge

    cfg = load_params(p)
    clips = pl.read_parquet(d / "separate/clips.parquet")
    plan = pl.read_parquet(d / "shift/clips.parquet").select("clip_id", "semitones", "target_hz")
    rows = clips.join(plan, on="clip_id").to_dicts()
    m = cfg.measure
    bare_dir = work / "bare"
    (bare_dir / "shift").mkdir(parents=True)
    (bare_dir / "tones").mkdir(parents=True)

    mux_cpu = 0.0  # the ffmpeg runs of shift_clip (its mux); the other calls start no process
    t = time.perf_counter()
    for row in rows:
        measured = measure_lib.measure_file(Path(row["vocals_path"]), m)
        before_shift = children_cpu()
        shifted = shift_lib.shift_clip(
            row["clip_id"],
            measured.f0_hz,
            shift_lib.Planned(row["target_hz"], row["semitones"]),
            Path(row["vocals_path"]),
            Path(row["other_path"]) if row["other_path"] else None,
            Path(row["video_path"]),
            cfg.shift,
            m.floor_hz,
            m.ceiling_hz,
            bare_dir / "shift",
        )
        mux_cpu += children_cpu() - before_shift
        tones_lib.make_tone(row["clip_id"], row["target_hz"], cfg.tones, bare_dir / "tones")
        select_lib.judge_files(
            Path(row["vocals_path"]),
            Path(shifted.shifted_vocals_path),
            row["target_hz"],
            measured.voiced_seconds,
            measured.voiced_fraction,
            cfg.select,
            m,
        )
    chain = time.perf_counter() - t

    parts = dict.fromkeys(("measure", "shift", "tone", "judge"), 0.0)

    def bare_dsp(row: dict) -> None:
        t0 = time.perf_counter()
        x, rate = read_wav(Path(row["vocals_path"]))
        before = measure_samples(x, rate, m)
        t1 = time.perf_counter()
        lo, hi = adapted_range(before.f0_hz, m.floor_hz, m.ceiling_hz)
        y = shift_samples(x, rate, row["semitones"], args.engine, floor=lo, ceiling=hi)  # type: ignore[arg-type]
        t2 = time.perf_counter()
        seed = tones_lib.tone_seed(cfg.tones.seed, row["clip_id"])
        synthesize(
            row["target_hz"],
            cfg.tones.seconds,
            cfg.tones.rate,
            tones_lib.draw_timbre(cfg.tones, seed),
            seed,
            level_dbfs=cfg.tones.level_dbfs,
        )
        t3 = time.perf_counter()
        judge(x, y, rate, row["target_hz"], before.voiced_seconds, before.voiced_fraction, cfg.select, m)
        t4 = time.perf_counter()
        for key, a, b in (("measure", t0, t1), ("shift", t1, t2), ("tone", t2, t3), ("judge", t3, t4)):
            parts[key] += b - a

    t = time.perf_counter()
    for row in rows:
        bare_dsp(row)
    dsp = time.perf_counter() - t

    t = time.perf_counter()
    for row in rows:
        x, rate = read_wav(Path(row["vocals_path"]))
        source = praat_track(x, rate, m.floor_hz, m.ceiling_hz).median()
        y = shift_samples(
            x, rate, row["semitones"], "psola", *adapted_range(source, m.floor_hz, m.ceiling_hz), restore=False
        )
        praat_track(y, rate, *adapted_range(row["target_hz"], m.floor_hz, m.ceiling_hz)).median()
    praat_psola = time.perf_counter() - t

    # ingest's per-source work again, one thread: its ffprobe and ffmpeg runs are the rest of the media floor
    from ltxvoice import ingest as ingest_lib

    candidates, _ = ingest_lib.scan(cfg.ingest)
    described = [ingest_lib.describe(path) for path in candidates]
    sources, _ = ingest_lib.dedupe([s for s in described if isinstance(s, ingest_lib.Source)])
    before_ingest, t = children_cpu(), time.perf_counter()
    for source in sources:
        ingest_lib.cut(source, cfg.ingest, bare_dir / "ingest")
    ingest_wall = time.perf_counter() - t
    ingest_cpu = children_cpu() - before_ingest

    # where the bare DSP's time goes, per call (cProfile over a separate pass: its overhead stays out of the rows above)
    profiled = rows[: min(24, len(rows))]
    profiler = cProfile.Profile()
    profiler.enable()
    for row in profiled:
        bare_dsp(row)
    profiler.disable()
    calls = _profile_table(pstats.Stats(profiler), len(profiled))

    load_after = os.getloadavg()
    n = clips.height
    k = len(rows)

    def rate(seconds: float, count: int = n) -> str:
        return f"{count / seconds * 60:.0f}"

    def total(w: int, only: tuple[str, ...] | None = None) -> float:
        return sum(s for name, s, _ in runs[w] if only is None or name in only)

    pipeline = total(workers)
    dsp_pipeline = total(workers, dsp_stages)
    ratio = (n / pipeline) / (k / praat_psola)
    over_chain = dsp_pipeline / chain - 1
    per_clip = {key: 1000 * v / k for key, v in parts.items()}
    cores = psutil.cpu_count() or 1
    floor = {"ingest": ingest_cpu / n, "mux": mux_cpu / k, "bare": praat_psola / k}  # CPU s per clip
    ceiling = best_ratio(floor["ingest"] + floor["mux"], floor["bare"], cores)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    same = len(set(digests.values())) == 1
    command = (
        f"python benchmarks/helium_cpu.py --clips {args.clips}"
        + (f" --workers {args.workers}" if args.workers else "")
        + (f" --kind {args.kind}" if args.kind else "")
        + (f" --engine {args.engine}" if args.engine != "psola" else "")
        + "".join(f" --param {item}" for item in args.param)
    )
    lines = [
        "# CPU benchmark: helium chain ingest -> select",
        "",
        f"- machine: {describe()}; load average {load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end",
        f"- command: `{command}`",
        f"- clips: {n} demo clips of {cfg.ingest.frames} frames at {cfg.ingest.fps:g} fps, "
        f"{cfg.ingest.width}x{cfg.ingest.height}, {cfg.ingest.audio_rate} Hz audio; runner kind `{kind}`, "
        f"{workers} workers, at most {cfg.runner.batch_size} clips per task run; shift engine {args.engine}",
        f"- git: {git.stdout.strip()}" + (" with uncommitted changes" if dirty else ""),
        "",
        f"**Pipeline ingest -> select, {workers} workers: {pipeline:.1f} s, {rate(pipeline)} clips/min; bare "
        f"Praat+PSOLA chain in the same run: {praat_psola:.1f} s, {rate(praat_psola, k)} clips/min; ratio "
        f"{ratio:.3f}x (goal {GOAL:.2f}x: {'met' if ratio >= GOAL else 'not met'}).**",
        "",
        f"Dataset digest (`--digest`, kept pairs and quarantine reasons): {digests[workers]}"
        + (", the same with 1 worker." if same else f"; 1 worker gave {digests.get(1)}: THE RUNS DIFFER."),
        "",
        f"| stage (Prefect flow) | {workers} workers: s | clips/min | cores busy | 1 worker: s | speed-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    single = {name: (s, c) for name, s, c in runs[1]}
    for name, s, c in runs[workers]:
        lines.append(f"| {name} | {s:.1f} | {rate(s)} | {c:.2f} | {single[name][0]:.1f} | {single[name][0] / s:.2f}x |")
    lines += [
        f"| **ingest -> select** | {pipeline:.1f} | {rate(pipeline)} | | {total(1):.1f} | {total(1) / pipeline:.2f}x |",
        "",
        "| the DSP stages (measure + shift + tones + select) on the same clips | seconds | clips/min |",
        "|---|---:|---:|",
        f"| **pipeline, {workers} workers** | {dsp_pipeline:.1f} | {rate(dsp_pipeline)} |",
        f"| pipeline, 1 worker | {total(1, dsp_stages):.1f} | {rate(total(1, dsp_stages))} |",
        f"| bare chain: the stage tasks' library functions in one loop, 1 thread | {chain:.1f} | {rate(chain, k)} |",
        f"| bare DSP on arrays (no files, no mux), 1 thread | {dsp:.1f} | {rate(dsp, k)} |",
        f"| **bare Praat+PSOLA chain** (pitch, PSOLA, pitch again; nothing else) | {praat_psola:.1f} | "
        f"{rate(praat_psola, k)} |",
        "",
        f"The pipeline's DSP stages take {100 * abs(over_chain):.1f}% {'more' if over_chain > 0 else 'less'} time "
        f"than its own bare chain ({dsp_pipeline:.1f} s against {chain:.1f} s); with 1 worker "
        f"{100 * (total(1, dsp_stages) / chain - 1):+.1f}%, the orchestration's own cost.",
        "",
        "Bare DSP per clip, 1 thread: "
        f"measure {per_clip['measure']:.0f} ms (Praat AC + WORLD DIO/StoneMask at {cfg.measure.pitch_rate} Hz, "
        f"formant fits), shift {per_clip['shift']:.0f} ms (PSOLA and the envelope restoration), tone "
        f"{per_clip['tone']:.0f} ms ({cfg.tones.seconds:g} s at {cfg.tones.rate} Hz), select's judge "
        f"{per_clip['judge']:.0f} ms (Praat AC of both signals, formant fits of both); the stage "
        f"functions add {1000 * (chain - dsp) / k:.0f} ms per clip of file work, almost all of it the shift "
        "stage's mux (ffmpeg, AAC).",
        "",
        f"**Media floor.** The ffmpeg and ffprobe processes alone (their own CPU time, one thread): ingest's "
        f"per-source work (`ingest.cut`: probe, one ffmpeg run decoding the source and encoding the clip with "
        f"x264 `{cfg.ingest.video_preset}` at CRF {cfg.ingest.video_crf}) {1000 * floor['ingest']:.0f} ms per clip "
        f"(that loop: {ingest_wall:.1f} s), the shift stage's mux (AAC) {1000 * floor['mux']:.0f} ms per clip. "
        f"Those bytes are part of the dataset and the bare chain makes none of them. With the bare chain's own "
        f"{1000 * floor['bare']:.0f} ms per clip, that is {1000 * sum(floor.values()):.0f} "
        f"ms of CPU per clip no DSP change removes: on {cores} cores busy all the time and everything else free, "
        f"the chain could reach at most **{ceiling:.3f}x** the bare Praat+PSOLA chain (goal {GOAL:.2f}x).",
        "",
        f"Where the bare DSP's time goes (cProfile, {len(profiled)} clips, cumulative per call; the profiler adds "
        "its own overhead):",
        "",
        "| library call | ms per clip | calls per clip |",
        "|---|---:|---:|",
        *[f"| {label} | {ms:.0f} | {n} |" for label, ms, n in sorted(calls, key=lambda c: -c[1])],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    if not same:
        sys.exit("the 1-worker and the N-worker runs built different datasets")


if __name__ == "__main__":
    main()
