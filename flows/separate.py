"""Flow of stage ``separate``: vocals and the rest of every clip (see ltxvoice.separate)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import check_dvc_deps, finish, pipeline_file, read_manifest, run_flow, stage_params
from ltxvoice import separate as lib
from ltxvoice.config import SeparateParams
from ltxvoice.records import add_columns, from_frame
from ltxvoice.stage import StageError, StageResult, prepare_output_dir, versions
from tasks.common import map_rows
from tasks.separate import separate_row


@flow(name="separate")
def separate(
    params_path: str = "params.yaml",
    upstream: str = "data/ingest",
    out: str = "data/separate",
    cache: str = ".cache/separate",
) -> dict:
    """Separate each clip's vocals with a MelBand Roformer (or record separate.model: none)."""
    params, cfg = stage_params(params_path, SeparateParams)
    clips = read_manifest(Path(upstream) / "clips.parquet", "separate")
    out_dir = Path(out)
    stems = prepare_output_dir(out_dir / "stems", "separate")
    rows = from_frame(clips, lib.SeparateInput)
    if cfg.enabled:
        try:
            fingerprint = lib.model_fingerprint(cfg)
        except FileNotFoundError as exc:
            raise StageError(str(exc)) from None
        check_dvc_deps("separate", [cfg.model_dir], pipeline_file(params_path))
        done, quarantined = map_rows(
            separate_row,
            rows,
            stage="separate",
            runner=params.runner,
            path_key="audio_path",
            desc="separate",
            params=cfg,
            out_dir=stems,
            cache_dir=Path(cache),
            fingerprint=fingerprint,
        )
    else:
        done = {
            r.clip_id: lib.separate_clip(r.clip_id, Path(r.audio_path), r.audio_sha256, cfg, stems, None) for r in rows
        }
        quarantined = []
    table = add_columns(clips, done, lib.Separated)
    tools = versions("audio-separator", "torch", "numpy", "scipy")
    return finish(
        out_dir,
        StageResult(
            "separate",
            cfg,
            tools,
            inputs=len(rows),
            kept=table.height,
            quarantined=quarantined,
            tables={"clips.parquet": table},
            extra={"separated": sum(1 for s in done.values() if s.other_path)},
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(separate, "separate"))
