"""The GPU training benchmark's logic, run with --tiny on CPU (it measures nothing here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmarks import BENCH, script

pytestmark = pytest.mark.slow

SCRIPT = BENCH / "train_gpu.py"


def _load():
    return script("train_gpu")


def test_configs_are_consistent() -> None:
    bench = _load()
    assert set(bench.DEFAULT) <= set(bench.CONFIGS)
    for c in bench.CONFIGS.values():
        assert c.phase in bench.PHASES and c.shape in bench.SHAPES
        if c.phase == "lowmem":
            assert c.checkpointing == 1.0  # offload needs every block recomputed
    helium = bench.SHAPES["helium"]
    assert (helium.frames, helium.height, helium.width) == ((121 - 1) // 8 + 1, 256 // 32, 256 // 32)
    assert helium.audio_steps == round(4.84 * 25) and helium.reference_steps == 2 * 25
    th = bench.SHAPES["talking_head"]
    assert th.frames * th.height * th.width == 19 * 22 * 40 and th.first_frame_p == 0.5


def test_tiny_run_writes_the_report(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    bench = _load()
    names = ["ddp2_helium_b8", "helium_b8", "helium_b8_ckpt0", "talking_head_b1", "helium_b8_fp8", "helium_b1_lowmem"]
    assert bench.main(["--tiny", "--configs", ",".join(reversed(names)), "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "train_gpu.json").read_text())
    rows = {r["name"]: r for r in data["rows"]}
    phases = [bench.CONFIGS[r["name"]].phase for r in data["rows"]]
    assert sorted(rows) == sorted(names) and phases == sorted(phases, key=bench.PHASES.index)  # DDP, bf16, fp8, low-mem
    assert all(r["status"] == "ok" for r in rows.values()), {n: r["status"] for n, r in rows.items()}
    assert rows["helium_b8"]["loss_mean"] == rows["helium_b8_ckpt0"]["loss_mean"]  # recompute changes no number
    assert rows["helium_b8"]["losses"] == rows["helium_b8_ckpt0"]["losses"]  # step by step
    assert bench.loss_delta(rows["helium_b8_ckpt0"], rows["helium_b8"]) == 0.0
    assert rows["helium_b8_fp8"]["loss_mean"] != rows["helium_b8"]["loss_mean"]  # FP8 matmuls did run...
    assert abs(rows["helium_b8_fp8"]["loss_mean"] / rows["helium_b8"]["loss_mean"] - 1) < 0.01  # ...closely
    md = (tmp_path / "train_gpu.md").read_text()
    assert "| helium_b1_lowmem | helium | 1 | ckpt 1, fp8 base (upcast), block offload |" in md
    assert "ddp2_helium_b8:" in md and "x `helium_b8`" in md
