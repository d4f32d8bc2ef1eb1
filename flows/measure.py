"""Flow of stage ``measure``: pitch, voicing and formants of every clip's vocals (see ltxvoice.measure)."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from prefect import flow

from flows.common import finish_stage, read_manifest, run_flow, stage_params
from ltxvoice import measure as lib
from ltxvoice.records import add_columns
from ltxvoice.stage import versions
from tasks.common import map_rows
from tasks.measure import measure_row


@flow(name="measure")
def measure(params_path: str = "params.yaml", upstream: str = "data/separate", out: str = "data/measure") -> dict:
    """Measure every clip's median F0 (Praat and WORLD), voicing and formants."""
    started = time.perf_counter()
    params, cfg = stage_params(params_path, "measure")
    clips = read_manifest(Path(upstream) / "clips.parquet", "measure")
    rows = clips.to_dicts()
    done, quarantined = map_rows(measure_row, rows, stage="measure", runner=params.runner, path_key="vocals_path",
                                 desc="measure", params=cfg)
    table = add_columns(clips, done, lib.Measured)
    voiced = [m for m in done.values() if math.isfinite(m.f0_hz)]
    extra = {"with_pitch": len(voiced)}
    if voiced:
        extra["max_abs_disagreement_cents"] = round(max(abs(m.f0_disagreement_cents) for m in voiced
                                                        if math.isfinite(m.f0_disagreement_cents)), 2)
    Path(out).mkdir(parents=True, exist_ok=True)
    return finish_stage("measure", Path(out), table, quarantined, cfg,
                        versions("praat-parselmouth", "pyworld", "numpy", "scipy"), started, len(rows), extra=extra)


if __name__ == "__main__":
    sys.exit(run_flow(measure, "measure"))
