"""Flow of stage ``models``: tiny random-weight test models in the real file layouts (see
ltxvoice.models)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from prefect import flow

from flows.common import run_flow, show, stage_params
from ltxvoice.stage import Summary, prepare_output_dir, versions, write_provenance
from tasks.models import write_tiny


@flow(name="models")
def models(params_path: str = "params.yaml", out: str = "models/tiny") -> dict:
    """Write the tiny test models (random weights: they exercise the real loaders, nothing more)."""
    started = time.perf_counter()
    _, cfg = stage_params(params_path, "models")
    out_dir = prepare_output_dir(Path(out), "models")
    written = write_tiny(out_dir, cfg)
    write_provenance(out_dir / "provenance.json", "models", cfg,
                     versions("torch", "audio-separator", "openai-whisper", "faster-whisper", "ctranslate2",
                              "transformers"))
    show(Summary(stage="models", inputs=len(written), kept=len(written), seconds=time.perf_counter() - started))
    return {name: str(path) for name, path in written.items()}


if __name__ == "__main__":
    sys.exit(run_flow(models, "models"))
