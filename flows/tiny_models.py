"""Flow of stage ``tiny_models``: every tiny random-weight model in its real layout (see ltxvoice.tiny_models)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import finish, run_flow, stage_params
from ltxvoice import tiny_models as lib
from ltxvoice.config import TinyModelsParams
from ltxvoice.records import sha256_file
from ltxvoice.stage import StageResult, versions
from tasks.tiny_models import write_model


@flow(name="tiny_models")
def tiny_models(params_path: str = "params.yaml", out: str = "models/tiny") -> dict:
    """Write the tiny models (LTX-2.3 checkpoint + Gemma folder, MelBand Roformer, Whisper) from one seed."""
    _, cfg = stage_params(params_path, TinyModelsParams)
    out_dir = Path(out)
    written: dict[str, list[str]] = {}
    for name in lib.GENERATORS:
        paths = write_model(name, out_dir, cfg.seed)
        written[name] = [str(p) for p in paths]
    files = {
        str(p): sha256_file(p)
        for name in written
        for root in map(Path, written[name])
        for p in ([root] if root.is_file() else sorted(q for q in root.rglob("*") if q.is_file()))
    }
    tools = versions(
        "ltx-core", "torch", "transformers", "tokenizers", "audio-separator", "openai-whisper", "ctranslate2"
    )
    return finish(
        out_dir,
        StageResult(
            "tiny_models",
            cfg,
            tools,
            inputs=len(written),
            kept=len(written),
            write_quarantine=False,
            write_metrics=False,
            provenance={"files": files},
            extra={"files": len(files)},
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(tiny_models, "tiny_models"))
