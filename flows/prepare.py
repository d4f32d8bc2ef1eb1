"""Flow of stage ``prepare``: loudness-normalised training audio muxed with each clip's video
(see ltxvoice.prepare)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import finish, read_manifest, run_flow, stage_params
from ltxvoice import prepare as lib
from ltxvoice.config import PrepareParams
from ltxvoice.media import ffmpeg_version
from ltxvoice.records import add_columns, from_frame
from ltxvoice.stage import StageResult, prepare_output_dir, versions
from tasks.common import map_rows
from tasks.prepare import prepare_row


@flow(name="prepare")
def prepare(params_path: str = "params.yaml", upstream: str = "data/separate", out: str = "data/prepare") -> dict:
    """Vocals (or mix) -> mono, target rate, loudness target; muxed with the clip's untouched video."""
    params, cfg = stage_params(params_path, PrepareParams)
    clips = read_manifest(Path(upstream) / "clips.parquet", "prepare")
    out_dir = Path(out)
    media = prepare_output_dir(out_dir / "clips", "prepare")
    rows = from_frame(clips, lib.PrepareInput)
    done, quarantined = map_rows(
        prepare_row,
        rows,
        stage="prepare",
        runner=params.runner,
        path_key="audio_path",
        desc="prepare",
        params=cfg,
        out_dir=media,
    )
    table = add_columns(clips, done, lib.Prepared)
    tools = {**versions("pyloudnorm", "numpy", "scipy", "ffmpeg-python"), "ffmpeg": ffmpeg_version()}
    return finish(
        out_dir,
        StageResult(
            "prepare",
            cfg,
            tools,
            inputs=len(rows),
            kept=table.height,
            quarantined=quarantined,
            tables={"clips.parquet": table},
            extra={"target_lufs": cfg.loudness_lufs},
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(prepare, "prepare"))
