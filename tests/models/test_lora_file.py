"""LoRA files (ltxvoice.models.lora_file): module groups, the inspection report against the real
architecture and against the tiny LTX-2.3 checkpoint (counts, dtypes, finiteness, rank, modules
touched, every kind of problem, norms of B·A), the exact distance between checkpoints, and the
``lora inspect`` command's exit codes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from ltxvoice.cli import app
from ltxvoice.models.lora_file import (checkpoint_distance, inspect_lora, lora_module, module_block, module_group,
                                       module_kind, transformer_weights)
from tests.evaluate.loras import HELIUM, lora_tensors, save_lora

KEY = "diffusion_model.transformer_blocks.{b}.{m}.lora_{h}.weight"
# LTX-2.3 shapes (out, in): audio 2048 wide, video 4096, audio_ff 8192 inside
GOOD = {"0:audio_attn1.to_q": (2048, 2048), "1:attn1.to_k": (4096, 4096), "47:video_to_audio_attn.to_v": (2048, 4096)}


def _lora(path: Path, modules: dict[str, tuple[int, int]], rank: int = 4, extra: dict | None = None) -> Path:
    tensors = {}
    for i, (module, (out_f, in_f)) in enumerate(modules.items()):
        block, name = module.split(":")
        tensors[KEY.format(b=block, m=name, h="A")] = torch.full((rank, in_f), 0.01, dtype=torch.bfloat16)
        tensors[KEY.format(b=block, m=name, h="B")] = torch.full((out_f, rank), 0.01 * (i + 1), dtype=torch.bfloat16)
    tensors.update(extra or {})
    save_file(tensors, str(path), metadata={"ltxvoice_format": json.dumps({"version": 1})})
    return path


@pytest.fixture(scope="module")
def ltx23() -> object:
    return transformer_weights()  # the full-size architecture, built on the meta device


def test_module_names() -> None:
    assert module_group("transformer_blocks.3.attn1.to_q") == "video"
    assert module_group("transformer_blocks.3.ff.net.2") == "video"
    assert module_group("transformer_blocks.3.audio_attn2.to_k") == "audio"
    assert module_group("transformer_blocks.3.audio_ff.net.0.proj") == "audio"
    assert module_group("transformer_blocks.3.video_to_audio_attn.to_v") == "cross_modal"
    assert module_group("transformer_blocks.3.audio_to_video_attn.to_out.0") == "cross_modal"
    assert module_group("audio_patchify_proj") == "audio"
    assert module_group("patchify_proj") == module_group("proj_out") == "other"
    assert module_kind("transformer_blocks.12.audio_attn1.to_out.0") == "audio_attn1.to_out.0"
    assert module_block("transformer_blocks.12.audio_attn1.to_q") == 12 and module_block("patchify_proj") is None
    assert lora_module("diffusion_model.transformer_blocks.0.attn1.to_q.lora_B.weight") == "transformer_blocks.0.attn1.to_q"
    assert lora_module("transformer_blocks.0.attn1.to_q.lora_B.weight") is None  # no diffusion_model. prefix
    assert lora_module("diffusion_model.transformer_blocks.0.attn1.to_q.alpha") is None


def test_clean_file_against_the_real_architecture(tmp_path: Path, ltx23: object) -> None:
    report = inspect_lora(_lora(tmp_path / "ok.safetensors", GOOD), ltx23)  # type: ignore[arg-type]
    assert report.ok and report.problems() == [] and report.reference.startswith("the LTX-2.3 transformer")
    assert report.tensors == 6 and report.dtypes == {"bfloat16": 6} and report.non_finite == []
    assert report.touched == {"video": 1, "audio": 1, "cross_modal": 1, "other": 0} and report.blocks == [0, 1, 47]
    assert report.ranks == [4] and report.unmatched == [] and report.metadata["ltxvoice_format"]["version"] == 1
    assert "verdict: ok" in report.text() and report.as_dict()["ok"] is True


def test_every_problem_is_reported(tmp_path: Path, ltx23: object) -> None:
    extra = {
        "transformer_blocks.0.audio_attn1.to_k.lora_A.weight": torch.zeros(4, 2048, dtype=torch.bfloat16),  # no prefix
        "diffusion_model.transformer_blocks.48.attn1.to_q.lora_A.weight": torch.zeros(4, 4096, dtype=torch.bfloat16),
        "diffusion_model.transformer_blocks.0.audio_attn1.to_q.alpha": torch.tensor(8.0),
        "diffusion_model.transformer_blocks.2.attn2.to_v.lora_A.weight": torch.zeros(4, 4096, dtype=torch.bfloat16),
        "diffusion_model.transformer_blocks.3.lora_up.weight": torch.zeros(4, 4, dtype=torch.bfloat16),
    }
    path = _lora(tmp_path / "bad.safetensors", {**GOOD, "5:audio_ff.net.2": (2048, 4096)}, extra=extra)
    report = inspect_lora(path, ltx23)  # type: ignore[arg-type]
    assert not report.ok and len(report.problems()) == 4
    assert report.unmatched == sorted([
        "diffusion_model.transformer_blocks.3.lora_up.weight",
        "diffusion_model.transformer_blocks.48.attn1.to_q.lora_A.weight",
        "transformer_blocks.0.audio_attn1.to_k.lora_A.weight"])
    assert report.alpha_keys == ["diffusion_model.transformer_blocks.0.audio_attn1.to_q.alpha"]
    assert report.unpaired == ["diffusion_model.transformer_blocks.2.attn2.to_v.lora_A.weight"]
    assert len(report.shape_mismatch) == 1 and "audio_ff.net.2: B(2048, 4)·A(4, 4096)" in report.shape_mismatch[0]
    assert report.modules == 3  # the good ones still count
    nan = _lora(tmp_path / "nan.safetensors", {"0:attn1.to_q": (4096, 4096)})
    t = load_file(str(nan))
    t[KEY.format(b=0, m="attn1.to_q", h="B")][0, 0] = float("nan")
    save_file(t, str(nan))
    report = inspect_lora(nan, ltx23)  # type: ignore[arg-type]
    assert report.non_finite == [KEY.format(b=0, m="attn1.to_q", h="B")] and report.norms["video"] == 0.0
    assert "all finite: NO" in report.text()


def test_unreadable_and_missing_files(tmp_path: Path, ltx23: object) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="junk.safetensors: not a readable safetensors file"):
        inspect_lora(junk, ltx23)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        inspect_lora(tmp_path / "missing.safetensors", ltx23)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="LTX checkpoint not found"):
        transformer_weights(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="no transformer weights"):
        transformer_weights(_lora(tmp_path / "lora_as_model.safetensors", GOOD))


# --- against the tiny checkpoint: the train stage's layout ------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_ltx: tuple[Path, Path]) -> Path:
    return tiny_ltx[0]


@pytest.mark.slow
def test_helium_preset_structure(tiny: Path, tmp_path: Path) -> None:
    tensors = lora_tensors(tiny, HELIUM, rank=4)
    s = inspect_lora(save_lora(tmp_path / "step_000010.safetensors", tensors, step=10), transformer_weights(tiny))
    # 10 modules per block (the seed's 960 tensors at 48 blocks), 2 blocks in the tiny model
    assert s.tensors == 40 and s.modules == 20 and s.reference == str(tiny)
    assert s.dtypes == {"bfloat16": 40} and s.ranks == [4] and s.blocks == [0, 1]
    assert s.touched == {"video": 0, "audio": 20, "cross_modal": 0, "other": 0}
    assert s.kinds["audio_ff.net.2"] == 2
    assert s.problems() == [] and s.metadata["step"] == 10 and s.metadata["strategy"]["name"] == "helium"


@pytest.mark.slow
def test_norms_match_explicit_products(tiny: Path, tmp_path: Path) -> None:
    tensors = lora_tensors(tiny, ("to_q", "attn1.to_q", "audio_attn1.to_q", "video_to_audio_attn.to_k"), rank=3)
    s = inspect_lora(save_lora(tmp_path / "l.safetensors", tensors), transformer_weights(tiny))
    expected: dict[str, float] = {}
    for key, a in tensors.items():
        if key.endswith("lora_A.weight"):
            b = tensors[key.replace("lora_A", "lora_B")]
            ab = b.to(torch.bfloat16).double() @ a.to(torch.bfloat16).double()
            group = module_group(lora_module(key))  # type: ignore[arg-type]
            expected[group] = expected.get(group, 0.0) + float((ab ** 2).sum())
    assert s.touched["video"] == 2 and s.touched["audio"] == 2 and s.touched["cross_modal"] == 2
    for group, sq in expected.items():
        assert s.norms[group] == pytest.approx(math.sqrt(sq), rel=1e-9)
    assert s.norms["total"] == pytest.approx(math.sqrt(sum(expected.values())), rel=1e-9)


@pytest.mark.slow
def test_problems_against_the_tiny_checkpoint(tiny: Path, tmp_path: Path) -> None:
    model = transformer_weights(tiny)
    tensors = lora_tensors(tiny, ("audio_attn1.to_q",), rank=2)
    # a PEFT-style prefix the loaders do not rename onto the model: loads, silently does nothing
    peft = {k.replace("diffusion_model.", "base_model.model."): v for k, v in tensors.items()}
    s = inspect_lora(save_lora(tmp_path / "peft.safetensors", peft), model)
    assert len(s.unmatched) == 4 and s.modules == 0 and "ignored by loaders" in s.problems()[0]

    bad = dict(tensors)
    key = sorted(bad)[0]
    bad[key] = bad[key].clone()
    bad[key][0, 0] = float("nan")
    bad["diffusion_model.transformer_blocks.0.audio_attn1.to_q.alpha"] = torch.tensor(4.0)
    del bad["diffusion_model.transformer_blocks.1.audio_attn1.to_q.lora_B.weight"]
    bad["diffusion_model.transformer_blocks.0.audio_attn2.to_k.lora_A.weight"] = torch.zeros(2, 7)
    bad["diffusion_model.transformer_blocks.0.audio_attn2.to_k.lora_B.weight"] = torch.zeros(32, 2)
    s = inspect_lora(save_lora(tmp_path / "bad.safetensors", bad), model)
    assert s.non_finite == [key] and s.unmatched == []
    assert s.alpha_keys == ["diffusion_model.transformer_blocks.0.audio_attn1.to_q.alpha"]
    assert s.unpaired == ["diffusion_model.transformer_blocks.1.audio_attn1.to_q.lora_A.weight"]
    assert len(s.shape_mismatch) == 1 and "audio_attn2.to_k" in s.shape_mismatch[0]
    assert len(s.problems()) == 4


@pytest.mark.slow
def test_distance_between_checkpoints_is_exact(tiny: Path, tmp_path: Path) -> None:
    t1 = lora_tensors(tiny, HELIUM, rank=4, seed=1)
    grown = {k: (v * 1.08 if "lora_B" in k else v) for k, v in t1.items()}
    p1 = save_lora(tmp_path / "a.safetensors", t1, dtype=torch.float32)
    p2 = save_lora(tmp_path / "b.safetensors", grown, dtype=torch.float32)
    d = checkpoint_distance(p1, p2)
    assert d.relative == pytest.approx(0.08, rel=1e-6) and d.norm_change == pytest.approx(0.08, rel=1e-6)
    assert set(d.by_group) == {"audio"}

    t3 = lora_tensors(tiny, HELIUM, rank=6, seed=2)  # another rank, other factors
    p3 = save_lora(tmp_path / "c.safetensors", t3, dtype=torch.float32)
    num = den = 0.0
    for key, a1 in t1.items():
        if key.endswith("lora_A.weight"):
            kb = key.replace("lora_A", "lora_B")
            d1 = t1[kb].double() @ a1.double()
            d3 = t3[kb].double() @ t3[key].double()
            num += float(((d3 - d1) ** 2).sum())
            den += float((d1 ** 2).sum())
    assert checkpoint_distance(p1, p3).relative == pytest.approx(math.sqrt(num / den), rel=1e-9)
    assert checkpoint_distance(p1, p1).relative == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_cli_against_a_checkpoint(tiny: Path, tmp_path: Path) -> None:
    good = _lora(tmp_path / "tiny.safetensors", {"0:audio_attn1.to_q": (32, 32), "1:attn2.to_out.0": (64, 64)})
    runner = CliRunner()
    result = runner.invoke(app, ["lora", "inspect", str(good), "--model", str(tiny), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] and data["unmatched"] == [] and data["tensors"] == 4 and data["problems"] == []
    real_shaped = _lora(tmp_path / "real.safetensors", GOOD)
    result = runner.invoke(app, ["lora", "inspect", str(real_shaped), "--model", str(tiny)])
    assert result.exit_code == 1 and "unmatched keys: 2" in result.output  # block 47 (A and B) is not in the 2-block model
    assert runner.invoke(app, ["lora", "inspect", str(tmp_path / "missing.safetensors")]).exit_code == 2
