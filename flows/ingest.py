"""Flow of stage ``ingest``: sources -> clips + manifest + quarantine (see ltxvoice.ingest)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import check_dvc_deps, destination, finish, pipeline_file, run_flow, stage_params
from ltxvoice import ingest as lib
from ltxvoice.config import IngestParams
from ltxvoice.media import ffmpeg_version
from ltxvoice.records import Quarantined, to_frame
from ltxvoice.stage import StageError, StageResult, first_few, prepare_output_dir, versions
from tasks.common import failure_row, run_mapped
from tasks.ingest import cut_source, describe_source


@flow(name="ingest")
def ingest(params_path: str = "params.yaml", out: str = "data/ingest") -> dict:
    """Cut every source under ingest.sources into clips (mp4 + mono WAV); quarantine what cannot be used."""
    params, cfg = stage_params(params_path, IngestParams)
    out_dir = Path(out)
    try:
        lib.check_outside_sources(destination(out_dir), cfg)
    except ValueError as exc:
        raise StageError(str(exc)) from None
    check_dvc_deps("ingest", cfg.sources, pipeline_file(params_path))

    candidates, quarantined = lib.scan(cfg)
    sources: list[lib.Source] = []
    described = run_mapped(describe_source, candidates, runner=params.runner, desc="ingest: hash")
    for path, found in zip(candidates, described):
        if isinstance(found, BaseException):
            quarantined.append(failure_row("ingest", str(path), found, params.runner.retries))
        elif isinstance(found, Quarantined):
            quarantined.append(found)
        else:
            sources.append(found)
    sources, copies = lib.dedupe(sources)
    quarantined += copies

    clips_dir = prepare_output_dir(out_dir / "clips", "ingest")
    clips: list[lib.Clip] = []
    cut = run_mapped(cut_source, sources, runner=params.runner, desc="ingest: cut", params=cfg, out_dir=clips_dir)
    for src, made in zip(sources, cut):
        if isinstance(made, BaseException):
            quarantined.append(failure_row("ingest", src.path, made, params.runner.retries))
        else:
            clips += made.clips
            quarantined += made.quarantined

    inputs = len(candidates) + sum(q.reason == lib.UNSUPPORTED for q in quarantined)
    tools = {**versions("ffmpeg-python", "polars", "numpy", "soundfile"), "ffmpeg": ffmpeg_version()}
    result = StageResult(
        "ingest",
        cfg,
        tools,
        inputs=inputs,
        kept=len(clips),
        quarantined=quarantined,
        tables={"clips.parquet": to_frame(clips, lib.Clip, sort_by=lib.CLIP_SORT)},
        extra={
            "sources_with_clips": len({c.source_id for c in clips}),
            "clip_seconds_total": round(sum(c.duration_s for c in clips), 3),
        },
    )
    return finish(
        out_dir,
        result,
        head=f"no usable clips from {inputs} file(s) in {first_few(str(s) for s in cfg.sources)}",
        none_found="no media files found",
    )


if __name__ == "__main__":
    sys.exit(run_flow(ingest, "ingest"))
