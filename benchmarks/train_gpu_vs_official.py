#!/usr/bin/env python
"""This project's LoRA training against the official LTX-2 trainer, on one GPU, in one run.

    python benchmarks/train_gpu_official.py --fetch .official      # here, once: the official packages
    OUT=/tmp/out python benchmarks/train_gpu_vs_official.py        # on the GPU machine
    python benchmarks/train_gpu_vs_official.py --tiny --out /tmp/x # the logic, on CPU with the tiny model

Both arms build the same full-size LTX-2.3 transformer (48 blocks, random bf16 weights from the same
seed), add a rank-32 LoRA on the same 960 tensors (audio attention and feed-forward of every block) and
time full training steps on the same shapes (``train_gpu.SHAPES``: helium with its audio reference,
talking head with its first-frame condition), each arm in its own process: this project's through
``benchmarks/train_gpu.py`` (its locked ltx-core), the official one through
``benchmarks/train_gpu_official.py`` (ltx-core and ltx-trainer from the public repository, put first on
the path for that process only). Model FLOPs per sample are counted once (torch's FlopCounterMode in
the official arm, which runs the same architecture) and turned into MFU against the H200's dense
peaks. Writes ``train_gpu_vs_official.json`` and ``.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

# H100 and H200 SXM dense tensor-core peaks, the same for both (NVIDIA's datasheets halve the sparse figures): TFLOP/s
PEAK_TFLOPS = {"bf16": 989.0, "fp8": 1979.0}
OURS = {  # the project's configs: its fastest per shape, the small-card mode, and the official settings
    "helium_fast": "helium_b8_fp8grad_ckpt0_compile_cudnn",
    "helium_official_settings_b1": "helium_b1",
    "helium_official_settings_b8": "helium_b8",
    "talking_head_fast": "talking_head_b1_fp8grad_keepattn_ckpt60_compile_cudnn",
    "helium_fast_80gb": "helium_b8_fp8_compile_ckpt50",  # the fastest kinds that fit an 80 GB card
    "talking_head_fast_80gb": "talking_head_b1_fp8_keepattn_compile_cudnn",
    "talking_head_official_settings": "talking_head_b1",
    "lowmem": "helium_b1_lowmem",
    "lowmem_b4": "helium_b4_lowmem",
    "lowmem_b4_fp8mm": "helium_b4_lowmem_fp8mm",
}
LOWMEM_GOAL_GIB = 14.0  # the issue's mode for 16 GB cards: helium at <= 14 GiB peak, >= 0.5 samples/s
OFFICIAL = [  # the official trainer's recommended settings (gradient checkpointing, bf16 autocast)
    {"name": "official_helium_b1", "shape": "helium", "batch": 1, "checkpointing": True},
    {"name": "official_helium_b8", "shape": "helium", "batch": 8, "checkpointing": True},
    {"name": "official_helium_b32", "shape": "helium", "batch": 32, "checkpointing": True},
    {"name": "official_talking_head_b1", "shape": "talking_head", "batch": 1, "checkpointing": True},
]


def log(msg: str) -> None:
    print(f"[vs_official {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_official(
    official_dir: Path, tiny: bool, budget_s: float, work: Path, flops_only: bool = False
) -> dict[str, Any]:
    from train_gpu import SHAPES, TINY_SHAPES

    from ltxvoice.models.ltx import ltx23_config, tiny_ltx_config

    shapes = TINY_SHAPES if tiny else SHAPES
    steps = {"warmup": 1, "steps": 2} if tiny else {"warmup": 2, "steps": 5}
    spec = {
        "ltx_config": tiny_ltx_config() if tiny else ltx23_config(),
        "shapes": {name: asdict(s) for name, s in shapes.items()},
        "configs": [{**c, **steps} for c in OFFICIAL],
        "flops_shapes": ["helium", "talking_head"],
        "budget_s": budget_s,
        "flops_only": flops_only,
    }
    spec_path, out_path = work / "official_spec.json", work / "official.json"
    spec_path.write_text(json.dumps(spec))
    paths = [str(official_dir / "ltx-core"), str(official_dir / "ltx-trainer")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_gpu_official.py"), "--config-json", str(spec_path)]
    proc = subprocess.run([*cmd, "--out", str(out_path)], env=env)
    result = json.loads(out_path.read_text()) if out_path.exists() else {"rows": [], "flops": {}}
    result["returncode"] = proc.returncode
    result["commit"] = (official_dir / "COMMIT").read_text().split()[-1] if (official_dir / "COMMIT").exists() else "?"
    return result


def rows_from_log(log: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """The official rows, this project's rows and its environment as a run printed them (a run whose
    report was not written, e.g. stopped by the machine's time limit after its last config)."""
    official, ours, env = [], [], {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("[official] {"):
            official.append(json.loads(line.split(" ", 1)[1]))
        elif line.startswith("[train_gpu ") and "] environment: {" in line:
            env = json.loads(line.split("environment: ", 1)[1])
        elif line.startswith("[train_gpu "):
            name, _, rest = line.split("] ", 1)[1].partition(": ")
            if name in OURS.values() and rest.startswith("{"):
                from train_gpu import CONFIGS

                cfg = CONFIGS[name]
                ours.append({**asdict(cfg), "knobs": cfg.knobs(), **json.loads(rest)})
    return official, ours, env


def run_ours(
    tiny: bool, budget_s: float, work: Path, names: list[str] | None = None, profile: int = 0
) -> dict[str, Any]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_gpu.py"), "--configs", ",".join(names or OURS.values())]
    cmd += ["--out", str(work / "ours"), "--budget-s", str(budget_s)] + (["--tiny"] if tiny else [])
    cmd += ["--profile", str(profile)] if profile else []
    proc = subprocess.run(cmd)
    path = work / "ours" / "train_gpu.json"
    result = json.loads(path.read_text()) if path.exists() else {"rows": [], "environment": {}}
    result["returncode"] = proc.returncode
    return result


def merge_parts(parts: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """One run's arms from the parts it was split into (``--part`` files, each from one call on the
    same machine): official rows and FLOPs, this project's rows and environment, and each part's command."""
    official: dict[str, Any] = {"rows": [], "flops": {}, "returncode": 0}
    ours: dict[str, Any] = {"rows": [], "environment": {}, "returncode": 0}
    commands = []
    for part in parts:
        commands.append(part["command"])
        if part.get("official") is not None:
            o = part["official"]
            official["rows"] += o.get("rows", [])
            official["flops"] = official["flops"] or o.get("flops", {})
            official["returncode"] = official["returncode"] or o.get("returncode", 0)
            for key in ("commit", "lora_tensors", "build_s"):
                if key in o:
                    official[key] = o[key]
        if part.get("ours") is not None:
            m = part["ours"]
            ours["rows"] += m.get("rows", [])
            ours["environment"] = ours["environment"] or m.get("environment", {})
            ours["returncode"] = ours["returncode"] or m.get("returncode", 0)
    hosts = {p["ours"]["environment"].get("gpu") for p in parts if p.get("ours") and p["ours"].get("environment")}
    if len(hosts) > 1:
        raise ValueError(f"parts ran on different GPUs ({sorted(map(str, hosts))}): not one run")
    return official, ours, commands


def summarize(ours: dict[str, Any], official: dict[str, Any]) -> dict[str, Any]:
    """The issue's JSON: per shape the best of each arm, peaks, ratio, and MFU from the counted FLOPs."""
    by_name = {r["name"]: r for r in ours["rows"]}
    off = {r["name"]: r for r in official["rows"]}

    def ok(row: dict[str, Any] | None) -> bool:
        return bool(row) and row.get("status") == "ok"

    def best(rows: list[dict[str, Any] | None]) -> dict[str, Any] | None:
        good = [r for r in rows if r is not None and ok(r)]
        return max(good, key=lambda r: r["samples_per_s"]) if good else None

    out: dict[str, Any] = {}
    for shape, ours_names in (
        ("helium", ["helium_fast", "helium_fast_80gb", "helium_official_settings_b1", "helium_official_settings_b8"]),
        ("talking_head", ["talking_head_fast", "talking_head_fast_80gb", "talking_head_official_settings"]),
    ):
        mine = best([by_name.get(OURS[n]) for n in ours_names])
        theirs = best([r for r in off.values() if r["shape"] == shape])
        flops = official.get("flops", {}).get(shape, {})
        per_sample = flops.get("train_step")
        entry: dict[str, Any] = {
            "ltxvoice_config": mine["name"] if mine else None,
            "ltxvoice_samples_per_s": mine["samples_per_s"] if mine else None,
            "ltxvoice_peak_gib": mine.get("peak_alloc_gib") if mine else None,
            "official_config": theirs["name"] if theirs else None,
            "official_samples_per_s": theirs["samples_per_s"] if theirs else None,
            "official_peak_gib": theirs.get("peak_alloc_gib") if theirs else None,
            "model_tflop_per_sample": per_sample / 1e12 if per_sample else None,
        }
        if mine and theirs:
            entry["ratio"] = mine["samples_per_s"] / theirs["samples_per_s"]
        if per_sample:
            for arm, row in (("ltxvoice", mine), ("official", theirs)):
                if row:
                    achieved = row["samples_per_s"] * per_sample / 1e12
                    entry[f"{arm}_tflops"] = achieved
                    entry[f"{arm}_mfu_bf16"] = achieved / PEAK_TFLOPS["bf16"]
                    entry[f"{arm}_mfu_fp8"] = achieved / PEAK_TFLOPS["fp8"]
        out[shape] = entry
    out.update(lowmem(by_name))
    return out


def lowmem(by_name: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The small-card row of the summary: the fastest low-memory row within the 16 GB goal's peak,
    else the one with the lowest peak."""
    rows = [
        by_name[OURS[k]]
        for k in ("lowmem", "lowmem_b4", "lowmem_b4_fp8mm")
        if by_name.get(OURS[k], {}).get("status") == "ok"
    ]
    within = [r for r in rows if r.get("peak_alloc_gib", float("inf")) <= LOWMEM_GOAL_GIB]
    if within:
        row: dict[str, Any] | None = max(within, key=lambda r: r["samples_per_s"])
    else:
        row = min(rows, key=lambda r: r.get("peak_alloc_gib", float("inf"))) if rows else None
    return {
        "lowmem_config": row["name"] if row else None,
        "lowmem_peak_gib": row.get("peak_alloc_gib") if row else None,
        "lowmem_samples_per_s": row.get("samples_per_s") if row else None,
    }


def render(summary: dict[str, Any], ours: dict[str, Any], official: dict[str, Any], env: dict[str, Any]) -> str:
    def num(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, int | float) else "-"

    lines = [
        "# LoRA training: this project against the official LTX-2 trainer (one GPU, one run)",
        "",
        f"- command: `{env['command']}`",
        f"- machine: {env.get('gpu', '?')} x{env.get('gpus', '?')} ({env.get('gpu_memory_gib', '?')} GiB), "
        f"torch {env.get('torch', '?')}, CUDA {env.get('cuda', '?')}, peft {env.get('peft', '?')}, "
        f"accelerate {env.get('accelerate', '?')}; total {num(env.get('seconds'), '.0f')} s",
        f"- official code: Lightricks/LTX-2 at `{official.get('commit', '?')}` (ltx-core and ltx-trainer 1.2.0, "
        "read from the public repository for this run); this project: its locked ltx-core 1.0.0",
        "- both: full-size LTX-2.3 transformer, random bf16 weights (same seed), rank-32 LoRA on the same "
        f"{official.get('lora_tensors', '?')} tensors, AdamW, prompt contexts of 1024 tokens at connector width, "
        "batches resident on the GPU; samples/s over the timed steps after warm-up; peak = max allocated "
        "(weights included)",
        "- MFU: model FLOPs per sample counted with FlopCounterMode (forward + backward, recomputation not "
        f"counted) over the H100/H200 SXM dense peaks ({PEAK_TFLOPS['bf16']:.0f} bf16 / {PEAK_TFLOPS['fp8']:.0f} FP8 TFLOP/s)",
        "",
        "| arm | config | shape | batch | settings | samples/s | s/step | peak alloc GiB | loss step 1 | status |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in official["rows"]:
        lines.append(
            f"| official | {r['name']} | {r['shape']} | {r['batch']} | "
            f"gradient checkpointing {'on' if r['checkpointing'] else 'off'}, bf16 autocast | "
            f"{num(r.get('samples_per_s'), '.3f')} | {num(r.get('step_s'), '.3f')} | "
            f"{num(r.get('peak_alloc_gib'), '.1f')} | {num(r.get('loss_first'), '.4f')} | {r.get('status')} |"
        )
    for r in ours["rows"]:
        lines.append(
            f"| ltxvoice | {r['name']} | {r['shape']} | {r['batch']} | {r.get('knobs', '')} | "
            f"{num(r.get('samples_per_s'), '.3f')} | {num(r.get('step_s'), '.3f')} | "
            f"{num(r.get('peak_alloc_gib'), '.1f')} | {num(r.get('loss_first'), '.4f')} | {r.get('status')} |"
        )
    lines += ["", "## Summary", ""]
    for shape in ("helium", "talking_head"):
        s = summary[shape]
        lines.append(
            f"- {shape}: ltxvoice {num(s.get('ltxvoice_samples_per_s'), '.3f')} samples/s "
            f"(`{s.get('ltxvoice_config')}`, {num(s.get('ltxvoice_peak_gib'), '.1f')} GiB) vs official "
            f"{num(s.get('official_samples_per_s'), '.3f')} (`{s.get('official_config')}`, "
            f"{num(s.get('official_peak_gib'), '.1f')} GiB): ratio {num(s.get('ratio'), '.2f')}x; "
            f"{num(s.get('model_tflop_per_sample'), '.1f')} TFLOP per sample, MFU ltxvoice "
            f"{num(s.get('ltxvoice_mfu_bf16'), '.1%')} of bf16 / {num(s.get('ltxvoice_mfu_fp8'), '.1%')} of FP8 peak, "
            f"official {num(s.get('official_mfu_bf16'), '.1%')} of bf16"
        )
    same = [
        ("helium", "helium_b8", "official_helium_b8"),
        ("talking_head", "talking_head_b1", "official_talking_head_b1"),
    ]
    by_name = {r["name"]: r for r in ours["rows"] + official["rows"]}
    for shape, mine, theirs in same:
        a, b = by_name.get(mine, {}), by_name.get(theirs, {})
        if a.get("status") == "ok" and b.get("status") == "ok":
            lines.append(
                f"- {shape} at the official settings (bf16, every block recomputed, eager, same batch): ltxvoice "
                f"`{mine}` {a['samples_per_s']:.3f} vs official {b['samples_per_s']:.3f} samples/s "
                f"({a['samples_per_s'] / b['samples_per_s']:.2f}x)"
            )
    name = summary.get("lowmem_config") or OURS["lowmem"]
    low = next((r for r in ours["rows"] if r["name"] == name), {})
    peak = summary.get("lowmem_peak_gib")
    goal = (
        f" (goal <= {LOWMEM_GOAL_GIB:.0f} GiB at >= 0.5 samples/s: "
        + (
            "met"
            if isinstance(peak, float | int)
            and peak <= LOWMEM_GOAL_GIB
            and (summary.get("lowmem_samples_per_s") or 0) >= 0.5
            else "not met"
        )
        + ")"
    )
    lines.append(
        f"- small-card mode (`{name}`{', ' + low['note'] if low.get('note') else ''}): peak {num(peak, '.1f')} GiB, "
        f"{num(summary.get('lowmem_samples_per_s'), '.3f')} samples/s{goal}"
    )
    lines.append(f"- FLOPs counted (official arm): `{json.dumps(official.get('flops', {}))}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "benchmarks/results"))
    parser.add_argument("--official", type=Path, default=ROOT / ".official", help="from train_gpu_official.py --fetch")
    parser.add_argument("--budget-s", type=float, default=240.0, help="per arm: start no config after this")
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU (tests the logic)")
    parser.add_argument(
        "--from-log", type=Path, help="rebuild the report from a run's printed log (FLOPs counted here)"
    )
    parser.add_argument(
        "--lowmem-from", type=Path, help="with --from-log: the small-card row from an earlier train_gpu.json"
    )
    parser.add_argument(
        "--arms", default="official,ltxvoice", help="which arms this call runs (a part of a split run: see --part)"
    )
    parser.add_argument("--ours", default="", help="comma list of OURS keys: this project's rows this call runs")
    parser.add_argument("--profile", type=int, default=0, help="profile this many steps of this project's rows")
    parser.add_argument(
        "--part", type=Path, help="write this call's raw arms to this file instead of the report (merge with --merge)"
    )
    parser.add_argument("--merge", type=Path, nargs="+", help="build the report from --part files of one machine")
    args = parser.parse_args(argv)
    needs_official = not args.merge and (not args.part or "official" in args.arms.split(","))
    if needs_official and not (args.official / "ltx-trainer" / "ltx_trainer").is_dir():
        parser.error(f"{args.official} holds no official trainer: run train_gpu_official.py --fetch {args.official}")
    begun = time.perf_counter()
    started: float | None = begun
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/train_gpu_vs_official.py" + (" --tiny" if args.tiny else "")
    arms = set(args.arms.split(","))
    if not arms <= {"official", "ltxvoice"}:
        parser.error(f"--arms takes official and/or ltxvoice, not {args.arms}")
    unknown = [k for k in args.ours.split(",") if k and k not in OURS]
    if unknown:
        parser.error(f"--ours: unknown {unknown}; known: {sorted(OURS)}")
    names = [OURS[k] for k in args.ours.split(",") if k] or list(OURS.values())
    if args.profile:
        command += f" --profile {args.profile}"
    if args.merge and (args.part or args.from_log):
        parser.error("--merge builds a report from parts: it takes no --part or --from-log")
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        official, ours, commands = merge_parts(parts)
        command = " ; ".join(commands) + f" (one machine, {len(parts)} calls in a row, merged with --merge)"
        times = [p.get("seconds") for p in parts]
        total = (
            sum(t for t in times if isinstance(t, int | float))
            if all(isinstance(t, int | float) for t in times)
            else None
        )
        return _report(ours, official, command, total, out, any(r.get("profile") for r in ours["rows"]))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.part:
            if args.arms != "official,ltxvoice":
                command += f" --arms {args.arms}"
            if args.ours:
                command += f" --ours {args.ours}"
            official_part = ours_part = None
            if "official" in arms:
                log("official arm ...")
                official_part = run_official(args.official, args.tiny, args.budget_s, work)
            if "ltxvoice" in arms:
                log("ltxvoice arm ...")
                ours_part = run_ours(args.tiny, args.budget_s, work, names, args.profile)
            part = {
                "command": command + f" --part {args.part.name}",
                "official": official_part,
                "ours": ours_part,
                "seconds": time.perf_counter() - begun,
            }
            args.part.parent.mkdir(parents=True, exist_ok=True)
            args.part.write_text(json.dumps(part, indent=1))
            log(f"wrote {args.part}")
            failed = [a for a in (official_part, ours_part) if a is not None and a["returncode"] != 0]
            return 1 if failed else 0
        if args.from_log:
            official = run_official(args.official, args.tiny, args.budget_s, work, flops_only=True)
            official["rows"], rows, environment = rows_from_log(args.from_log)
            official["lora_tensors"] = 960 if official["rows"] else None
            if args.lowmem_from:  # a row of another run, named as such in the report
                earlier = json.loads(args.lowmem_from.read_text())["rows"]
                rows += [{**r, "note": f"from {args.lowmem_from.name}"} for r in earlier if r["name"] == OURS["lowmem"]]
            ours = {"rows": rows, "environment": environment, "returncode": 0}
            command += f" (report rebuilt from its log: --from-log {args.from_log.name})"
            started = None
        else:
            log("official arm ...")
            official = run_official(args.official, args.tiny, args.budget_s, work)
            log("ltxvoice arm ...")
            ours = run_ours(args.tiny, args.budget_s, work, names, args.profile)
    seconds = time.perf_counter() - started if started is not None else None
    return _report(ours, official, command, seconds, out, bool(args.profile))


def _report(
    ours: dict[str, Any], official: dict[str, Any], command: str, seconds: float | None, out: Path, profile: bool
) -> int:
    """Write the JSON and markdown report (and, for profiled rows, train_gpu_profile.{json,md})."""
    summary = summarize(ours, official)
    env = {**ours.get("environment", {}), "command": command, "seconds": seconds}
    rows = [{k: v for k, v in r.items() if k != "profile"} for r in ours["rows"]]
    result = {**summary, "environment": env, "official": official, "ltxvoice": rows}
    (out / "train_gpu_vs_official.json").write_text(json.dumps(result, indent=1))
    (out / "train_gpu_vs_official.md").write_text(render(summary, ours, official, env), encoding="utf-8")
    if profile:
        from train_gpu_profile import write

        write(ours["rows"], ours.get("environment", {}), command, out)
    log(f"wrote {out / 'train_gpu_vs_official.md'}")
    return 0 if official["returncode"] == 0 and ours["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
