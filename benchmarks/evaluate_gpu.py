"""GPU benchmark of the evaluate stage's sampler: seconds per generated helium clip.

The full-size LTX-2.3 transformer (48 blocks, video 32x128, audio 32x64; ~19.0B parameters) is
built by ltx-core's configurator with random bf16 weights directly on the GPU (the real weights
cannot be downloaded; speed does not depend on their values), and the project's sampler
(``ltxvoice.evaluate.sampler.generate``: flow-matching Euler, per-modality CFG, the reference
appended clean at negative positions) generates the helium shape: 121 frames 256x256 at 25 fps
(4.84 s of audio) with a 2 s audio reference, text context 1024 tokens (Gemma's padded length).
Measured for batch sizes 1..16, without and with CFG (CFG doubles the batch), at the step count
of ``params.yaml evaluate.sampler.steps`` (or ``--steps``). Audio decoding (VAE + vocoder) is not
included: its full-size configuration is not in the project.

    python3 benchmarks/evaluate_gpu.py --out "$OUT"              # H200, ~3-5 minutes
    python benchmarks/evaluate_gpu.py --config tiny --batches 1 2  # CPU check of the logic

Writes ``evaluate_gpu.md`` and ``evaluate_gpu.json`` into ``--out``."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def full_config() -> dict:
    """LTX-2.3's transformer config: the tiny layout's switches with the real widths and depth."""
    from ltxvoice.models.ltx import tiny_ltx_config

    config = tiny_ltx_config()
    config["transformer"].update(
        num_layers=48,
        num_attention_heads=32,
        attention_head_dim=128,
        cross_attention_dim=4096,
        audio_num_attention_heads=32,
        audio_attention_head_dim=64,
        audio_cross_attention_dim=2048,
    )
    return config


def random_transformer(config: dict, device: str, dtype):  # type: ignore[no-untyped-def]
    """The transformer with seeded random weights (scaled normal, norm scales 1), built on the device."""
    import torch
    from ltx_core.model.transformer.model_configurator import LTXModelConfigurator

    with torch.device("meta"):
        model = LTXModelConfigurator.from_config(config)
    model = model.to_empty(device=device)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, 1.0 / math.sqrt(p[0].numel()), generator=g)
            elif name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=g)
    return model.to(dtype).eval().requires_grad_(False)


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{gpu}; torch {torch.__version__}; {os.cpu_count()} CPU cores; Python {platform.python_version()}; "
        f"{platform.system()} {platform.release()}"
    )


def steps_from_params() -> int:
    import yaml

    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    return int(data["evaluate"]["sampler"]["steps"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=["full", "tiny"], default="full")
    ap.add_argument("--steps", type=int, default=None, help="default: params.yaml evaluate.sampler.steps")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16])
    ap.add_argument("--cfg", type=float, default=3.0, help="CFG scale of the guided run (video and audio)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per setting (the median is reported)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "benchmarks/results")))
    args = ap.parse_args()

    import torch

    from ltxvoice.evaluate.sampler import Shape, TextContext, _append_reference, generate  # noqa: F401
    from ltxvoice.models.device import resolve_device
    from ltxvoice.models.ltx import tiny_ltx_config
    from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable

    ensure_torchaudio_importable()
    device = resolve_device("auto")
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if device == "cpu":
        torch.set_num_threads(1)
    steps = args.steps or steps_from_params()
    config = full_config() if args.config == "full" else tiny_ltx_config()
    t = config["transformer"]
    print(f"[bench] {machine()}; config {args.config}; {steps} steps", flush=True)

    started = time.perf_counter()
    model = random_transformer(config, device, dtype)
    if device == "cuda":
        torch.cuda.synchronize()
    params = sum(p.numel() for p in model.parameters())
    build_s = time.perf_counter() - started
    print(f"[bench] transformer: {params / 1e9:.2f}B parameters built in {build_s:.1f} s", flush=True)

    shape = (
        Shape(frames=121, height=256, width=256, fps=25.0)
        if args.config == "full"
        else Shape(frames=17, height=64, width=64, fps=25.0)
    )
    g = torch.Generator().manual_seed(1)
    tokens = 1024 if args.config == "full" else 128
    vdim = t["num_attention_heads"] * t["attention_head_dim"]
    adim = t["audio_num_attention_heads"] * t["audio_attention_head_dim"]
    pos = TextContext(torch.randn(1, tokens, vdim, generator=g), torch.randn(1, tokens, adim, generator=g), "random")
    neg = TextContext(torch.randn(1, tokens, vdim, generator=g), torch.randn(1, tokens, adim, generator=g), "random")
    reference = torch.randn(1, 8, 50, 16, generator=g)  # 2 s of audio latents (25 per second)

    def sampler(cfg: float) -> SimpleNamespace:  # the fields generate() reads (EvalSamplerParams')
        return SimpleNamespace(
            steps=steps,
            sigmas=None,
            max_shift=2.05,
            base_shift=0.95,
            stretch=True,
            terminal=0.1,
            cfg_video=cfg,
            cfg_audio=cfg,
        )

    def run(batch: int, cfg: float, n_steps: int | None = None) -> float:
        p = sampler(cfg)
        if n_steps is not None:
            p.steps = n_steps
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = generate(
            model,
            shape,
            8,
            16,
            pos,
            neg if cfg != 1.0 else None,
            list(range(batch)),
            p,
            reference=reference,
            device=device,
            dtype=dtype,
        )
        if device == "cuda":
            torch.cuda.synchronize()
        assert all(torch.isfinite(o.audio).all() for o in out)
        return time.perf_counter() - t0

    rows = []
    for cfg in (1.0, args.cfg):
        for batch in args.batches:
            try:
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                run(batch, cfg, n_steps=1)  # warm-up (kernels, allocator)
                times = sorted(run(batch, cfg) for _ in range(args.repeats))
                med = times[len(times) // 2]
                peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
                row = {
                    "cfg": cfg,
                    "batch": batch,
                    "steps": steps,
                    "seconds": round(med, 4),
                    "seconds_per_clip": round(med / batch, 4),
                    "seconds_per_clip_step": round(med / batch / steps, 5),
                    "peak_gib": round(peak, 2),
                }
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                row = {"cfg": cfg, "batch": batch, "steps": steps, "error": "out of memory"}
            rows.append(row)
            print(f"[bench] {row}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": machine(),
        "config": args.config,
        "parameters": params,
        "build_seconds": round(build_s, 1),
        "shape": {
            "frames": shape.frames,
            "height": shape.height,
            "width": shape.width,
            "fps": shape.fps,
            "reference_latent_frames": 50,
            "text_tokens": tokens,
        },
        "dtype": str(dtype),
        "rows": rows,
        "command": "python3 benchmarks/evaluate_gpu.py " + " ".join(sys.argv[1:]),
    }
    (args.out / "evaluate_gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# evaluate sampler: seconds per generated helium clip",
        "",
        f"Machine: {result['machine']}",
        f"Command: `{result['command']}`",
        "",
        f"{'Full-size LTX-2.3' if args.config == 'full' else 'Tiny test'} transformer "
        f"({params / 1e6:,.0f}M parameters, random {dtype} weights, "
        f"built in {build_s:.0f} s), eager PyTorch (SDPA attention), the project's sampler; "
        f"{shape.frames} frames {shape.width}x{shape.height} at {shape.fps:g} fps + {shape.seconds:.2f} s audio, "
        f"2 s reference appended clean, {tokens} text tokens. Median of {args.repeats} runs after a warm-up. "
        "Audio decoding (VAE + vocoder) not included.",
        "",
        "| CFG | batch | steps | s per batch | s per clip | s per clip-step | peak GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['cfg']:g} | {r['batch']} | {r['steps']} | {r['error']} | | | |")
        else:
            lines.append(
                f"| {r['cfg']:g} | {r['batch']} | {r['steps']} | {r['seconds']:.2f} | "
                f"{r['seconds_per_clip']:.3f} | {r['seconds_per_clip_step']:.4f} | {r['peak_gib']} |"
            )
    (args.out / "evaluate_gpu.md").write_text("\n".join(lines) + "\n")
    print(f"[bench] wrote {args.out / 'evaluate_gpu.md'}", flush=True)


if __name__ == "__main__":
    main()
