"""Target-module presets against the real LTX-2.3 transformer layout (built on the meta device)."""

from __future__ import annotations

import re

import pytest

from ltxvoice.models.lora_file import module_group
from ltxvoice.train.presets import MODULES_PER_BLOCK, PRESETS, matches, target_patterns, target_regex


@pytest.fixture(scope="module")
def real_linear_names() -> list[str]:
    import torch

    from ltxvoice.models.ltx import build_transformer, ltx23_config

    model = build_transformer(ltx23_config(), device="meta")
    assert len(model.transformer_blocks) == 48
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize(("preset", "tensors"), [("helium", 960), ("register", 1152), ("talking_head", 2304)])
def test_preset_sizes_on_the_48_block_model(real_linear_names: list[str], preset: str, tensors: int) -> None:
    rx = re.compile(target_regex(PRESETS[preset]))
    hit = [n for n in real_linear_names if rx.fullmatch(n)]
    assert 2 * len(hit) == tensors == 2 * 48 * MODULES_PER_BLOCK[preset]
    assert not any("to_gate_logits" in n for n in hit)


def test_helium_is_the_audio_stack_only(real_linear_names: list[str]) -> None:
    hit = [n for n in real_linear_names if matches(n, PRESETS["helium"])]
    assert {module_group(n) for n in hit} == {"audio"}
    block0 = sorted(n.split(".", 2)[2] for n in hit if n.startswith("transformer_blocks.0."))
    assert block0 == sorted(
        [f"audio_attn{i}.{p}" for i in (1, 2) for p in ("to_q", "to_k", "to_v", "to_out.0")]
        + ["audio_ff.net.0.proj", "audio_ff.net.2"]
    )


def test_register_and_talking_head_groups(real_linear_names: list[str]) -> None:
    register = {module_group(n) for n in real_linear_names if matches(n, PRESETS["register"])}
    assert register == {"audio", "cross_modal"}
    talking = [n for n in real_linear_names if matches(n, PRESETS["talking_head"])]
    assert {module_group(n) for n in talking} == {"video", "audio", "cross_modal"}
    assert not any(".ff." in n or "audio_ff" in n for n in talking)


def test_custom_presets() -> None:
    assert target_patterns("custom", [r"transformer_blocks\.0\.attn1\.to_q"]) == (
        r"transformer_blocks\.0\.attn1\.to_q",
    )
    with pytest.raises(ValueError, match="custom"):
        target_patterns("custom", [])
    with pytest.raises(ValueError, match="unknown LoRA preset"):
        target_patterns("nope")
    with pytest.raises(re.error):
        target_regex(["(unclosed"])
