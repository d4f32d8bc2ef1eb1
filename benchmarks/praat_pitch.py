"""Praat autocorrelation pitch alone, at the ``measure`` stage's settings: seconds of audio analysed
per CPU second, and an octave-error check, on the demo's ingested clips.

    python benchmarks/praat_pitch.py --clips /work/main/data/ingest/clips \\
        --out benchmarks/results/praat_pitch.md

Reads the clips (WAVs written by ``ingest``), never rebuilds them. Times, in CPU seconds of this
process (``time.process_time``, so other users of a shared machine do not count):

* ``praat_track`` alone on audio already at the stage's pitch rate (the number the issue asks for),
* the stage's whole pitch step: resampling from the clip's rate, then ``praat_track``,
* for the record, the same at other analysis rates (``--rates``), with each rate's worst median
  difference, in cents, from Praat run on the clip at its own rate.

Each timing is the best of ``--repeats`` passes over all clips (the least disturbed by other work).
The octave check compares each clip's Praat median with WORLD's (dio+stonemask at the same
settings) and with the pitch range of the espeak-ng voice the demo rendered it with (the voice
file's ``pitch`` line scaled by the ``-p`` setting the way espeak-ng does: 2**((p-50)/50)); a clip
more than ``--octave-cents`` (600) from either is listed.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from machine import describe  # benchmarks/machine.py (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ltxvoice.config import MeasureParams  # noqa: E402
from ltxvoice.dsp.pitch import cents, praat_track, world_track  # noqa: E402
from ltxvoice.media import read_wav, resample  # noqa: E402

ESPEAK_VARIANTS = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data/voices/!v")
ESPEAK_DEFAULT_PITCH = (82.0, 118.0)  # espeak-ng's default voice, for variants without a pitch line


def machine() -> str:
    import parselmouth

    return f"{describe()}, parselmouth {parselmouth.__version__} (Praat {parselmouth.PRAAT_VERSION})"


def git_rev() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", ".", ":!benchmarks/results"],
        capture_output=True,
        text=True,
    ).stdout
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.strip() else "")


def voice_range(voice: str, p: int) -> tuple[float, float]:
    """The F0 span (Hz) espeak-ng renders ``voice`` (``lang+variant``) at pitch setting ``p``."""
    lo, hi = ESPEAK_DEFAULT_PITCH
    variant = voice.split("+", 1)[1] if "+" in voice else ""
    path = ESPEAK_VARIANTS / variant
    if variant and path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if parts[:1] == ["pitch"] and len(parts) >= 3:
                lo, hi = float(parts[1]), float(parts[2])
    scale = 2.0 ** ((min(max(p, 0), 101) - 50) / 50.0)
    return lo * scale, hi * scale


def outside_cents(f0: float, span: tuple[float, float]) -> float:
    """How far (cents) ``f0`` lies outside ``span``: 0 inside, negative below, positive above."""
    if not f0 > 0:
        return float("nan")
    if f0 < span[0]:
        return cents(f0, span[0])
    if f0 > span[1]:
        return cents(f0, span[1])
    return 0.0


@dataclass
class Clip:
    name: str
    samples: np.ndarray
    rate: int
    voice: str | None
    espeak_p: int | None


def load_clips(folder: Path, table: Path | None, labels: Path | None) -> list[Clip]:
    wavs = sorted(folder.glob("*.wav"))
    if not wavs:
        raise FileNotFoundError(f"{folder}: no .wav clips (run `dvc repro ingest` in that checkout)")
    voices: dict[str, tuple[str, int]] = {}
    if table and labels and table.is_file() and labels.is_file():
        lab = pl.read_csv(labels)
        key = "espeak_voice" if "espeak_voice" in lab.columns else "voice"  # the espeak-ng voice, e.g. en+f1
        by_file = {r["file"]: (r[key], int(r["espeak_pitch"])) for r in lab.iter_rows(named=True)}
        for r in pl.read_parquet(table).iter_rows(named=True):
            name = Path(r["source_path"]).name
            if name in by_file:
                voices[r["clip_id"]] = by_file[name]
    clips = []
    for w in wavs:
        x, rate = read_wav(w)
        v = voices.get(w.stem)
        clips.append(Clip(w.stem, x, rate, v[0] if v else None, v[1] if v else None))
    return clips


def best_cpu_seconds(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    best = math.inf
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=Path, required=True, help="folder of ingested clip WAVs")
    ap.add_argument("--table", type=Path, help="ingest's clips.parquet (default: beside --clips)")
    ap.add_argument("--labels", type=Path, help="demo labels.csv (default: <clips>/../../demo/sources/labels.csv)")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rates", default="16000,12000,8000", help="pitch rates timed for the record")
    ap.add_argument("--octave-cents", type=float, default=600.0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/praat_pitch.md")
    args = ap.parse_args()

    params = MeasureParams(**(yaml.safe_load(args.params.read_text()).get("measure") or {}))
    table = args.table or args.clips.parent / "clips.parquet"
    labels = args.labels or args.clips.parent.parent / "demo/sources/labels.csv"
    clips = load_clips(args.clips, table, labels)
    audio_s = sum(c.samples.size / c.rate for c in clips)
    lo, hi, rate = params.floor_hz, params.ceiling_hz, params.pitch_rate
    print(f"{len(clips)} clips, {audio_s:.1f} s of audio; Praat AC {lo:g}-{hi:g} Hz at {rate} Hz", flush=True)

    at_rate = [resample(c.samples, c.rate, rate) for c in clips]
    alone = best_cpu_seconds(lambda: [praat_track(x, rate, lo, hi) for x in at_rate], args.repeats)
    print(f"praat_track alone: {alone:.3f} CPU s -> {audio_s / alone:.0f}x real time", flush=True)
    step = best_cpu_seconds(
        lambda: [praat_track(resample(c.samples, c.rate, rate), rate, lo, hi) for c in clips], args.repeats
    )
    print(f"resample + praat_track: {step:.3f} CPU s -> {audio_s / step:.0f}x real time", flush=True)

    # Octave check at the stage's settings.
    rows = []
    for c, x in zip(clips, at_rate):
        praat = praat_track(x, rate, lo, hi)
        world = world_track(x, rate, lo, hi)
        span = voice_range(c.voice, c.espeak_p) if c.voice else None
        rows.append(
            {
                "clip": c.name,
                "voice": c.voice or "",
                "p": c.espeak_p,
                "praat_hz": praat.median(),
                "world_hz": world.median(),
                "voiced_s": praat.voiced_seconds(),
                "praat_vs_world_cents": cents(praat.median(), world.median()),
                "voice_span": f"{span[0]:.0f}-{span[1]:.0f}" if span else "",
                "outside_voice_cents": outside_cents(praat.median(), span) if span else float("nan"),
            }
        )
    flagged = [
        r
        for r in rows
        if abs(r["praat_vs_world_cents"]) > args.octave_cents
        or abs(r["outside_voice_cents"]) > args.octave_cents
        or (math.isfinite(r["praat_hz"]) != math.isfinite(r["world_hz"]))
    ]

    # The same at other rates, with each rate's worst median difference from Praat at the clip's rate.
    native = [praat_track(c.samples, c.rate, lo, hi).median() for c in clips]
    sweep = []
    for r in [int(v) for v in args.rates.split(",") if v]:
        xs = [resample(c.samples, c.rate, r) for c in clips]
        secs = best_cpu_seconds(lambda: [praat_track(x, r, lo, hi) for x in xs], args.repeats)
        diffs = [abs(cents(praat_track(x, r, lo, hi).median(), n)) for x, n in zip(xs, native) if n > 0]
        diffs = [d for d in diffs if math.isfinite(d)]
        sweep.append((r, audio_s / secs, max(diffs) if diffs else float("nan"), len(diffs)))
        print(
            f"  at {r} Hz: {audio_s / secs:.0f}x real time, worst |median - Praat at the clip's rate| "
            f"{sweep[-1][2]:.2f} cents over {len(diffs)} voiced clips",
            flush=True,
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(args, params, clips, audio_s, alone, step, rows, flagged, sweep), encoding="utf-8")
    print(f"wrote {args.out}")


def report(args, params, clips, audio_s, alone, step, rows, flagged, sweep) -> str:  # type: ignore[no-untyped-def]
    voiced = [r for r in rows if math.isfinite(r["praat_hz"]) and r["voiced_s"] >= 0.5]
    lines = [
        "# Benchmark: Praat autocorrelation pitch alone (measure stage settings)",
        "",
        f"- machine: {machine()}",
        f"- command: `python benchmarks/{Path(__file__).name} --clips {args.clips} --repeats {args.repeats}`",
        f"- git: {git_rev()}",
        f"- clips: {len(clips)} WAVs from `{args.clips}`, {audio_s:.1f} s of audio in all, at "
        f"{sorted({c.rate for c in clips})} Hz",
        f"- settings (params.yaml `measure`): floor {params.floor_hz:g} Hz, ceiling {params.ceiling_hz:g} Hz, "
        f"time step 10 ms, pitch rate {params.pitch_rate} Hz",
        f"- timing: CPU seconds of this process (`time.process_time`), best of {args.repeats} passes over all clips",
        "",
        "| what is timed | CPU s | x real time |",
        "|---|---:|---:|",
        f"| `praat_track` alone, audio already at {params.pitch_rate} Hz | {alone:.3f} | **{audio_s / alone:.0f}** |",
        f"| the stage's pitch step: resample from the clip's rate + `praat_track` | {step:.3f} | {audio_s / step:.0f} |",
        "",
        "Other analysis rates (the pitch rate is `measure.pitch_rate`), each with its worst difference of the "
        "clip's median from Praat run at the clip's own rate:",
        "",
        "| pitch rate (Hz) | x real time | worst median difference (cents) | voiced clips |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {r} | {x:.0f} | {d:.2f} | {n} |" for r, x, d, n in sweep]
    lines += [
        "",
        f"## Octave check ({len(voiced)} voiced clips, {len(rows) - len(voiced)} whispered or barely voiced)",
        "",
        f"A clip is flagged when its Praat median is more than {args.octave_cents:g} cents from WORLD's, more "
        f"than {args.octave_cents:g} cents outside its espeak-ng voice's span, or only one of the two finds pitch.",
        "",
        f"**Voiced clips flagged: {len([r for r in flagged if r in voiced])} of {len(voiced)}**"
        + "".join(f"; {r['clip']}" for r in flagged if r in voiced)
        + f". Worst Praat vs WORLD over the voiced clips: {max(abs(r['praat_vs_world_cents']) for r in voiced):.1f} cents; "
        f"worst distance outside the voice's span: {max(abs(r['outside_voice_cents']) for r in voiced):.0f} cents.",
        "",
        "Whispered or barely voiced clips (under 0.5 s voiced) flagged: "
        + (
            ", ".join(
                f"{r['clip']} ({r['voice']}: {r['voiced_s']:.2f} s voiced, median {r['praat_hz']:.0f} Hz)"
                for r in flagged
                if r not in voiced
            )
            or "none"
        )
        + ". Such a clip has no pitch to get an octave wrong; `select` rejects it as barely voiced "
        "(`min_voiced_seconds`).",
        "",
        "| clip | voice | p | voice span (Hz) | Praat median (Hz) | WORLD median (Hz) | Praat vs WORLD (cents) "
        "| outside voice span (cents) | voiced s |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["voice"], r["clip"])):
        lines.append(
            f"| {r['clip']} | {r['voice']} | {r['p'] if r['p'] is not None else ''} | {r['voice_span']} | "
            f"{r['praat_hz']:.1f} | {r['world_hz']:.1f} | {r['praat_vs_world_cents']:.1f} | "
            f"{r['outside_voice_cents']:.0f} | {r['voiced_s']:.2f} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
