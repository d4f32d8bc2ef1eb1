"""Flow matching: sigma sampling, noising and the masked loss."""

from __future__ import annotations

import pytest
import torch

from ltxvoice.train.flow_matching import logit_shift, masked_mse, noised, sample_sigmas


def test_shift_follows_the_token_count() -> None:
    assert logit_shift(1024) == pytest.approx(0.95)
    assert logit_shift(4096) == pytest.approx(2.05)
    assert logit_shift(256) < logit_shift(1024) < logit_shift(16720)


def test_sigmas_in_range_seeded_and_shifted() -> None:
    def draw(tokens: int, seed: int = 0, **kw: object) -> torch.Tensor:
        return sample_sigmas(20000, tokens, torch.Generator().manual_seed(seed), "cpu", **kw)  # type: ignore[arg-type]

    a = draw(1024)
    assert a.dtype == torch.float32 and a.min() >= 1e-3 - 1e-9 and a.max() <= 1
    assert torch.equal(a, draw(1024)) and not torch.equal(a, draw(1024, seed=1))
    assert draw(16720).median() > draw(1024).median() + 0.1  # long sequences are trained noisier
    u = draw(1024, mode="uniform")
    assert abs(float(u.mean()) - 0.5) < 0.02
    pure = draw(1024, uniform_share=0.0)
    assert float((pure > 0.999).float().mean()) < 0.01  # stretched, not piled at 1


def test_noised_and_masked_mse() -> None:
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(2, 5, 3)
    sigma = torch.tensor([0.0, 1.0])
    x, v = noised(clean, sigma, g)
    assert torch.allclose(x[0], clean[0])  # sigma 0: the clean latent itself
    assert torch.allclose(x[1] - v[1], clean[1], atol=1e-6)  # noise - (noise - clean) = clean
    pred, target = torch.zeros(2, 4, 3), torch.ones(2, 4, 3)
    target[:, 2:] = 5.0
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    assert torch.allclose(masked_mse(pred, target, mask), torch.tensor([1.0, 13.0]))
