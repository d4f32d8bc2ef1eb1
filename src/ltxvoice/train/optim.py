"""Optimizers (AdamW, 8-bit AdamW) and learning-rate schedules with warmup."""

from __future__ import annotations

import math
from typing import Any, Literal


class OptimizerUnavailable(RuntimeError):
    """The chosen optimizer needs a package that is not installed here."""


def make_optimizer(
    params: list[Any],
    kind: Literal["adamw", "adamw8bit"],
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> Any:
    """AdamW from torch, or bitsandbytes' AdamW8bit (8-bit moments; helium's recipe)."""
    import torch

    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    if kind == "adamw8bit":
        try:
            from bitsandbytes.optim import AdamW8bit
        except ImportError as exc:
            raise OptimizerUnavailable(
                "train.optimization.optimizer 'adamw8bit' needs bitsandbytes, which is not importable here "
                f"({exc}); install it (pip install bitsandbytes) or choose 'adamw'"
            ) from None
        return AdamW8bit(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}")


def lr_factor(
    step: int, total: int, schedule: Literal["constant", "linear", "cosine"], warmup: int, final_ratio: float
) -> float:
    """Multiplier of the base LR for optimisation step ``step`` (0-based).

    Warmup rises linearly from 1/(warmup+1) to 1 over ``warmup`` steps; then ``linear`` falls
    linearly and ``cosine`` along a half cosine to ``final_ratio`` at the last step."""
    if warmup > 0 and step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    span = max(1, total - warmup - 1)
    t = min(1.0, (step - warmup) / span)
    if schedule == "linear":
        return 1.0 + (final_ratio - 1.0) * t
    if schedule == "cosine":
        return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"unknown schedule {schedule!r}")


def make_scheduler(
    optimizer: Any, total: int, schedule: Literal["constant", "linear", "cosine"], warmup: int, final_ratio: float
) -> Any:
    """A ``LambdaLR`` over :func:`lr_factor`; step it once per optimisation step."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, schedule, warmup, final_ratio))
