"""The register and talking-head recipes as flows (ingest -> separate -> prepare -> caption) on a few
generated talking clips with a label table: caption formats, transcripts from sidecars checked by the
real Whisper base (stage asr_model's folder), both ASR backends' plumbing (tiny random models), and the
per-clip quarantine reasons."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from flows.caption import caption
from flows.ingest import ingest
from flows.prepare import prepare
from flows.separate import separate
from ltxvoice import asr_model
from ltxvoice import caption as lib
from ltxvoice.media import read_wav
from ltxvoice.prepare import integrated_loudness
from ltxvoice.tiny_models import write_roformer, write_whisper
from tests import fixtures

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recipes")
    src = root / "sources"
    src.mkdir()
    text = "Close your eyes and listen to the rain on the window."
    for name, voice in (("m", "en+m3"), ("f", "en+whisperf"), ("x", "en+f2")):
        wav = fixtures.speech_wav(root / f"{name}.wav", text, voice, 45)
        fixtures.ffmpeg(
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30:duration=5",
            "-i",
            str(wav),
            "-af",
            "adelay=700:all=1,apad",
            "-t",
            "5",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(src / f"{name}.mp4"),
        )
        (src / f"{name}.txt").write_text(text + "\n")
    # x.mp4 has no label row: it must be quarantined as missing_label, not guessed
    (src / "labels.csv").write_text(
        "file,gender,manner,visual,voice\n"
        "m.mp4,man,speaking softly,a test pattern,low male voice\n"
        "f.mp4,woman,whispering,a test pattern,whispered female voice\n"
    )
    write_roformer(root / "models", seed=0)
    write_whisper(root / "models", seed=0)
    asr_model.assemble("base", asr_model.MODELS["base"].sha256, root / "models/asr")  # the real Whisper base
    return root


def _params(root: Path, recipe: str, **caption_kw: object) -> str:
    params = yaml.safe_load((ROOT / "recipes" / recipe / "params.yaml").read_text())
    params["ingest"].update(sources=[str(root / "sources")], width=64, height=64, video_preset="ultrafast")
    if recipe == "talking_head":
        params["ingest"].update(frames=57, max_frames=169)  # 2.3 - 6.8 s: each clip holds all its speech
        params["separate"]["model_dir"] = str(root / "models/audio-separator")
    else:
        params["ingest"].update(frames=49)  # 2 s: shorter than the speech, so ASR is needed
    params["caption"]["labels"] = str(root / "sources/labels.csv")
    params["caption"]["asr"].update(model=str(root / "models/faster-whisper"), beam_size=1)
    params["caption"].update(caption_kw)
    path = root / f"{recipe}-{len(caption_kw)}.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


def _build(root: Path, recipe: str, params: str) -> Path:
    d = root / "data" / recipe
    ingest(params_path=params, out=str(d / "ingest"))
    separate(params_path=params, upstream=str(d / "ingest"), out=str(d / "separate"))
    prepare(params_path=params, upstream=str(d / "separate"), out=str(d / "prepare"))
    return d


def test_talking_head_recipe(workspace: Path) -> None:
    params = _params(workspace, "talking_head", asr={"model": str(workspace / "models/asr"), "beam_size": 1})
    d = _build(workspace, "talking_head", params)
    clips = pl.read_parquet(d / "ingest/clips.parquet")
    assert (clips["frames"] % 8 == 1).all() and (clips["frames"] <= 169).all()
    assert (clips["start_s"] > 0.3).all()  # the 0.7 s of leading silence was trimmed (pad 0.15 s)
    assert set(pl.read_parquet(d / "separate/clips.parquet")["separation_model"]) == {"vocals_mel_band_roformer.ckpt"}
    caption(params_path=params, upstream=str(d / "prepare/clips.parquet"), out=str(d / "caption"))
    table = pl.read_parquet(d / "caption/clips.parquet")
    assert table.height == 2 and set(table["transcript_source"]) == {"sidecar"}
    # the real Whisper base checked each sidecar: what it heard is recorded with its word error rate
    assert (table["transcript_wer"] <= 0.2).all() and set(table["transcript_language"]) == {"en"}
    metrics = json.loads((d / "caption/metrics.json").read_text())
    assert metrics["wer_clips"] == 2 and metrics["wer_clips_en"] == 2
    quarantined = pl.read_parquet(d / "caption/quarantine.parquet")
    assert quarantined["reason"].to_list() == ["missing_label"] and quarantined["path"][0].endswith("x.mp4")
    captions = json.loads((d / "caption/dataset/CAPTIONS.json").read_text())["captions"]
    assert len(captions) == 2
    for entry in captions:
        parts = lib.parse_talking_head(entry["caption"])
        assert parts["trigger"] == "OHWXPERSON" and parts["transcript"].startswith("Close your eyes")
        assert (d / "caption/dataset" / entry["file"]).is_file()


@pytest.mark.parametrize("backend", ["faster-whisper", "openai-whisper"])
def test_register_recipe_with_each_asr_backend(workspace: Path, backend: str) -> None:
    model = workspace / "models" / ("faster-whisper" if backend == "faster-whisper" else "openai-whisper/tiny.pt")
    params = _params(
        workspace,
        "register",
        asr={"backend": backend, "model": str(model), "beam_size": 1, "compute_type": "float32", "threads": 1},
        min_avg_logprob=-1000.0,  # a random model is never confident: only the plumbing is tested here
        max_no_speech_prob=1.0,
        max_compression_ratio=1000.0,  # and its gibberish may loop
        max_loop_chars=100_000,
    )
    d = _build(workspace, f"register-{backend}", params)
    prepared = pl.read_parquet(d / "prepare/clips.parquet")
    for path in prepared["prepared_audio_path"]:
        samples, rate = read_wav(Path(path))
        assert integrated_loudness(samples, rate) == pytest.approx(-23.0, abs=0.5)
    # one prepared clip goes bad before captioning: that clip is quarantined as asr_failed, the rest go on
    broken = Path(prepared.filter(pl.col("source_path").str.ends_with("m.mp4"))["prepared_audio_path"][0])
    broken.write_bytes(b"RIFF not a wav any more")
    caption(params_path=params, upstream=str(d / "prepare/clips.parquet"), out=str(d / "caption"))
    table = pl.read_parquet(d / "caption/clips.parquet")
    reasons = sorted(pl.read_parquet(d / "caption/quarantine.parquet")["reason"].to_list())
    assert reasons == ["asr_failed", "missing_label"]
    assert table.height == 1 and table["transcript_source"].to_list() == ["asr"]
    parts = lib.parse_register(table["caption"][0])
    assert (parts["gender"], parts["manner"], parts["suffix"]) == ("woman", "whispering", "intimate ASMR")
    assert table["transcript_language"][0] and table["transcript_words"][0].startswith("[")
