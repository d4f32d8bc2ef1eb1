"""audio-separator's real MelBand Roformer loading and separation path, on a tiny random-weight
checkpoint + yaml generated here, with the network made unreachable."""

from __future__ import annotations

import gc
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ltxvoice import separate
from ltxvoice.config import SeparateParams
from ltxvoice.media import read_wav, write_wav
from ltxvoice.models.roformer import ensure_offline_checks, write_tiny_melband_roformer
from ltxvoice.records import sha256_file


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("roformer")
    write_tiny_melband_roformer(d, seed=0)
    return d


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_checkpoint_is_deterministic_and_real_layout(model_dir: Path, tmp_path: Path) -> None:
    again = write_tiny_melband_roformer(tmp_path, seed=0)
    assert sha256_file(again) == sha256_file(model_dir / "vocals_mel_band_roformer.ckpt")
    other = write_tiny_melband_roformer(tmp_path / "s1", seed=1)
    assert sha256_file(other) != sha256_file(again)
    state = torch.load(again, weights_only=True)
    assert all(torch.isfinite(v).all() for v in state.values())
    assert any(k.startswith("layers.") for k in state) and any("mask_estimators" in k for k in state)
    assert (model_dir / "vocals_mel_band_roformer.yaml").is_file()


def test_offline_checks_never_overwrite(tmp_path: Path) -> None:
    mine = tmp_path / "download_checks.json"
    mine.write_text('{"mine": true}')
    ensure_offline_checks(tmp_path)
    assert mine.read_text() == '{"mine": true}'


def test_real_separation_path_runs_offline(model_dir: Path, tmp_path: Path, no_network: None) -> None:
    torch.set_num_threads(1)
    params = SeparateParams(model_dir=model_dir)
    rate = 48000
    t = np.arange(int(2.0 * rate)) / rate
    # band-limited (the stems pass through 44.1 kHz and back)
    mix = (0.2 * np.sin(2 * np.pi * 180 * t) + 0.05 * np.sin(2 * np.pi * 2500 * t)).astype(np.float32)
    src = write_wav(tmp_path / "mix.wav", mix, rate)
    out = tmp_path / "out"
    out.mkdir()
    separator = separate.VocalSeparator(params)
    result = separate.separate_clip("c1", src, sha256_file(src), params, out, separator,
                                    tmp_path / "cache", separate.model_fingerprint(params))
    assert result.separation_model == "vocals_mel_band_roformer.ckpt"
    vocals, r1 = read_wav(Path(result.vocals_path))
    other, r2 = read_wav(Path(result.other_path))  # type: ignore[arg-type]
    assert r1 == r2 == rate and vocals.size == other.size == mix.size
    # audio-separator's "other" stem is the mix minus the vocals: together they give the input back
    np.testing.assert_allclose(vocals + other, mix, atol=2e-3)
    # cached by content: a second clip with the same audio needs no model at all
    again = separate.separate_clip("c2", src, sha256_file(src), params, out, None, tmp_path / "cache",
                                   separate.model_fingerprint(params))
    assert sha256_file(Path(again.vocals_path)) == sha256_file(Path(result.vocals_path))
    # the separator's scratch folder (audio-separator's stem files) goes with it
    scratch = separator._tmp
    assert scratch.is_dir() and not list(scratch.iterdir())
    del separator
    gc.collect()
    assert not scratch.exists()


def test_missing_model_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"vocals_mel_band_roformer.ckpt.*not found"):
        separate.model_files(SeparateParams(model_dir=tmp_path))


def test_model_none_is_explicit(tmp_path: Path) -> None:
    result = separate.separate_clip("c", tmp_path / "a.wav", "x", SeparateParams(model="none"), tmp_path, None)
    assert result == separate.Separated(separation_model="none", vocals_path=str(tmp_path / "a.wav"), other_path=None)


def test_broken_checkpoint_is_an_error_not_an_exit(model_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "m"
    write_tiny_melband_roformer(bad, seed=0)
    torch.save({"nonsense.weight": torch.zeros(2)}, bad / "vocals_mel_band_roformer.ckpt")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(RuntimeError, match="could not load"):
        separate.VocalSeparator(SeparateParams(model_dir=bad))
    assert not list(scratch.iterdir())  # no scratch folder left behind
