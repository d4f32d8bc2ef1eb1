"""Speech recognition with faster-whisper (default) or openai-whisper, offline.

:func:`load_transcriber` resolves ``asr.model`` as a local model (a CTranslate2 folder for
faster-whisper, a ``.pt`` checkpoint for openai-whisper) or as a model name already in the backend's
local cache; it never downloads, and says what it looked for when nothing is there. Decoding is
greedy/beam search at temperature 0 only (no sampled fallback), so the same audio and model always
give the same transcript.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ltxvoice.config import AsrParams

RATE = 16000  # both backends take 16 kHz mono float32


@dataclass(frozen=True)
class Transcript:
    """One clip's transcript and how it was made."""

    text: str
    language: str
    language_probability: float | None
    words: tuple[tuple[float, float, str], ...]
    avg_logprob: float | None = None  # mean over the segments of the decoder's mean token log-probability
    no_speech_prob: float | None = None  # mean over the segments of the model's no-speech probability

    def words_json(self) -> str:
        return json.dumps([[round(a, 3), round(b, 3), w] for a, b, w in self.words], ensure_ascii=False)


class Transcriber(Protocol):
    """Audio (16 kHz mono float32) -> Transcript. ``language``: decode as this language (e.g. the
    label table's), overriding ``asr.language``; None: ``asr.language``, or detected when that is null."""

    def __call__(self, audio: np.ndarray, language: str | None = None) -> Transcript: ...


def _clean(text: str) -> str:
    return " ".join(text.split())


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def multilingual(params: AsrParams) -> bool:
    """Whether the configured model tells languages apart (Whisper ``*.en`` models do not: they hear
    everything as English). Read from the vocabulary size, as the backends decide it (>= 51865)."""
    path = Path(params.model)
    if params.backend == "faster-whisper" and path.is_dir():
        if (path / "vocabulary.json").is_file():
            return len(json.loads((path / "vocabulary.json").read_text(encoding="utf-8"))) >= 51865
        if (path / "vocabulary.txt").is_file():
            return len((path / "vocabulary.txt").read_text(encoding="utf-8").splitlines()) >= 51865
    return not params.model.endswith(".en") and ".en." not in path.name


def _faster_whisper(params: AsrParams) -> Transcriber:
    from faster_whisper import WhisperModel

    folder = Path(params.model)
    if folder.is_dir() and not (folder / "model.bin").is_file():
        raise FileNotFoundError(f"asr.model: {folder} is not a faster-whisper (CTranslate2) folder: no model.bin")
    source = str(folder) if folder.is_dir() else params.model
    try:
        model = WhisperModel(source, device="cpu", compute_type=params.compute_type, cpu_threads=params.threads,
                             local_files_only=True)
    except Exception as exc:  # the hub client's own errors, e.g. LocalEntryNotFoundError
        raise FileNotFoundError(
            f"asr.model: {params.model!r} is neither a faster-whisper model folder nor a model in the local "
            f"Hugging Face cache, and models are never downloaded here ({type(exc).__name__})"
        ) from None

    def transcribe(audio: np.ndarray, language: str | None = None) -> Transcript:
        segments, info = model.transcribe(
            audio.astype(np.float32), language=language or params.language, beam_size=params.beam_size, temperature=0.0,
            word_timestamps=params.word_timestamps, condition_on_previous_text=False, vad_filter=params.vad_filter)
        segments = list(segments)
        words = tuple((w.start, w.end, w.word.strip()) for s in segments for w in (s.words or []))
        return Transcript(_clean(" ".join(s.text for s in segments)), info.language,
                          float(info.language_probability), words,
                          _mean([s.avg_logprob for s in segments]), _mean([s.no_speech_prob for s in segments]))

    return transcribe


def _openai_whisper(params: AsrParams) -> Transcriber:
    import torch
    import whisper

    path = Path(params.model)
    if not path.is_file():
        cached = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper" / f"{params.model}.pt"
        if not cached.is_file():
            raise FileNotFoundError(
                f"asr.model: {params.model!r} is not an openai-whisper .pt file and {cached} does not exist; "
                "models are never downloaded here")
        path = cached
    torch.set_num_threads(params.threads)
    model = whisper.load_model(str(path), device="cpu")

    def transcribe(audio: np.ndarray, language: str | None = None) -> Transcript:
        options: dict[str, Any] = {"beam_size": params.beam_size} if params.beam_size > 1 else {}
        result = model.transcribe(audio.astype(np.float32), language=language or params.language, temperature=0.0, fp16=False,
                                  word_timestamps=params.word_timestamps, condition_on_previous_text=False,
                                  verbose=None, **options)
        words = tuple((w["start"], w["end"], w["word"].strip()) for s in result["segments"] for w in s.get("words", []))
        segs = result["segments"]
        return Transcript(_clean(result["text"]), result["language"], None, words,
                          _mean([s["avg_logprob"] for s in segs]), _mean([s["no_speech_prob"] for s in segs]))

    return transcribe


def load_transcriber(params: AsrParams) -> Transcriber:
    """A function audio (16 kHz mono float32) -> Transcript for the configured backend and model."""
    if params.backend == "faster-whisper":
        return _faster_whisper(params)
    return _openai_whisper(params)


def backend_version(params: AsrParams) -> dict[str, str]:
    from ltxvoice.stage import versions

    return versions("faster-whisper", "ctranslate2") if params.backend == "faster-whisper" else versions(
        "openai-whisper", "torch")
