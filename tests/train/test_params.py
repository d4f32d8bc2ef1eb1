"""The ``train`` section of params.yaml (ltxvoice.config.TrainParams): defaults, bounds, cross-checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ltxvoice.config import ParamsError, TrainParams, load_params, parse_params

ROOT = Path(__file__).resolve().parents[2]


def test_project_params_and_helium_defaults() -> None:
    train = load_params(ROOT / "params.yaml").train
    assert train == TrainParams(**yaml.safe_load((ROOT / "params.yaml").read_text())["train"])
    # the published helium recipe
    assert (train.strategy, train.preset, train.rank, train.alpha, train.lr, train.optimizer, train.schedule,
            train.batch_size, train.first_frame_p, train.reference_placement) == (
        "audio_reference", "helium", 32, 32.0, 2e-4, "adamw8bit", "linear", 1, 0.0, "negative")
    # the published card trained 2000 steps (the default); params.yaml's demo trains the tiny model briefly
    assert TrainParams.model_fields["steps"].default == 2000 and train.steps == 40


@pytest.mark.parametrize(("section", "message"), [
    ({"preset": "custom"}, "train: preset custom needs target_modules"),
    ({"target_modules": ["x"]}, "train: target_modules is only read with preset custom"),
    ({"preset": "custom", "target_modules": ["(bad"]}, "not a valid regex"),
    ({"fp8_matmul": True}, "train: fp8_matmul needs base_weights fp8"),
    ({"base_weights": "fp8", "fp8_grad": True}, "train: fp8_grad needs fp8_matmul true"),
    ({"checkpoint_keep": "attention", "gradient_checkpointing": 0.0}, "checkpoint_keep only applies to recomputed"),
    ({"attention": "flash"}, "train.attention: Input should be"),
    ({"offload_blocks": True, "gradient_checkpointing": 0.5}, "offload_blocks needs gradient_checkpointing 1.0"),
    ({"warmup_steps": 10, "steps": 10}, "warmup_steps (10) must be below steps (10)"),
    ({"processes": 2, "offload_blocks": True}, "offload_blocks is a single-GPU memory mode"),
    ({"distributed": "fsdp", "base_weights": "fp8"}, "fsdp shards bf16 weights itself"),
    ({"rank": 0}, "train.rank: Input should be greater than or equal to 1"),
    ({"strategy": "image_to_video"}, "train.strategy: Input should be"),
    ({"reference_placment": "negative"}, "train.reference_placment: unknown key"),
])
def test_invalid_train_params_name_the_key(section: dict, message: str) -> None:
    with pytest.raises(ParamsError) as err:
        parse_params({"train": section})
    assert message in str(err.value) and str(err.value).startswith("params.yaml: train")


def test_recipe_settings_validate() -> None:
    register = TrainParams(strategy="text_to_av", preset="register")
    talking = TrainParams(strategy="text_to_av", preset="talking_head", first_frame_p=0.5, lr=1e-4, optimizer="adamw")
    lowmem = TrainParams(base_weights="fp8", offload_blocks=True)
    fast = TrainParams(base_weights="fp8", fp8_matmul=True, gradient_checkpointing=0.5, batch_size=8)
    assert register.preset == "register" and talking.first_frame_p == 0.5 and lowmem.offload_blocks and fast.fp8_matmul


def test_param_choices_match_the_engine() -> None:
    """The engine (torch only, no pydantic) keeps its own list of attention kinds and checkpoint keeps."""
    from typing import get_args

    from ltxvoice.train.memory import ATTENTION_KINDS, Keep

    assert set(get_args(TrainParams.model_fields["attention"].annotation)) == set(ATTENTION_KINDS)
    assert set(get_args(TrainParams.model_fields["checkpoint_keep"].annotation)) == set(get_args(Keep))
