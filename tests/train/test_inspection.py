"""``lora inspect``: the report, every kind of problem, and the CLI's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from ltxvoice.cli import app
from ltxvoice.train.inspection import inspect_lora

KEY = "diffusion_model.transformer_blocks.{b}.{m}.lora_{h}.weight"


def _lora(path: Path, modules: dict[str, tuple[int, int]], rank: int = 4, extra: dict | None = None) -> Path:
    tensors = {}
    for i, (module, (out_f, in_f)) in enumerate(modules.items()):
        block, name = module.split(":")
        tensors[KEY.format(b=block, m=name, h="A")] = torch.full((rank, in_f), 0.01, dtype=torch.bfloat16)
        tensors[KEY.format(b=block, m=name, h="B")] = torch.full((out_f, rank), 0.01 * (i + 1), dtype=torch.bfloat16)
    tensors.update(extra or {})
    save_file(tensors, str(path), metadata={"ltxvoice_format": json.dumps({"version": 1})})
    return path


GOOD = {"0:audio_attn1.to_q": (2048, 2048), "1:attn1.to_k": (4096, 4096), "47:video_to_audio_attn.to_v": (2048, 4096)}


def test_clean_file_against_the_real_architecture(tmp_path: Path) -> None:
    report = inspect_lora(_lora(tmp_path / "ok.safetensors", GOOD))
    assert report.ok and report.problems() == []
    assert report.tensors == 6 and report.dtypes == {"bfloat16": 6} and report.all_finite
    assert report.groups == {"video": 1, "audio": 1, "cross_modal": 1, "other": 0}
    assert report.ranks == [4] and report.unmatched_keys == [] and report.metadata["ltxvoice_format"]["version"] == 1
    assert "verdict: ok" in report.text()


def test_every_problem_is_reported(tmp_path: Path) -> None:
    extra = {
        "transformer_blocks.0.audio_attn1.to_k.lora_A.weight": torch.zeros(4, 2048, dtype=torch.bfloat16),  # no prefix
        "diffusion_model.transformer_blocks.48.attn1.to_q.lora_A.weight": torch.zeros(4, 4096, dtype=torch.bfloat16),
        "diffusion_model.transformer_blocks.0.audio_attn1.to_q.alpha": torch.tensor(8.0),
        "diffusion_model.transformer_blocks.2.attn2.to_v.lora_A.weight": torch.zeros(4, 4096, dtype=torch.bfloat16),
        "diffusion_model.transformer_blocks.3.lora_up.weight": torch.zeros(4, 4, dtype=torch.bfloat16),
    }
    path = _lora(tmp_path / "bad.safetensors", {**GOOD, "5:audio_ff.net.2": (2048, 4096)}, extra=extra)
    report = inspect_lora(path)
    assert not report.ok
    assert report.unmatched_keys == sorted([
        "diffusion_model.transformer_blocks.3.lora_up.weight",
        "diffusion_model.transformer_blocks.48.attn1.to_q.lora_A.weight",
        "transformer_blocks.0.audio_attn1.to_k.lora_A.weight"])
    assert report.alpha_keys == ["diffusion_model.transformer_blocks.0.audio_attn1.to_q.alpha"]
    assert report.unpaired == ["transformer_blocks.2.attn2.to_v"]
    assert len(report.shape_mismatches) == 1 and "audio_ff.net.2.lora_A" in report.shape_mismatches[0]  # in 8192
    nan = _lora(tmp_path / "nan.safetensors", {"0:attn1.to_q": (4096, 4096)})
    t = load_file(str(nan))
    t[KEY.format(b=0, m="attn1.to_q", h="B")][0, 0] = float("nan")
    save_file(t, str(nan))
    assert inspect_lora(nan).nonfinite_keys == [KEY.format(b=0, m="attn1.to_q", h="B")]


@pytest.mark.slow
def test_cli_against_a_checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> None:
    good = _lora(tmp_path / "tiny.safetensors", {"0:audio_attn1.to_q": (32, 32), "1:attn2.to_out.0": (64, 64)})
    runner = CliRunner()
    result = runner.invoke(app, ["lora", "inspect", str(good), "--model", str(tiny_checkpoint), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] and data["unmatched_keys"] == [] and data["tensors"] == 4
    real_shaped = _lora(tmp_path / "real.safetensors", GOOD)
    result = runner.invoke(app, ["lora", "inspect", str(real_shaped), "--model", str(tiny_checkpoint)])
    assert result.exit_code == 1 and "unmatched keys: 2" in result.output  # block 47 (A and B) is not in the 2-block model
    assert runner.invoke(app, ["lora", "inspect", str(tmp_path / "missing.safetensors")]).exit_code == 2
