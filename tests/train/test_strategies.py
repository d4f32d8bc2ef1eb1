"""Strategies: positions, clean reference/first-frame tokens, and where the loss and gradients go."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ltxvoice.train.data import TextCache, batch_tensors
from ltxvoice.train.strategies import StrategySpec, audio_positions, flow_loss, prepare_inputs, reference_positions
from tests.train.conftest import make_items, train_params


def _inputs(spec: StrategySpec, items: list, seed: int = 0, ctx_dims: tuple[int, int] = (64, 32)):
    batch = batch_tensors(items, "cpu", torch.float32)
    b = len(items)
    video_ctx, audio_ctx = torch.zeros(b, 128, ctx_dims[0]), torch.zeros(b, 128, ctx_dims[1])
    return batch, prepare_inputs(batch, video_ctx, audio_ctx, spec, torch.Generator().manual_seed(seed), torch.float32)


def test_reference_placements() -> None:
    target = audio_positions(12, 1, "cpu")
    assert target.shape == (1, 1, 12, 2) and float(target.min()) >= 0
    neg = reference_positions(6, 1, "cpu", "negative", 0.04)
    assert float(neg.max()) == pytest.approx(-0.04, abs=1e-6)  # the reference ends 40 ms before the target
    span = audio_positions(6, 1, "cpu")
    assert torch.allclose(neg - neg[..., :1, :1], span - span[..., :1, :1])  # same spacing, shifted
    assert torch.equal(reference_positions(6, 1, "cpu", "overlap", 0.04), span)
    with pytest.raises(ValueError):
        reference_positions(6, 1, "cpu", "sideways", 0.0)


def test_audio_reference_inputs() -> None:
    items = make_items(2)
    batch, inputs = _inputs(StrategySpec("audio_reference"), items)
    ta, tr = 12, 6
    assert inputs.reference_tokens == tr
    assert inputs.audio.latent.shape == (2, ta + tr, 128) and inputs.audio_target.shape == (2, ta, 128)
    ref = batch["reference"].permute(0, 2, 1, 3).reshape(2, tr, 128)
    assert torch.equal(inputs.audio.latent[:, ta:], ref)  # clean reference tokens
    assert torch.all(inputs.audio.timesteps[:, ta:] == 0)
    assert torch.all(inputs.audio.timesteps[:, :ta] == inputs.sigma[:, None])
    assert float(inputs.audio.positions[:, :, ta:].max()) < 0 <= float(inputs.audio.positions[:, :, :ta].min())
    assert inputs.audio_loss_mask.shape == (2, ta) and bool(inputs.audio_loss_mask.all())
    assert inputs.video.timesteps.shape == (2, 1)  # uniform: one per sample, broadcast by the model
    assert inputs.video.context_mask is None and inputs.video.positions.shape == (2, 3, 8, 2)
    # the same generator seed gives the same draws
    _, again = _inputs(StrategySpec("audio_reference"), items)
    assert torch.equal(again.audio.latent, inputs.audio.latent) and torch.equal(again.sigma, inputs.sigma)


def test_text_to_av_first_frame_conditioning() -> None:
    items = make_items(3, reference=False)
    batch, inputs = _inputs(StrategySpec("text_to_av", first_frame_p=1.0), items)
    hw = 4  # 2x2 latent
    video = batch["video"].permute(0, 2, 3, 4, 1).reshape(3, 8, 128)
    assert torch.equal(inputs.video.latent[:, :hw], video[:, :hw])
    assert torch.all(inputs.video.timesteps[:, :hw] == 0) and torch.all(inputs.video.timesteps[:, hw:] > 0)
    assert not inputs.video_loss_mask[:, :hw].any() and inputs.video_loss_mask[:, hw:].all()
    assert inputs.reference_tokens == 0 and inputs.audio.latent.shape[1] == 12
    _, none = _inputs(StrategySpec("text_to_av", first_frame_p=0.0), items)
    assert none.video_loss_mask.all()
    with pytest.raises(ValueError, match="reference"):
        _inputs(StrategySpec("audio_reference"), items)


def test_loss_ignores_reference_and_conditioned_tokens() -> None:
    items = make_items(2)
    _, inputs = _inputs(StrategySpec("audio_reference"), items)
    video_pred = torch.zeros(2, 8, 128, requires_grad=True)
    audio_pred = torch.zeros(2, 18, 128, requires_grad=True)
    flow_loss(video_pred, audio_pred, inputs).sum().backward()
    assert torch.all(audio_pred.grad[:, 12:] == 0) and torch.all(audio_pred.grad[:, :12] != 0)


@pytest.mark.slow
def test_reference_tokens_get_no_loss_but_attention_gradients(tiny_checkpoint: Path) -> None:
    from ltxvoice.models.ltx import load_text_connectors, load_transformer
    from ltxvoice.train.trainer import prepare_model

    params = train_params(
        strategy="audio_reference", preset="helium", rank=4, alpha=4, mixed_precision="no", optimizer="adamw"
    )
    prepared = prepare_model(load_transformer(tiny_checkpoint, "cpu", torch.bfloat16), params, "cpu")
    items = make_items(2)
    text = TextCache()
    text.fill(items, load_text_connectors(tiny_checkpoint, "cpu", torch.bfloat16).float(), "cpu", torch.float32)
    video_ctx, audio_ctx = text.contexts(items, "cpu", torch.float32)
    # B starts at zero; give the adapters a value so their gradients depend on every input token
    with torch.no_grad():
        for name, p in prepared.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)

    def run(with_reference: bool):
        batch = batch_tensors(items, "cpu", torch.float32)
        batch["reference"].requires_grad_(True)
        spec = StrategySpec("audio_reference") if with_reference else StrategySpec("text_to_av")
        if not with_reference:
            batch.pop("reference")
        inputs = prepare_inputs(batch, video_ctx, audio_ctx, spec, torch.Generator().manual_seed(3), torch.float32)
        if with_reference:
            inputs.audio.latent.retain_grad()
        video_pred, audio_pred = prepared.model(video=inputs.video, audio=inputs.audio, perturbations=None)
        audio_pred.retain_grad()
        loss = flow_loss(video_pred, audio_pred, inputs).mean()
        prepared.model.zero_grad(set_to_none=True)
        loss.backward()
        k_grad = dict(prepared.model.named_parameters())[
            "base_model.model.transformer_blocks.0.audio_attn1.to_k.lora_A.default.weight"
        ].grad.clone()
        return batch, inputs, audio_pred, k_grad

    batch, inputs, audio_pred, k_with = run(True)
    assert torch.all(audio_pred.grad[:, 12:] == 0)  # no loss on the reference outputs
    assert float(batch["reference"].grad.abs().sum()) > 0  # ...but the target attends to them
    assert float(inputs.audio.latent.grad[:, 12:].abs().sum()) > 0
    _, _, _, k_without = run(False)
    assert not torch.allclose(k_with, k_without)  # the adapters learn from what the reference contributes
