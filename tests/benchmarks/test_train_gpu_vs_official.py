"""The comparison with the official trainer: its summary and report from recorded rows, and the
official arm's configs against the project's shapes (the GPU run itself is in benchmarks/results)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.benchmarks import BENCH, script


def _load():
    return script("train_gpu_vs_official")


def _row(name: str, shape: str, samples_per_s: float, peak: float, status: str = "ok") -> dict:
    return {
        "name": name,
        "shape": shape,
        "batch": 1,
        "samples_per_s": samples_per_s,
        "peak_alloc_gib": peak,
        "status": status,
        "checkpointing": True,
        "knobs": "ckpt 1",
        "step_s": 1 / samples_per_s,
    }


def test_summary_takes_each_arms_best_and_turns_counted_flops_into_mfu() -> None:
    bench = _load()
    ours = {
        "rows": [
            _row(bench.OURS["helium_fast"], "helium", 9.0, 112.0),
            _row(bench.OURS["helium_official_settings_b8"], "helium", 4.0, 42.0),
            _row(bench.OURS["talking_head_fast"], "talking_head", 0.3, 122.0, status="OOM"),
            _row(bench.OURS["talking_head_official_settings"], "talking_head", 0.2, 49.0),
            _row(bench.OURS["lowmem"], "helium", 0.6, 19.8),
        ]
    }
    official = {
        "rows": [
            _row("official_helium_b1", "helium", 1.0, 37.0),
            _row("official_helium_b8", "helium", 3.0, 43.0),
            _row("official_talking_head_b1", "talking_head", 0.1, 50.0, status="OOM"),
        ],
        "flops": {"helium": {"train_step": 100e12}, "talking_head": {"error": "x"}},
    }
    s = bench.summarize(ours, official)
    assert s["helium"]["ltxvoice_config"] == bench.OURS["helium_fast"] and s["helium"]["official_samples_per_s"] == 3.0
    assert s["helium"]["ratio"] == pytest.approx(3.0)
    assert s["helium"]["ltxvoice_mfu_bf16"] == pytest.approx(9.0 * 100 / bench.PEAK_TFLOPS["bf16"])
    assert s["talking_head"]["ltxvoice_config"] == bench.OURS["talking_head_official_settings"]  # OOM rows never win
    assert s["talking_head"]["official_samples_per_s"] is None and "ratio" not in s["talking_head"]
    assert s["talking_head"]["model_tflop_per_sample"] is None  # a failed count is not a number
    assert s["lowmem_peak_gib"] == 19.8
    text = bench.render(s, ours, official, {"command": "c", "seconds": 1.0})
    assert "ratio 3.00x" in text and "| official | official_talking_head_b1 |" in text


def test_official_configs_use_the_benchmark_shapes_and_the_projects_configs_exist() -> None:
    bench = _load()
    sys.path.insert(0, str(BENCH))
    import train_gpu

    assert {c["shape"] for c in bench.OFFICIAL} == {"helium", "talking_head"}
    assert set(bench.OURS.values()) <= set(train_gpu.CONFIGS)
    official = importlib.util.spec_from_file_location("train_gpu_official", BENCH / "train_gpu_official.py")
    module = importlib.util.module_from_spec(official)
    assert official.loader is not None
    official.loader.exec_module(module)
    # the official LoRA targets are the project's helium preset: 10 audio modules of every block
    from ltxvoice.train.presets import PRESETS

    assert len(module.TARGET_MODULES) == 10 and all(m.startswith("audio_") for m in module.TARGET_MODULES)
    import re

    for target in module.TARGET_MODULES:
        assert any(re.fullmatch(p, f"transformer_blocks.7.{target}") for p in PRESETS["helium"]), target


def test_small_card_row_is_the_fastest_within_the_goal_else_the_smallest() -> None:
    bench = _load()
    b1, b4 = bench.OURS["lowmem"], bench.OURS["lowmem_b4"]
    rows = {b1: _row(b1, "helium", 0.4, 3.0), b4: _row(b4, "helium", 1.7, 5.5)}
    assert bench.lowmem(rows) == {"lowmem_config": b4, "lowmem_peak_gib": 5.5, "lowmem_samples_per_s": 1.7}
    rows = {b1: _row(b1, "helium", 0.6, 19.8), b4: _row(b4, "helium", 1.9, 20.5)}
    assert bench.lowmem(rows)["lowmem_config"] == b1  # none within 14 GiB: the smallest peak
    rows[b1]["status"] = "OOM"
    assert bench.lowmem(rows)["lowmem_config"] == b4
    assert bench.lowmem({})["lowmem_config"] is None


def test_a_run_split_over_calls_merges_into_one_report(tmp_path: Path) -> None:
    import json

    bench = _load()
    env = {"gpu": "NVIDIA H200", "gpus": 1, "torch": "2.11"}
    official = {
        "rows": [
            _row("official_helium_b8", "helium", 3.0, 43.0),
            _row("official_talking_head_b1", "talking_head", 0.2, 50.0),
        ],
        "flops": {"helium": {"train_step": 64e12}, "talking_head": {"train_step": 1.5e15}},
        "returncode": 0,
        "commit": "abc",
        "lora_tensors": 960,
    }
    part1 = {
        "command": "cmd1",
        "official": official,
        "ours": {
            "rows": [_row(bench.OURS["helium_official_settings_b8"], "helium", 2.9, 42.0)],
            "environment": env,
            "returncode": 0,
        },
        "seconds": 300.0,
    }
    import train_gpu_profile  # on the path once the benchmark is loaded

    profile = train_gpu_profile.summarize_events([("nvjet_x", 0.0, 500.0)], wall_ms=1.0, steps=1)
    fast = [
        {**_row(bench.OURS["helium_fast"], "helium", 9.0, 112.0), "profile": profile},
        _row(bench.OURS["talking_head_fast"], "talking_head", 0.31, 122.0),
        _row(bench.OURS["lowmem_b4"], "helium", 1.7, 5.0),
    ]
    part2 = {
        "command": "cmd2",
        "official": None,
        "ours": {"rows": fast, "environment": env, "returncode": 0},
        "seconds": 400.0,
    }
    paths = []
    for i, part in enumerate((part1, part2)):
        paths.append(tmp_path / f"part{i}.json")
        paths[-1].write_text(json.dumps(part))
    out = tmp_path / "out"
    assert bench.main(["--merge", *map(str, paths), "--out", str(out)]) == 0
    data = json.loads((out / "train_gpu_vs_official.json").read_text())
    assert data["helium"]["ratio"] == pytest.approx(3.0) and data["talking_head"]["ratio"] == pytest.approx(1.55)
    assert data["lowmem_config"] == bench.OURS["lowmem_b4"] and data["lowmem_peak_gib"] == 5.0
    assert data["environment"]["seconds"] == 700.0 and data["official"]["commit"] == "abc"
    assert data["environment"]["command"].startswith("cmd1 ; cmd2 (one machine, 2 calls")
    assert all("profile" not in r for r in data["ltxvoice"])  # the profile goes to its own report
    assert "helium_b8_fp8grad" in (out / "train_gpu_profile.md").read_text()
    assert "goal <= 14 GiB at >= 0.5 samples/s: met" in (out / "train_gpu_vs_official.md").read_text()
    part2["ours"]["environment"] = {**env, "gpu": "NVIDIA H100 80GB HBM3"}  # type: ignore[index]
    paths[1].write_text(json.dumps(part2))
    with pytest.raises(ValueError, match="different GPUs"):
        bench.main(["--merge", *map(str, paths), "--out", str(out)])
