"""ltxvoice.prepare: loudness to target within +-0.5 LU, length and video kept, clipping refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltxvoice import prepare
from ltxvoice.config import PrepareParams
from ltxvoice.media import MediaError, count_frames, probe, read_wav, write_wav
from tests import fixtures


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    return fixtures.espeak_samples("en+f3", 55, rate=48000, text="Close your eyes and listen to the rain."), 48000


@pytest.mark.parametrize("level_db", [-40.0, -28.0, -12.0])
@pytest.mark.parametrize("target", [-23.0, -16.0, -30.0])
def test_loudness_lands_on_target(speech: tuple[np.ndarray, int], level_db: float, target: float) -> None:
    samples, rate = speech
    quiet = samples / np.max(np.abs(samples)) * 10 ** (level_db / 20)
    out, before, gain = prepare.normalize(quiet.astype(np.float32), rate, target, max_peak_dbfs=0.0)
    assert prepare.integrated_loudness(out, rate) == pytest.approx(target, abs=0.5)
    assert gain == pytest.approx(target - before) and out.size == quiet.size


def test_clipping_and_silence_are_refused(speech: tuple[np.ndarray, int]) -> None:
    samples, rate = speech
    with pytest.raises(MediaError, match="peak would be") as err:
        prepare.normalize(samples, rate, target_lufs=-5.0, max_peak_dbfs=-1.0)
    assert err.value.reason == "would_clip"
    with pytest.raises(MediaError) as err:
        prepare.normalize(np.zeros(rate * 2, np.float32), rate, -23.0, -1.0)
    assert err.value.reason == "silent"


def test_prepare_clip_keeps_length_and_video(tmp_path: Path, speech: tuple[np.ndarray, int]) -> None:
    samples, rate = speech
    n = int(97 / 24 * 48000)
    stereo_quiet = np.tile(samples[:n] * 0.05, 1)
    vocals = write_wav(tmp_path / "v.wav", stereo_quiet, 44100)  # another rate: resampled, length kept in time
    video = fixtures.talking_video(tmp_path / "clip.mp4", 97 / 24, size="192x192", fps="24")
    row = prepare.PrepareInput(
        clip_id="abc", vocals_path=str(vocals), audio_path=str(vocals), video_path=str(video), separation_model="none"
    )
    out = prepare.prepare_clip(row, PrepareParams(loudness_lufs=-23.0), tmp_path)
    audio, out_rate = read_wav(Path(out.prepared_audio_path))
    assert out_rate == 48000 and audio.size == round(stereo_quiet.size * 48000 / 44100)
    assert out.loudness_lufs == pytest.approx(-23.0, abs=0.5)
    assert out.prepared_from == "mix (separate.model none)"
    info = probe(Path(out.prepared_video_path))
    assert info.has_audio and (info.width, info.height) == (192, 192)
    assert count_frames(Path(out.prepared_video_path)) == count_frames(video)
