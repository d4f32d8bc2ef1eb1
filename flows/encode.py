"""Flow of stage ``encode``: latents, reference latents and text conditions in the LTX trainer's layout
(see ltxvoice.encode and ltxvoice.latents)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow
from tqdm import tqdm

from flows.common import check_dvc_deps, finish, pipeline_file, read_manifest, run_flow, stage_params
from ltxvoice import encode as lib
from ltxvoice import latents as lat
from ltxvoice.config import EncodeParams
from ltxvoice.models.device import resolve_device
from ltxvoice.records import Quarantined, add_columns
from ltxvoice.stage import StageError, StageResult, prepare_output_dir, versions
from tasks import encode as tasks
from tasks.common import failure_row


@flow(name="encode")
def encode(params_path: str = "params.yaml", upstream: str = "data/caption", out: str = "data/encode") -> dict:
    """Encode every captioned clip (video, audio, reference tone, caption) with LTX-2.3 and check a sample
    by decoding it back."""
    params, cfg = stage_params(params_path, EncodeParams)
    manifest = Path(upstream) / "clips.parquet"
    clips = read_manifest(manifest, "encode")
    try:
        lib.check_manifest(clips, str(manifest))
    except ValueError as exc:
        raise StageError(f"encode: {exc}") from None
    # every file the stage reads must be a DVC dep, or a change to it would not rerun the stage
    folders = {
        Path(p).parent
        for col in ("train_video_path", "train_audio_path", "reference_audio_path")
        for p in clips[col].drop_nulls().unique().to_list()
    }
    check_dvc_deps("encode", [cfg.checkpoint, cfg.text_encoder, *sorted(folders)], pipeline_file(params_path))
    try:
        fingerprints = lib.check_models(cfg)
        device = resolve_device(cfg.device, "encode.device")
    except (FileNotFoundError, ValueError) as exc:
        raise StageError(f"encode: {exc}") from None
    out_dir = Path(out)
    for name in (*lat.SOURCE_DIRS, "verify"):
        prepare_output_dir(out_dir / name, "encode")
    lib.setup_torch(cfg, device)

    rows = clips.sort("clip_id").to_dicts()
    buckets = lib.buckets_of(cfg)
    quarantined: list[Quarantined] = []
    planned: list[tuple[dict, lib.Bucket]] = []
    for row in rows:
        bucket = lib.choose_bucket(row["frames"], row["height"], row["width"], buckets)
        if bucket is None:
            quarantined.append(
                Quarantined(
                    "encode",
                    row["train_video_path"],
                    row["clip_id"],
                    lib.NO_BUCKET,
                    f"{row['width']}x{row['height']}x{row['frames']} fits none of {cfg.buckets}",
                )
            )
        else:
            planned.append((row, bucket))

    texts = tasks.encode_captions([r for r, _ in planned], cfg, device, out_dir)
    tasks.release("text")
    on_gpu = device == "cuda"
    size = cfg.batch_size if on_gpu else params.runner.batch_size
    groups = []
    for bucket in sorted({b for _, b in planned}, key=lambda b: b.name):
        members = [r for r, b in planned if b == bucket]
        groups += [(bucket, members[i : i + size]) for i in range(0, len(members), size)]
    media: dict[str, lib.MediaResult] = {}
    with tqdm(total=len(planned), desc="encode", unit="clip", dynamic_ncols=True) as bar:
        for bucket, members in groups:
            for result in tasks.encode_media(members, bucket, cfg, device, out_dir, batch=on_gpu):
                media[result.clip_id] = result
            bar.update(len(members))
    tasks.release("media")

    done: dict[str, lib.Encoded] = {}
    for row, bucket in planned:
        clip_id, tokens, result = row["clip_id"], texts[row["clip_id"]], media[row["clip_id"]]
        error = tokens if isinstance(tokens, BaseException) else result.error
        if error is not None:
            lib.remove_item(out_dir, clip_id)
            quarantined.append(failure_row("encode", row["train_video_path"], error, 0, clip_id))
        else:
            done[clip_id] = lib.encoded_record(row, bucket, result, tokens, out_dir)
    table = add_columns(clips, done, lib.Encoded).sort("clip_id")

    extra = lib.summary_numbers(table)
    if cfg.verify_samples and table.height:
        report = tasks.verify(table, cfg, device, out_dir / "verify")
        tasks.release("decode")
        extra |= {f"verify_{k}": v for k, v in report.items() if isinstance(v, (int, float)) and v is not None}
    tools = versions("ltx-core", "torch", "torchaudio", "transformers", "tokenizers", "safetensors")
    return finish(
        out_dir,
        StageResult(
            "encode",
            cfg,
            tools,
            inputs=len(rows),
            kept=table.height,
            quarantined=quarantined,
            tables={"items.parquet": table},
            extra=extra,
            provenance={"models": fingerprints, "device": device},
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(encode, "encode"))
