from __future__ import annotations

from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from ltxvoice.media import (
    MediaError,
    count_frames,
    cut_video,
    fps_fraction,
    mp4_video_samples,
    probe,
    read_and_cut,
    read_audio,
    rms_dbfs,
    write_wav,
)
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


def test_read_and_cut_equals_its_three_separate_runs(good_sources: Path, tmp_path: Path) -> None:
    src = good_sources / "nested" / "b.mkv"  # 29.97 fps, mono 22.05 kHz: both rates are resampled
    kw = {"frames": 49, "fps": 25.0, "width": 96, "height": 64, "preset": "ultrafast"}
    whole, clip, written = read_and_cut(
        src, tmp_path / "one.mp4", whole_seconds=11.0, whole_rate=16000, seconds=49 / 25, rate=48000, **kw
    )
    assert np.array_equal(whole, read_audio(src, start_s=0.0, seconds=11.0, rate=16000))
    assert np.array_equal(clip, read_audio(src, start_s=0.0, seconds=49 / 25, rate=48000))
    assert written == cut_video(src, tmp_path / "three.mp4", start_s=0.0, **kw) == 49  # type: ignore[arg-type]
    assert (tmp_path / "one.mp4").read_bytes() == (tmp_path / "three.mp4").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mp4", "three.mp4"]  # no raw audio left behind


def test_frame_count_from_the_mp4_index_equals_ffprobe(good_sources: Path, tmp_path: Path) -> None:
    cut_video(good_sources / "a.mp4", tmp_path / "c.mp4", start_s=0.5, frames=37, fps=25.0, width=64, height=64)
    for path in (good_sources / "a.mp4", tmp_path / "c.mp4"):
        nb = int(ffmpeg.probe(str(path), select_streams="v:0")["streams"][0]["nb_frames"])
        assert mp4_video_samples(path) == nb
    assert mp4_video_samples(tmp_path / "c.mp4") == 37
    (tmp_path / "x.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 40)  # no index: ffprobe decides
    assert mp4_video_samples(tmp_path / "x.mp4") is None
    assert mp4_video_samples(good_sources / "nested" / "b.mkv") is None
