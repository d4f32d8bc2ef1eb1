"""Both ASR backends load the project's tiny random-weight Whisper models through their real loaders
and transcribe offline. Random weights: the test checks the plumbing (segments, word timestamps,
language detection), never the text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltxvoice.models.whisper import write_tiny_faster_whisper, write_tiny_openai_whisper
from ltxvoice.records import sha256_file
from tests import fixtures

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_network")]


@pytest.fixture(scope="module")
def speech16k() -> np.ndarray:
    return fixtures.espeak_samples("en+f2", 50, rate=16000, text="Please close the window, it is getting cold.")


def test_openai_whisper_checkpoint(tmp_path: Path, speech16k: np.ndarray) -> None:
    import whisper

    path = write_tiny_openai_whisper(tmp_path / "tiny.pt", seed=0)
    assert sha256_file(path) == sha256_file(write_tiny_openai_whisper(tmp_path / "again.pt", seed=0))
    model = whisper.load_model(str(path), device="cpu")
    result = model.transcribe(speech16k, language="en", word_timestamps=True, fp16=False, temperature=0.0)
    assert result["language"] == "en" and isinstance(result["text"], str)
    for segment in result["segments"]:
        assert 0 <= segment["start"] <= segment["end"]
        for word in segment.get("words", []):
            assert word["start"] <= word["end"]
    _, probs = model.detect_language(whisper.log_mel_spectrogram(whisper.pad_or_trim(speech16k)))
    assert len(probs) == 99 and abs(sum(probs.values()) - 1) < 1e-3


def test_faster_whisper_folder(tmp_path: Path, speech16k: np.ndarray) -> None:
    from faster_whisper import WhisperModel

    folder = write_tiny_faster_whisper(tmp_path / "fw", seed=0)
    assert {"model.bin", "config.json", "tokenizer.json", "preprocessor_config.json"} <= {p.name for p in folder.iterdir()}
    model = WhisperModel(str(folder), device="cpu", compute_type="float32")
    segments, info = model.transcribe(speech16k, language="en", word_timestamps=True, beam_size=1, temperature=0.0)
    segments = list(segments)
    assert info.language == "en" and info.duration == pytest.approx(speech16k.size / 16000, abs=0.01)
    for segment in segments:
        assert 0 <= segment.start <= segment.end
    _, detected = model.transcribe(speech16k, language=None, beam_size=1, temperature=0.0)
    assert len(detected.language) == 2 and 0 < detected.language_probability <= 1
