"""CPU benchmark of the helium chain ingest -> select, as the pipeline runs it (Prefect flows, one per
stage) and as its bare chain in one loop over the same clips.

    python benchmarks/helium_cpu.py --clips 104 --workers 2 --out benchmarks/results/helium_cpu.md

Demo sources are generated first (not timed). Pipeline numbers include each flow's Prefect start
(ephemeral API, with the settings the stage commands use: flows.common.stage_run_settings), its
table I/O, provenance and the select report. Then, on the same clips, one thread, no Prefect:

* the bare chain: the library functions the stage tasks call, in one loop (measure.measure_file,
  shift.shift_clip with its WAV writes and mux, tones.make_tone, select.judge_files): the pipeline's
  own per-clip work without the orchestration;
* the bare DSP: the same analysis and synthesis on arrays in memory (measure_samples, shift,
  synthesize, judge), timed per function;
* the bare Praat+PSOLA chain the issue quotes (~336 clips/min at 48 kHz): Praat AC pitch of the
  clip, PSOLA, Praat AC pitch of the result, nothing else."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from machine import describe  # benchmarks/machine.py (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder (clips, models, outputs)")
    ap.add_argument("--clips", type=int, default=104)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--engine", default="psola")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/helium_cpu.md")
    args = ap.parse_args()

    import flows.demo
    import flows.ingest
    import flows.measure
    import flows.select
    import flows.separate
    import flows.shift
    import flows.tones
    from flows.common import stage_run_settings, with_runner
    from ltxvoice.config import parse_params

    work = Path(tempfile.mkdtemp(prefix="ltxvoice-bench-"))
    if not args.keep:  # the clips and models are scratch: gone when the benchmark ends
        atexit.register(shutil.rmtree, work, ignore_errors=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["runner"]["workers"] = args.workers
    params["demo"].update(count=args.clips, bad_files=False, whisper_share=0.0)
    params["ingest"]["sources"] = [str(work / "sources")]
    params["shift"]["engine"] = args.engine
    p = work / "params.yaml"
    p.write_text(yaml.safe_dump(params))

    def bound(workers: int):  # type: ignore[no-untyped-def]
        b = parse_params({**params, "runner": {**params["runner"], "workers": workers}})
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

    def stages(workers: int, d: Path) -> list[tuple[str, Callable[[], object]]]:
        _, ingest, separate, measure, shift, tones, select = bound(workers)
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
    d = work / "data"
    timings = []
    with stage_run_settings():
        bound(args.workers)[0](params_path=str(p), out=str(work / "sources"))
        for name, run in stages(args.workers, d):
            t = time.perf_counter()
            run()
            timings.append((name, time.perf_counter() - t))
            print(f"{name}: {timings[-1][1]:.1f} s", flush=True)
        # the same DSP stages with one worker: the same parallelism as the bare loops below
        d1 = work / "data-1worker"
        shutil.copytree(d / "ingest", d1 / "ingest")
        shutil.copytree(d / "separate", d1 / "separate")
        one_worker = 0.0
        for name, run in stages(1, d1):
            if name in dsp_stages:
                t = time.perf_counter()
                run()
                one_worker += time.perf_counter() - t
        print(f"DSP stages, 1 worker: {one_worker:.1f} s", flush=True)

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

    t = time.perf_counter()
    for row in rows:
        measured = measure_lib.measure_file(Path(row["vocals_path"]), m)
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
    t = time.perf_counter()
    for row in rows:
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

    load_after = os.getloadavg()
    n = clips.height
    dsp_pipeline = sum(s for name, s in timings if name in dsp_stages)
    total = sum(s for _, s in timings)
    k = len(rows)

    def rate(seconds: float, count: int = n) -> str:
        return f"{count / seconds * 60:.0f}"

    over_chain = dsp_pipeline / chain - 1
    per_clip = {key: 1000 * v / k for key, v in parts.items()}
    lines = [
        "# CPU benchmark: helium chain ingest -> select",
        "",
        f"- machine: {describe()}; load average {load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end "
        "(the machine is shared; the benchmark ran niced)",
        f"- command: `nice python benchmarks/helium_cpu.py --clips {args.clips} --workers {args.workers} --engine {args.engine}`",
        f"- clips: {n} demo clips of {cfg.ingest.frames} frames at {cfg.ingest.fps:g} fps, {cfg.ingest.width}x{cfg.ingest.height}, "
        f"{cfg.ingest.audio_rate} Hz audio; runner: {args.workers} worker threads, at most "
        f"{cfg.runner.batch_size} clips per task run; shift engine {args.engine}",
        f"- git: {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()}"
        + (
            " with uncommitted changes"
            if subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
            else ""
        ),
        "",
        "| stage (Prefect flow) | seconds | clips/min |",
        "|---|---:|---:|",
    ]
    for name, s in timings:
        lines.append(f"| {name} | {s:.1f} | {rate(s)} |")
    lines += [
        f"| **pipeline, ingest -> select** | {total:.1f} | {rate(total)} |",
        "",
        "| the DSP stages (measure + shift + tones + select) on the same clips | seconds | clips/min |",
        "|---|---:|---:|",
        f"| **pipeline, {args.workers} workers** | {dsp_pipeline:.1f} | {rate(dsp_pipeline)} |",
        f"| pipeline, 1 worker | {one_worker:.1f} | {rate(one_worker)} |",
        f"| **bare chain**: the stage tasks' library functions in one loop, 1 thread | {chain:.1f} | {rate(chain, k)} |",
        f"| bare DSP on arrays (no files, no mux), 1 thread | {dsp:.1f} | {rate(dsp, k)} |",
        f"| bare Praat+PSOLA chain (the issue's ~336 clips/min) | {praat_psola:.1f} | {rate(praat_psola, k)} |",
        "",
        f"**The pipeline's DSP stages take {100 * abs(over_chain):.1f}% {'more' if over_chain > 0 else 'less'} time than "
        f"its own bare chain** ({dsp_pipeline:.1f} s against {chain:.1f} s; {args.workers} worker threads overlap the "
        f"mux and NumPy with the GIL-bound work). With 1 worker, the loop's parallelism, they take "
        f"{100 * (one_worker / chain - 1):+.1f}%: that is the orchestration's own cost. Against the bare DSP on arrays "
        f"(no files, no mux) the pipeline takes {100 * (dsp_pipeline / dsp - 1):+.1f}%.",
        "",
        "Bare DSP per clip: "
        f"measure {per_clip['measure']:.0f} ms (Praat AC + WORLD DIO/StoneMask at {cfg.measure.pitch_rate} Hz, formant fits), "
        f"shift {per_clip['shift']:.0f} ms (PSOLA and the envelope restoration), tone {per_clip['tone']:.0f} ms ({cfg.tones.seconds:g} s at {cfg.tones.rate} Hz), "
        f"select's judge {per_clip['judge']:.0f} ms (Praat AC of both signals, formant fits of both); the stage functions add "
        f"{1000 * (chain - dsp) / k:.0f} ms per clip of file work, almost all of it the shift stage's mux (ffmpeg, AAC).",
        "",
        "Why not ~336 clips/min: that figure is Praat pitch + PSOLA + Praat re-measure and nothing else (the last row: "
        f"{rate(praat_psola, k)} clips/min here). The chain the stages run also measures WORLD's pitch, fits formants "
        "to the original (measure) and to both signals again (select's formant gate), synthesises a 2 s tone and muxes "
        "the target clip; that work, not the orchestration, is the difference.",
        "",
        "All flows run in one process here, so Prefect's ephemeral API starts once (under `dvc repro` each "
        "stage is its own process and pays that start, a few seconds, itself; excluded here by design). Each "
        "flow's time includes its task runner's start, its Parquet I/O, provenance, per-task bookkeeping and, "
        f"for select, the report's plots (~1.4 s, mostly importing matplotlib). The pipeline runs {args.workers} "
        "worker threads, the loops one. Praat and WORLD hold Python's GIL, so threads overlap only the parts "
        "that release it (NumPy, the ffmpeg subprocess of the mux); a process pool (Prefect's "
        "ProcessPoolTaskRunner) was measured slower on this machine, its per-task start costs more than a batch.",
        "",
        "Where the pipeline's own time goes (profiled separately: 24 clips, 1 worker, every library call of the "
        "tasks and flows wrapped in a timer): the tasks' library functions account for all but 0.1-0.6 s of each "
        "flow; Prefect's per-batch task runs cost under 0.03 s per stage, Parquet reads and writes, provenance and "
        "metrics under 0.02 s each, reading a clip's WAV 1.3 ms (each stage reads what it needs once; select reads "
        "the original again, 1.3 ms). The rest was Prefect's flow-run heartbeat (below) and select's report.",
        "",
        "Changes since the previous run (a2f2634: DSP stages 56.3 s, bare chain 72.7 s, -22.4%; 1 worker +3.1%): the "
        "shift now restores the original's spectral envelope after the engine (`shift.restore_envelope`, "
        "`ltxvoice.dsp.shifting.restore_envelope`): a Praat pitch track of both signals, harmonic analysis and "
        "all-pole fits of both, and an STFT per clip. The bare chain and the bare DSP loop call the same function, "
        "so they include it too; the bare Praat+PSOLA row does not (it is the issue's definition).",
        "",
        "Earlier changes (f690645: pipeline 46.4 s, old bare loop 41.8 s, +11%):",
        "",
        "- The old bare loop was not the pipeline's work: it re-measured the shift with `measure_samples` "
        "(Praat + WORLD + formants of one signal) where select runs `judge` (Praat of both signals, formants of "
        "both), and it had no WAV writes and no mux. The bare chain is now the very functions the tasks call.",
        "- Every flow waited 0-1 s (0.5 s on average) after its work for Prefect's flow-run heartbeat thread, which "
        "sleeps in whole seconds; the stage commands now run without heartbeats when there is no API server to "
        "read them (`flows.common.stage_run_settings`).",
        "- Items were cut into batches of 8 in order, so 104 clips made 13 task runs and one worker ran the last "
        "alone; they are now cut into a multiple of `workers` batches of near-equal size (`tasks.common.batches`).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
