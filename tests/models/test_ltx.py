"""The LTX-2.3 layer: a tiny random-weight unified checkpoint in the real layout, loaded through
ltx-core's own builders (issue 5 groundwork)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ltxvoice.models.ltx import component_specs, load_ltx_components, tiny_ltx_config, write_tiny_ltx_checkpoint
from ltxvoice.records import sha256_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_ltx_checkpoint(tmp_path_factory.mktemp("ltx") / "tiny.safetensors", seed=0)


def test_real_layout_bf16_finite_and_deterministic(checkpoint: Path, tmp_path: Path) -> None:
    tensors = load_file(str(checkpoint))
    prefixes = {k.split(".")[0] for k in tensors}
    assert prefixes == {"model", "vae", "audio_vae", "vocoder", "text_embedding_projection"}
    assert all(k.startswith("model.diffusion_model.") for k in tensors if k.startswith("model."))
    assert {v.dtype for v in tensors.values() if v.is_floating_point()} == {torch.bfloat16}
    assert all(torch.isfinite(v.float()).all() for v in tensors.values())
    with safe_open(str(checkpoint), "pt") as f:
        assert json.loads(f.metadata()["config"]) == tiny_ltx_config()
    assert sha256_file(write_tiny_ltx_checkpoint(tmp_path / "again.safetensors", seed=0)) == sha256_file(checkpoint)


def test_loader_matches_ltx_core_builders(checkpoint: Path) -> None:
    from ltx_core.loader import SingleGPUModelBuilder

    loaded = load_ltx_components(checkpoint, device="cpu")
    for name, (configurator, ops, _) in component_specs().items():
        direct = SingleGPUModelBuilder(model_class_configurator=configurator, model_path=str(checkpoint),
                                       model_sd_ops=ops).build(device=torch.device("cpu"))
        a, b = loaded[name].state_dict(), direct.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_missing_key_and_missing_file_fail_loudly(checkpoint: Path, tmp_path: Path) -> None:
    tensors = load_file(str(checkpoint))
    dropped = "model.diffusion_model.transformer_blocks.0.attn1.to_q.weight"
    del tensors[dropped]
    with safe_open(str(checkpoint), "pt") as f:
        metadata = f.metadata()
    partial = tmp_path / "partial.safetensors"
    save_file(tensors, str(partial), metadata=metadata)
    with pytest.raises(ValueError, match=r"partial.safetensors: LTX component 'transformer' is missing 1 tensor"):
        load_ltx_components(partial, components=("transformer",))
    with pytest.raises(FileNotFoundError):
        load_ltx_components(tmp_path / "nope.safetensors")


def test_vae_latent_shapes(checkpoint: Path) -> None:
    from ltx_core.model.audio_vae import encode_audio
    from ltx_core.types import Audio

    m = load_ltx_components(checkpoint, components=("video_encoder", "audio_encoder"), dtype=torch.float32)
    with torch.no_grad():
        frames, height, width = 9, 64, 96
        latent = m["video_encoder"](torch.rand(1, 3, frames, height, width) * 2 - 1)
        assert tuple(latent.shape) == (1, 128, (frames - 1) // 8 + 1, height // 32, width // 32)
        audio = encode_audio(Audio(waveform=0.1 * torch.randn(1, 2, 32000), sampling_rate=16000), m["audio_encoder"])
        assert abs(audio.shape[2] / 2.0 - 25) <= 1  # ~25 latent steps per second
        assert torch.isfinite(audio).all()
