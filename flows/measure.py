"""Flow of stage ``measure``: pitch, voicing and formants of every clip's vocals (see ltxvoice.measure)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from prefect import flow

from flows.common import finish, read_manifest, run_flow, stage_params
from ltxvoice import measure as lib
from ltxvoice.config import MeasureParams
from ltxvoice.records import add_columns, from_frame
from ltxvoice.stage import StageResult, versions
from tasks.common import map_rows
from tasks.measure import measure_row


@flow(name="measure")
def measure(params_path: str = "params.yaml", upstream: str = "data/separate", out: str = "data/measure") -> dict:
    """Measure every clip's median F0 (Praat and WORLD), voicing and formants."""
    params, cfg = stage_params(params_path, MeasureParams)
    clips = read_manifest(Path(upstream) / "clips.parquet", "measure")
    rows = from_frame(clips, lib.MeasureInput)
    done, quarantined = map_rows(
        measure_row, rows, stage="measure", runner=params.runner, path_key="vocals_path", desc="measure", params=cfg
    )
    table = add_columns(clips, done, lib.Measured)
    voiced = [m for m in done.values() if math.isfinite(m.f0_hz)]
    extra: dict[str, float | int] = {"with_pitch": len(voiced)}
    if voiced:
        extra["max_abs_disagreement_cents"] = round(
            max(abs(m.f0_disagreement_cents) for m in voiced if math.isfinite(m.f0_disagreement_cents)), 2
        )
    return finish(
        Path(out),
        StageResult(
            "measure",
            cfg,
            versions("praat-parselmouth", "pyworld", "numpy", "scipy"),
            inputs=len(rows),
            kept=table.height,
            quarantined=quarantined,
            tables={"clips.parquet": table},
            extra=extra,
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(measure, "measure"))
