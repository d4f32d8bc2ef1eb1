"""Flow matching for LTX-2.3: timestep (sigma) sampling, noising, velocity targets, masked loss.

A clean latent ``x`` and noise ``n`` at sigma ``s`` give the model input ``(1 - s) x + s n`` and the
target velocity ``n - x`` (rectified flow, as LTX-2 is trained). Sigmas come from a shifted
logit-normal whose shift grows with the number of video tokens (longer sequences get noisier
timesteps), stretched to cover [0, 1], with a share of plain uniform draws so no region starves.
All randomness takes an explicit ``torch.Generator`` so a step's draws are a pure function of its seed.
"""

from __future__ import annotations

import math
from typing import Any, Literal

# Shift of the logit-normal's mean: linear in the token count between these two anchors
# (0.95 at 1024 tokens, 2.05 at 4096), extrapolated beyond them.
SHIFT_ANCHORS = ((1024, 0.95), (4096, 2.05))
# Normal quantiles the stretch maps to 0 and 1: the 0.5th and 99.9th percentiles.
Q_LOW, Q_HIGH = -2.5758, 3.0902


def logit_shift(tokens: int) -> float:
    """Mean of the logit-normal for a sequence of ``tokens`` tokens."""
    (t0, s0), (t1, s1) = SHIFT_ANCHORS
    return s0 + (s1 - s0) * (tokens - t0) / (t1 - t0)


def sample_sigmas(
    batch: int,
    tokens: int,
    generator: Any,
    device: Any,
    mode: Literal["shifted_logit_normal", "uniform"] = "shifted_logit_normal",
    std: float = 1.0,
    uniform_share: float = 0.1,
    eps: float = 1e-3,
) -> Any:
    """``batch`` sigmas in [eps, 1] (float32) for a sequence of ``tokens`` video tokens."""
    import torch

    def uniform() -> Any:
        return eps + (1 - eps) * torch.rand(batch, generator=generator, device=device)

    if mode == "uniform":
        return uniform()
    mu = logit_shift(tokens)
    draws = torch.sigmoid(torch.randn(batch, generator=generator, device=device) * std + mu)
    lo = 1 / (1 + math.exp(-(mu + Q_LOW * std)))
    hi = 1 / (1 + math.exp(-(mu + Q_HIGH * std)))
    stretched = (draws - lo) / (hi - lo)
    stretched = torch.where(stretched >= eps, stretched, 2 * eps - stretched).clamp(0, 1)
    fallback = uniform()
    pick_uniform = torch.rand(batch, generator=generator, device=device) < uniform_share
    return torch.where(pick_uniform, fallback, stretched)


def noised(clean: Any, sigma: Any, generator: Any) -> tuple[Any, Any]:
    """(model input, velocity target) for ``clean`` [B, T, C] at per-sample ``sigma`` [B]."""
    import torch

    noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
    s = sigma.view(-1, 1, 1).to(clean.dtype)
    return (1 - s) * clean + s * noise, noise - clean


def masked_mse(pred: Any, target: Any, mask: Any) -> Any:
    """Mean squared error per sample [B] over the tokens where ``mask`` [B, T] is True (fp32)."""
    m = mask.unsqueeze(-1).float()
    err = (pred.float() - target.float()).pow(2) * m
    return err.mean(dim=(1, 2)) / m.mean(dim=(1, 2)).clamp(min=1e-8)
