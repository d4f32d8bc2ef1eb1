"""ltxvoice.models.asr: both backends through the project's loader, offline, on tiny random-weight
models. Random weights: the plumbing (text, language, word timestamps, determinism) is checked, not
the words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltxvoice.config import AsrParams
from ltxvoice.models.asr import load_transcriber
from ltxvoice.models.whisper import write_tiny_faster_whisper, write_tiny_openai_whisper
from tests import fixtures

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_network")]


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return fixtures.espeak_samples("en+m3", 40, rate=16000, text="The boat left the harbour before sunrise.")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("asr")
    return {"faster-whisper": write_tiny_faster_whisper(root / "fw", seed=0),
            "openai-whisper": write_tiny_openai_whisper(root / "tiny.pt", seed=0)}


@pytest.mark.parametrize("backend", ["faster-whisper", "openai-whisper"])
@pytest.mark.parametrize("language", [None, "de"])
def test_backends_transcribe_offline(backend: str, language: str | None, models: dict[str, Path],
                                     speech: np.ndarray) -> None:
    params = AsrParams(backend=backend, model=str(models[backend]), language=language, beam_size=1,
                       compute_type="float32", threads=1)
    transcribe = load_transcriber(params)
    a, b = transcribe(speech), transcribe(speech)
    assert a == b  # temperature 0, no sampled fallback: deterministic
    assert isinstance(a.text, str) and a.text == " ".join(a.text.split())
    assert a.language == (language or a.language) and len(a.language) == 2
    for start, end, word in a.words:
        assert 0 <= start <= end <= speech.size / 16000 + 0.5 and isinstance(word, str)
    assert a.words_json().startswith("[")


@pytest.mark.parametrize("backend", ["faster-whisper", "openai-whisper"])
def test_missing_model_is_a_clear_error_without_download(backend: str, tmp_path: Path) -> None:
    params = AsrParams(backend=backend, model="large-v9-not-cached")
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_transcriber(params)
    (tmp_path / "empty").mkdir()
    if backend == "faster-whisper":
        with pytest.raises(FileNotFoundError, match="no model.bin"):
            load_transcriber(AsrParams(backend=backend, model=str(tmp_path / "empty")))
