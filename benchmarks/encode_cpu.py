"""Stage encode on a CPU with the tiny LTX-2.3 checkpoint and tiny Gemma: seconds per helium-shape clip.

Generates N helium-shape clips (256x256x121 at 25 fps, 4.84 s of 48 kHz speech, a 2 s reference
tone, a caption), writes the tiny models (stage tiny_models' generator), then times each part of
encoding one clip the way the stage does it (library calls; the models run in float32, the stage's
``compute_dtype: auto`` on a CPU, and with ``--bf16`` in bfloat16 too), and the whole Prefect flow on
the same clips. Writes benchmarks/results/encode_cpu.md.

    python benchmarks/encode_cpu.py --clips 3 [--bf16]

bfloat16 pays only on a CPU with native bf16 (AVX512-BF16/AMX); on an AVX2-only CPU its Conv3d runs
~240x slower than float32 (one tiny-model clip then takes tens of minutes).

The tiny model's encoder is not the real one's cost: its video encoder keeps only the four
compressing blocks (see ltxvoice.models.ltx.tiny_ltx_config). The numbers size CI and demo runs;
benchmarks/encode_gpu.py measures the full-size encoders.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_name  # benchmarks/machine.py (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect" / "bench"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")


def main() -> int:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (clips, models, outputs)")
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "encode_cpu.md"))
    parser.add_argument("--no-flow", action="store_true", help="skip timing the whole Prefect flow")
    parser.add_argument("--bf16", action="store_true", help="also time the models running in bfloat16")
    args = parser.parse_args()

    import polars as pl
    import torch
    import yaml

    from ltxvoice import encode as lib
    from ltxvoice.config import EncodeParams
    from ltxvoice.tiny_models import GEMMA_FOLDER, LTX_CHECKPOINT, write_ltx_bundle
    from tests import fixtures

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="encode-bench-"))
    if not args.keep:  # the clips and models are scratch: gone when the benchmark ends
        atexit.register(shutil.rmtree, work, ignore_errors=True)
    print(f"clips and models in {work}", flush=True)
    t = time.perf_counter()
    manifest = fixtures.caption_manifest(work / "caption", [(f"c{i}", 256, 256, 121) for i in range(args.clips)])
    make_clips = time.perf_counter() - t
    t = time.perf_counter()
    write_ltx_bundle(work / "models", 0)
    make_models = time.perf_counter() - t
    rows = pl.read_parquet(manifest).to_dicts()
    bucket = lib.Bucket(121, 256, 256)
    timings: dict[str, list[float]] = {}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        out = fn()
        timings.setdefault(name, []).append(time.perf_counter() - start)
        return out

    results = {}
    for dtype in ("float32", "bfloat16") if args.bf16 else ("float32",):
        params = EncodeParams(
            checkpoint=work / "models" / LTX_CHECKPOINT,
            text_encoder=work / "models" / GEMMA_FOLDER,
            device="cpu",
            compute_dtype=dtype,
        )
        lib.setup_torch(params, "cpu")
        text = timed(f"load Gemma + text projection ({dtype})", lambda: lib.TextEncoders(params, "cpu"))
        media = timed(f"load video + audio encoders ({dtype})", lambda: lib.MediaEncoders(params, "cpu"))
        for row in rows:
            inputs = timed("read media (ffmpeg decode, WAVs)", lambda: lib.read_media(row, bucket))
            video = timed(f"video VAE encoder, {dtype}", lambda: media.video([inputs.frames]))[0]
            audio = timed(
                f"audio: 4.84 s -> mel -> audio VAE encoder, {dtype}",
                lambda: media.audio([inputs.audio], inputs.audio_rate),
            )[0]
            timed(
                f"reference: 2 s -> mel -> audio VAE encoder, {dtype}",
                lambda: media.audio([inputs.reference], inputs.reference_rate),
            )
            timed(f"caption: Gemma + text projection, {dtype}", lambda: text(row["caption"]))
            results[dtype] = (list(video.shape), str(video.dtype).removeprefix("torch."), list(audio.shape))
        print(f"{dtype}: done", flush=True)

    flow_s = None
    if not args.no_flow:
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["encode"].update(
            checkpoint=str(work / "models" / LTX_CHECKPOINT),
            text_encoder=str(work / "models" / GEMMA_FOLDER),
            verify_samples=0,
        )
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "flows.encode",
                "--params-path",
                str(work / "params.yaml"),
                "--upstream",
                str(work / "caption"),
                "--out",
                str(work / "encode"),
            ],
            cwd=ROOT,
            check=True,
            env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        )
        flow_s = time.perf_counter() - start

    per_clip = statistics.median(timings["read media (ffmpeg decode, WAVs)"]) + sum(
        statistics.median(timings[f"{part}, float32"])
        for part in (
            "video VAE encoder",
            "audio: 4.84 s -> mel -> audio VAE encoder",
            "reference: 2 s -> mel -> audio VAE encoder",
            "caption: Gemma + text projection",
        )
    )
    command = (
        f"python benchmarks/encode_cpu.py --clips {args.clips}"
        + (" --no-flow" if args.no_flow else "")
        + (" --bf16" if args.bf16 else "")
    )
    lines = [
        "# Stage encode on a CPU, tiny LTX-2.3 + tiny Gemma",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores (shared with other work: load average "
        f"{load_before[0]:.1f} when it started), torch {torch.__version__} (CPU kernels: "
        f"{torch.backends.cpu.get_cpu_capability()}), {torch.get_num_threads()} torch threads.",
        f"Command: `{command}` ({args.clips} helium-shape clips: 256x256x121 at 25 fps, 4.84 s of 48 kHz speech, "
        "a 2 s reference tone, a caption).",
        "",
        f"Latents (stored as the trainer stores them, whatever the models ran in): video {results['float32'][0]} "
        f"{results['float32'][1]}, audio {results['float32'][2]}.",
        "",
        "| step | median s | runs |",
        "|---|---|---|",
    ]
    for name, values in timings.items():
        lines.append(f"| {name} | {statistics.median(values):.2f} | {len(values)} |")
    lines += [
        "",
        f"Per clip in float32, the stage's default on a CPU (read + video + audio + reference + caption, medians): "
        f"**{per_clip:.1f} s**, "
        f"{60 / per_clip:.1f} clips/min.",
    ]
    if not args.bf16:
        lines.append(
            "bfloat16 was not timed (`--bf16` times it): without native bf16 (AVX512-BF16/AMX) its Conv3d "
            "runs ~240x slower than float32, which is why the stage's `compute_dtype: auto` picks float32 "
            "on a CPU."
        )
    if flow_s is not None:
        lines.append(
            f"The whole flow (`python -m flows.encode`, new process: imports, Prefect's ephemeral server, "
            f"model loading, {args.clips} clips, no decoded-latent check): {flow_s:.1f} s."
        )
    lines += [
        f"Setup, not in the numbers above: generating the clips {make_clips:.1f} s, writing the tiny models "
        f"{make_models:.1f} s.",
        "",
        "The tiny video encoder keeps only its four compressing blocks, yet its first convolution still runs "
        "at 128 channels on 64x64x121 (ltx-core 1.0.0 starts the encoder at the latent width): that is where a "
        "CPU spends its time. Real-weight encoding belongs on a GPU (benchmarks/encode_gpu.py).",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
