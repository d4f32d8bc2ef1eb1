"""Flow of stage ``caption``: captions in the recipe's format and the dataset folder the LTX trainers
read (see ltxvoice.caption)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import polars as pl
from prefect import flow

from flows.common import check_dvc_deps, finish, pipeline_file, read_manifest, run_flow, stage_params
from ltxvoice import caption as lib
from ltxvoice.config import CaptionParams
from ltxvoice.models.asr import Transcriber, Transcript, backend_version, load_transcriber, multilingual
from ltxvoice.records import add_columns
from ltxvoice.stage import StageError, StageResult, prepare_output_dir, versions
from tasks.caption import caption_row
from tasks.common import map_rows


def _serialized(transcriber: Transcriber) -> Transcriber:
    """One transcription at a time: openai-whisper keeps per-call state on the model, and both
    backends already use several threads inside one call."""
    lock = threading.Lock()

    def transcribe(audio: np.ndarray, language: str | None = None) -> Transcript:
        with lock:
            return transcriber(audio, language)

    return transcribe


@flow(name="caption")
def caption(
    params_path: str = "params.yaml", upstream: str = "data/select/pairs.parquet", out: str = "data/caption"
) -> dict:
    """Caption every clip to train on (helium: the kept pairs) and write the trainers' dataset folder."""
    params, cfg = stage_params(params_path, CaptionParams)
    table = read_manifest(Path(upstream), "caption")
    if "kept" in table.columns:  # the select stage's pairs: only the kept ones are trained on
        table = table.filter(pl.col("kept"))
    labels = {}
    if cfg.labels is not None:
        check_dvc_deps("caption", [cfg.labels], pipeline_file(params_path))
        try:
            labels = lib.load_labels(cfg.labels, cfg)
        except lib.LabelsError as exc:
            raise StageError(str(exc)) from None
    transcriber = None
    english_only = False
    tools = versions("polars")
    if cfg.template != "constant" and cfg.transcript != "sidecar":
        model = Path(cfg.asr.model)
        if model.exists():
            check_dvc_deps("caption", [model], pipeline_file(params_path))
        try:
            transcriber = _serialized(load_transcriber(cfg.asr))
        except FileNotFoundError as exc:
            raise StageError(str(exc)) from None
        tools |= backend_version(cfg.asr)
        english_only = not multilingual(cfg.asr)
    out_dir = Path(out)
    dataset = prepare_output_dir(out_dir / "dataset", "caption")
    rows = table.to_dicts()
    done, quarantined = map_rows(
        caption_row,
        rows,
        stage="caption",
        runner=params.runner,
        path_key="source_path",
        desc="caption",
        params=cfg,
        recipe=params.recipe,
        labels=labels,
        dataset_dir=dataset,
        transcriber=transcriber,
        english_only=english_only,
    )
    result = add_columns(table, done, lib.Captioned)
    ordered = [done[c] for c in result["clip_id"].to_list()]
    lib.write_dataset_files(ordered, dataset, cfg.template)
    sources = {s: sum(c.transcript_source == s for c in ordered) for s in ("sidecar", "asr")}
    return finish(
        out_dir,
        StageResult(
            "caption",
            cfg,
            tools,
            inputs=len(rows),
            kept=result.height,
            quarantined=quarantined,
            tables={"clips.parquet": result},
            extra={**{f"transcripts_{k}": v for k, v in sources.items()}, **lib.wer_metrics(result)},
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(caption, "caption"))
