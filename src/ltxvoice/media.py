"""Media I/O through ffmpeg/ffprobe (ffmpeg-python) and soundfile.

Every function here reads one file and writes another; none modifies its input. Failures that are
the input's fault raise :class:`MediaError` with a short reason code and a readable detail, so a
stage can quarantine the item and go on.
"""

from __future__ import annotations

import functools
import math
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import ffmpeg
import numpy as np
import soundfile as sf
from scipy.io import wavfile
from scipy.signal import resample_poly


class MediaError(Exception):
    """An input that cannot be used. ``reason`` is a stable code, ``detail`` says why in words."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[MediaError], tuple[str, str]]:  # intact across process boundaries
        return type(self), (self.reason, self.detail)


@dataclass(frozen=True)
class Probe:
    """What ffprobe says about a file (first video and first audio stream)."""

    duration_s: float
    has_video: bool
    has_audio: bool
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    audio_rate: int | None
    audio_channels: int | None


def _last_line(stderr: bytes | str | None) -> str:
    """ffmpeg's last message, without the 'path: ' prefix it puts in front of it."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else (stderr or "")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "no message"
    return re.sub(r"^.*?: (?=[A-Z])", "", lines[-1], count=1)


def _rate(text: str | None) -> float | None:
    if not text or text in ("0/0", "0"):
        return None
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _float(text: object) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def probe(path: Path) -> Probe:
    """ffprobe a file. Raises MediaError('unreadable', ...) when ffprobe cannot parse it."""
    try:
        info = ffmpeg.probe(str(path))
    except ffmpeg.Error as exc:
        raise MediaError("unreadable", f"ffprobe could not read it: {_last_line(exc.stderr)}") from None
    streams = info.get("streams", [])
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    durations = [d for d in (_float(s.get("duration")) for s in (video, audio) if s) if d]
    duration = min(durations) if durations else _float(info.get("format", {}).get("duration"))
    if duration is None:
        raise MediaError("unreadable", "ffprobe reports no duration")
    return Probe(
        duration_s=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        width=int(video["width"]) if video and video.get("width") else None,
        height=int(video["height"]) if video and video.get("height") else None,
        fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")) if video else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        audio_channels=int(audio["channels"]) if audio and audio.get("channels") else None,
    )


def fps_fraction(fps: float) -> Fraction:
    """A frame rate as the fraction ffmpeg should see (29.97 -> 30000/1001)."""
    return Fraction(fps).limit_denominator(1001)


def _video_output(
    src: Path,
    dst: Path,
    *,
    start_s: float,
    frames: int,
    fps: float,
    width: int,
    height: int,
    resize: Literal["crop", "pad"],
    crf: int,
    preset: str,
    threads: int,
    source: ffmpeg.nodes.FilterableStream | None = None,
) -> ffmpeg.nodes.OutputStream:
    """The H.264 mp4 output of ``cut_video`` (of ``source``, an input's video stream, if given)."""
    rate = fps_fraction(fps)
    stream = (source if source is not None else ffmpeg.input(str(src), ss=f"{start_s:.6f}").video).filter(
        "fps", fps=str(rate)
    )
    if resize == "crop":
        stream = stream.filter("scale", width, height, force_original_aspect_ratio="increase", flags="bicubic")
        stream = stream.filter("crop", width, height)
    else:
        stream = stream.filter("scale", width, height, force_original_aspect_ratio="decrease", flags="bicubic")
        stream = stream.filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2", color="black")
    stream = stream.filter("setsar", 1)
    dst.parent.mkdir(parents=True, exist_ok=True)
    return ffmpeg.output(
        stream,
        str(dst),
        vcodec="libx264",
        pix_fmt="yuv420p",
        crf=crf,
        preset=preset,
        threads=threads,
        r=str(rate),
        movflags="+faststart",
        map_metadata=-1,
        **{"frames:v": frames, "fflags": "+bitexact", "flags:v": "+bitexact"},
    )


def cut_video(
    src: Path,
    dst: Path,
    *,
    start_s: float,
    frames: int,
    fps: float,
    width: int,
    height: int,
    resize: Literal["crop", "pad"] = "crop",
    crf: int = 16,
    preset: str = "medium",
    threads: int = 2,
) -> int:
    """Write ``frames`` frames of ``src`` from ``start_s`` as an H.264 mp4 (no audio) at ``fps`` and
    ``width`` x ``height``. Returns the number of frames actually written (fewer if the source ran out)."""
    out = _video_output(
        src,
        dst,
        start_s=start_s,
        frames=frames,
        fps=fps,
        width=width,
        height=height,
        resize=resize,
        crf=crf,
        preset=preset,
        threads=threads,
    )
    _run(out, src)
    return count_frames(dst)


def count_frames(path: Path) -> int:
    """Frames in the first video stream, from the container's index (exact for mp4): read from the
    file's sample table here when it is a plain mp4, else by ffprobe."""
    counted = mp4_video_samples(path)
    if counted is not None:
        return counted
    info = ffmpeg.probe(str(path), select_streams="v:0")
    streams = info.get("streams", [])
    if not streams:
        return 0
    nb = streams[0].get("nb_frames")
    if nb is not None and str(nb).isdigit():
        return int(nb)
    counted = ffmpeg.probe(str(path), select_streams="v:0", count_frames=None)
    return int(counted["streams"][0].get("nb_read_frames", 0))


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The ISO-BMFF boxes in ``data[start:end]``: (type, payload start, payload end)."""
    out = []
    while start + 8 <= end:
        size, kind = int.from_bytes(data[start : start + 4], "big"), data[start + 4 : start + 8]
        header = 8
        if size == 1:
            if start + 16 > end:
                break
            size, header = int.from_bytes(data[start + 8 : start + 16], "big"), 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            break
        out.append((kind, start + header, start + size))
        start += size
    return out


def mp4_video_samples(path: Path) -> int | None:
    """The sample (frame) count of the first video track of an mp4 whose index (moov) comes first,
    as ffmpeg writes it with +faststart: moov/trak/mdia(hdlr 'vide')/minf/stbl/stsz. None when the
    file is not such an mp4 (the caller asks ffprobe instead). Saves an ffprobe run per clip."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if len(head) < 8 or head[4:8] != b"ftyp":
                return None
            f.seek(0)
            data = f.read(8 << 20)  # moov of a faststart file sits right after ftyp
    except OSError:
        return None
    top = {kind: (a, b) for kind, a, b in _boxes(data, 0, len(data))}
    if b"moov" not in top:
        return None

    def child(span: tuple[int, int], kind: bytes) -> tuple[int, int] | None:
        return next(((a, b) for k, a, b in _boxes(data, *span) if k == kind), None)

    for kind, a, b in _boxes(data, *top[b"moov"]):
        if kind != b"trak":
            continue
        mdia = child((a, b), b"mdia")
        hdlr = child(mdia, b"hdlr") if mdia else None
        if not mdia or not hdlr or data[hdlr[0] + 8 : hdlr[0] + 12] != b"vide":
            continue
        minf = child(mdia, b"minf")
        stbl = child(minf, b"stbl") if minf else None
        stsz = child(stbl, b"stsz") if stbl else None
        if not stsz or stsz[1] - stsz[0] < 12:
            return None
        return int.from_bytes(data[stsz[0] + 8 : stsz[0] + 12], "big")
    return None


def _audio_output(
    stream: ffmpeg.nodes.FilterableStream, dst: str, *, seconds: float, rate: int
) -> ffmpeg.nodes.OutputStream:
    """Mono float32 PCM at ``rate``, a little more than ``seconds`` of it. first_pts=0 pads a
    late-starting stream (codec priming) with silence so samples stay aligned with the video
    timeline; the exact count is cut by the caller."""
    stream = stream.filter("aresample", **{"async": 1, "first_pts": 0})
    return stream.output(dst, format="f32le", acodec="pcm_f32le", ac=1, ar=rate, t=f"{seconds + 0.25:.6f}")


def read_audio(src: Path, *, start_s: float, seconds: float, rate: int) -> np.ndarray:
    """Decode ``seconds`` of ``src`` from ``start_s`` as mono float32 at ``rate`` (may return fewer
    samples if the stream ends early)."""
    out = _audio_output(ffmpeg.input(str(src), ss=f"{start_s:.6f}").audio, "pipe:", seconds=seconds, rate=rate)
    samples = np.frombuffer(_run(out, src), dtype="<f4")
    return samples[: round(seconds * rate)].copy()


def read_and_cut(
    src: Path,
    video_dst: Path,
    *,
    whole_seconds: float,
    whole_rate: int,
    seconds: float,
    rate: int,
    frames: int,
    fps: float,
    width: int,
    height: int,
    resize: Literal["crop", "pad"] = "crop",
    crf: int = 16,
    preset: str = "medium",
    threads: int = 2,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One ffmpeg run for the first clip of a source that starts at 0 s: ``read_audio`` of the whole
    source at ``whole_rate``, ``read_audio`` of the clip's ``seconds`` at ``rate`` and ``cut_video`` of
    its ``frames``, each output exactly what its own run gives (one decode of the source, one process
    start instead of three). Returns (whole audio, clip audio, frames written)."""
    started = ffmpeg.input(str(src), ss=f"{0.0:.6f}")
    audio = started.audio.filter_multi_output("asplit")  # each branch resamples as its own run would
    whole = _audio_output(audio[0], "pipe:", seconds=whole_seconds, rate=whole_rate)
    raw = video_dst.with_name(video_dst.name + ".f32")
    clip = _audio_output(audio[1], str(raw), seconds=seconds, rate=rate)
    video = _video_output(
        src,
        video_dst,
        start_s=0.0,
        frames=frames,
        fps=fps,
        width=width,
        height=height,
        resize=resize,
        crf=crf,
        preset=preset,
        threads=threads,
        source=started.video,
    )
    try:
        stdout = _run(ffmpeg.merge_outputs(whole, clip, video), src)
        samples = np.fromfile(raw, dtype="<f4")[: round(seconds * rate)].copy()
    finally:
        raw.unlink(missing_ok=True)
    return (
        np.frombuffer(stdout, dtype="<f4")[: round(whole_seconds * whole_rate)].copy(),
        samples,
        count_frames(video_dst),
    )


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Write mono float32 WAV with stable bytes.

    (libsndfile stamps float WAVs with a PEAK chunk holding the wall-clock time, so equal audio
    would give different files; scipy writes just the format and the samples.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(str(path), rate, np.ascontiguousarray(samples, dtype=np.float32))
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a WAV (any channels) as float32 mono and its rate."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling of mono audio from ``rate`` to ``target`` Hz (unchanged if equal)."""
    if rate == target:
        return samples
    g = math.gcd(rate, target)
    return resample_poly(samples.astype(np.float64), target // g, rate // g)


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (-inf for digital silence)."""
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else float("-inf")


def _run(out: ffmpeg.nodes.OutputStream, src: Path) -> bytes:
    try:
        stdout, _ = out.global_args("-nostdin", "-hide_banner", "-loglevel", "error").run(
            capture_stdout=True, capture_stderr=True, overwrite_output=True
        )
    except ffmpeg.Error as exc:
        raise MediaError("unreadable", f"ffmpeg could not decode it: {_last_line(exc.stderr)}") from None
    return stdout


def mux_audio(video: Path, audio: Path, dst: Path, bitrate: str = "192k") -> Path:
    """The video stream copied bit for bit, with ``audio`` as its AAC soundtrack."""
    v = ffmpeg.input(str(video)).video
    a = ffmpeg.input(str(audio)).audio
    out = ffmpeg.output(
        v,
        a,
        str(dst),
        vcodec="copy",
        acodec="aac",
        audio_bitrate=bitrate,
        movflags="+faststart",
        map_metadata=-1,
        **{"fflags": "+bitexact", "flags:a": "+bitexact"},
    )
    try:
        out.global_args("-nostdin", "-hide_banner", "-loglevel", "error").run(
            capture_stdout=True, capture_stderr=True, overwrite_output=True
        )
    except ffmpeg.Error as exc:
        raise MediaError("mux_failed", (exc.stderr or b"").decode("utf-8", "replace").strip()[-300:]) from None
    return dst


@functools.cache
def ffmpeg_version() -> str:
    """e.g. '5.1.6-0+deb12u1' — recorded with every artifact ffmpeg wrote."""
    line = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    match = re.search(r"ffmpeg version (\S+)", line)
    return match.group(1) if match else line


def read_frames(src: Path, *, frames: int, width: int, height: int) -> np.ndarray:
    """Decode the first ``frames`` frames of ``src`` as RGB uint8 ``[F, height, width, 3]``, scaled to
    cover ``width`` x ``height`` and center-cropped when the file has another size (fewer frames if
    the file has fewer)."""
    stream = ffmpeg.input(str(src)).video
    stream = stream.filter("scale", width, height, force_original_aspect_ratio="increase", flags="bicubic")
    stream = stream.filter("crop", width, height)
    out = stream.output("pipe:", format="rawvideo", pix_fmt="rgb24", vframes=frames)
    data = np.frombuffer(_run(out, src), dtype=np.uint8)
    size = width * height * 3
    return data[: data.size // size * size].reshape(-1, height, width, 3)


def write_frames(path: Path, frames: np.ndarray, fps: float, *, crf: int = 18, threads: int = 2) -> Path:
    """Write RGB uint8 frames ``[F, H, W, 3]`` as an H.264 mp4 (for looking at, e.g. decoded latents)."""
    count, height, width, _ = frames.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    out = ffmpeg.input(
        "pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", r=str(fps_fraction(fps))
    ).output(
        str(path),
        vcodec="libx264",
        pix_fmt="yuv420p",
        crf=crf,
        preset="medium",
        threads=threads,
        movflags="+faststart",
        map_metadata=-1,
        **{"fflags": "+bitexact", "flags:v": "+bitexact"},
    )
    try:
        out.global_args("-nostdin", "-hide_banner", "-loglevel", "error").run(
            input=np.ascontiguousarray(frames, dtype=np.uint8).tobytes(),
            capture_stdout=True,
            capture_stderr=True,
            overwrite_output=True,
        )
    except ffmpeg.Error as exc:
        raise MediaError("unwritable", f"ffmpeg could not write {path}: {_last_line(exc.stderr)}") from None
    return path
