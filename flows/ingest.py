"""Flow of stage ``ingest``: sources -> clips + manifest + quarantine (see ltxvoice.ingest)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from prefect import flow

from flows.common import check_dvc_deps, pipeline_file, run_flow, show, stage_params
from ltxvoice import ingest as lib
from ltxvoice.media import ffmpeg_version
from ltxvoice.records import QUARANTINE_SORT, Quarantined, to_frame, write_table
from ltxvoice.stage import StageError, Summary, first_few, prepare_output_dir, versions, write_json, write_provenance
from tasks.common import failure_row, run_mapped
from tasks.ingest import cut_source, describe_source


@flow(name="ingest")
def ingest(params_path: str = "params.yaml", out: str = "data/ingest") -> dict:
    """Cut every source under ingest.sources into clips (mp4 + mono WAV); quarantine what cannot be used."""
    started = time.perf_counter()
    params, cfg = stage_params(params_path, "ingest")
    out_dir = Path(out)
    try:
        lib.check_outside_sources(out_dir, cfg)
    except ValueError as exc:
        raise StageError(str(exc)) from None
    check_dvc_deps("ingest", cfg.sources, pipeline_file(params_path))

    candidates, quarantined = lib.scan(cfg)
    sources: list[lib.Source] = []
    described = run_mapped(describe_source, candidates, runner=params.runner, desc="ingest: hash")
    for path, result in zip(candidates, described):
        if isinstance(result, BaseException):
            quarantined.append(failure_row("ingest", str(path), result, params.runner.retries))
        elif isinstance(result, Quarantined):
            quarantined.append(result)
        else:
            sources.append(result)
    sources, copies = lib.dedupe(sources)
    quarantined += copies

    clips_dir = prepare_output_dir(out_dir / "clips", "ingest")
    clips: list[lib.Clip] = []
    cut = run_mapped(cut_source, sources, runner=params.runner, desc="ingest: cut", params=cfg, out_dir=clips_dir)
    for src, result in zip(sources, cut):
        if isinstance(result, BaseException):
            quarantined.append(failure_row("ingest", src.path, result, params.runner.retries))
        else:
            clips += result.clips
            quarantined += result.quarantined

    write_table(to_frame(clips, lib.Clip, sort_by=lib.CLIP_SORT), out_dir / "clips.parquet")
    write_table(to_frame(quarantined, Quarantined, sort_by=QUARANTINE_SORT), out_dir / "quarantine.parquet")
    write_provenance(out_dir / "provenance.json", "ingest", cfg,
                     {**versions("ffmpeg-python", "polars", "numpy", "soundfile"), "ffmpeg": ffmpeg_version()})
    summary = Summary(
        stage="ingest",
        inputs=len(candidates) + sum(q.reason == lib.UNSUPPORTED for q in quarantined),
        kept=len(clips),
        quarantined=quarantined,
        seconds=time.perf_counter() - started,
        extra={"sources_with_clips": len({c.source_id for c in clips}),
               "clip_seconds_total": round(sum(c.duration_s for c in clips), 3)},
    )
    write_json(out_dir / "metrics.json", summary.metrics())
    show(summary)
    if not clips:
        reasons = first_few(f"{n} {r}" for r, n in summary.metrics()["quarantined_by_reason"].items())
        raise StageError(
            f"no usable clips from {summary.inputs} file(s) in {first_few(str(s) for s in cfg.sources)}"
            + (f": {reasons} (see {out_dir / 'quarantine.parquet'})" if reasons else ": no media files found")
        )
    return summary.metrics()


if __name__ == "__main__":
    sys.exit(run_flow(ingest, "ingest"))
