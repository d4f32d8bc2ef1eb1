from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ltxvoice import ingest
from ltxvoice.config import IngestParams
from ltxvoice.media import count_frames, probe
from ltxvoice.records import Quarantined, sha256_file
from tests import fixtures


def _params(sources: list[Path], **kw: object) -> IngestParams:
    base = {"frames": 25, "fps": 25.0, "width": 64, "height": 64, "video_preset": "ultrafast"}
    return IngestParams(sources=sources, **{**base, **kw})  # type: ignore[arg-type]


def _run(params: IngestParams, out: Path) -> tuple[list[ingest.Clip], list[Quarantined]]:
    """The stage without Prefect: scan -> describe -> dedupe -> cut."""
    candidates, quarantined = ingest.scan(params)
    sources = []
    for path in candidates:
        d = ingest.describe(path)
        (sources if isinstance(d, ingest.Source) else quarantined).append(d)  # type: ignore[arg-type]
    sources, copies = ingest.dedupe(sources)
    quarantined += copies
    clips: list[ingest.Clip] = []
    for src in sources:
        result = ingest.cut(src, params, out)
        clips += result.clips
        quarantined += result.quarantined
    return clips, quarantined


def test_clip_cutting_geometry(good_sources: Path, tmp_path: Path) -> None:
    params = _params(
        [good_sources], frames=33, fps=24.0, width=96, height=64, audio_rate=48000, max_clips_per_source=None
    )
    clips, quarantined = _run(params, tmp_path)
    assert quarantined == []
    # a.mp4 is 6 s -> 4 clips of 33/24 s; b.mkv is 11 s -> 8 clips
    per_source = {Path(c.source_path).name: 0 for c in clips}
    for c in clips:
        per_source[Path(c.source_path).name] += 1
    assert per_source == {"a.mp4": 4, "b.mkv": 8}
    for c in clips:
        assert count_frames(Path(c.video_path)) == 33  # type: ignore[arg-type]
        info = probe(Path(c.video_path))  # type: ignore[arg-type]
        assert (info.width, info.height, info.fps) == (96, 64, pytest.approx(24.0))
        audio, rate = sf.read(c.audio_path)
        assert rate == 48000 and audio.ndim == 1
        assert abs(audio.size - 33 / 24 * 48000) <= 1
        assert c.audio_samples == audio.size
        assert c.start_s == pytest.approx(c.start_frame / 24.0)
    b = [c for c in clips if c.source_path.endswith("b.mkv")]
    assert [c.start_frame for c in b] == [0, 33, 66, 99, 132, 165, 198, 231]
    assert all(c.source_transcript == "hello from the b clip" for c in b)
    assert all(c.source_transcript is None for c in clips if c.source_path.endswith("a.mp4"))


def test_ids_and_bytes_stable_across_runs(good_sources: Path, tmp_path: Path) -> None:
    params = _params([good_sources])
    first, _ = _run(params, tmp_path / "one")
    second, _ = _run(params, tmp_path / "two")
    assert [c.clip_id for c in first] == [c.clip_id for c in second]
    assert [(c.video_sha256, c.audio_sha256) for c in first] == [(c.video_sha256, c.audio_sha256) for c in second]
    # the id follows the content, not the file name
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    (renamed / "other_name.mp4").write_bytes((good_sources / "a.mp4").read_bytes())
    third, _ = _run(_params([renamed]), tmp_path / "three")
    assert third[0].clip_id == next(c.clip_id for c in first if c.source_path.endswith("a.mp4"))


@pytest.mark.parametrize("max_clips", [1, None])
def test_one_ffmpeg_run_for_the_first_clip_writes_the_same_bytes_as_three(
    good_sources: Path,
    bad_folder: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    max_clips: int | None,
) -> None:
    """The first clip of a source is decoded and cut in one ffmpeg run together with the whole
    source's audio (ingest._first_clip); clips, manifest rows and quarantine reasons must be exactly
    those of the separate runs, for good sources (stereo 44.1 kHz, 29.97 fps) and every bad one."""
    folders = [good_sources, bad_folder[0]]
    params = _params(folders, frames=33, max_clips_per_source=max_clips)
    made = []
    first_clip = ingest._first_clip
    monkeypatch.setattr(ingest, "_first_clip", lambda *a: made.append(first_clip(*a)) or made[-1])
    fast, fast_q = _run(params, tmp_path / "fast")
    assert sum(m is not None for m in made) >= 2  # the good sources (and bad ones that decode) took it
    monkeypatch.setattr(ingest, "_first_clip", lambda *a: None)
    slow, slow_q = _run(params, tmp_path / "slow")
    strip = [{k: v for k, v in vars(c).items() if not k.endswith("_path")} for c in fast]
    assert strip == [{k: v for k, v in vars(c).items() if not k.endswith("_path")} for c in slow]
    assert len(fast) >= 2 and all(c.video_sha256 for c in fast)
    assert [(q.path, q.reason, q.detail) for q in fast_q] == [(q.path, q.reason, q.detail) for q in slow_q]
    assert sorted(p.name for p in (tmp_path / "fast").iterdir()) == sorted(
        p.name for p in (tmp_path / "slow").iterdir()
    )


def test_each_bad_input_gets_its_reason(bad_folder: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, expected = bad_folder
    before = {p.name: sha256_file(p) for p in folder.iterdir()}
    clips, quarantined = _run(_params([folder], frames=121), tmp_path / "out")
    assert clips == []
    got = {Path(q.path).name: q.reason for q in quarantined}
    assert got == expected
    for q in quarantined:
        assert q.stage == "ingest" and q.detail  # a readable reason, not just a code
    assert "0 bytes" in next(q.detail for q in quarantined if q.reason == "empty_file")
    assert "needs 4.84 s" in next(q.detail for q in quarantined if q.reason == "too_short")
    # nothing the user gave is modified, nothing half-written is left behind
    assert {p.name: sha256_file(p) for p in folder.iterdir()} == before
    assert list((tmp_path / "out").glob("*")) == []


def test_audio_only_sources_when_video_not_required(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    fixtures.audio_only(src / "tone.wav", 3.0)
    params = _params([src], extensions=[".wav"], require_video=False)
    clips, quarantined = _run(params, tmp_path / "out")
    assert quarantined == [] and len(clips) == 1
    assert clips[0].video_path is None and clips[0].video_sha256 is None


def test_duplicates_are_quarantined_not_double_counted(good_sources: Path, tmp_path: Path) -> None:
    src = tmp_path / "dups"
    src.mkdir()
    data = (good_sources / "a.mp4").read_bytes()
    (src / "one.mp4").write_bytes(data)
    (src / "two.mp4").write_bytes(data)
    clips, quarantined = _run(_params([src]), tmp_path / "out")
    assert len(clips) == 1 and clips[0].source_path.endswith("one.mp4")
    assert [(Path(q.path).name, q.reason) for q in quarantined] == [("two.mp4", "duplicate")]
    assert "one.mp4" in quarantined[0].detail


def test_hidden_and_sidecar_files_are_not_inputs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / ".cache").mkdir(parents=True)
    (src / ".cache" / "junk.mp4").write_bytes(b"x")
    (src / ".DS_Store").write_bytes(b"x")
    (src / "labels.csv").write_text("a,b\n")
    (src / "clip.txt").write_text("hi\n")
    candidates, rejected = ingest.scan(_params([src]))
    assert candidates == [] and rejected == []


def test_missing_source_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ingest.sources: 1 path"):
        ingest.scan(_params([tmp_path / "nope"]))


def test_output_inside_sources_is_refused(tmp_path: Path) -> None:
    params = _params([tmp_path / "src"])
    with pytest.raises(ValueError, match="sources are never written to"):
        ingest.check_outside_sources(tmp_path / "src" / "out", params)
    ingest.check_outside_sources(tmp_path / "out", params)


@pytest.mark.parametrize(
    ("duration", "kw", "expected"),
    [
        (4.83, {}, []),
        (4.84, {}, [0]),
        (20.0, {"max_clips_per_source": None}, [0, 121, 242, 363]),
        (20.0, {"max_clips_per_source": 2}, [0, 121]),
        (20.0, {"max_clips_per_source": None, "hop_frames": 200, "start_s": 5.0}, [0, 200]),
    ],
)
def test_fixed_length_plan(duration: float, kw: dict, expected: list[int]) -> None:
    params = IngestParams(sources=[Path("x")], **kw)
    segments = ingest.plan_segments(duration, params, speech=(0.0, duration))
    assert [round((s.start_s - params.start_s) * params.fps) for s in segments] == expected
    assert all(s.frames == 121 for s in segments)


TALKING_HEAD = {"frames": 153, "max_frames": 249, "fps": 25.0, "trim": True, "trim_pad_s": 0.1}


@pytest.mark.parametrize(
    ("duration", "speech", "kw", "expected"),
    [
        # 8 s source, speech 1.0-7.0 s: trimmed to 0.9-7.1 s -> 6.2 s -> 155 frames -> 161 (8k+1)
        (8.0, (1.0, 7.0), {}, [(0.88, 161)]),
        # speech runs to the very end: the clip starts earlier instead of cutting the last word
        (7.0, (1.05, 7.0), {}, [(0.88, 153)]),
        # 12 s of speech: one 249-frame clip, then the rest would be too short on its own -> earlier start
        (12.5, (0.0, 12.5), {"max_clips_per_source": None, "trim": False}, [(0.0, 249)]),
        (30.0, (0.0, 30.0), {"max_clips_per_source": None, "trim": False}, [(0.0, 249), (9.96, 249), (19.92, 249)]),
        # too little speech for the 6 s minimum: the clip keeps 153 frames (silence after the speech)
        (9.0, (1.0, 3.0), {}, [(0.88, 153)]),
        (5.0, (0.0, 5.0), {}, []),
    ],
)
def test_variable_length_plan(
    duration: float, speech: tuple[float, float], kw: dict, expected: list[tuple[float, int]]
) -> None:
    params = IngestParams(sources=[Path("x")], **{**TALKING_HEAD, **kw})
    segments = ingest.plan_segments(duration, params, speech)
    assert [(pytest.approx(s.start_s, abs=1e-6), s.frames) for s in segments] == expected
    for s in segments:
        assert s.frames % 8 == 1 and params.frames <= s.frames <= 249  # never longer than the window
        assert s.start_s >= 0 and s.start_s + s.frames / 25 <= duration + 1e-6
    if segments and kw.get("trim", True):  # the trim never cuts speech
        assert segments[0].start_s <= speech[0]
        if speech[1] - speech[0] < 249 / 25:
            assert segments[-1].start_s + segments[-1].frames / 25 >= speech[1] - 1e-6


def test_speech_span_is_relative_to_the_loudest_frame() -> None:
    rate = 16000
    quiet = np.zeros(rate, np.float32) + 1e-5 * np.random.default_rng(0).standard_normal(rate).astype(np.float32)
    whisper = 0.01 * np.random.default_rng(1).standard_normal(2 * rate).astype(np.float32)
    audio = np.concatenate([quiet, whisper, quiet])
    first, last = ingest.speech_span(audio, rate, threshold_db=35)
    assert first == pytest.approx(1.0, abs=0.02) and last == pytest.approx(3.0, abs=0.02)
    assert ingest.speech_span(np.zeros(rate, np.float32), rate, 35) is None


def test_trim_keeps_all_speech_of_a_generated_clip(tmp_path: Path) -> None:
    """espeak-ng speech with 1.3 s of silence before and 1.1 s after: the clip starts at the speech
    (minus the pad), holds every sample of it, and is cut to frames % 8 == 1."""
    src = tmp_path / "src"
    src.mkdir()
    speech = fixtures.speech_wav(tmp_path / "s.wav", "Trimming must never cut a single word of this sentence.")
    samples, rate = sf.read(speech, dtype="float32")
    padded = np.concatenate([np.zeros(int(1.3 * rate), np.float32), samples, np.zeros(int(1.1 * rate), np.float32)])
    sf.write(tmp_path / "padded.wav", padded, rate, subtype="FLOAT")
    fixtures.talking_video(src / "talk.mp4", padded.size / rate, audio=tmp_path / "padded.wav")
    frames = 8 * int(samples.size / rate * 25 / 8) + 1  # shorter than the speech: the clip must grow past it
    params = _params([src], frames=frames, max_frames=frames + 160, trim=True, trim_pad_s=0.1)
    clips, quarantined = _run(params, tmp_path / "out")
    assert quarantined == [] and len(clips) == 1
    clip = clips[0]
    assert clip.frames % 8 == 1 and clip.frames <= frames + 160
    assert count_frames(Path(clip.video_path)) == clip.frames  # type: ignore[arg-type]
    voiced = np.flatnonzero(np.abs(samples) > 1e-3)  # ground truth: espeak's first and last audible sample
    first, last = 1.3 + voiced[0] / rate, 1.3 + (voiced[-1] + 1) / rate
    assert clip.source_speech_start_s == pytest.approx(first, abs=0.03)
    assert clip.source_speech_end_s == pytest.approx(last, abs=0.03)
    assert clip.start_s <= first and clip.start_s + clip.duration_s >= last
    assert clip.start_s >= 1.0  # the leading silence is gone
    cut, _ = sf.read(clip.audio_path, dtype="float32")
    # every speech sample of the source is in the clip: the clip holds all of the speech's energy
    energy = np.sum(cut.astype(np.float64) ** 2) / params.audio_rate
    assert energy == pytest.approx(np.sum(samples.astype(np.float64) ** 2) / rate, rel=0.03)


def test_silence_threshold_is_a_param(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    fixtures.talking_video(src / "quiet.mp4", 2.0, audio="tone")
    loud, _ = _run(_params([src]), tmp_path / "a")
    assert len(loud) == 1
    # ffmpeg's sine source has amplitude 1/8: RMS 20*log10(0.125/sqrt(2)) = -21.07 dBFS
    assert loud[0].rms_dbfs == pytest.approx(-21.07, abs=0.3)
    _, q = _run(_params([src], silence_dbfs=0.0), tmp_path / "b")
    assert [x.reason for x in q] == ["silent"]


def test_broken_and_outside_symlinks_are_quarantined(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(b"x")
    (src / "dangling.mp4").symlink_to(tmp_path / "gone.mp4")
    (src / "loop_a.mp4").symlink_to(src / "loop_b.mp4")
    (src / "loop_b.mp4").symlink_to(src / "loop_a.mp4")
    (src / "out.mp4").symlink_to(outside)
    (src / "real.mp4").write_bytes(b"y")
    (src / "inside.mp4").symlink_to(src / "real.mp4")
    candidates, rejected = ingest.scan(_params([src]))
    assert [p.name for p in candidates] == ["inside.mp4", "real.mp4"]
    got = {Path(q.path).name: (q.reason, q.detail) for q in rejected}
    assert set(got) == {"dangling.mp4", "loop_a.mp4", "loop_b.mp4", "out.mp4"}
    assert got["dangling.mp4"][0] == "broken_link" and "points at nothing" in got["dangling.mp4"][1]
    assert got["loop_a.mp4"][0] == "broken_link" and "loop" in got["loop_a.mp4"][1]
    assert got["out.mp4"] == (
        "outside_sources",
        f"symlink to {outside}, outside the sources folder; copy the file in or list its folder in ingest.sources",
    )


def test_a_clip_whose_sidecar_is_not_utf8_is_quarantined_by_name(tmp_path: Path) -> None:
    clip = tmp_path / "talk.mp4"
    clip.write_bytes(b"media")
    (tmp_path / "talk.txt").write_bytes(b"caf\xe9 au lait\n")  # Latin-1, not UTF-8
    got = ingest.describe(clip)
    assert isinstance(got, Quarantined)
    assert (got.path, got.reason) == (str(clip), "unreadable")
    assert got.detail.startswith("its transcript sidecar talk.txt is not readable UTF-8 text")


def test_wav_sources_of_every_sample_format_give_the_same_clip(tmp_path: Path) -> None:
    """8-bit unsigned, 16- and 24-bit PCM, 32- and 64-bit float WAV sources of one recording: each is
    cut (audio only), the clips' audio agrees with the 16-bit one, and no source byte changes."""
    speech = fixtures.speech_wav(tmp_path / "speech.wav")
    samples, rate = sf.read(speech, dtype="float64")
    samples = 0.9 * samples / np.max(np.abs(samples))
    src = tmp_path / "src"
    src.mkdir()
    subtypes = {"u8": "PCM_U8", "s16": "PCM_16", "s24": "PCM_24", "f32": "FLOAT", "f64": "DOUBLE"}
    for name, subtype in subtypes.items():
        sf.write(src / f"{name}.wav", samples, rate, subtype=subtype)
    before = {p.name: sha256_file(p) for p in src.iterdir()}
    params = _params([src], extensions=[".wav"], require_video=False, frames=49)
    clips, quarantined = _run(params, tmp_path / "out")
    assert quarantined == []
    by_name = {Path(c.source_path).stem: c for c in clips}
    assert sorted(by_name) == sorted(subtypes)
    reference, _ = sf.read(by_name["s16"].audio_path, dtype="float64")
    for name, clip in by_name.items():
        audio, _ = sf.read(clip.audio_path, dtype="float64")
        assert audio.shape == reference.shape and np.isfinite(audio).all(), name
        tolerance = 0.9 if name == "u8" else 0.99  # 8 bits: 48 dB of range, still the same speech
        assert np.corrcoef(audio, reference)[0, 1] > tolerance, name
    assert {p.name: sha256_file(p) for p in src.iterdir()} == before
