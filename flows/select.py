"""Flow of stage ``select``: the 30 Hz re-measure filter and the dataset report (see ltxvoice.select)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
from prefect import flow

from flows.common import read_manifest, run_flow, show, stage_params
from ltxvoice import select as lib
from ltxvoice.records import QUARANTINE_SORT, Quarantined, add_columns, to_frame, write_table
from ltxvoice.stage import StageError, Summary, versions, write_json, write_provenance
from tasks.common import map_rows
from tasks.select import select_row


@flow(name="select")
def select(params_path: str = "params.yaml", upstream: str = "data/tones", left_out: str = "data/shift",
           out: str = "data/select") -> dict:
    """Re-measure every shifted clip, keep the pairs on target, and write the pairs manifest and report."""
    started = time.perf_counter()
    params, cfg = stage_params(params_path, "select")
    clips = read_manifest(Path(upstream) / "clips.parquet", "select")
    earlier = read_manifest(Path(left_out) / "quarantine.parquet", "select")
    out_dir = Path(out)
    rows = clips.to_dicts()
    done, failed = map_rows(select_row, rows, stage="select", runner=params.runner, path_key="shifted_vocals_path",
                            desc="select", params=cfg, measure=params.measure)
    pairs = add_columns(clips, done, lib.Selected)
    write_table(pairs, out_dir / "pairs.parquet")
    write_table(to_frame(failed, Quarantined, sort_by=QUARANTINE_SORT), out_dir / "quarantine.parquet")
    write_provenance(out_dir / "provenance.json", "select", cfg, versions("praat-parselmouth", "pyworld", "matplotlib"))
    upstream = dict(Counter(earlier["reason"].to_list()))
    metrics = lib.dataset_report(pairs, upstream, out_dir / "report")
    write_json(out_dir / "metrics.json", metrics)
    rejected = [Quarantined("select", r["target_audio_path"], r["clip_id"], r["reason"], "")
                for r in pairs.filter(~pl.col("kept")).to_dicts()]
    show(Summary(stage="select", inputs=len(rows), kept=metrics["kept"], quarantined=rejected + failed,
                 seconds=time.perf_counter() - started,
                 extra={k: metrics[k] for k in ("target_hz_min", "target_hz_max", "r_source_target") if k in metrics}))
    if metrics["kept"] == 0:
        raise StageError(f"select: no pair kept of {len(rows)}: {metrics['rejected_by_reason']} "
                         f"(see {out_dir / 'report' / 'report.md'})")
    return metrics


if __name__ == "__main__":
    sys.exit(run_flow(select, "select"))
