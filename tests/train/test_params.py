"""The ``train`` section of params.yaml (ltxvoice.config.TrainParams): groups, defaults, bounds,
cross-checks that name the key, and the flat view the resume fingerprint hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from ltxvoice.config import (
    ParamsError,
    TrainMemoryParams,
    TrainOptimizationParams,
    TrainParams,
    load_params,
    parse_params,
)

ROOT = Path(__file__).resolve().parents[2]


def test_project_params_and_helium_defaults() -> None:
    train = load_params(ROOT / "params.yaml").train
    assert train == TrainParams.model_validate(yaml.safe_load((ROOT / "params.yaml").read_text())["train"])
    # the published helium recipe
    m, lora, opt = train.model, train.lora, train.optimization
    assert (
        m.strategy,
        lora.preset,
        lora.rank,
        lora.alpha,
        opt.lr,
        opt.optimizer,
        opt.schedule,
        opt.batch_size,
        m.first_frame_p,
        m.reference_placement,
    ) == ("audio_reference", "helium", 32, 32.0, 2e-4, "adamw8bit", "linear", 1, 0.0, "negative")
    # the published card trained 2000 steps (the default); params.yaml's demo trains the tiny model briefly
    assert TrainOptimizationParams.model_fields["steps"].default == 2000 and opt.steps == 40


def test_every_group_is_strict_and_settings_keep_their_own_names() -> None:
    groups = {name: type(f.default) for name, f in TrainParams.model_fields.items() if isinstance(f.default, BaseModel)}
    assert set(groups) == {"model", "lora", "optimization", "flow_matching", "memory", "checkpoints"}
    assert all(cls.model_config["extra"] == "forbid" for cls in [TrainParams, *groups.values()])
    leaves = [leaf for cls in groups.values() for leaf in cls.model_fields] + ["seed"]
    flat = TrainParams().flat()
    assert len(leaves) == len(set(leaves)) == len(flat) == 40  # no name in two groups: the flat view loses nothing
    assert (
        flat["rank"] == 32 and flat["fp8_grad"] is False and flat["checkpoint"] == "models/ltx-2.3-22b-dev.safetensors"
    )


def test_resume_fingerprint_is_that_of_the_flat_layout() -> None:
    """Hashes computed by the trainer before the settings were grouped: checkpoints saved then still resume."""
    from ltxvoice.train.trainer import run_fingerprint

    data = "d" * 64
    assert run_fingerprint(TrainParams(), data, Path("/nowhere/ltx-2.3-22b-dev.safetensors"), 1) == (
        "04f05f01f2e31a8b0600863b2d9c4432799d329d121d34d030e3007beac21b7b"
    )
    changed = TrainParams.model_validate(
        {
            "seed": 3,
            "model": {"strategy": "text_to_av"},
            "lora": {"preset": "register", "rank": 8},
            "optimization": {"steps": 10},
            "memory": {"compile": True},
        }
    )
    assert run_fingerprint(changed, data, Path("/nowhere/base.safetensors"), 2) == (
        "31a2fe47c5009b26680fa41088dff429da21217a1acb004af6c86469ecd01fa7"
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"lora": {"preset": "custom"}}, "train.lora.target_modules: preset custom needs target_modules"),
        ({"lora": {"target_modules": ["x"]}}, "train.lora.target_modules: only read with preset custom"),
        (
            {"lora": {"preset": "custom", "target_modules": ["(bad"]}},
            "train.lora.target_modules: '(bad' is not a valid regex",
        ),
        ({"memory": {"fp8_matmul": True}}, "train.memory.fp8_matmul: needs base_weights fp8"),
        ({"memory": {"base_weights": "fp8", "fp8_grad": True}}, "train.memory.fp8_grad: needs fp8_matmul true"),
        (
            {"memory": {"checkpoint_keep": "attention", "gradient_checkpointing": 0.0}},
            "train.memory.checkpoint_keep: only applies to recomputed blocks",
        ),
        ({"memory": {"attention": "flash"}}, "train.memory.attention: Input should be"),
        (
            {"memory": {"offload_blocks": True, "gradient_checkpointing": 0.5}},
            "train.memory.offload_blocks: needs gradient_checkpointing 1.0",
        ),
        (
            {"optimization": {"warmup_steps": 10, "steps": 10}},
            "train.optimization.warmup_steps: must be below steps (10), got 10",
        ),
        (
            {"memory": {"processes": 2, "offload_blocks": True}},
            "train.memory.offload_blocks: is a single-GPU memory mode",
        ),
        (
            {"memory": {"distributed": "fsdp", "base_weights": "fp8"}},
            "train.memory.distributed: fsdp shards bf16 weights",
        ),
        ({"lora": {"rank": 0}}, "train.lora.rank: Input should be greater than or equal to 1"),
        ({"model": {"strategy": "image_to_video"}}, "train.model.strategy: Input should be"),
        ({"model": {"reference_placment": "negative"}}, "train.model.reference_placment: unknown key"),
        ({"rank": 8}, "train.rank: unknown key"),  # the flat layout of before is refused, key by key
        ({"memory": {"lr": 1e-4}}, "train.memory.lr: unknown key"),
        ({"checkpoints": {"keep_last": -1}}, "train.checkpoints.keep_last: Input should be greater than or equal to 0"),
    ],
)
def test_invalid_train_params_name_the_key(section: dict, message: str) -> None:
    with pytest.raises(ParamsError) as err:
        parse_params({"train": section})
    assert message in str(err.value) and str(err.value).startswith("params.yaml: train")


def test_recipe_settings_validate() -> None:
    register = TrainParams.model_validate({"model": {"strategy": "text_to_av"}, "lora": {"preset": "register"}})
    talking = TrainParams.model_validate(
        {
            "model": {"strategy": "text_to_av", "first_frame_p": 0.5},
            "lora": {"preset": "talking_head"},
            "optimization": {"lr": 1e-4, "optimizer": "adamw"},
        }
    )
    lowmem = TrainMemoryParams(base_weights="fp8", offload_blocks=True)
    fast = TrainMemoryParams(base_weights="fp8", fp8_matmul=True, gradient_checkpointing=0.5)
    assert register.lora.preset == "register" and talking.model.first_frame_p == 0.5
    assert lowmem.offload_blocks and fast.fp8_matmul


def test_param_choices_match_the_engine() -> None:
    """The engine (torch only, no pydantic) keeps its own list of attention kinds and checkpoint keeps."""
    from typing import get_args

    from ltxvoice.train.memory import ATTENTION_KINDS, Keep

    assert set(get_args(TrainMemoryParams.model_fields["attention"].annotation)) == set(ATTENTION_KINDS)
    assert set(get_args(TrainMemoryParams.model_fields["checkpoint_keep"].annotation)) == set(get_args(Keep))
