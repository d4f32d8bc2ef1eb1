"""ltxvoice.models.device.resolve_device: auto picks the GPU when torch sees one; cuda without one fails."""

from __future__ import annotations

import pytest
import torch

from ltxvoice.models.device import resolve_device


def test_auto_follows_what_torch_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="encode.device is cuda but torch sees no CUDA device"):
        resolve_device("cuda", "encode.device")
    with pytest.raises(ValueError, match="evaluate.device is cuda:1"):
        resolve_device("cuda:1", "evaluate.device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda") == "cuda" and resolve_device("cpu") == "cpu"
