"""The helium stages as flows, chained on a few generated talking clips (one of them whispered)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from flows.ingest import ingest
from flows.measure import measure
from flows.select import select
from flows.separate import separate
from flows.shift import shift
from flows.tones import tones
from ltxvoice.config import load_params
from tests import fixtures


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("helium")
    src = root / "sources"
    src.mkdir()
    for name, voice, pitch in (("m", "en+m3", 40), ("f", "en+f2", 55), ("w", "en+whisper", 50)):
        wav = fixtures.speech_wav(
            root / f"{name}.wav",
            "Please put the blue folder on the second shelf before you leave, and close the door.",
            voice,
            pitch,
        )
        fixtures.ffmpeg(
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30:duration=5",
            "-i",
            str(wav),
            "-af",
            "apad",
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
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    params["ingest"].update(sources=[str(src)], frames=97, width=64, height=64, video_preset="ultrafast")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    p = str(root / "params.yaml")
    d = root / "data"
    ingest(params_path=p, out=str(d / "ingest"))
    separate(params_path=p, upstream=str(d / "ingest"), out=str(d / "separate"))
    measure(params_path=p, upstream=str(d / "separate"), out=str(d / "measure"))
    shift(params_path=p, upstream=str(d / "measure"), out=str(d / "shift"))
    tones(params_path=p, upstream=str(d / "shift"), out=str(d / "tones"))
    select(params_path=p, upstream=str(d / "tones"), left_out=str(d / "shift"), out=str(d / "select"))
    return root


def test_each_stage_adds_its_columns(chain: Path) -> None:
    d = chain / "data"
    ingest_cols = set(pl.read_parquet(d / "ingest/clips.parquet").columns)
    previous = ingest_cols
    for stage, added in (
        ("separate", {"separation_model", "vocals_path", "other_path"}),
        ("measure", {"f0_hz", "f0_praat_hz", "f0_world_hz", "voiced_seconds", "f1_hz"}),
        ("shift", {"target_hz", "semitones", "engine", "target_video_path"}),
        ("tones", {"tone_path", "tone_vowel", "tone_vibrato_cents"}),
    ):
        cols = set(pl.read_parquet(d / stage / "clips.parquet").columns)
        assert previous < cols and added <= cols - previous, stage
        previous = cols
    assert pl.read_parquet(d / "separate/clips.parquet")["separation_model"].to_list() == ["none"] * 3


def test_pairs_manifest_and_report(chain: Path) -> None:
    d = chain / "data"
    pairs = pl.read_parquet(d / "select/pairs.parquet")
    kept = pairs.filter(pl.col("kept"))
    assert kept.height >= 2  # the two voiced speakers
    assert (kept["error_hz"].abs() <= 30).all()
    for row in kept.iter_rows(named=True):
        for key in ("tone_path", "target_video_path", "target_audio_path"):
            assert Path(row[key]).is_file()
    metrics = json.loads((d / "select/metrics.json").read_text())
    whisper_reasons = metrics["rejected_by_reason"].get("barely_voiced", 0) + metrics["left_out_before_select"].get(
        "no_pitch", 0
    )
    assert whisper_reasons == 1
    assert (d / "select/report/scatter.png").is_file()
    assert load_params(chain / "params.yaml").shift.mode == metrics["mode"]


def test_caption_writes_the_trainer_dataset(chain: Path) -> None:
    from flows.caption import caption

    d = chain / "data"
    caption(params_path=str(chain / "params.yaml"), upstream=str(d / "select/pairs.parquet"), out=str(d / "caption"))
    table = pl.read_parquet(d / "caption/clips.parquet")
    kept = pl.read_parquet(d / "select/pairs.parquet").filter(pl.col("kept"))
    assert sorted(table["clip_id"]) == sorted(kept["clip_id"])
    assert set(table["caption"]) == {"a person speaking"} and set(table["recipe"]) == {"helium"}
    entries = json.loads((d / "caption/dataset/dataset.json").read_text())
    assert len(entries) == table.height
    for entry in entries:
        assert set(entry) == {"caption", "video", "audio", "reference_audio"}
        for key in ("video", "audio", "reference_audio"):
            assert (d / "caption/dataset" / entry[key]).is_file()
    for row in table.iter_rows(named=True):
        assert Path(row["reference_audio_path"]).read_bytes() == Path(row["tone_path"]).read_bytes()


def test_separate_with_a_melband_roformer(chain: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow's model path, on a tiny random-weight checkpoint: stems at the clip's rate and length, the
    model recorded, stems cached by content (a rerun needs no model), no scratch folder left behind."""
    import gc
    import tempfile

    import tasks.separate
    from ltxvoice.media import read_wav
    from ltxvoice.models.roformer import write_tiny_melband_roformer

    models = tmp_path / "models"
    write_tiny_melband_roformer(models, seed=0)
    params = yaml.safe_load((chain / "params.yaml").read_text())
    params["separate"].update(model="vocals_mel_band_roformer.ckpt", model_dir=str(models))
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(params))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ingest = chain / "data/ingest"

    metrics = separate(params_path=str(p), upstream=str(ingest), out=str(tmp_path / "a"), cache=str(tmp_path / "cache"))
    table = pl.read_parquet(tmp_path / "a/clips.parquet")
    assert metrics["separated"] == table.height == 3
    assert set(table["separation_model"]) == {"vocals_mel_band_roformer.ckpt"}
    for row in table.iter_rows(named=True):
        mix, rate = read_wav(Path(row["audio_path"]))
        for key in ("vocals_path", "other_path"):
            stem, stem_rate = read_wav(Path(row[key]))
            assert stem_rate == rate and stem.size == mix.size
    assert len(list((tmp_path / "cache").iterdir())) == 6
    gc.collect()
    assert not list(scratch.iterdir())

    def no_model(*args: object) -> None:
        raise AssertionError("the model was loaded although every clip's stems are cached")

    monkeypatch.setattr(tasks.separate, "_separator", no_model)
    separate(params_path=str(p), upstream=str(ingest), out=str(tmp_path / "b"), cache=str(tmp_path / "cache"))
    again = pl.read_parquet(tmp_path / "b/clips.parquet")
    for a, b in zip(table.iter_rows(named=True), again.iter_rows(named=True), strict=True):
        assert Path(a["vocals_path"]).read_bytes() == Path(b["vocals_path"]).read_bytes()
