"""Which torch device a stage runs its models on."""

from __future__ import annotations


def resolve_device(device: str, key: str = "device") -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; any other value is kept.

    ``key`` is the params key the value came from (``encode.device``): asking for ``cuda`` where
    torch sees no GPU is a ValueError naming it."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"{key} is {device} but torch sees no CUDA device")
    return device
