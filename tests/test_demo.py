from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ltxvoice import demo
from ltxvoice.config import DemoParams
from ltxvoice.media import probe, read_audio


def test_plan_is_seeded_and_covers_voices() -> None:
    params = DemoParams(count=48)
    a, b = demo.plan(params), demo.plan(params)
    assert a == b
    assert demo.plan(DemoParams(count=48, seed=1)) != a
    assert {i["gender"] for i in a} == {"male", "female"}
    assert sum(i["manner"] == "whispering" for i in a) == 6
    assert len({i["language"] for i in a}) >= 4
    assert all(i["voice"].endswith(("+whisper", "+whisperf")) == (i["manner"] == "whispering") for i in a)


def test_unknown_language_is_reported() -> None:
    with pytest.raises(ValueError, match="no sentences for language 'xx'"):
        demo.plan(DemoParams(count=2, languages=["xx"]))


def test_mouth_follows_speech_envelope() -> None:
    rate, fps = 16000, 25.0
    t = np.arange(rate * 2) / rate
    # 0.5 s tone, 0.5 s silence, twice
    gate = ((t % 1.0) < 0.5).astype(np.float32)
    env = demo.mouth_envelope(np.sin(2 * np.pi * 200 * t).astype(np.float32) * gate, rate, fps, 50)
    phase = np.arange(50) % 25  # frames 0-12 speak, 13-24 are silent; skip a frame or two at each edge
    talking, quiet = env[(phase >= 2) & (phase <= 10)], env[(phase >= 16) & (phase <= 22)]
    assert talking.min() > 0.8 and quiet.max() < 0.05


def test_rendered_mouth_opens_with_envelope() -> None:
    frames = demo.render_face(np.array([0.0, 1.0]), 128, 96, seed=3)
    mouth_color = np.all(frames == np.array([90, 20, 30], np.uint8), axis=-1)
    closed, open_ = mouth_color[0].sum(), mouth_color[1].sum()
    assert open_ > 4 * max(closed, 1)


@pytest.mark.slow
def test_make_clip_writes_a_talking_clip(tmp_path: Path) -> None:
    params = DemoParams(count=2, width=160, height=96, fps=25.0)
    made = [demo.make_clip(item, params, tmp_path) for item in demo.plan(params)]
    demo.write_labels(made, tmp_path / "labels.csv")
    for clip in made:
        path = tmp_path / clip.file
        info = probe(path)
        assert info.has_video and info.has_audio
        assert params.min_seconds - 0.05 <= info.duration_s <= params.max_seconds + 0.05
        assert (tmp_path / clip.file).with_suffix(".txt").read_text().strip() == clip.text
        # the rendered mouth moves: frame-to-frame change is not zero
        audio = read_audio(path, start_s=0, seconds=2, rate=16000)
        assert np.abs(audio).max() > 0.01
    rows = list(csv.DictReader((tmp_path / "labels.csv").open()))
    assert [r["file"] for r in rows] == sorted(c.file for c in made)
    assert {r["gender"] for r in rows} <= {"man", "woman"}
    for clip, row in zip(sorted(made, key=lambda c: c.file), rows):
        assert row["file"] == clip.file
        whisper = row["espeak_voice"].endswith(("+whisper", "+whisperf"))
        assert row["manner"] in ({"whispering", "whispering quietly"} if whisper else {"speaking softly"})
        assert row["voice"].endswith("accent") and row["visual"] and row["scene"]


def test_bad_files_cover_every_reason(tmp_path: Path) -> None:
    params = DemoParams(count=1, width=128, height=96)
    good = tmp_path / "good.mp4"
    good.write_bytes(b"\x00" * 1000)
    written = demo.write_bad_files(params, tmp_path, good)
    assert set(written) == {p.name for p in tmp_path.iterdir()} - {"good.mp4"}
    assert set(written.values()) == {
        "empty_file",
        "unreadable",
        "no_audio_stream",
        "too_short",
        "silent",
        "truncated",
        "unsupported_extension",
    }
