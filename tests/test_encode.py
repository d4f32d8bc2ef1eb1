"""Stage encode as a library: buckets, the manifest contract, tensor shapes from clip sizes (helium and
register), determinism, per-item failures, and the decoded-latent check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from ltxvoice import encode as lib
from ltxvoice import latents as lat
from ltxvoice.config import EncodeParams
from ltxvoice.media import MediaError, write_wav
from tests import fixtures

B = lib.Bucket


def test_bucket_rule_follows_the_trainer() -> None:
    buckets = [B(121, 256, 256), B(97, 192, 192), B(49, 704, 1280)]
    assert lib.choose_bucket(121, 256, 256, buckets) == B(121, 256, 256)  # more frames wins at equal aspect
    assert lib.choose_bucket(97, 192, 192, buckets) == B(97, 192, 192)  # 121 frames do not fit
    assert lib.choose_bucket(150, 720, 1280, buckets) == B(49, 704, 1280)  # nearest aspect ratio first
    assert lib.choose_bucket(40, 256, 256, buckets) is None
    assert B(121, 256, 256).latent_shape == (128, 16, 8, 8) and B(97, 192, 192).latent_shape == (128, 13, 6, 6)
    assert B(121, 256, 256).name == "256x256x121"


def test_manifest_contract_is_checked() -> None:
    good = {
        "clip_id": ["a"],
        "train_video_path": ["a.mp4"],
        "train_audio_path": ["a.wav"],
        "caption": ["c"],
        "reference_audio_path": [None],
        "frames": [121],
        "fps": [25.0],
        "width": [256],
        "height": [256],
        "recipe": ["register"],
    }
    lib.check_manifest(pl.DataFrame(good), "m.parquet")
    with pytest.raises(ValueError, match=r"m.parquet: missing column 'caption'; column 'frames' is Float64"):
        lib.check_manifest(pl.DataFrame({**good, "frames": [121.0]}).drop("caption"), "m.parquet")
    with pytest.raises(ValueError, match=r"clip_id not unique: \['a'\]"):
        lib.check_manifest(pl.concat([pl.DataFrame(good)] * 2), "m.parquet")


def _params(tiny_ltx: tuple[Path, Path], **kw) -> EncodeParams:
    return EncodeParams(checkpoint=tiny_ltx[0], text_encoder=tiny_ltx[1], device="cpu", **kw)


@pytest.fixture(scope="module")
def text_encoders(tiny_ltx: tuple[Path, Path]) -> lib.TextEncoders:
    return lib.TextEncoders(_params(tiny_ltx), "cpu")


@pytest.mark.slow
def test_shapes_follow_the_clip_sizes(tiny_ltx, text_encoders, tmp_path: Path) -> None:
    manifest = fixtures.caption_manifest(tmp_path / "in", [("helium", 256, 256, 121), ("register", 192, 192, 97)])
    rows = {r["clip_id"]: r for r in pl.read_parquet(manifest).to_dicts()}
    params = _params(tiny_ltx)
    media = lib.MediaEncoders(params, "cpu")
    out = tmp_path / "out"
    for clip_id, bucket in (("helium", B(121, 256, 256)), ("register", B(97, 192, 192))):
        inputs = lib.read_media(rows[clip_id], bucket)
        (result,) = lib.encode_media([inputs], media, out, batch=False)
        assert result.error is None
        item = lat.item_paths(out, clip_id)
        video = lat.load_video_latents(item.video)
        frames, height, width = bucket.frames, bucket.height, bucket.width
        assert list(video.latents.shape) == [128, (frames - 1) // 8 + 1, height // 32, width // 32]
        assert video.latents.dtype == torch.bfloat16 and video.fps == 25.0
        audio = lat.load_audio_latents(item.audio)
        assert audio.duration == pytest.approx(frames / 25.0)
        assert audio.latents.shape[0] == 8 and audio.latents.shape[2] == 16 and audio.latents.dtype == torch.float32
        assert abs(audio.num_time_steps / audio.duration - 25) < 1  # ~25 latent steps per second
        reference = lat.load_audio_latents(item.reference_audio)
        assert reference.duration == 2.0 and abs(reference.num_time_steps - 50) <= 1
    assert list(lat.load_video_latents(lat.item_paths(out, "helium").video).latents.shape) == [128, 16, 8, 8]
    assert lat.load_audio_latents(lat.item_paths(out, "helium").audio).num_time_steps == 122  # 4.84 s

    conditions = lib.encode_caption(rows["helium"]["caption"], text_encoders, lat.item_paths(out, "helium").conditions)
    assert conditions.video_prompt_embeds.shape == (1024, 64) and conditions.audio_prompt_embeds.shape == (1024, 32)
    assert conditions.video_prompt_embeds.dtype == torch.bfloat16 and conditions.tokens > 3


def test_models_run_in_float32_on_a_cpu_and_store_the_trainer_dtypes() -> None:
    params = EncodeParams()
    assert lib.compute_dtype(params, "bfloat16", "cpu") == torch.float32  # bf16 kernels crawl on AVX2 CPUs
    assert lib.compute_dtype(params, "bfloat16", "cuda") == torch.bfloat16
    assert lib.compute_dtype(params, "float32", "cuda") == torch.float32
    assert lib.compute_dtype(EncodeParams(compute_dtype="bfloat16"), "float32", "cpu") == torch.bfloat16
    assert lib.compute_dtype(EncodeParams(compute_dtype="float32"), "bfloat16", "cuda") == torch.float32


@pytest.mark.slow
def test_float32_models_write_bfloat16_latents(tiny_ltx, text_encoders, tmp_path: Path) -> None:
    manifest = fixtures.caption_manifest(tmp_path / "in", [("c", 64, 64, 17)])
    (row,) = pl.read_parquet(manifest).to_dicts()
    media = lib.MediaEncoders(_params(tiny_ltx), "cpu")
    assert next(media.video_encoder.parameters()).dtype == torch.float32
    assert next(text_encoders.embeddings_processor.parameters()).dtype == torch.float32
    (result,) = lib.encode_media([lib.read_media(row, B(17, 64, 64))], media, tmp_path, batch=False)
    assert result.error is None
    assert lat.load_video_latents(lat.item_paths(tmp_path, "c").video).latents.dtype == torch.bfloat16
    conditions = lib.encode_caption(row["caption"], text_encoders, lat.item_paths(tmp_path, "c").conditions)
    assert conditions.video_prompt_embeds.dtype == torch.bfloat16
    assert conditions.audio_prompt_embeds.dtype == torch.bfloat16


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("small")
    manifest = fixtures.caption_manifest(root, [("aa", 64, 64, 17), ("bb", 64, 64, 17)])
    return {r["clip_id"]: r for r in pl.read_parquet(manifest).to_dicts()}


@pytest.mark.slow
def test_same_inputs_give_identical_tensors(tiny_ltx, text_encoders, small, tmp_path: Path) -> None:
    params = _params(tiny_ltx)
    bucket = B(17, 64, 64)
    for run in ("one", "two"):
        media = lib.MediaEncoders(params, "cpu")
        inputs = [lib.read_media(small[c], bucket) for c in ("aa", "bb")]
        assert all(r.error is None for r in lib.encode_media(inputs, media, tmp_path / run, batch=False))
        lib.encode_caption(small["aa"]["caption"], text_encoders, lat.item_paths(tmp_path / run, "aa").conditions)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.pt"))
    assert len(files) == 7
    for f in files:
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f
    a = lat.load_video_latents(tmp_path / "one" / "latents" / "aa.pt").latents
    b = lat.load_video_latents(tmp_path / "one" / "latents" / "bb.pt").latents
    assert not torch.equal(a, b)  # different clips, different latents


@pytest.mark.slow
def test_broken_items_fail_alone(tiny_ltx, small, tmp_path: Path) -> None:
    params = _params(tiny_ltx)
    bucket = B(17, 64, 64)
    nan = dict(small["bb"], clip_id="nan", train_audio_path=str(tmp_path / "nan.wav"))
    samples = np.zeros(round(17 / 25 * 48000), np.float32)
    samples[100] = np.nan
    write_wav(tmp_path / "nan.wav", samples, 48000)
    media = lib.MediaEncoders(params, "cpu")
    inputs = [lib.read_media(small["aa"], bucket), lib.read_media(nan, bucket)]
    good, bad = lib.encode_media(inputs, media, tmp_path, batch=True)
    assert good.error is None and good.video_shape == [128, 3, 2, 2]
    assert isinstance(bad.error, lib.ItemError) and bad.error.reason == lib.NON_FINITE
    assert "NaN" in bad.error.detail
    assert sorted(p.name for p in tmp_path.rglob("*.pt")) == ["aa.pt"] * 3  # nothing left of the NaN item

    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    for row, reason in (
        (dict(small["aa"], train_video_path=str(junk)), "unreadable"),
        (dict(small["aa"], train_audio_path=str(tmp_path / "gone.wav")), lib.MISSING_FILE),
        (small["aa"], lib.TOO_SHORT),
    ):
        with pytest.raises(MediaError) as caught:
            lib.read_media(row, B(25, 64, 64) if reason == lib.TOO_SHORT else bucket)
        assert caught.value.reason == reason


@pytest.mark.slow
def test_verify_decodes_and_measures(tiny_ltx, small, tmp_path: Path) -> None:
    params = _params(tiny_ltx, video_dtype="float32")
    media = lib.MediaEncoders(params, "cpu")
    root = tmp_path / "enc"
    (result,) = lib.encode_media([lib.read_media(small["aa"], B(17, 64, 64))], media, root, batch=False)
    paths = lat.item_paths(root, "aa")
    items = pl.DataFrame(
        [
            {
                **small["aa"],
                "latents_path": str(paths.video),
                "audio_latents_path": str(paths.audio),
                "reference_audio_latents_path": str(paths.reference_audio),
            }
        ]
    )
    decoders = lib.decoders(params, "cpu")
    summary = lib.verify(items, decoders, tmp_path / "verify", 1, params.checkpoint)
    assert summary["items"] == 1 and summary["non_finite_values"] == 0
    for name in ("aa.audio.wav", "aa.reference.wav", "aa.video.mp4", "report.json", "report.md"):
        assert (tmp_path / "verify" / name).is_file(), name
    report = json.loads((tmp_path / "verify" / "report.json").read_text())
    (row,) = report["items"]
    assert row["target_hz"] == 180.0 and row["input_dbfs"] < 0 and row["video_psnr_db"] > 0
    assert {"decoded_pitch_hz", "decoded_vs_target_cents", "decoded_dbfs", "reference_decoded_pitch_hz"} <= set(row)
    from ltxvoice.media import probe

    info = probe(tmp_path / "verify" / "aa.video.mp4")
    assert (info.width, info.height) == (64, 64)
