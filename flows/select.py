"""Flow of stage ``select``: the 30 Hz re-measure filter and the dataset report (see ltxvoice.select)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import polars as pl
from prefect import flow

from flows.common import finish, read_manifest, run_flow, stage_params
from ltxvoice import select as lib
from ltxvoice.config import SelectParams
from ltxvoice.records import Quarantined, add_columns, from_frame
from ltxvoice.stage import StageResult, versions
from tasks.common import map_rows
from tasks.select import select_row


@flow(name="select")
def select(
    params_path: str = "params.yaml",
    upstream: str = "data/tones",
    left_out: str = "data/shift",
    out: str = "data/select",
) -> dict:
    """Re-measure every shifted clip, keep the pairs on target, and write the pairs manifest and report."""
    params, cfg = stage_params(params_path, SelectParams)
    clips = read_manifest(Path(upstream) / "clips.parquet", "select")
    earlier = read_manifest(Path(left_out) / "quarantine.parquet", "select")
    out_dir = Path(out)
    rows = from_frame(clips, lib.SelectInput)
    done, failed = map_rows(
        select_row,
        rows,
        stage="select",
        runner=params.runner,
        path_key="shifted_vocals_path",
        desc="select",
        params=cfg,
        measure=params.measure,
    )
    pairs = add_columns(clips, done, lib.Selected)
    metrics = lib.dataset_report(pairs, dict(Counter(earlier["reason"].to_list())), out_dir / "report")
    rejected = [
        Quarantined("select", r["target_audio_path"], r["clip_id"], r["reason"], "")
        for r in pairs.filter(~pl.col("kept")).to_dicts()
    ]
    result = StageResult(
        "select",
        cfg,
        versions("praat-parselmouth", "pyworld", "matplotlib"),
        inputs=len(rows),
        kept=metrics["kept"],
        quarantined=failed,
        rejected=rejected,
        tables={"pairs.parquet": pairs},
        metrics=metrics,
        shown={k: metrics[k] for k in ("target_hz_min", "target_hz_max", "r_source_target") if k in metrics},
    )
    return finish(out_dir, result, head=f"select: no pair kept of {len(rows)}", see=out_dir / "report" / "report.md")


if __name__ == "__main__":
    sys.exit(run_flow(select, "select"))
