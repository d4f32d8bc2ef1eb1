"""Model file layouts: loaders of real checkpoints and generators of tiny random-weight ones.

Stage ``models`` (:func:`write_tiny_models`) writes the tiny random-weight test models the demo
recipes run on, each in its real file layout, so the real loading code runs on a fresh machine. They
prove plumbing only: a random Whisper transcribes nothing meaningful, a random Roformer separates
nothing. Point params at real weights to get real results; the code path is the same.
"""

from __future__ import annotations

from pathlib import Path

from ltxvoice.config import ModelsParams

STAGE = "models"


def write_tiny_models(out_dir: Path, params: ModelsParams) -> dict[str, Path]:
    """Write every tiny model under ``out_dir``; returns {name: path}. Same seed -> same bytes."""
    from ltxvoice.models.roformer import write_tiny_melband_roformer
    from ltxvoice.models.whisper import write_tiny_faster_whisper, write_tiny_openai_whisper

    written = {
        "audio-separator": write_tiny_melband_roformer(out_dir / "audio-separator", seed=params.seed).parent,
        "faster-whisper": write_tiny_faster_whisper(out_dir / "faster-whisper", seed=params.seed),
        "openai-whisper": write_tiny_openai_whisper(out_dir / "openai-whisper" / "tiny.pt", seed=params.seed),
    }
    return written
