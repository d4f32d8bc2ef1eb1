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
    rate = fps_fraction(fps)
    stream = ffmpeg.input(str(src), ss=f"{start_s:.6f}").video.filter("fps", fps=str(rate))
    if resize == "crop":
        stream = stream.filter("scale", width, height, force_original_aspect_ratio="increase", flags="bicubic")
        stream = stream.filter("crop", width, height)
    else:
        stream = stream.filter("scale", width, height, force_original_aspect_ratio="decrease", flags="bicubic")
        stream = stream.filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2", color="black")
    stream = stream.filter("setsar", 1)
    dst.parent.mkdir(parents=True, exist_ok=True)
    out = ffmpeg.output(
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
    _run(out, src)
    return count_frames(dst)


def count_frames(path: Path) -> int:
    """Frames in the first video stream, from the container's index (exact for mp4)."""
    info = ffmpeg.probe(str(path), select_streams="v:0")
    streams = info.get("streams", [])
    if not streams:
        return 0
    nb = streams[0].get("nb_frames")
    if nb is not None and str(nb).isdigit():
        return int(nb)
    counted = ffmpeg.probe(str(path), select_streams="v:0", count_frames=None)
    return int(counted["streams"][0].get("nb_read_frames", 0))


def read_audio(src: Path, *, start_s: float, seconds: float, rate: int) -> np.ndarray:
    """Decode ``seconds`` of ``src`` from ``start_s`` as mono float32 at ``rate`` (may return fewer
    samples if the stream ends early)."""
    # first_pts=0 pads a late-starting stream (codec priming) with silence so samples stay aligned
    # with the video timeline; a little extra is decoded and the exact count is cut here.
    stream = ffmpeg.input(str(src), ss=f"{start_s:.6f}").audio.filter("aresample", **{"async": 1, "first_pts": 0})
    out = stream.output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=rate, t=f"{seconds + 0.25:.6f}")
    samples = np.frombuffer(_run(out, src), dtype="<f4")
    return samples[: round(seconds * rate)].copy()


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
