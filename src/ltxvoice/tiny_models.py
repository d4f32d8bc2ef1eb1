"""Stage ``tiny_models``: tiny random-weight models in the real file layouts, for the demo and the tests.

No model weights can be downloaded here, so the pipeline runs its real loading code on models it
writes itself. Each generator is a function ``(out_dir, seed) -> written paths``, registered in
:data:`GENERATORS` under the name of the model family; the stage runs them all with one seed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ltxvoice.models.gemma import TINY_TEXT, write_tiny_gemma
from ltxvoice.models.ltx import write_tiny_ltx_checkpoint
from ltxvoice.models.roformer import write_tiny_melband_roformer
from ltxvoice.models.whisper import write_tiny_faster_whisper, write_tiny_openai_whisper

STAGE = "tiny_models"

LTX_CHECKPOINT = "ltx-2.3-tiny.safetensors"
GEMMA_FOLDER = "gemma"


def write_ltx_bundle(out_dir: Path, seed: int) -> list[Path]:
    """The LTX-2.3 unified checkpoint and the Gemma 3 folder whose hidden states its text projection
    takes (``<out_dir>/ltx-2.3-tiny.safetensors``, ``<out_dir>/gemma/``)."""
    gemma = write_tiny_gemma(out_dir / GEMMA_FOLDER, seed=seed)
    checkpoint = write_tiny_ltx_checkpoint(
        out_dir / LTX_CHECKPOINT, seed=seed, gemma=(TINY_TEXT["hidden_size"], TINY_TEXT["num_hidden_layers"])
    )
    return [checkpoint, gemma]


def write_roformer(out_dir: Path, seed: int) -> list[Path]:
    """``<out_dir>/audio-separator/``: vocals_mel_band_roformer.ckpt + .yaml + download_checks.json, the
    folder ``separate.model_dir`` names (random weights: its "vocals" are noise)."""
    return [write_tiny_melband_roformer(out_dir / "audio-separator", seed=seed).parent]


def write_whisper(out_dir: Path, seed: int) -> list[Path]:
    """``<out_dir>/faster-whisper/`` (CTranslate2 folder) and ``<out_dir>/openai-whisper/tiny.pt``, for
    ``caption.asr.model`` with either backend (random weights: transcripts are gibberish)."""
    return [
        write_tiny_faster_whisper(out_dir / "faster-whisper", seed=seed),
        write_tiny_openai_whisper(out_dir / "openai-whisper" / "tiny.pt", seed=seed),
    ]


GENERATORS: dict[str, Callable[[Path, int], list[Path]]] = {
    "ltx": write_ltx_bundle,
    "roformer": write_roformer,
    "whisper": write_whisper,
}
