from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_ltx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight LTX-2.3 unified checkpoint (real layout), written once per session."""
    from ltxvoice.models.ltx import write_tiny_ltx_checkpoint

    return write_tiny_ltx_checkpoint(tmp_path_factory.mktemp("ltx") / "tiny.safetensors", seed=0)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """Tiny models on a shared 2-core machine: more threads only add contention (20x slower seen)."""
    import torch

    torch.set_num_threads(1)
