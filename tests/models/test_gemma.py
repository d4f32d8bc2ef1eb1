"""The text path of LTX-2.3: a tiny Gemma 3 folder in the Hugging Face layout with an offline-trained
tokenizer, loaded through ltx-core's builder, through the checkpoint's text projection and connectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ltxvoice.models import gemma
from ltxvoice.models.ltx import load_ltx_components, run_text_connectors
from ltxvoice.records import sha256_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tiny_ltx: tuple[Path, Path]) -> Path:
    return tiny_ltx[1]


@pytest.fixture(scope="module")
def text(tiny_ltx: tuple[Path, Path]) -> tuple:
    checkpoint, root = tiny_ltx
    encoder = gemma.load_text_encoder(root, dtype=torch.float32)
    processor = load_ltx_components(checkpoint, components=("embeddings_processor",), dtype=torch.float32,
                                    gemma_root=root)["embeddings_processor"]
    return encoder, processor


def test_folder_has_the_real_layout_and_is_deterministic(folder: Path, tmp_path: Path) -> None:
    assert gemma.TINY_GEMMA_FILES <= {p.name for p in folder.iterdir()}
    weights = load_file(str(folder / "model-00001-of-00001.safetensors"))
    prefixes = {k.split(".")[0] for k in weights}
    assert prefixes == {"language_model", "vision_tower", "multi_modal_projector"}
    assert "language_model.model.embed_tokens.weight" in weights
    assert any(k.startswith("vision_tower.vision_model.encoder.layers.0.") for k in weights)
    assert not any("lm_head" in k for k in weights)  # tied to the embeddings, as in the real file
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(weights)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gemma3" and config["text_config"]["model_type"] == "gemma3_text"
    again = gemma.write_tiny_gemma(tmp_path / "again", seed=0)
    assert {p.name: sha256_file(p) for p in again.iterdir()} == {p.name: sha256_file(p) for p in folder.iterdir()}
    other = gemma.write_tiny_gemma(tmp_path / "other", seed=3)
    assert sha256_file(other / "tokenizer.json") != sha256_file(folder / "tokenizer.json")


def test_tokenizer_loads_offline_as_gemma_and_pads_left(text: tuple) -> None:
    encoder, _ = text
    tok = encoder.tokenizer.tokenizer
    assert type(tok).__name__ == "GemmaTokenizer"
    ids = tok("A woman speaks softly: “hello ünïcode”")["input_ids"]
    assert ids[0] == tok.bos_token_id == 2
    assert tok.decode(ids, skip_special_tokens=True) == "A woman speaks softly: “hello ünïcode”"  # byte fallback
    pairs = encoder.tokenizer.tokenize_with_weights("hello there")["gemma"]
    assert len(pairs) == gemma.MAX_TOKENS
    weights = [w for _, w in pairs]
    assert weights[-1] == 1 and weights[0] == 0 and sum(weights) == weights[::-1].index(0)  # left padded


def test_text_encoder_loader_matches_ltx_core_builder(folder: Path, text: tuple) -> None:
    from ltx_core.loader import SingleGPUModelBuilder

    folder_info = gemma.gemma_folder(folder)
    direct = SingleGPUModelBuilder(model_class_configurator=gemma.text_encoder_configurator(folder_info),
                                   model_path=tuple(str(p) for p in folder_info.weights),
                                   model_sd_ops=gemma.gemma_key_ops()).build(device=torch.device("cpu"),
                                                                              dtype=torch.float32)
    ours = text[0].state_dict()
    theirs = {k: v for k, v in direct.state_dict().items() if not v.is_meta}  # buffers come from our module op
    assert theirs.keys() <= ours.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    stored = load_file(str(folder / "model-00001-of-00001.safetensors"))
    embed = stored["language_model.model.embed_tokens.weight"].float()
    assert torch.equal(ours["model.model.language_model.embed_tokens.weight"], embed)
    assert torch.equal(ours["model.lm_head.weight"], embed)


def test_full_text_path_shapes_and_determinism(text: tuple) -> None:
    encoder, processor = text
    video, audio, mask = gemma.caption_features('TRGR a woman speaks: "hello"', encoder, processor)
    assert video.shape == (gemma.MAX_TOKENS, 64) and audio.shape == (gemma.MAX_TOKENS, 32)
    assert mask.dtype == torch.bool and 3 < int(mask.sum()) < 20 and bool(mask[-1]) and not bool(mask[0])
    assert torch.isfinite(video).all() and torch.isfinite(audio).all()
    # padded positions carry no text: only the projection's bias
    assert torch.equal(video[~mask], processor.feature_extractor.video_aggregate_embed.bias.expand(int((~mask).sum()), -1))
    again = gemma.caption_features('TRGR a woman speaks: "hello"', encoder, processor)
    assert torch.equal(video, again[0]) and torch.equal(audio, again[1])
    other = gemma.caption_features("a man whispers", encoder, processor)
    assert not torch.equal(video, other[0])
    # connectors -> the transformer's cross-attention context (video 2x32, audio 2x16 in the tiny model)
    v_ctx, a_ctx, ctx_mask = run_text_connectors(processor, video[None], audio[None], mask[None])
    assert v_ctx.shape == (1, gemma.MAX_TOKENS, 64) and a_ctx.shape == (1, gemma.MAX_TOKENS, 32)
    assert torch.isfinite(v_ctx).all() and torch.isfinite(a_ctx).all()
    assert int(ctx_mask.sum()) == gemma.MAX_TOKENS  # learned registers fill the padding


def test_broken_folders_fail_naming_the_problem(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Gemma text encoder folder not found"):
        gemma.load_text_encoder(tmp_path / "nowhere")
    no_tok = shutil.copytree(folder, tmp_path / "no_tokenizer")
    (no_tok / "tokenizer.model").unlink()
    with pytest.raises(gemma.GemmaFolderError, match="tokenizer file.*missing: tokenizer.model"):
        gemma.load_text_encoder(no_tok)
    no_cfg = shutil.copytree(folder, tmp_path / "no_config")
    (no_cfg / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(gemma.GemmaFolderError, match="no text_config with hidden_size"):
        gemma.load_text_encoder(no_cfg)
    partial = shutil.copytree(folder, tmp_path / "partial")
    shard = partial / "model-00001-of-00001.safetensors"
    weights = load_file(str(shard))
    del weights["language_model.model.layers.1.mlp.down_proj.weight"]
    save_file(weights, str(shard), metadata={"format": "pt"})
    with pytest.raises(gemma.GemmaFolderError, match="missing 1 tensor.*layers.1.mlp.down_proj.weight"):
        gemma.load_text_encoder(partial)
    with pytest.raises(FileExistsError, match="refusing to mix"):
        gemma.write_tiny_gemma(tmp_path, seed=0)  # a folder with other files in it
