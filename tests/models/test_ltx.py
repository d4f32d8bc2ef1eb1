"""The LTX-2.3 layer: a tiny random-weight unified checkpoint in the real layout, loaded through
ltx-core's own builders; a missing tensor or a wrong layout is an error that names the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ltxvoice.models.gemma import TINY_TEXT
from ltxvoice.models.ltx import (CheckpointError, component_specs, load_ltx_components, tiny_ltx_config,
                                 write_tiny_ltx_checkpoint)
from ltxvoice.records import sha256_file

pytestmark = pytest.mark.slow

GEMMA = (TINY_TEXT["hidden_size"], TINY_TEXT["num_hidden_layers"])


@pytest.fixture(scope="module")
def checkpoint(tiny_ltx: tuple[Path, Path]) -> Path:
    return tiny_ltx[0]


def _resave(src: Path, dst: Path, drop: str | None = None, metadata: dict | None = None) -> Path:
    tensors = load_file(str(src))
    if drop:
        del tensors[drop]
    with safe_open(str(src), "pt") as f:
        meta = f.metadata() if metadata is None else metadata
    save_file(tensors, str(dst), metadata=meta)
    return dst


def test_real_layout_bf16_finite_and_deterministic(checkpoint: Path, tmp_path: Path) -> None:
    tensors = load_file(str(checkpoint))
    prefixes = {k.split(".")[0] for k in tensors}
    assert prefixes == {"model", "vae", "audio_vae", "vocoder", "text_embedding_projection"}
    assert all(k.startswith("model.diffusion_model.") for k in tensors if k.startswith("model."))
    assert {v.dtype for v in tensors.values() if v.is_floating_point()} == {torch.bfloat16}
    assert all(torch.isfinite(v.float()).all() for v in tensors.values())
    # the text projection takes the tiny Gemma's hidden states: hidden x (layers + 1)
    assert tensors["text_embedding_projection.video_aggregate_embed.weight"].shape == (64, GEMMA[0] * (GEMMA[1] + 1))
    with safe_open(str(checkpoint), "pt") as f:
        assert json.loads(f.metadata()["config"]) == tiny_ltx_config()
    assert sha256_file(write_tiny_ltx_checkpoint(tmp_path / "again.safetensors", seed=0)) == sha256_file(checkpoint)
    assert sha256_file(write_tiny_ltx_checkpoint(tmp_path / "other.safetensors", seed=1)) != sha256_file(checkpoint)


def test_loader_matches_ltx_core_builders(tiny_ltx: tuple[Path, Path]) -> None:
    from ltx_core.loader import SingleGPUModelBuilder

    checkpoint, gemma = tiny_ltx
    loaded = load_ltx_components(checkpoint, device="cpu", gemma_root=gemma)
    for name, (configurator, ops, _) in component_specs(GEMMA).items():
        direct = SingleGPUModelBuilder(model_class_configurator=configurator, model_path=str(checkpoint),
                                       model_sd_ops=ops).build(device=torch.device("cpu"))
        a, b = loaded[name].state_dict(), direct.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    # and every stored tensor arrived unchanged (bf16 in the file, bf16 in the module)
    stored = load_file(str(checkpoint))
    vae = loaded["video_encoder"].state_dict()
    assert torch.equal(vae["conv_in.conv.weight"], stored["vae.encoder.conv_in.conv.weight"])


def test_missing_key_fails_loudly_naming_it(checkpoint: Path, tmp_path: Path) -> None:
    dropped = "model.diffusion_model.transformer_blocks.0.attn1.to_q.weight"
    partial = _resave(checkpoint, tmp_path / "partial.safetensors", drop=dropped)
    with pytest.raises(CheckpointError, match=r"partial.safetensors: LTX component 'transformer' is missing 1 "
                                              r"tensor.*transformer_blocks.0.attn1.to_q.weight"):
        load_ltx_components(partial, components=("transformer",))


def test_missing_file_and_wrong_layouts_fail_clearly(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="LTX checkpoint not found: .*nope.safetensors"):
        load_ltx_components(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(CheckpointError, match="junk.safetensors: not a readable safetensors file"):
        load_ltx_components(junk, components=("video_encoder",))
    no_config = _resave(checkpoint, tmp_path / "noconfig.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="no 'config' in its safetensors metadata"):
        load_ltx_components(no_config, components=("audio_encoder",))
    config = tiny_ltx_config()
    del config["audio_vae"]
    no_audio = _resave(checkpoint, tmp_path / "noaudio.safetensors", metadata={"config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="config has no 'audio_vae' section, needed for the audio_encoder"):
        load_ltx_components(no_audio, components=("audio_encoder",))
    # a text projection sized for another Gemma (here: ltx-core's default 12B) does not fit
    with pytest.raises(CheckpointError, match="'embeddings_processor' does not fit its config: .*size mismatch"):
        load_ltx_components(checkpoint, components=("embeddings_processor",))


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


def test_real_media_config_builds_the_published_sizes() -> None:
    from ltxvoice.models.ltx import ltx23_media_config

    sizes = {}
    with torch.device("meta"):
        for name, (configurator, _, _) in component_specs().items():
            if name not in ("transformer", "embeddings_processor"):
                module = configurator.from_config(ltx23_media_config())
                sizes[name] = round(sum(p.numel() for p in module.parameters()) / 1e6, 1)
    assert sizes == {"video_encoder": 318.9, "video_decoder": 407.2, "audio_encoder": 21.3, "audio_decoder": 31.9,
                     "vocoder": 128.5}
