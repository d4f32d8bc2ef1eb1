"""The LTX trainer's precomputed file format: typed save/load, stable bytes, NaN/Inf never written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ltxvoice import latents as lat


def _video() -> lat.VideoLatents:
    return lat.VideoLatents(torch.randn(128, 16, 8, 8, generator=torch.Generator().manual_seed(0)).bfloat16(), 25.0)


def _audio(steps: int = 122) -> lat.AudioLatents:
    return lat.AudioLatents(torch.randn(8, steps, 16, generator=torch.Generator().manual_seed(1)), 4.84)


def _text() -> lat.TextConditions:
    mask = torch.zeros(1024, dtype=torch.bool)
    mask[-12:] = True
    return lat.TextConditions(torch.randn(1024, 64).bfloat16(), torch.randn(1024, 32).bfloat16(), mask)


def test_files_hold_the_trainers_dicts(tmp_path: Path) -> None:
    paths = lat.item_paths(tmp_path, "abc")
    lat.save(_video(), paths.video)
    lat.save(_audio(), paths.audio)
    lat.save(_text(), paths.conditions)
    video = torch.load(paths.video, weights_only=True)
    assert set(video) == {"latents", "num_frames", "height", "width", "fps"}
    assert (video["num_frames"], video["height"], video["width"], video["fps"]) == (16, 8, 8, 25.0)
    assert video["latents"].shape == (128, 16, 8, 8) and video["latents"].dtype == torch.bfloat16
    audio = torch.load(paths.audio, weights_only=True)
    assert set(audio) == {"latents", "num_time_steps", "frequency_bins", "duration"}
    assert (audio["num_time_steps"], audio["frequency_bins"], audio["duration"]) == (122, 16, 4.84)
    text = torch.load(paths.conditions, weights_only=True)
    assert set(text) == {"video_prompt_embeds", "audio_prompt_embeds", "prompt_attention_mask"}
    assert text["prompt_attention_mask"].dtype == torch.bool
    assert paths.video.parent.name == "latents" and paths.conditions.name == "abc.pt"

    item = lat.load_item(tmp_path, "abc")
    assert torch.equal(item.video.latents, _video().latents) and item.video.num_frames == 16
    assert item.audio.num_time_steps == 122 and item.conditions.tokens == 12
    assert item.reference_audio is None


def test_same_tensors_same_bytes(tmp_path: Path) -> None:
    a = lat.save(_audio(), tmp_path / "one" / "x.pt").read_bytes()
    b = lat.save(_audio(), tmp_path / "two" / "y.pt").read_bytes()
    assert a == b


def test_nan_or_inf_is_never_written(tmp_path: Path) -> None:
    bad = _audio().latents.clone()
    bad[0, 3, 2] = float("nan")
    bad[1, 0, 0] = float("inf")
    with pytest.raises(lat.NonFiniteError, match=r"x.pt: latents: 1 NaN and 1 Inf value\(s\)"):
        lat.save(lat.AudioLatents(bad, 4.84), tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
    assert not list(tmp_path.iterdir())


def test_bad_files_fail_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="latent file not found"):
        lat.load_video_latents(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(lat.LatentFileError, match="junk.pt: cannot be read"):
        lat.load_audio_latents(tmp_path / "junk.pt")
    torch.save({"latents": torch.zeros(128, 2, 2, 2)}, tmp_path / "short.pt")
    with pytest.raises(lat.LatentFileError, match=r"short.pt: missing key\(s\) \['num_frames'"):
        lat.load_video_latents(tmp_path / "short.pt")
    torch.save(
        {"latents": torch.zeros(8, 10, 16), "num_time_steps": 11, "frequency_bins": 16, "duration": 1.0},
        tmp_path / "lying.pt",
    )
    with pytest.raises(lat.LatentFileError, match="do not match num_time_steps"):
        lat.load_audio_latents(tmp_path / "lying.pt")
    torch.save(
        {"latents": torch.full((8, 10, 16), float("nan")), "num_time_steps": 10, "frequency_bins": 16, "duration": 1.0},
        tmp_path / "nan.pt",
    )
    with pytest.raises(lat.NonFiniteError, match="nan.pt: latents: 1280 NaN"):
        lat.load_audio_latents(tmp_path / "nan.pt")
    with pytest.raises(lat.LatentFileError, match="one T"):
        lat.TextConditions(torch.zeros(10, 4), torch.zeros(9, 2), torch.ones(10, dtype=torch.bool))
