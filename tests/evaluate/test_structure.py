"""Structure of LoRA files written in the train stage's layout, checked against the tiny LTX-2.3
checkpoint: counts, dtypes, finiteness, rank, modules touched, unmatched keys, norms of B·A and
the exact distance between checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ltxvoice.evaluate.structure import (
    checkpoint_distance,
    inspect_lora,
    lora_module_name,
    model_weights,
    module_group,
)
from tests.evaluate.loras import HELIUM, lora_tensors, save_lora

pytestmark = pytest.mark.slow  # the tiny checkpoint takes ~15 s to write


def test_helium_preset_structure(tiny_ltx: Path, tmp_path: Path) -> None:
    tensors = lora_tensors(tiny_ltx, HELIUM, rank=4)
    s = inspect_lora(save_lora(tmp_path / "step_000010.safetensors", tensors, step=10), model_weights(tiny_ltx))
    # 10 modules per block (the seed's 960 tensors at 48 blocks), 2 blocks in the tiny model
    assert s.tensors == 40 and s.modules == 20
    assert s.dtypes == ["bfloat16"] and s.ranks == [4] and s.blocks == [0, 1]
    assert s.touched == {"video": 0, "audio": 20, "cross_modal": 0, "other": 0}
    assert s.kinds["audio_ff.net.2"] == 2
    assert s.problems() == [] and s.metadata["step"] == 10 and s.metadata["strategy"]["name"] == "helium"


def test_norms_match_explicit_products(tiny_ltx: Path, tmp_path: Path) -> None:
    tensors = lora_tensors(tiny_ltx, ("to_q", "attn1.to_q", "audio_attn1.to_q", "video_to_audio_attn.to_k"), rank=3)
    s = inspect_lora(save_lora(tmp_path / "l.safetensors", tensors), model_weights(tiny_ltx))
    expected: dict[str, float] = {}
    for key, a in tensors.items():
        if key.endswith("lora_A.weight"):
            b = tensors[key.replace("lora_A", "lora_B")]
            ab = b.to(torch.bfloat16).double() @ a.to(torch.bfloat16).double()
            group = module_group(lora_module_name(key))[0]  # type: ignore[arg-type]
            expected[group] = expected.get(group, 0.0) + float((ab ** 2).sum())
    assert s.touched["video"] == 2 and s.touched["audio"] == 2 and s.touched["cross_modal"] == 2
    for group, sq in expected.items():
        assert s.norms[group] == pytest.approx(math.sqrt(sq), rel=1e-9)
    assert s.norms["total"] == pytest.approx(math.sqrt(sum(expected.values())), rel=1e-9)


def test_problems_are_reported(tiny_ltx: Path, tmp_path: Path) -> None:
    model = model_weights(tiny_ltx)
    tensors = lora_tensors(tiny_ltx, ("audio_attn1.to_q",), rank=2)
    # a PEFT-style prefix ltx-core does not rename onto the model: loads, silently does nothing
    peft = {k.replace("diffusion_model.", "base_model.model."): v for k, v in tensors.items()}
    s = inspect_lora(save_lora(tmp_path / "peft.safetensors", peft), model)
    assert len(s.unmatched) == 4 and s.modules == 0 and "ignored by ltx-core" in s.problems()[0]

    bad = dict(tensors)
    key = sorted(bad)[0]
    bad[key] = bad[key].clone()
    bad[key][0, 0] = float("nan")
    bad["diffusion_model.transformer_blocks.0.audio_attn1.to_q.alpha"] = torch.tensor(4.0)
    del bad["diffusion_model.transformer_blocks.1.audio_attn1.to_q.lora_B.weight"]
    bad["diffusion_model.transformer_blocks.0.audio_attn2.to_k.lora_A.weight"] = torch.zeros(2, 7)
    bad["diffusion_model.transformer_blocks.0.audio_attn2.to_k.lora_B.weight"] = torch.zeros(32, 2)
    s = inspect_lora(save_lora(tmp_path / "bad.safetensors", bad), model)
    assert s.non_finite == [key]
    assert s.unmatched == ["diffusion_model.transformer_blocks.0.audio_attn1.to_q.alpha"]
    assert s.unpaired == ["diffusion_model.transformer_blocks.1.audio_attn1.to_q.lora_A.weight"]
    assert len(s.shape_mismatch) == 1 and "audio_attn2.to_k" in s.shape_mismatch[0]
    assert len(s.problems()) == 4


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="junk.safetensors: not a readable safetensors file"):
        inspect_lora(junk)
    with pytest.raises(FileNotFoundError):
        inspect_lora(tmp_path / "missing.safetensors")


def test_distance_between_checkpoints_is_exact(tiny_ltx: Path, tmp_path: Path) -> None:
    t1 = lora_tensors(tiny_ltx, HELIUM, rank=4, seed=1)
    grown = {k: (v * 1.08 if "lora_B" in k else v) for k, v in t1.items()}
    p1 = save_lora(tmp_path / "a.safetensors", t1, dtype=torch.float32)
    p2 = save_lora(tmp_path / "b.safetensors", grown, dtype=torch.float32)
    d = checkpoint_distance(p1, p2)
    assert d.relative == pytest.approx(0.08, rel=1e-6) and d.norm_change == pytest.approx(0.08, rel=1e-6)
    assert set(d.by_group) == {"audio"}

    t3 = lora_tensors(tiny_ltx, HELIUM, rank=6, seed=2)  # another rank, other factors
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
