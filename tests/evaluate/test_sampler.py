"""The sampler on the tiny LTX-2.3 checkpoint (CPU, tiny shapes, a few steps): LoRA fused by
ltx-core's own loading, seeded and batch-independent noise, the reference appended clean at
negative positions and never decoded, CFG, decoded audio of the generated length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ltxvoice.config import EvalSamplerParams
from ltxvoice.evaluate import sampler as smp
from ltxvoice.evaluate.sampler import LTXGenerator, LTXModels, Shape, generate
from ltxvoice.evaluate.sweep import Arm
from ltxvoice.models.lora_file import lora_module
from ltxvoice.models.ltx import load_transformer
from tests.evaluate.loras import HELIUM, lora_tensors, save_lora
from tests.evaluate.standin import tone_references

pytestmark = pytest.mark.slow

SHAPE = Shape(frames=9, height=32, width=32, fps=25.0)
STEPS = EvalSamplerParams(steps=2)


@pytest.fixture(scope="module")
def models(tiny_ltx: Path) -> LTXModels:
    return LTXModels(tiny_ltx, gemma_root=tiny_ltx.parent / "gemma")


@pytest.fixture(scope="module")
def lora(tiny_ltx: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    tensors = lora_tensors(tiny_ltx, HELIUM, rank=4, seed=5, scale=0.2)
    return save_lora(tmp_path_factory.mktemp("lora") / "step_000001.safetensors", tensors, step=1), tensors


def test_lora_is_fused_by_ltx_core_exactly_where_it_targets(tiny_ltx: Path, lora: tuple[Path, dict]) -> None:
    path, tensors = lora
    base = load_transformer(tiny_ltx, "cpu", torch.float32).state_dict()
    fused = load_transformer(tiny_ltx, "cpu", torch.float32, [(path, 0.5)]).state_dict()
    targeted = {lora_module(k) + ".weight" for k in tensors}  # type: ignore[operator]
    assert len(targeted) == 20
    for key, w in base.items():
        if key in targeted:
            module = key.removesuffix(".weight")
            a = tensors[f"diffusion_model.{module}.lora_A.weight"].to(torch.bfloat16)
            b = tensors[f"diffusion_model.{module}.lora_B.weight"].to(torch.bfloat16)
            delta = ((b * 0.5) @ a).float()  # ltx-core multiplies the bf16 factors in bf16
            torch.testing.assert_close(fused[key], w + delta, rtol=0, atol=1e-6)
            assert delta.abs().max() > 1e-3
        else:
            assert torch.equal(fused[key], w), key


def test_generation_is_seeded_batch_independent_and_finite(models: LTXModels) -> None:
    tr = models.transformer(None, 0.0)
    ctx = models.context("A person speaks.")
    both = generate(tr, SHAPE, models.audio_channels, models.mel_bins, ctx, None, [3, 4], STEPS)
    alone = generate(tr, SHAPE, models.audio_channels, models.mel_bins, ctx, None, [4], STEPS)
    assert [g.seed for g in both] == [3, 4]
    assert tuple(both[0].video.shape) == (1, 128, 2, 1, 1) and tuple(both[0].audio.shape) == (1, 8, 9, 16)
    assert all(torch.isfinite(g.video).all() and torch.isfinite(g.audio).all() for g in both)
    torch.testing.assert_close(alone[0].audio, both[1].audio, rtol=1e-4, atol=1e-5)
    assert (both[0].audio - both[1].audio).abs().max() > 1e-3


def test_reference_tokens_are_clean_before_the_timeline_and_steer_the_output(models: LTXModels) -> None:
    gen = LTXGenerator(models, SHAPE, STEPS)
    low, high = tone_references([100.0, 300.0], seconds=1.0)
    ref = gen.reference_latent(low)
    assert ref.shape[:2] == (1, 8) and ref.shape[3] == 16 and abs(ref.shape[2] - 25) <= 1  # ~25 steps/s

    from ltx_core.components.patchifiers import AudioPatchifier
    from ltx_core.tools import AudioLatentTools
    from ltx_core.types import AudioLatentShape

    tools = AudioLatentTools(AudioPatchifier(patch_size=1), AudioLatentShape(2, 8, 9, 16))
    state = tools.create_initial_state("cpu", torch.float32)
    neg = smp._append_reference(state, ref, tools.patchifier, 2, "negative", 0.0)
    over = smp._append_reference(state, ref, tools.patchifier, 2, "overlap", 0.0)
    n = ref.shape[2]
    assert (
        neg.latent.shape[1] == 9 + n and (neg.denoise_mask[:, 9:] == 0).all() and (neg.denoise_mask[:, :9] == 1).all()
    )
    assert neg.positions[:, :, 9:].max() <= 0 and neg.positions[:, :, :9].min() >= 0
    assert over.positions[:, :, 9:].min() >= 0
    torch.testing.assert_close(neg.clean_latent[:1, 9:], tools.patchifier.patchify(ref))

    tr = models.transformer(None, 0.0)
    ctx = models.context("A person speaks.")
    args = (tr, SHAPE, models.audio_channels, models.mel_bins, ctx, None, [0], STEPS)
    a_low = generate(*args, reference=ref)[0].audio
    a_high = generate(*args, reference=gen.reference_latent(high))[0].audio
    a_over = generate(*args, reference=ref, placement="overlap")[0].audio
    a_none = generate(*args)[0].audio
    assert a_low.shape == a_none.shape  # the reference is never part of the output
    assert (a_low - a_high).abs().max() > 1e-4 and (a_low - a_over).abs().max() > 1e-4


def test_cfg_needs_and_uses_the_negative_context(models: LTXModels) -> None:
    tr = models.transformer(None, 0.0)
    pos, neg = models.context("A person speaks."), models.context("")
    args = (tr, SHAPE, models.audio_channels, models.mel_bins, pos)
    cfg = EvalSamplerParams(steps=2, cfg_audio=3.0, cfg_video=2.0)
    with pytest.raises(ValueError, match="negative"):
        generate(*args, None, [0], cfg)
    plain = generate(*args, None, [0], STEPS)[0]
    guided = generate(*args, neg, [0], cfg)[0]
    assert (plain.audio - guided.audio).abs().max() > 1e-4 and (plain.video - guided.video).abs().max() > 1e-4


def test_generator_decodes_the_generated_span_and_lora_arm_differs(models: LTXModels, lora: tuple[Path, dict]) -> None:
    gen = LTXGenerator(models, SHAPE, STEPS)
    (ref,) = tone_references([150.0], seconds=1.0)
    (base,) = gen.generate(Arm.base(), "A person speaks.", [0], ref)
    (again,) = gen.generate(Arm.base(), "A person speaks.", [0], ref)
    (on,) = gen.generate(Arm.lora_at(lora[0], 1.0), "A person speaks.", [0], ref)
    assert base.rate == 48000 and abs(base.waveform.size / base.rate - SHAPE.seconds) <= smp.DURATION_TOLERANCE_S
    assert base.span_s == (0.0, base.waveform.size / base.rate) and np.isfinite(base.waveform).all()
    assert np.array_equal(base.waveform, again.waveform) and np.array_equal(base.video_latent, again.video_latent)
    assert np.abs(on.waveform - base.waveform).max() > 0
    # an audio-only LoRA still reaches the video through the audio-to-video attention
    assert np.abs(on.video_latent - base.video_latent).max() > 0


def test_decoded_reference_would_be_refused(models: LTXModels, monkeypatch: pytest.MonkeyPatch) -> None:
    real = smp.decode_audio

    def with_reference(latent, decoder, vocoder):  # type: ignore[no-untyped-def]
        wave, rate = real(latent, decoder, vocoder)
        return np.concatenate([np.zeros(2 * rate, np.float32), wave]), rate  # 2 s of reference in front

    monkeypatch.setattr(smp, "decode_audio", with_reference)
    with pytest.raises(ValueError, match="only the generated span"):
        LTXGenerator(models, SHAPE, STEPS).generate(Arm.base(), "A person speaks.", [0], None)


def test_random_text_encoder_is_seeded_per_prompt(models: LTXModels) -> None:
    enc = models.text_encoder
    a1, m1 = enc.encode("a whispering woman")
    a2, _ = enc.encode("a whispering woman")
    b, mb = enc.encode("a man speaking softly at length about many things")
    assert torch.equal(a1, a2) and not torch.equal(a1, b)
    assert m1.shape == (1, 128) and m1[0, -1] == 1 and m1[0, 0] == 0 and mb.sum() > m1.sum()
    assert "random-context" in enc.source


def test_precomputed_features_give_the_same_context_as_the_text_path(models: LTXModels) -> None:
    states, mask = models.text_encoder.encode("A person speaks.")
    with torch.no_grad():
        video_feats, audio_feats = models.processor.feature_extractor(states, mask, "left")
    via_text = models.context("A person speaks.")
    pre = smp.context_from_features(models.processor, video_feats[0], audio_feats[0], mask[0], "cpu", torch.float32)
    torch.testing.assert_close(pre.video, via_text.video)
    torch.testing.assert_close(pre.audio, via_text.audio)
    assert "precomputed" in pre.source
    with pytest.raises(ValueError, match="tokens"):
        smp.context_from_features(models.processor, video_feats[0], audio_feats[0], mask[0, :5], "cpu", torch.float32)
