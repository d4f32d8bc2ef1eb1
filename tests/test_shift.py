from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from ltxvoice.config import ShiftParams
from ltxvoice.dsp.shifting import shift as shift_samples
from ltxvoice.media import read_wav, write_wav
from ltxvoice.shift import NO_PITCH, PITCH_EXTREME, Planned, pearson, plan_targets, shift_clip
from tests import fixtures


def _demo_like(n: int = 48, seed: int = 3) -> dict[str, float]:
    """Source pitches spread like the demo set: half male (70-140 Hz), half female (135-280 Hz)."""
    rng = np.random.default_rng(seed)
    f0 = np.concatenate([rng.uniform(70, 140, n // 2), rng.uniform(135, 280, n - n // 2)])
    return {f"clip{i:03d}": float(v) for i, v in enumerate(f0)}


def test_bounded_respects_cap_and_min() -> None:
    plan = plan_targets(_demo_like(), ShiftParams(mode="bounded", cap_semitones=5, min_semitones=1))
    s = np.array([t.semitones for t in plan.targets.values()])
    assert np.all(np.abs(s) <= 5 + 1e-6) and np.all(np.abs(s) >= 1 - 1e-6)
    assert (s > 0).any() and (s < 0).any()
    assert plan.dropped == {}


def test_targets_are_per_clip_stable() -> None:
    sources = _demo_like()
    full = plan_targets(sources, ShiftParams())
    fewer = plan_targets({k: v for k, v in list(sources.items())[:10]}, ShiftParams())
    assert all(full.targets[k] == fewer.targets[k] for k in fewer.targets)
    assert plan_targets(sources, ShiftParams(seed=1)).targets != full.targets


def test_decorrelated_mode_breaks_the_source_target_link() -> None:
    sources = _demo_like()
    bounded = plan_targets(sources, ShiftParams(mode="bounded"))
    decorrelated = plan_targets(sources, ShiftParams(mode="decorrelated"))
    assert bounded.r >= 0.6
    assert abs(decorrelated.r) <= 0.2
    assert set(decorrelated.dropped.values()) <= {PITCH_EXTREME}
    assert len(decorrelated.dropped) <= 0.3 * len(sources)
    kept = decorrelated.targets
    assert abs(pearson([sources[k] for k in kept], [kept[k].target_hz for k in kept]) - decorrelated.r) < 1e-9
    assert all(abs(t.semitones) <= 7 + 1e-6 for t in kept.values())


def test_unpitched_clips_get_no_target() -> None:
    plan = plan_targets({"a": float("nan"), "b": 150.0, "c": 0.0}, ShiftParams())
    assert set(plan.targets) == {"b"} and plan.dropped == {"a": NO_PITCH, "c": NO_PITCH}


def _video_md5(path: Path) -> str:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize("with_other", [False, True])
def test_shift_clip_remixes_and_keeps_video_untouched(tmp_path: Path, with_other: bool) -> None:
    video = fixtures.talking_video(tmp_path / "v.mp4", 3.0, audio="none")
    speech = fixtures.espeak_samples("en+f4", 60)[: 3 * 48000]
    vocals = write_wav(tmp_path / "vocals.wav", speech, 48000)
    other = (
        write_wav(tmp_path / "other.wav", 0.01 * np.sin(np.arange(speech.size) / 10).astype(np.float32), 48000)
        if with_other
        else None
    )
    out = tmp_path / "out"
    out.mkdir()
    result = shift_clip(
        "c1", 220.0, Planned(target_hz=277.18, semitones=4.0), vocals, other, video, ShiftParams(), 60.0, 600.0, out
    )
    mix, rate = read_wav(Path(result.target_audio_path))
    assert rate == 48000 and mix.size == speech.size
    shifted_vocals, _ = read_wav(Path(result.shifted_vocals_path))
    if with_other:
        np.testing.assert_allclose(mix, shifted_vocals + read_wav(other)[0], atol=1e-6)  # type: ignore[arg-type]
    else:
        assert result.shifted_vocals_path == result.target_audio_path
    assert _video_md5(Path(result.target_video_path)) == _video_md5(video)  # type: ignore[arg-type]


def test_shift_clip_records_and_honours_the_envelope_choice(tmp_path: Path) -> None:
    speech = fixtures.espeak_samples("en+m3", 40)[: 2 * 48000]
    vocals = write_wav(tmp_path / "vocals.wav", speech, 48000)
    outputs = {}
    for restore in (True, False):
        out = tmp_path / str(restore)
        out.mkdir()
        result = shift_clip(
            "c1",
            120.0,
            Planned(target_hz=151.2, semitones=4.0),
            vocals,
            None,
            None,
            ShiftParams(restore_envelope=restore),
            60.0,
            600.0,
            out,
        )
        assert result.envelope_restored is restore
        outputs[restore] = read_wav(Path(result.target_audio_path))[0]
    raw = shift_samples(speech, 48000, 4.0, "psola", floor=60.0, ceiling=600.0, restore=False)
    np.testing.assert_allclose(outputs[False], raw, atol=1e-4)  # the engine's output, as it is
    assert np.max(np.abs(outputs[True] - outputs[False])) > 1e-3
