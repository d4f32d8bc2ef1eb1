"""Flow of stage ``shift``: plan a target pitch per clip and shift its speech there (see ltxvoice.shift)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import finish, read_manifest, run_flow, stage_params
from ltxvoice import shift as lib
from ltxvoice.config import ShiftParams
from ltxvoice.media import ffmpeg_version
from ltxvoice.records import Quarantined, add_columns, from_frame
from ltxvoice.stage import StageResult, prepare_output_dir, versions, write_json
from tasks.common import map_rows
from tasks.shift import shift_row

_WHY = {
    lib.NO_PITCH: "no voiced frame was measured, so there is no pitch to shift",
    lib.PITCH_EXTREME: "left out of the decorrelated set: its pitch is too far from the others for the cap",
}


@flow(name="shift")
def shift(params_path: str = "params.yaml", upstream: str = "data/measure", out: str = "data/shift") -> dict:
    """Plan targets (bounded or decorrelated) and shift each clip's vocals with formants and length kept."""
    params, cfg = stage_params(params_path, ShiftParams)
    clips = read_manifest(Path(upstream) / "clips.parquet", "shift")
    out_dir = Path(out)
    clip_dir = prepare_output_dir(out_dir / "clips", "shift")
    plan = lib.plan_targets(dict(zip(clips["clip_id"], clips["f0_hz"])), cfg)
    rows = [r for r in from_frame(clips, lib.ShiftInput) if r.clip_id in plan.targets]
    quarantined = [
        Quarantined(
            "shift", r["audio_path"], r["clip_id"], plan.dropped[r["clip_id"]], _WHY[plan.dropped[r["clip_id"]]]
        )
        for r in clips.to_dicts()
        if r["clip_id"] in plan.dropped
    ]
    done, failed = map_rows(
        shift_row,
        rows,
        stage="shift",
        runner=params.runner,
        path_key="vocals_path",
        desc=f"shift ({cfg.engine})",
        plan=plan.targets,
        params=cfg,
        measure=params.measure,
        out_dir=clip_dir,
    )
    table = add_columns(clips, done, lib.Shifted)
    write_json(
        out_dir / "plan.json",
        {
            "mode": cfg.mode,
            "planned": len(plan.targets),
            "dropped": len(plan.dropped),
            "r_source_target_planned": round(plan.r, 4),
        },
    )
    tools = {**versions("praat-parselmouth", "pyworld", "numpy", "ffmpeg-python"), "ffmpeg": ffmpeg_version()}
    return finish(
        out_dir,
        StageResult(
            "shift",
            cfg,
            tools,
            inputs=clips.height,
            kept=table.height,
            quarantined=quarantined + failed,
            tables={"clips.parquet": table},
            extra={"r_source_target_planned": round(plan.r, 4)},
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(shift, "shift"))
