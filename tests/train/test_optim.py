"""Optimizers and learning-rate schedules."""

from __future__ import annotations

import builtins

import pytest
import torch

from ltxvoice.train.optim import OptimizerUnavailable, lr_factor, make_optimizer, make_scheduler


def test_schedules_with_warmup() -> None:
    assert [lr_factor(s, 10, "constant", 0, 0.1) for s in (0, 9)] == [1.0, 1.0]
    assert lr_factor(0, 10, "linear", 0, 0.1) == 1.0
    assert lr_factor(9, 10, "linear", 0, 0.1) == pytest.approx(0.1)
    assert lr_factor(0, 10, "linear", 3, 0.0) == pytest.approx(0.25)
    assert lr_factor(3, 10, "linear", 3, 0.0) == pytest.approx(1.0)
    assert lr_factor(9, 10, "cosine", 3, 0.0) == pytest.approx(0.0, abs=1e-12)
    mid = lr_factor(6, 12, "cosine", 1, 0.0)  # halfway through the 10 decay steps
    assert mid == pytest.approx(0.5)
    p = torch.nn.Parameter(torch.zeros(2))
    opt = make_optimizer([p], "adamw", 1e-3, 0.0)
    sched = make_scheduler(opt, 5, "linear", 0, 0.1)
    seen = []
    for _ in range(5):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen[0] == pytest.approx(1e-3) and seen[-1] == pytest.approx(1e-4)


def test_adamw8bit_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_bnb(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("bitsandbytes"):
            raise ImportError("No module named 'bitsandbytes'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_bnb)
    with pytest.raises(OptimizerUnavailable, match="adamw8bit.*bitsandbytes"):
        make_optimizer([torch.nn.Parameter(torch.zeros(2))], "adamw8bit", 1e-3, 0.0)


def test_adamw8bit_steps_when_installed() -> None:
    pytest.importorskip("bitsandbytes")
    p = torch.nn.Parameter(torch.ones(64, 64))
    opt = make_optimizer([p], "adamw8bit", 1e-2, 0.0)
    p.grad = torch.ones_like(p)
    opt.step()
    assert float(p.mean()) < 1.0
