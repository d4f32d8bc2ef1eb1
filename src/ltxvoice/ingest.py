"""Stage ``ingest``: source files -> fixed-length clips (video mp4 + mono WAV) and a quarantine.

The stage in three pure steps, each safe to map over items in parallel:

1. :func:`scan` lists candidate files under the configured sources (sidecars and hidden files are
   not candidates; anything else with a non-media extension is quarantined).
2. :func:`describe` hashes one candidate (its id is its content hash) and reads its transcript
   sidecar; :func:`dedupe` quarantines byte-identical copies so two files never claim one clip id.
3. :func:`cut` probes a source and writes its clips, or quarantines it with a readable reason.

Sources are only ever read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ltxvoice.config import SIDECAR_EXTENSIONS, IngestParams
from ltxvoice.media import MediaError, Probe, cut_video, probe, read_audio, rms_dbfs, write_wav
from ltxvoice.records import Quarantined, content_id, sha256_file

STAGE = "ingest"

# Reason codes (the ``reason`` column of the quarantine table).
UNSUPPORTED = "unsupported_extension"
EMPTY = "empty_file"
DUPLICATE = "duplicate"
UNREADABLE = "unreadable"
NO_AUDIO = "no_audio_stream"
NO_VIDEO = "no_video_stream"
TOO_SHORT = "too_short"
TRUNCATED = "truncated"
SILENT = "silent"
FAILED = "failed"

# Audio may end this many seconds before the clip does and be zero-padded (codec priming/rounding);
# a shorter stream means the file is cut off.
_AUDIO_SLACK_S = 0.025


@dataclass(frozen=True)
class Source:
    """A candidate source file, identified by its content."""

    path: str
    source_id: str
    sha256: str
    size_bytes: int
    transcript: str | None


@dataclass(frozen=True)
class Clip:
    """One clip cut from a source: the columns the ``ingest`` stage produces."""

    clip_id: str
    source_id: str
    source_path: str
    source_sha256: str
    clip_index: int
    start_frame: int
    start_s: float
    duration_s: float
    frames: int
    fps: float
    width: int
    height: int
    audio_rate: int
    audio_samples: int
    video_path: str | None
    audio_path: str
    video_sha256: str | None
    audio_sha256: str
    rms_dbfs: float
    source_duration_s: float
    source_width: int | None
    source_height: int | None
    source_fps: float | None
    source_transcript: str | None


CLIP_SORT = ("source_path", "start_frame")


@dataclass
class CutResult:
    clips: list[Clip] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)


def _quarantine(path: Path | str, reason: str, detail: str, item_id: str | None = None) -> Quarantined:
    return Quarantined(stage=STAGE, path=str(path), item_id=item_id, reason=reason, detail=detail)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def scan(params: IngestParams) -> tuple[list[Path], list[Quarantined]]:
    """Candidate media files under ``params.sources`` (sorted), and files with unsupported extensions.

    A missing source path is a configuration error (FileNotFoundError), not a quarantine."""
    missing = [str(s) for s in params.sources if not s.exists()]
    if missing:
        raise FileNotFoundError(f"ingest.sources: {len(missing)} path(s) do not exist: {', '.join(missing[:5])}")
    candidates: set[Path] = set()
    rejected: list[Quarantined] = []
    for root in params.sources:
        if root.is_file():
            files: Iterable[Path] = [root]
            root = root.parent
        else:
            files = root.rglob("*") if params.recursive else root.glob("*")
        for path in files:
            if not path.is_file() or _hidden(path, root):
                continue
            ext = path.suffix.lower()
            if ext in params.extensions:
                candidates.add(path)
            elif ext not in SIDECAR_EXTENSIONS:
                accepted = " ".join(params.extensions)
                rejected.append(_quarantine(path, UNSUPPORTED, f"extension '{ext or '(none)'}' is not one of: {accepted}"))
    return sorted(candidates), sorted(rejected, key=lambda q: q.path)


def describe(path: Path) -> Source | Quarantined:
    """Hash a candidate and read its transcript sidecar (``<name>.txt``) if there is one."""
    try:
        size = path.stat().st_size
        if size == 0:
            return _quarantine(path, EMPTY, "the file is empty (0 bytes)")
        digest = sha256_file(path)
    except OSError as exc:
        return _quarantine(path, UNREADABLE, f"cannot read the file: {exc.strerror or exc}")
    transcript = None
    sidecar = path.with_suffix(".txt")
    if sidecar.is_file():
        try:
            transcript = sidecar.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError) as exc:
            return _quarantine(sidecar, UNREADABLE, f"transcript sidecar is not readable UTF-8 text: {exc}")
    return Source(path=str(path), source_id=digest[:16], sha256=digest, size_bytes=size, transcript=transcript)


def dedupe(sources: Sequence[Source]) -> tuple[list[Source], list[Quarantined]]:
    """Keep the first file (by path) of each content; quarantine the byte-identical copies."""
    first: dict[str, Source] = {}
    copies: list[Quarantined] = []
    for src in sorted(sources, key=lambda s: s.path):
        if src.sha256 in first:
            copies.append(_quarantine(src.path, DUPLICATE, f"same content as {first[src.sha256].path}"))
        else:
            first[src.sha256] = src
    return list(first.values()), copies


def clip_starts(duration_s: float, params: IngestParams) -> list[int]:
    """Start frames (at ``params.fps``, counted from ``params.start_s``) of the clips that fit."""
    available = duration_s - params.start_s
    if available + 1e-6 < params.clip_seconds:
        return []
    hop_s = params.hop / params.fps
    count = int(math.floor((available - params.clip_seconds) / hop_s + 1e-6)) + 1
    if params.max_clips_per_source is not None:
        count = min(count, params.max_clips_per_source)
    return [i * params.hop for i in range(count)]


def clip_id(source_sha256: str, start_frame: int, params: IngestParams) -> str:
    """Same source bytes + same segment -> same id, on any machine, in any run."""
    return content_id(source_sha256, params.start_s, start_frame, params.frames, params.fps)


def _check_streams(src: Source, info: Probe, params: IngestParams) -> Quarantined | None:
    if not info.has_audio:
        return _quarantine(src.path, NO_AUDIO, "the file has no audio stream")
    if params.require_video and not info.has_video:
        return _quarantine(src.path, NO_VIDEO, "the file has no video stream (ingest.require_video is true)")
    if not clip_starts(info.duration_s, params):
        need = params.start_s + params.clip_seconds
        return _quarantine(
            src.path,
            TOO_SHORT,
            f"{info.duration_s:.2f} s long, a clip needs {need:.2f} s "
            f"({params.frames} frames at {params.fps:g} fps after start_s {params.start_s:g} s)",
        )
    return None


def cut(src: Source, params: IngestParams, out_dir: Path) -> CutResult:
    """Probe one source and write its clips under ``out_dir`` as ``<clip_id>.mp4`` + ``<clip_id>.wav``.

    Never raises for a bad input: every clip that cannot be made is returned as a quarantine row."""
    result = CutResult()
    path = Path(src.path)
    try:
        info = probe(path)
    except MediaError as exc:
        result.quarantined.append(_quarantine(path, exc.reason, exc.detail))
        return result
    problem = _check_streams(src, info, params)
    if problem:
        result.quarantined.append(problem)
        return result

    with_video = info.has_video
    for index, start_frame in enumerate(clip_starts(info.duration_s, params)):
        cid = clip_id(src.sha256, start_frame, params)
        start_s = params.start_s + start_frame / params.fps
        try:
            clip = _cut_one(src, info, params, out_dir, cid, index, start_frame, start_s, with_video)
        except MediaError as exc:
            _remove(out_dir / f"{cid}.mp4", out_dir / f"{cid}.wav")
            result.quarantined.append(_quarantine(path, exc.reason, f"clip at {start_s:.2f} s: {exc.detail}", cid))
            continue
        result.clips.append(clip)
    return result


def _cut_one(
    src: Source,
    info: Probe,
    params: IngestParams,
    out_dir: Path,
    cid: str,
    index: int,
    start_frame: int,
    start_s: float,
    with_video: bool,
) -> Clip:
    path = Path(src.path)
    video_path = out_dir / f"{cid}.mp4"
    audio_path = out_dir / f"{cid}.wav"

    samples = read_audio(path, start_s=start_s, seconds=params.clip_seconds, rate=params.audio_rate)
    need = params.clip_samples
    if samples.size < need - round(_AUDIO_SLACK_S * params.audio_rate):
        raise MediaError(
            TRUNCATED, f"decoded {samples.size / params.audio_rate:.2f} s of audio, expected {params.clip_seconds:.2f} s"
        )
    samples = samples[:need] if samples.size >= need else _pad(samples, need)
    level = rms_dbfs(samples)
    if level < params.silence_dbfs:
        shown = "-inf" if math.isinf(level) else f"{level:.1f}"
        raise MediaError(SILENT, f"audio level {shown} dBFS is below ingest.silence_dbfs {params.silence_dbfs:g} dBFS")

    if with_video:
        written = cut_video(
            path,
            video_path,
            start_s=start_s,
            frames=params.frames,
            fps=params.fps,
            width=params.width,
            height=params.height,
            resize=params.resize,
            crf=params.video_crf,
            preset=params.video_preset,
            threads=params.encoder_threads,
        )
        if written < params.frames:
            raise MediaError(TRUNCATED, f"decoded {written} of {params.frames} video frames; the file is cut off or damaged")
    write_wav(audio_path, samples, params.audio_rate)

    return Clip(
        clip_id=cid,
        source_id=src.source_id,
        source_path=src.path,
        source_sha256=src.sha256,
        clip_index=index,
        start_frame=start_frame,
        start_s=round(start_s, 6),
        duration_s=params.clip_seconds,
        frames=params.frames,
        fps=params.fps,
        width=params.width,
        height=params.height,
        audio_rate=params.audio_rate,
        audio_samples=need,
        video_path=str(video_path) if with_video else None,
        audio_path=str(audio_path),
        video_sha256=sha256_file(video_path) if with_video else None,
        audio_sha256=sha256_file(audio_path),
        rms_dbfs=round(level, 4),
        source_duration_s=round(info.duration_s, 6),
        source_width=info.width,
        source_height=info.height,
        source_fps=round(info.fps, 6) if info.fps else None,
        source_transcript=src.transcript,
    )


def _pad(samples: np.ndarray, length: int) -> np.ndarray:
    return np.concatenate([samples, np.zeros(length - samples.size, dtype=samples.dtype)])


def _remove(*paths: Path) -> None:
    for p in paths:
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


def check_outside_sources(out_dir: Path, params: IngestParams) -> None:
    """Refuse an output folder inside (or containing) a source folder: sources are never written."""
    out = out_dir.resolve()
    for s in params.sources:
        src = s.resolve()
        if out == src or src in out.parents or out in src.parents:
            raise ValueError(f"ingest output {out_dir} overlaps source {s}: sources are never written to")
