"""Flow of stage ``tones``: a voiced reference tone per pair at its target pitch (see ltxvoice.tones)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import finish, read_manifest, run_flow, stage_params
from ltxvoice import tones as lib
from ltxvoice.config import TonesParams
from ltxvoice.records import add_columns, from_frame
from ltxvoice.stage import StageResult, prepare_output_dir, versions
from tasks.common import map_rows
from tasks.tones import tone_row


@flow(name="tones")
def tones(params_path: str = "params.yaml", upstream: str = "data/shift", out: str = "data/tones") -> dict:
    """Synthesize each pair's reference tone with an independently drawn timbre."""
    params, cfg = stage_params(params_path, TonesParams)
    clips = read_manifest(Path(upstream) / "clips.parquet", "tones")
    out_dir = Path(out)
    tone_dir = prepare_output_dir(out_dir / "tones", "tones")
    rows = from_frame(clips, lib.TonesInput)
    done, quarantined = map_rows(
        tone_row,
        rows,
        stage="tones",
        runner=params.runner,
        path_key="target_audio_path",
        desc="tones",
        params=cfg,
        out_dir=tone_dir,
    )
    table = add_columns(clips, done, lib.Tone)
    return finish(
        out_dir,
        StageResult(
            "tones",
            cfg,
            versions("numpy", "scipy"),
            inputs=len(rows),
            kept=table.height,
            quarantined=quarantined,
            tables={"clips.parquet": table},
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(tones, "tones"))
