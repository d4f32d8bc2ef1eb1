"""Flow of stage ``asr_model``: a real Whisper model folder from installed packages (see ltxvoice.asr_model)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import finish, run_flow, stage_params
from ltxvoice import asr_model as lib
from ltxvoice.config import AsrModelParams
from ltxvoice.stage import StageError, StageResult, versions
from tasks.asr_model import assemble_model


@flow(name="asr_model")
def asr_model(params_path: str = "params.yaml", out: str = "models/asr") -> dict:
    """Assemble the configured Whisper model into ``out`` and check its SHA-256."""
    _, cfg = stage_params(params_path, AsrModelParams)
    out_dir = Path(out)
    try:
        provenance = assemble_model(cfg.model, cfg.sha256, out_dir)
    except lib.AsrModelError as exc:
        raise StageError(str(exc)) from None
    packages = [p["name"] for p in provenance["packages"]]
    return finish(
        out_dir,
        StageResult(
            "asr_model",
            cfg,
            versions(*packages),
            inputs=len(provenance["files"]),
            kept=len(provenance["files"]),
            write_quarantine=False,
            write_metrics=False,
            provenance=provenance,
            extra={"files": len(provenance["files"])},
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(asr_model, "asr_model"))
