"""The LoRA file: alpha folded into B, bf16, metadata, NaN refused - and ltx-core's own fusion of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ltxvoice.models.lora_file import read_metadata
from ltxvoice.train.lora import LoraSpec, export_lora, save_lora
from ltxvoice.train.presets import PRESETS
from tests.train.conftest import train_params


def _state(rank: int = 4, value: float = 0.5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    prefix = "base_model.model.transformer_blocks.0.audio_attn1.to_q"
    return {
        f"{prefix}.lora_A.weight": torch.randn(rank, 32, generator=g),
        f"{prefix}.lora_B.weight": torch.full((32, rank), value),
    }


def test_export_folds_alpha_into_b_and_casts_to_bf16() -> None:
    spec = LoraSpec(rank=4, alpha=8.0, dropout=0.0, patterns=PRESETS["helium"])
    out = export_lora(_state(), spec)
    key = "diffusion_model.transformer_blocks.0.audio_attn1.to_q"
    assert set(out) == {f"{key}.lora_A.weight", f"{key}.lora_B.weight"}
    assert {t.dtype for t in out.values()} == {torch.bfloat16}
    assert torch.all(out[f"{key}.lora_B.weight"] == 1.0)  # 0.5 * alpha/rank (2)
    peft_a = _state()["base_model.model.transformer_blocks.0.audio_attn1.to_q.lora_A.weight"]
    assert torch.equal(out[f"{key}.lora_A.weight"], peft_a.bfloat16())
    same = export_lora(_state(), LoraSpec(rank=4, alpha=4.0, dropout=0.0, patterns=()))
    assert torch.all(same[f"{key}.lora_B.weight"] == 0.5)


def test_save_writes_json_metadata_and_no_alpha(tmp_path: Path) -> None:
    spec = LoraSpec(rank=4, alpha=4.0, dropout=0.0, patterns=PRESETS["helium"])
    meta = {
        "ltxvoice_strategy": {"name": "audio_reference", "reference_placement": "negative"},
        "reference_downscale_factor": 1,
    }
    path = save_lora(tmp_path / "l.safetensors", _state(), spec, meta)
    with safe_open(str(path), framework="pt") as f:
        raw = f.metadata()
        keys = list(f.keys())
    assert json.loads(raw["ltxvoice_strategy"])["reference_placement"] == "negative"
    assert raw["reference_downscale_factor"] == "1"
    assert read_metadata(path)["ltxvoice_strategy"]["name"] == "audio_reference"
    assert not any(k.endswith("alpha") for k in keys) and not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_is_never_saved(tmp_path: Path, bad: float) -> None:
    spec = LoraSpec(rank=4, alpha=4.0, dropout=0.0, patterns=())
    state = _state()
    next(iter(state.values()))[0, 0] = bad
    with pytest.raises(ValueError, match=r"refusing to save.*1 tensor.*lora_A"):
        save_lora(tmp_path / "l.safetensors", state, spec, {})
    assert not list(tmp_path.iterdir())
    # values that only overflow in bf16 are refused too
    huge = _state(value=1e38)
    with pytest.raises(ValueError, match="refusing to save"):
        save_lora(tmp_path / "l.safetensors", huge, LoraSpec(rank=4, alpha=400.0, dropout=0.0, patterns=()), {})


@pytest.mark.slow
def test_ltx_core_fusion_changes_exactly_the_targeted_weights(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, SingleGPUModelBuilder
    from ltx_core.model.transformer.model_configurator import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator

    from ltxvoice.models.lora_file import inspect_lora, transformer_weights
    from ltxvoice.models.ltx import load_transformer
    from ltxvoice.train.lora import adapter_state
    from ltxvoice.train.trainer import lora_spec, prepare_model

    params = train_params(preset="register", rank=4, alpha=8.0, mixed_precision="no")  # alpha != rank: scale 2
    prepared = prepare_model(load_transformer(tiny_checkpoint, "cpu", torch.bfloat16), params, "cpu")
    with torch.no_grad():
        for name, p in prepared.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    state = adapter_state(prepared.model)
    path = save_lora(tmp_path / "lora.safetensors", state, lora_spec(params), {})
    report = inspect_lora(path, transformer_weights(tiny_checkpoint))
    assert report.ok and report.unmatched == [] and report.tensors == 2 * 2 * 12

    def build(with_lora: bool) -> dict[str, torch.Tensor]:
        builder = SingleGPUModelBuilder(
            model_class_configurator=LTXModelConfigurator,
            model_path=str(tiny_checkpoint),
            model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP,
        )
        if with_lora:
            builder = builder.lora(str(path), 1.0, LTXV_LORA_COMFY_RENAMING_MAP)
        return builder.build(device=torch.device("cpu")).state_dict()

    base, fused = build(False), build(True)
    lora = load_file(str(path))
    targeted = {
        k.removeprefix("diffusion_model.").replace(".lora_A.weight", ".weight")
        for k in lora
        if k.endswith("lora_A.weight")
    }
    assert len(targeted) == 24
    for key, weight in base.items():
        if key in targeted:
            module = "diffusion_model." + key.removesuffix(".weight")
            a, b = lora[f"{module}.lora_A.weight"], lora[f"{module}.lora_B.weight"]
            assert torch.equal(fused[key], (torch.matmul(b * 1.0, a) + weight).to(weight.dtype)), key
            peft_a = state[f"base_model.model.{key.removesuffix('.weight')}.lora_A.weight"]
            peft_b = state[f"base_model.model.{key.removesuffix('.weight')}.lora_B.weight"]
            delta = fused[key].float() - weight.float()
            assert torch.allclose(delta, 2.0 * peft_b @ peft_a, atol=2e-2, rtol=0.05), key  # alpha/rank applied once
            assert not torch.equal(fused[key], weight)
        else:
            assert torch.equal(fused[key], weight), key
