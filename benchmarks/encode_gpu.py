"""Encode throughput of the full-size LTX-2.3 media encoders (random weights) on a GPU.

Builds the video VAE encoder (318.9M parameters) and the audio VAE encoder (21.3M) with ltx-core's
configurators from the real LTX-2.3 checkpoint config (``ltxvoice.models.ltx.ltx23_media_config``),
fills them with random weights, and encodes helium-shape clips the way stage ``encode`` does:
video 256x256x121 in bfloat16, the clip's 4.84 s of 48 kHz audio and the 2 s reference tone through
ltx-core's 16 kHz mel front end and the audio encoder (float32, as the stage and the LTX trainer run
it; bfloat16 measured too), at several batch sizes. Reports clips/s and peak GPU memory.

    python benchmarks/encode_gpu.py                      # on a GPU machine; results in $OUT/encode_gpu.md
    python benchmarks/encode_gpu.py --device cpu --config tiny --batch-sizes 1 --iters 1   # logic check

Text encoding (Gemma 3 12B) is not included: it runs once per caption, apart from the media.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ltxvoice.models.ltx import _init_tensor, ltx23_media_config, tiny_ltx_config  # noqa: E402
from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable  # noqa: E402

FRAMES, HEIGHT, WIDTH, FPS, RATE = 121, 256, 256, 25.0, 48000
AUDIO_S, REFERENCE_S = FRAMES / FPS, 2.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build(configurator: Any, config: dict, device: str, dtype: Any, seed: int) -> Any:
    """ltx-core module from ``config`` with deterministic random weights (every tensor initialised)."""
    import torch

    with torch.device("cpu"):
        module = configurator.from_config(config)
    with torch.no_grad():
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(_init_tensor(name, tensor, seed))
    return module.to(device=device, dtype=dtype).eval()


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn: Any, device: str, warmup: int, iters: int) -> tuple[float, Any]:
    """Median seconds per call over ``iters`` calls after ``warmup`` calls, and the last output."""
    out = None
    for _ in range(warmup):
        out = fn()
    sync(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2], out


def main() -> int:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument(
        "--config", default="real", choices=["real", "tiny"], help="real LTX-2.3 sizes or the tiny test model"
    )
    parser.add_argument("--batch-sizes", default="1,2,4,8,16")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    args = parser.parse_args()

    ensure_torchaudio_importable()
    import torch
    from ltx_core.model.audio_vae import AudioProcessor
    from ltx_core.model.audio_vae import model_configurator as am
    from ltx_core.model.video_vae import model_configurator as vm
    from ltx_core.types import Audio

    if args.device == "cuda" and not torch.cuda.is_available():
        log("no CUDA device: run with --device cpu for a logic check")
        return 2
    device = args.device
    torch.manual_seed(0)
    if device == "cuda":  # the stage's settings (ltxvoice.encode.setup_torch)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    else:
        torch.set_num_threads(2)
    config = ltx23_media_config() if args.config == "real" else tiny_ltx_config()
    bf16, fp32 = torch.bfloat16, torch.float32

    log(f"building video VAE encoder ({args.config}) ...")
    video_encoder = build(vm.VideoEncoderConfigurator, config, device, bf16, 0)
    audio_encoders = {"float32": build(am.AudioEncoderConfigurator, config, device, fp32, 1)}
    audio_encoders["bfloat16"] = build(am.AudioEncoderConfigurator, config, device, bf16, 1)
    enc = audio_encoders["float32"]
    processor = AudioProcessor(
        target_sample_rate=enc.sample_rate, mel_bins=enc.mel_bins, mel_hop_length=enc.mel_hop_length, n_fft=enc.n_fft
    ).to(device)
    params = {
        "video_encoder": sum(p.numel() for p in video_encoder.parameters()),
        "audio_encoder": sum(p.numel() for p in enc.parameters()),
    }
    log(f"parameters: video {params['video_encoder'] / 1e6:.1f}M, audio {params['audio_encoder'] / 1e6:.1f}M")

    rows: list[dict[str, Any]] = []
    gen = torch.Generator(device="cpu").manual_seed(0)
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        try:
            if device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            video = (torch.rand(batch, 3, FRAMES, HEIGHT, WIDTH, generator=gen) * 2 - 1).to(device, bf16)
            speech = (0.1 * torch.randn(batch, 2, round(AUDIO_S * RATE), generator=gen)).to(device)
            tone = (0.1 * torch.randn(batch, 2, round(REFERENCE_S * RATE), generator=gen)).to(device)
            row: dict[str, Any] = {"batch": batch}
            with torch.inference_mode():
                row["video_s"], v = timed(lambda video=video: video_encoder(video), device, args.warmup, args.iters)
                for name, audio_encoder in audio_encoders.items():
                    dtype = fp32 if name == "float32" else bf16

                    def encode_audio(wave: Any, dtype: Any = dtype, audio_encoder: Any = audio_encoder) -> Any:
                        mel = processor.waveform_to_mel(Audio(waveform=wave.to(dtype), sampling_rate=RATE))
                        return audio_encoder(mel.to(dtype))

                    row[f"audio_{name}_s"], a = timed(
                        lambda speech=speech: encode_audio(speech), device, args.warmup, args.iters
                    )
                    row[f"reference_{name}_s"], r = timed(
                        lambda tone=tone: encode_audio(tone), device, args.warmup, args.iters
                    )
            row["video_latents"], row["audio_latents"], row["reference_latents"] = (
                list(v.shape[1:]),
                list(a.shape[1:]),
                list(r.shape[1:]),
            )
            row["finite"] = bool(torch.isfinite(v).all() and torch.isfinite(a).all() and torch.isfinite(r).all())
            row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None
            total = row["video_s"] + row["audio_float32_s"] + row["reference_float32_s"]
            row["clips_per_s"] = round(batch / total, 2)
            row["clips_per_s_audio_bf16"] = round(
                batch / (row["video_s"] + row["audio_bfloat16_s"] + row["reference_bfloat16_s"]), 2
            )
            rows.append(row)
            log(
                f"batch {batch}: video {row['video_s'] * 1000:.0f} ms, audio {row['audio_float32_s'] * 1000:.0f} ms, "
                f"reference {row['reference_float32_s'] * 1000:.0f} ms -> {row['clips_per_s']} clips/s, "
                f"peak {row['peak_gib']} GiB, latents {row['video_latents']} {row['audio_latents']}"
            )
            del video, speech, tone, v, a, r
        except torch.cuda.OutOfMemoryError:
            log(f"batch {batch}: out of memory; stopping here")
            rows.append({"batch": batch, "oom": True})
            break

    info = {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "config": args.config,
        "parameters": params,
        "clip": {
            "frames": FRAMES,
            "height": HEIGHT,
            "width": WIDTH,
            "fps": FPS,
            "audio_s": AUDIO_S,
            "reference_s": REFERENCE_S,
            "audio_rate": RATE,
        },
        "iters": args.iters,
        "warmup": args.warmup,
        "command": " ".join(sys.argv),
        "rows": rows,
    }
    try:
        import importlib.metadata as md

        info["ltx_core"] = md.version("ltx-core")
    except Exception:  # noqa: BLE001 - ltx-core on PYTHONPATH without metadata
        info["ltx_core"] = "unknown (not installed as a distribution)"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "encode_gpu.json").write_text(json.dumps(info, indent=2) + "\n")
    (out / "encode_gpu.md").write_text(markdown(info))
    log(f"wrote {out / 'encode_gpu.md'}")
    return 0


def markdown(info: dict[str, Any]) -> str:
    p = info["parameters"]
    lines = [
        "# Encode throughput: full-size LTX-2.3 media encoders",
        "",
        f"Device: {info['device']} (torch {info['torch']}, CUDA {info['cuda']}, ltx-core {info['ltx_core']}); "
        f"config `{info['config']}`: video VAE encoder {p['video_encoder'] / 1e6:.1f}M parameters (bfloat16), "
        f"audio VAE encoder {p['audio_encoder'] / 1e6:.1f}M, random weights.",
        "",
        f"One helium-shape clip = video {info['clip']['width']}x{info['clip']['height']}x{info['clip']['frames']} "
        f"+ {info['clip']['audio_s']:.2f} s of 48 kHz audio + a {info['clip']['reference_s']:g} s reference "
        "tone (audio resampled to 16 kHz, log-mel, audio VAE encoder). Median of "
        f"{info['iters']} timed batches after {info['warmup']} warm-up; deterministic cuDNN, no TF32 "
        "(the stage's settings). Text encoding not included.",
        "",
        "| batch | video ms | audio ms (fp32) | ref ms (fp32) | clips/s (audio fp32) | clips/s (audio bf16) | peak GiB | latents (video / audio / ref) | finite |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in info["rows"]:
        if r.get("oom"):
            lines.append(f"| {r['batch']} | out of memory | | | | | | | |")
            continue
        lines.append(
            f"| {r['batch']} | {r['video_s'] * 1000:.0f} | {r['audio_float32_s'] * 1000:.0f} | "
            f"{r['reference_float32_s'] * 1000:.0f} | {r['clips_per_s']} | {r['clips_per_s_audio_bf16']} | "
            f"{r['peak_gib']} | {r['video_latents']} / {r['audio_latents']} / {r['reference_latents']} | "
            f"{r['finite']} |"
        )
    best = max((r for r in info["rows"] if not r.get("oom")), key=lambda r: r["clips_per_s"], default=None)
    if best:
        lines += [
            "",
            f"Best: {best['clips_per_s']} clips/s at batch {best['batch']} "
            f"({math.ceil(292 / best['clips_per_s'])} s for the 292-pair helium set's media).",
        ]
    lines += ["", f"Command: `{info['command']}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
