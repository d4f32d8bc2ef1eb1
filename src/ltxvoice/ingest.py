"""Stage ``ingest``: source files -> fixed-length clips (video mp4 + mono WAV) and a quarantine.

The stage in three pure steps, each safe to map over items in parallel:

1. :func:`scan` lists candidate files under the configured sources (sidecars and hidden files are
   not candidates; anything else with a non-media extension is quarantined).
2. :func:`describe` hashes one candidate (its id is its content hash) and reads its transcript
   sidecar; :func:`dedupe` quarantines byte-identical copies so two files never claim one clip id.
3. :func:`cut` probes a source, finds its speech span, plans its clips (:func:`plan_segments`: fixed
   length, or variable length within a window; optionally trimmed to the speech) and writes them,
   or quarantines it with a readable reason.

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
from ltxvoice.media import MediaError, Probe, cut_video, probe, read_and_cut, read_audio, rms_dbfs, write_wav
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
BROKEN_LINK = "broken_link"
OUTSIDE_SOURCES = "outside_sources"

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
    source_speech_start_s: float | None
    source_speech_end_s: float | None


CLIP_SORT = ("source_path", "start_frame")


@dataclass
class CutResult:
    clips: list[Clip] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)


def _quarantine(path: Path | str, reason: str, detail: str, item_id: str | None = None) -> Quarantined:
    return Quarantined(stage=STAGE, path=str(path), item_id=item_id, reason=reason, detail=detail)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _link_problem(path: Path, roots: Sequence[Path]) -> Quarantined | None:
    """A symlink among the sources that leads nowhere (dangling, or a loop) or out of every source
    folder. The link is reported, never followed out: a sources folder names what goes in."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # FileNotFoundError: dangling; ELOOP / RuntimeError: a loop
        kind = "points at nothing" if isinstance(exc, FileNotFoundError) else "is part of a symlink loop"
        return _quarantine(path, BROKEN_LINK, f"symlink {kind} ({os.readlink(path)!r})")
    if not any(target == r or r in target.parents for r in roots):
        return _quarantine(
            path,
            OUTSIDE_SOURCES,
            f"symlink to {target}, outside the sources folder; copy the file in or list its folder in ingest.sources",
        )
    return None


def scan(params: IngestParams) -> tuple[list[Path], list[Quarantined]]:
    """Candidate media files under ``params.sources`` (sorted), and files with unsupported extensions,
    broken symlinks and symlinks out of the sources (each quarantined with its reason).

    A missing source path is a configuration error (FileNotFoundError), not a quarantine."""
    missing = [str(s) for s in params.sources if not s.exists()]
    if missing:
        raise FileNotFoundError(f"ingest.sources: {len(missing)} path(s) do not exist: {', '.join(missing[:5])}")
    roots = [(s if s.is_dir() else s.parent).resolve() for s in params.sources]
    candidates: set[Path] = set()
    rejected: list[Quarantined] = []
    for root in params.sources:
        if root.is_file():
            files: Iterable[Path] = [root]
            root = root.parent
        else:
            files = root.rglob("*") if params.recursive else root.glob("*")
        for path in files:
            if _hidden(path, root):
                continue
            if path.is_symlink() and path.suffix.lower() not in SIDECAR_EXTENSIONS:
                problem = _link_problem(path, roots)
                if problem is not None:
                    rejected.append(problem)
                    continue
            if not path.is_file():
                continue
            ext = path.suffix.lower()
            if ext in params.extensions:
                candidates.add(path)
            elif ext not in SIDECAR_EXTENSIONS:
                accepted = " ".join(params.extensions)
                rejected.append(
                    _quarantine(path, UNSUPPORTED, f"extension '{ext or '(none)'}' is not one of: {accepted}")
                )
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
        except (OSError, UnicodeDecodeError) as exc:  # the clip is quarantined: its transcript is unknown
            return _quarantine(
                path, UNREADABLE, f"its transcript sidecar {sidecar.name} is not readable UTF-8 text: {exc}"
            )
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


# Speech detection: 20 ms frames at 16 kHz, a frame is speech when it is within
# ``trim_threshold_db`` of the loudest frame of the source.
_SPEECH_RATE = 16000
_SPEECH_FRAME_S = 0.02


@dataclass(frozen=True)
class Segment:
    """One planned clip: its start in seconds from the start of the source, and its length in frames."""

    start_s: float
    frames: int


def speech_span(samples: np.ndarray, rate: int, threshold_db: float) -> tuple[float, float] | None:
    """(first, last) second of speech in ``samples``: the start of the first and the end of the last
    20 ms frame whose RMS is within ``threshold_db`` of the loudest frame. None for digital silence.

    Relative to the loudest frame so a whisper is speech in a whispered source; noise within the
    threshold also counts as speech, which can only make a trim keep more, never cut speech."""
    hop = max(1, round(_SPEECH_FRAME_S * rate))
    n = samples.size // hop
    if n == 0:
        return None
    frames = samples[: n * hop].astype(np.float64).reshape(n, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    peak = float(rms.max())
    if peak <= 0:
        return None
    loud = np.flatnonzero(rms >= peak * 10 ** (-threshold_db / 20))
    tail = samples.size / rate if loud[-1] == n - 1 else (loud[-1] + 1) * hop / rate
    return loud[0] * hop / rate, tail


def _next_8k1(n: int) -> int:
    """Smallest frame count >= n with count % 8 == 1."""
    return n + (1 - n) % 8


def _floor_frame(t: float, fps: float) -> float:
    """``t`` moved back to the nearest frame boundary (so clip starts are whole frames)."""
    return math.floor(t * fps + 1e-6) / fps


def plan_segments(duration_s: float, params: IngestParams, speech: tuple[float, float] | None) -> list[Segment]:
    """The clips of a source ``duration_s`` long whose speech spans ``speech`` (seconds).

    Fixed length (``max_frames`` null): ``frames``-frame clips every ``hop`` frames from ``start_s``,
    or, with ``trim``, from the first speech minus ``trim_pad_s``. Variable length: consecutive clips
    that each cover as much of what is left (of the speech, with ``trim``) as ``max_frames`` allows,
    rounded UP to ``frames % 8 == 1`` so the last word is never cut; a clip that would run past the
    end of the source starts earlier instead. At most ``max_clips_per_source`` clips; none if not
    even ``frames`` frames fit."""
    fps = params.fps
    origin = params.start_s
    end = duration_s
    if params.trim and speech is not None:
        origin = max(origin, _floor_frame(speech[0] - params.trim_pad_s, fps))
        if params.variable:
            end = min(duration_s, speech[1] + params.trim_pad_s)
    shortest = params.frames / fps
    if origin + shortest > duration_s + 1e-6:  # the speech starts too late for a whole clip: start earlier
        origin = _floor_frame(duration_s - shortest, fps)
        if origin < params.start_s - 1e-9:
            return []
    limit = params.max_clips_per_source or 10**9
    segments: list[Segment] = []
    if not params.variable:
        hop_s = params.hop / fps
        count = int(math.floor((duration_s - origin - shortest) / hop_s + 1e-6)) + 1
        return [Segment(round(origin + i * hop_s, 6), params.frames) for i in range(min(count, limit))]
    top = params.max_frames or params.frames
    cursor = origin
    while len(segments) < limit and end - cursor > 1e-6:
        frames = min(top, _next_8k1(math.ceil((end - cursor) * fps - 1e-6)))
        frames = max(frames, params.frames)
        start = cursor
        if start + frames / fps > duration_s + 1e-6:
            start = _floor_frame(duration_s - frames / fps, fps)
            if start < (segments[-1].start_s + segments[-1].frames / fps if segments else params.start_s) - 1e-6:
                break  # no room left for another clip without overlapping the previous one
        segments.append(Segment(round(start, 6), frames))
        cursor = start + frames / fps
    return segments


def clip_id(source_sha256: str, segment: Segment, params: IngestParams) -> str:
    """Same source bytes + same segment -> same id, on any machine, in any run."""
    if not params.variable and not params.trim:  # the historical form, so fixed-length ids never change
        start_frame = round((segment.start_s - params.start_s) * params.fps)
        return content_id(source_sha256, params.start_s, start_frame, params.frames, params.fps)
    return content_id(source_sha256, "segment", segment.start_s, segment.frames, params.fps)


def _check_streams(src: Source, info: Probe, params: IngestParams) -> Quarantined | None:
    if not info.has_audio:
        return _quarantine(src.path, NO_AUDIO, "the file has no audio stream")
    if params.require_video and not info.has_video:
        return _quarantine(src.path, NO_VIDEO, "the file has no video stream (ingest.require_video is true)")
    need = params.start_s + params.frames / params.fps
    if info.duration_s + 1e-6 < need:
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
    first = _first_clip(src, info, params, out_dir, with_video)
    if first is not None:
        speech = speech_span(first.whole, _SPEECH_RATE, params.trim_threshold_db)
    else:
        try:  # the speech span of the whole source; a damaged file is reported by the clip cut below
            whole = read_audio(path, start_s=0.0, seconds=info.duration_s, rate=_SPEECH_RATE)
            speech = speech_span(whole, _SPEECH_RATE, params.trim_threshold_db)
        except MediaError:
            speech = None
    segments = plan_segments(info.duration_s, params, speech)
    if not segments:
        result.quarantined.append(
            _quarantine(
                path,
                TOO_SHORT,
                f"{info.duration_s:.2f} s long: no clip of {params.frames} frames fits around its speech",
            )
        )
    if first is not None and (not segments or clip_id(src.sha256, segments[0], params) != first.clip_id):
        _remove(first.video)  # cannot happen (the first segment does not depend on speech): never keep it
        first = None
    for index, segment in enumerate(segments):
        cid = clip_id(src.sha256, segment, params)
        try:
            decoded = first if first is not None and index == 0 else None
            clip = _cut_one(src, info, params, out_dir, cid, index, segment, speech, with_video, decoded)
        except MediaError as exc:
            _remove(out_dir / f"{cid}.mp4", out_dir / f"{cid}.wav")
            result.quarantined.append(
                _quarantine(path, exc.reason, f"clip at {segment.start_s:.2f} s: {exc.detail}", cid)
            )
            continue
        result.clips.append(clip)
    return result


@dataclass(frozen=True)
class _FirstClip:
    """The first clip of a source, decoded together with the whole source's audio (``read_and_cut``)."""

    clip_id: str
    whole: np.ndarray  # the whole source at _SPEECH_RATE
    samples: np.ndarray  # the clip's audio at params.audio_rate
    video: Path
    frames_written: int


def _first_clip(src: Source, info: Probe, params: IngestParams, out_dir: Path, with_video: bool) -> _FirstClip | None:
    """When the first clip does not depend on where the speech is (no trim) and starts at 0 s, decode
    the whole source's audio, the clip's audio and cut its video in one ffmpeg run: the same bytes as
    the three runs ``cut`` otherwise makes (tests/test_ingest.py), in about 60% of the time. None when
    that does not apply or the run fails (``cut`` then makes the separate runs, which report the error)."""
    if params.trim or not with_video:
        return None
    segments = plan_segments(info.duration_s, params, None)
    if not segments or segments[0].start_s != 0.0:
        return None
    segment = segments[0]
    cid = clip_id(src.sha256, segment, params)
    video = out_dir / f"{cid}.mp4"
    try:
        whole, samples, written = read_and_cut(
            Path(src.path),
            video,
            whole_seconds=info.duration_s,
            whole_rate=_SPEECH_RATE,
            seconds=segment.frames / params.fps,
            rate=params.audio_rate,
            frames=segment.frames,
            fps=params.fps,
            width=params.width,
            height=params.height,
            resize=params.resize,
            crf=params.video_crf,
            preset=params.video_preset,
            threads=params.encoder_threads,
        )
    except MediaError:
        _remove(video)
        return None
    return _FirstClip(cid, whole, samples, video, written)


def _cut_one(
    src: Source,
    info: Probe,
    params: IngestParams,
    out_dir: Path,
    cid: str,
    index: int,
    segment: Segment,
    speech: tuple[float, float] | None,
    with_video: bool,
    decoded: _FirstClip | None = None,
) -> Clip:
    path = Path(src.path)
    video_path = out_dir / f"{cid}.mp4"
    audio_path = out_dir / f"{cid}.wav"
    start_s, frames = segment.start_s, segment.frames
    seconds = frames / params.fps

    if decoded is not None:
        samples = decoded.samples
    else:
        samples = read_audio(path, start_s=start_s, seconds=seconds, rate=params.audio_rate)
    need = params.samples_for(frames)
    if samples.size < need - round(_AUDIO_SLACK_S * params.audio_rate):
        raise MediaError(
            TRUNCATED, f"decoded {samples.size / params.audio_rate:.2f} s of audio, expected {seconds:.2f} s"
        )
    samples = samples[:need] if samples.size >= need else _pad(samples, need)
    level = rms_dbfs(samples)
    if level < params.silence_dbfs:
        shown = "-inf" if math.isinf(level) else f"{level:.1f}"
        raise MediaError(SILENT, f"audio level {shown} dBFS is below ingest.silence_dbfs {params.silence_dbfs:g} dBFS")

    if with_video:
        written = (
            decoded.frames_written
            if decoded is not None
            else cut_video(
                path,
                video_path,
                start_s=start_s,
                frames=frames,
                fps=params.fps,
                width=params.width,
                height=params.height,
                resize=params.resize,
                crf=params.video_crf,
                preset=params.video_preset,
                threads=params.encoder_threads,
            )
        )
        if written < frames:
            raise MediaError(TRUNCATED, f"decoded {written} of {frames} video frames; the file is cut off or damaged")
    write_wav(audio_path, samples, params.audio_rate)

    return Clip(
        clip_id=cid,
        source_id=src.source_id,
        source_path=src.path,
        source_sha256=src.sha256,
        clip_index=index,
        start_frame=round((start_s - params.start_s) * params.fps),
        start_s=round(start_s, 6),
        duration_s=round(seconds, 6),
        frames=frames,
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
        source_speech_start_s=round(speech[0], 4) if speech else None,
        source_speech_end_s=round(speech[1], 4) if speech else None,
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
