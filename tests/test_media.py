from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltxvoice.media import MediaError, count_frames, cut_video, fps_fraction, probe, read_audio, rms_dbfs, write_wav
from tests import fixtures


def test_probe_reports_streams(good_sources: Path) -> None:
    info = probe(good_sources / "a.mp4")
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (320, 240)
    assert info.fps == pytest.approx(30.0)
    assert info.audio_rate == 44100 and info.audio_channels == 2
    assert info.duration_s == pytest.approx(6.0, abs=0.05)


def test_probe_unreadable(tmp_path: Path) -> None:
    bogus = tmp_path / "x.mp4"
    bogus.write_text("nope")
    with pytest.raises(MediaError) as info:
        probe(bogus)
    assert info.value.reason == "unreadable"
    assert "Invalid data" in info.value.detail


@pytest.mark.parametrize(("resize", "fps"), [("crop", 25.0), ("pad", 24.0)])
def test_cut_video_frames_fps_size(good_sources: Path, tmp_path: Path, resize: str, fps: float) -> None:
    out = tmp_path / "clip.mp4"
    written = cut_video(
        good_sources / "nested" / "b.mkv",
        out,
        start_s=1.0,
        frames=97,
        fps=fps,
        width=192,
        height=192,
        resize=resize,
        preset="ultrafast",
    )  # type: ignore[arg-type]
    assert written == 97 == count_frames(out)
    info = probe(out)
    assert (info.width, info.height) == (192, 192)
    assert info.fps == pytest.approx(fps)
    assert not info.has_audio


def test_pad_letterboxes_and_crop_fills(tmp_path: Path) -> None:
    # A white 16:9 frame: letterboxed into a square it gets black bars, center-cropped it stays white.
    src = tmp_path / "white.mp4"
    fixtures.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=white:size=640x360:rate=25:duration=1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(src),
    )
    rows = {}
    for mode in ("crop", "pad"):
        out = tmp_path / f"{mode}.mp4"
        cut_video(src, out, start_s=0, frames=9, fps=25, width=64, height=64, resize=mode)  # type: ignore[arg-type]
        raw = tmp_path / f"{mode}.gray"
        fixtures.ffmpeg("-i", str(out), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", str(raw))
        rows[mode] = np.frombuffer(raw.read_bytes(), np.uint8).reshape(64, 64)
    assert rows["crop"].mean() > 240
    assert rows["pad"][:5].mean() < 30 and rows["pad"][32].mean() > 240


def test_read_audio_mono_at_rate(good_sources: Path) -> None:
    samples = read_audio(good_sources / "a.mp4", start_s=0.5, seconds=2.0, rate=48000)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size - 96000) <= 1
    assert rms_dbfs(samples) > -40


def test_rms_dbfs_and_wav(tmp_path: Path) -> None:
    assert rms_dbfs(np.zeros(100, np.float32)) == float("-inf")
    tone = (0.5 * np.sin(np.linspace(0, 200 * np.pi, 48000))).astype(np.float32)
    assert rms_dbfs(tone) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    path = write_wav(tmp_path / "t.wav", tone, 48000)
    back = read_audio(path, start_s=0, seconds=1.0, rate=48000)
    np.testing.assert_allclose(back, tone, atol=1e-6)


def test_fps_fraction() -> None:
    assert str(fps_fraction(29.97002997)) == "30000/1001"
    assert str(fps_fraction(25.0)) == "25"
