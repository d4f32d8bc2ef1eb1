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

STAGE = "tiny_models"

LTX_CHECKPOINT = "ltx-2.3-tiny.safetensors"
GEMMA_FOLDER = "gemma"


def write_ltx_bundle(out_dir: Path, seed: int) -> list[Path]:
    """The LTX-2.3 unified checkpoint and the Gemma 3 folder whose hidden states its text projection
    takes (``<out_dir>/ltx-2.3-tiny.safetensors``, ``<out_dir>/gemma/``)."""
    gemma = write_tiny_gemma(out_dir / GEMMA_FOLDER, seed=seed)
    checkpoint = write_tiny_ltx_checkpoint(out_dir / LTX_CHECKPOINT, seed=seed,
                                           gemma=(TINY_TEXT["hidden_size"], TINY_TEXT["num_hidden_layers"]))
    return [checkpoint, gemma]


GENERATORS: dict[str, Callable[[Path, int], list[Path]]] = {
    "ltx": write_ltx_bundle,
}
