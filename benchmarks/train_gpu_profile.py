#!/usr/bin/env python
"""Where the time of a LoRA training step goes: torch.profiler over steady-state steps.

    OUT=/tmp/out python benchmarks/train_gpu_profile.py                 # on the GPU machine
    python benchmarks/train_gpu_profile.py --configs helium_b1_lowmem --profile-steps 2
    python benchmarks/train_gpu_profile.py --tiny --out /tmp/x           # the logic, on CPU

It runs ``benchmarks/train_gpu.py`` with ``--profile N``: each config first runs its warm-up and timed
steps as usual (compilation, cuDNN plans and the allocator are settled by then), then N more steps
under ``torch.profiler`` (CUDA activity on a GPU, CPU activity with ``--tiny``). Every GPU kernel is
put into one group by its name (:func:`kernel_group`): attention, FP8 matmuls, bf16 matmuls,
quantisation (scales and casts to FP8), norms/elementwise (everything else the model computes),
optimizer (AdamW and gradient clipping), memcpy, memset. ``idle`` is the part of the profiled wall
time in which no kernel ran (launch gaps, host work, synchronisation). The same command also
records the CUDA memory the config holds before its first step (weights, LoRA, optimizer state) and
its largest resident tensors. Writes ``train_gpu_profile.json`` and ``.md`` to ``--out``; no trace
file is kept.

``train_gpu_vs_official.py --profile N`` collects the same profile for this project's rows of the
comparison run and writes the same two files next to its report (:func:`write`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

GROUPS = (
    "attention",
    "matmul_fp8",
    "matmul_bf16",
    "quantise",
    "norm_elementwise",
    "optimizer",
    "memcpy",
    "memset",
)
DEFAULT_CONFIGS = [
    "helium_b8_fp8grad_ckpt0_compile_cudnn",
    "talking_head_b1_fp8grad_keepattn_ckpt60_compile_cudnn",
    "helium_b1_lowmem",
]
TOP_KERNELS = 15


def kernel_group(name: str) -> str:
    """The group of one GPU kernel (or, on CPU, one aten operator) by its name."""
    n = name.lower()
    if "memcpy" in n:
        return "memcpy"
    if "memset" in n or "aten::fill_" in n or "aten::zero_" in n:
        return "memset"
    if any(w in n for w in ("fmha", "flash", "sdpa", "attention", "attn_fwd", "attn_bwd")):
        return "attention"
    if any(w in n for w in ("multi_tensor_apply", "adam", "foreach", "clip_grad")):
        return "optimizer"
    # cuBLAS's nvjet kernels name their input types after the SM: "qq" is FP8 x FP8 (the row-scaled
    # _scaled_mm of the H100 run: nvjet_sm90_qqtst_..._ovscale_TNT), "tst" alone is bf16
    fp8 = any(w in n for w in ("e4m3", "e5m2", "f8f8", "fp8", "float8", "scaled_mm")) or bool(
        re.match(r"nvjet_sm\d+_qq", n)
    )
    matmul = any(
        w in n
        for w in (
            "gemm",
            "nvjet",
            "xmma",
            "cutlass",
            "cublas",
            "wgmma",
            "scaled_mm",
            "aten::mm",
            "aten::addmm",
            "aten::bmm",
        )
    )
    if (matmul and not n.startswith("triton_")) or n.startswith("triton_tem_"):
        return "matmul_fp8" if fp8 else "matmul_bf16"
    if fp8 or "amax" in n or "quant" in n:
        return "quantise"
    return "norm_elementwise"


def union_us(intervals: list[tuple[float, float]]) -> float:
    """Total length covered by ``[start, end)`` intervals (overlaps counted once)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def summarize_events(events: list[tuple[str, float, float]], wall_ms: float, steps: int) -> dict[str, Any]:
    """Group kernels ``(name, start_us, duration_us)`` of ``steps`` profiled steps taking ``wall_ms``
    in all: per group ms per step and share of the step, the busy (union) time, idle, top kernels."""
    groups = {g: 0.0 for g in GROUPS}
    per_kernel: dict[str, list[float]] = {}
    for name, _start, dur in events:
        groups[kernel_group(name)] += dur
        k = per_kernel.setdefault(name, [0.0, 0.0])
        k[0] += dur
        k[1] += 1
    busy_ms = union_us([(s, s + d) for _n, s, d in events]) / 1e3
    step_ms = wall_ms / steps
    out: dict[str, Any] = {
        "steps": steps,
        "step_ms": step_ms,
        "kernels_per_step": len(events) / steps,
        "busy_ms_per_step": busy_ms / steps,
        "idle_ms_per_step": max(wall_ms - busy_ms, 0.0) / steps,
        "idle_share": max(wall_ms - busy_ms, 0.0) / wall_ms if wall_ms > 0 else None,
        "groups": {
            g: {"ms_per_step": us / 1e3 / steps, "share": us / 1e3 / wall_ms if wall_ms > 0 else None}
            for g, us in groups.items()
        },
    }
    top = sorted(per_kernel.items(), key=lambda kv: -kv[1][0])[:TOP_KERNELS]
    out["top_kernels"] = [
        {
            "name": name[:140],
            "group": kernel_group(name),
            "ms_per_step": us / 1e3 / steps,
            "calls_per_step": calls / steps,
            "share": us / 1e3 / wall_ms if wall_ms > 0 else None,
        }
        for name, (us, calls) in top
    ]
    return out


def profile_steps(step: Callable[[int], None], first: int, steps: int, device: Any) -> dict[str, Any]:
    """Run ``step(first) .. step(first + steps - 1)`` under torch.profiler and summarise its kernels
    (on CPU: its aten operators, by self time)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.device(device).type == "cuda"
    activity = ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU
    kind = torch.autograd.DeviceType.CUDA if cuda else torch.autograd.DeviceType.CPU
    with profile(activities=[activity]) as prof:
        if cuda:
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        for i in range(steps):
            step(first + i)
        if cuda:
            torch.cuda.synchronize(device)
        wall_ms = (time.perf_counter() - started) * 1e3
    analysed = time.perf_counter()
    events = []
    for e in prof.events():
        if e.device_type != kind:
            continue
        if cuda:
            events.append((e.name, float(e.time_range.start), float(e.time_range.end - e.time_range.start)))
        elif e.name.startswith("aten::"):  # self time: nested operators are not counted twice
            events.append((e.name, float(e.time_range.start), float(e.self_cpu_time_total)))
    out = summarize_events(events, wall_ms, steps)
    out["activity"] = "cuda" if cuda else "cpu"
    out["analysis_s"] = round(time.perf_counter() - analysed, 1)
    return out


def resident_tensors(device: Any, top: int = 8) -> dict[str, Any]:
    """CUDA memory held before a config's first step: allocated bytes and the largest groups of
    live tensors (by dtype and shape) that Python can reach."""
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        return {"allocated_gib": None, "largest": []}
    seen: set[int] = set()
    groups: dict[tuple[str, tuple[int, ...]], list[float]] = {}
    for obj in gc.get_objects():
        try:
            if not isinstance(obj, torch.Tensor) or not obj.is_cuda:
                continue
            storage = obj.untyped_storage()
            ptr = storage.data_ptr()
            if ptr in seen or ptr == 0:
                continue
            seen.add(ptr)
            g = groups.setdefault((str(obj.dtype).removeprefix("torch."), tuple(obj.shape)), [0.0, 0.0])
            g[0] += storage.nbytes()
            g[1] += 1
        except Exception:  # objects that only look like tensors
            continue
    largest = sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]
    holders: list[str] = []
    if largest:  # who holds one tensor of the largest group (types of its referrers, one level up)
        dtype, shape = largest[0][0]
        for obj in gc.get_objects():
            if isinstance(obj, torch.Tensor) and obj.is_cuda and str(obj.dtype).removeprefix("torch.") == dtype:
                if tuple(obj.shape) == shape:
                    holders = sorted({type(r).__qualname__ for r in gc.get_referrers(obj)})[:8]
                    break
    return {
        "holders_of_largest": holders,
        "allocated_gib": torch.cuda.memory_allocated(dev) / 2**30,
        "reachable_gib": sum(v[0] for v in groups.values()) / 2**30,
        "largest": [
            {"dtype": dtype, "shape": list(shape), "count": int(n), "gib": b / 2**30}
            for (dtype, shape), (b, n) in largest
        ],
    }


# --- the report -------------------------------------------------------------------------------


def _num(v: Any, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, int | float) else "-"


def render(rows: list[dict[str, Any]], env: dict[str, Any], command: str) -> str:
    """Markdown: one table of groups (ms per step and share) per profiled config, then top kernels."""
    profiled = [r for r in rows if r.get("profile")]
    lines = [
        "# Where the time of a LoRA training step goes (torch.profiler)",
        "",
        f"- command: `{command}`",
        f"- machine: {env.get('gpu', 'CPU')} x{env.get('gpus', 0)} ({env.get('gpu_memory_gib', '-')} GiB), "
        f"torch {env.get('torch', '?')}, CUDA {env.get('cuda', '?')}",
        "- each config: its warm-up and timed steps first (compiled, allocator settled), then the profiled "
        "steps; CUDA kernel time per group by kernel name; share = of the profiled step's wall time; idle = "
        "wall time in which no kernel ran; the profiled step is a little slower than the timed one "
        "(profiler overhead)",
        "- groups: attention (flash / cuDNN SDPA, forward and backward), FP8 matmuls (`_scaled_mm`), bf16 "
        "matmuls (cuBLAS / nvjet / CUTLASS), quantise (per-token scales, casts to FP8: amax / float8 "
        "kernels), norm/elementwise (RMSNorm, AdaLN, RoPE, GELU, residuals, casts, loss: the rest), optimizer "
        "(fused AdamW, gradient-norm clipping), memcpy (host <-> device: block offload), memset",
        "",
    ]
    if not profiled:
        return "\n".join(lines + ["No profiled config."]) + "\n"

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> str:
        return f"| {label} | " + " | ".join(cell(r["profile"]) for r in profiled) + " |"

    def ms_share(ms: Any, share: Any) -> str:
        return f"{_num(ms, '.1f')} ms ({_num(share, '.1%')})"

    lines += [
        "| | " + " | ".join(f"`{r['name']}`" for r in profiled) + " |",
        "|---|" + "---:|" * len(profiled),
        "| settings | " + " | ".join(f"{r['shape']} batch {r['batch']}: {r.get('knobs', '')}" for r in profiled) + " |",
        "| samples/s (timed) | " + " | ".join(_num(r.get("samples_per_s"), ".3f") for r in profiled) + " |",
        "| peak alloc | " + " | ".join(f"{_num(r.get('peak_alloc_gib'), '.1f')} GiB" for r in profiled) + " |",
        row("resident before step 1", lambda p: f"{_num(p.get('resident', {}).get('allocated_gib'), '.1f')} GiB"),
        row("timed step (no profiler)", lambda p: f"{_num(p.get('timed_step_ms'), '.1f')} ms"),
        row("profiled step", lambda p: f"{_num(p['step_ms'], '.1f')} ms"),
        row("kernels per step", lambda p: _num(p["kernels_per_step"], ".0f")),
    ]
    for g in GROUPS:

        def cell(p: dict[str, Any], g: str = g) -> str:
            return ms_share(p["groups"][g]["ms_per_step"], p["groups"][g]["share"])

        lines.append(row(g.replace("_", "/"), cell))
    lines.append(row("**GPU idle**", lambda p: ms_share(p["idle_ms_per_step"], p["idle_share"])))
    for r in profiled:
        p = r["profile"]
        lines += [
            "",
            f"## `{r['name']}`: top kernels",
            "",
            f"samples/s {_num(r.get('samples_per_s'), '.3f')} (timed), peak {_num(r.get('peak_alloc_gib'), '.1f')} "
            f"GiB; {_num(p['busy_ms_per_step'], '.1f')} ms of kernels per {_num(p['step_ms'], '.1f')} ms step",
            "",
            "| kernel | group | calls/step | ms/step | share |",
            "|---|---|---:|---:|---:|",
        ]
        for k in p["top_kernels"]:
            name = k["name"].replace("|", "/")
            lines.append(
                f"| `{name[:110]}` | {k['group']} | {_num(k['calls_per_step'], '.0f')} | "
                f"{_num(k['ms_per_step'], '.2f')} | {_num(k['share'], '.1%')} |"
            )
        if p.get("regrouped"):
            lines += [
                "",
                "Regrouped after the run (the classifier then had them elsewhere): "
                + ", ".join(f"`{n[:110]}`" for n in p["regrouped"]),
            ]
        resident = p.get("resident", {})
        if resident.get("largest"):
            lines += [
                "",
                "Largest resident tensors before step 1 (dtype, shape x count: GiB): "
                + "; ".join(f"{t['dtype']} {t['shape']} x{t['count']}: {t['gib']:.2f}" for t in resident["largest"]),
            ]
    return "\n".join(lines) + "\n"


def regroup(profile: dict[str, Any]) -> dict[str, Any]:
    """``profile`` with its top kernels put in the groups ``kernel_group`` gives them now (a profile
    taken with an older classifier: the group totals move by those kernels' time; kernels outside the
    top list stay where they were counted). Moved kernel names are listed under ``regrouped``."""
    groups = {g: dict(v) for g, v in profile["groups"].items()}
    top, moved = [], []
    for k in profile["top_kernels"]:
        group = kernel_group(k["name"])
        if group != k["group"] and k["group"] in groups and group in groups:
            groups[k["group"]]["ms_per_step"] -= k["ms_per_step"]
            groups[group]["ms_per_step"] += k["ms_per_step"]
            moved.append(k["name"])
            k = {**k, "group": group}
        top.append(k)
    if not moved:
        return profile
    for v in groups.values():
        v["share"] = v["ms_per_step"] / profile["step_ms"]
    return {**profile, "groups": groups, "top_kernels": top, "regrouped": profile.get("regrouped", []) + moved}


def write(rows: list[dict[str, Any]], env: dict[str, Any], command: str, out: Path) -> None:
    """``train_gpu_profile.json`` (the profiled rows, regrouped by today's classifier) and ``.md`` in ``out``."""
    profiled = [{**r, "profile": regroup(r["profile"])} for r in rows if r.get("profile")]
    keep = ("name", "shape", "batch", "knobs", "status", "samples_per_s", "step_s", "peak_alloc_gib", "profile")
    data = {"environment": {**env, "command": command}, "rows": [{k: r.get(k) for k in keep} for r in profiled]}
    (out / "train_gpu_profile.json").write_text(json.dumps(data, indent=1))
    (out / "train_gpu_profile.md").write_text(render(profiled, env, command), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="train_gpu.py configs (comma list)")
    parser.add_argument("--profile-steps", type=int, default=2, help="profiled steps per config")
    parser.add_argument("--out", default=os.environ.get("OUT", "benchmarks/results"))
    parser.add_argument("--budget-s", type=float, default=480.0)
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU (tests the logic)")
    args = parser.parse_args(argv)
    if args.profile_steps < 1:
        parser.error("--profile-steps must be at least 1")
    import train_gpu

    out = Path(args.out)
    code = train_gpu.main(
        ["--configs", args.configs, "--profile", str(args.profile_steps), "--out", str(out)]
        + ["--budget-s", str(args.budget_s)]
        + (["--tiny"] if args.tiny else [])
    )
    data = json.loads((out / "train_gpu.json").read_text())
    command = f"python benchmarks/train_gpu_profile.py --configs {args.configs} --profile-steps {args.profile_steps}"
    write(data["rows"], data["environment"], command + (" --tiny" if args.tiny else ""), out)
    return code


if __name__ == "__main__":
    sys.exit(main())
