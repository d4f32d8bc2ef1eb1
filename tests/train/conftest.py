"""Fixtures of the train tests: the tiny LTX-2.3 checkpoint (written once per session) and random
precomputed items in the encode format with the tiny model's dimensions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from ltxvoice.models.ltx import tiny_ltx_config

_T = tiny_ltx_config()["transformer"]
VIDEO_DIM = _T["num_attention_heads"] * _T["attention_head_dim"]  # 64
AUDIO_DIM = _T["audio_num_attention_heads"] * _T["audio_attention_head_dim"]  # 32
PROMPT_TOKENS = 128  # the connectors' register count: prompts are padded to a multiple of it


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ltxvoice.models.ltx import write_tiny_ltx_checkpoint

    return write_tiny_ltx_checkpoint(tmp_path_factory.mktemp("ltx") / "tiny.safetensors", seed=0)


def train_section(base: dict[str, Any] | None = None, **settings: object) -> dict[str, Any]:
    """A ``train`` params section (nested, as in params.yaml): ``base`` with ``settings`` given by their
    own names (``rank=4``, ``steps=6``) put into the groups they belong to."""
    from ltxvoice.config import TrainParams

    group_of = {
        leaf: group
        for group, f in TrainParams.model_fields.items()
        if isinstance(f.default, BaseModel)
        for leaf in type(f.default).model_fields
    }
    section = {k: dict(v) if isinstance(v, dict) else v for k, v in (base or {}).items()}
    for name, value in settings.items():
        if name in group_of:
            section.setdefault(group_of[name], {})[name] = value
        else:
            section[name] = value
    return section


def train_params(**settings: object) -> Any:
    """:class:`ltxvoice.config.TrainParams` with ``settings`` given by their own names."""
    from ltxvoice.config import TrainParams

    return TrainParams.model_validate(train_section(**settings))


def make_items(
    count: int,
    *,
    reference: bool = True,
    seed: int = 0,
    frames: int = 2,
    height: int = 2,
    width: int = 2,
    audio_steps: int = 12,
    reference_steps: int = 6,
) -> list:
    from ltxvoice.train.data import synthetic_item

    return [
        synthetic_item(
            f"clip{i:02d}",
            frames=frames,
            height=height,
            width=width,
            audio_steps=audio_steps,
            reference_steps=reference_steps if reference else None,
            prompt_tokens=PROMPT_TOKENS,
            video_dim=VIDEO_DIM,
            audio_dim=AUDIO_DIM,
            seed=seed + i,
        )
        for i in range(count)
    ]


def write_items(root: Path, count: int, **kwargs: object) -> Path:
    from ltxvoice.train.data import write_item

    for item in make_items(count, **kwargs):  # type: ignore[arg-type]
        write_item(root, item)
    return root
