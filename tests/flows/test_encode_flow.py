"""Flow encode end to end on generated clips and the tiny models: the trainer's layout, items.parquet,
quarantined items with their reasons, provenance, the decoded-latent report; bad inputs stop it early."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from flows.encode import encode
from ltxvoice import encode as lib
from ltxvoice import latents as lat
from ltxvoice.media import write_wav
from ltxvoice.records import Quarantined, schema_of
from ltxvoice.stage import StageError
from tests import fixtures

pytestmark = pytest.mark.slow


def _params(root: Path, tiny_ltx: tuple[Path, Path], **encode_kw) -> str:
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    params["encode"].update(
        checkpoint=str(tiny_ltx[0]),
        text_encoder=str(tiny_ltx[1]),
        buckets=["64x64x17"],
        video_dtype="float32",
        verify_samples=1,
        **encode_kw,
    )
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_ltx: tuple[Path, Path]) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("encode_flow")
    manifest = fixtures.caption_manifest(
        root / "caption",
        [("good1", 64, 64, 17), ("good2", 64, 64, 17), ("junk", 64, 64, 17), ("short", 64, 64, 9), ("nan", 64, 64, 17)],
    )
    rows = pl.read_parquet(manifest)
    (root / "caption" / "junk.mp4").write_text("not a video")
    nan = np.zeros(round(17 / 25 * 48000), np.float32)
    nan[10] = np.nan
    write_wav(root / "caption" / "nan.wav", nan, 48000)
    metrics = encode(params_path=_params(root, tiny_ltx), upstream=str(root / "caption"), out=str(root / "encode"))
    assert rows.height == 5
    return root, metrics


def test_writes_the_trainers_layout_and_items(run: tuple[Path, dict]) -> None:
    root, metrics = run
    out = root / "encode"
    assert metrics["inputs"] == 5 and metrics["kept"] == 2
    assert metrics["quarantined_by_reason"] == {"no_bucket": 1, "non_finite": 1, "unreadable": 1}
    # the trainer pairs files by relative name across its source folders
    for name in lat.SOURCE_DIRS:
        assert sorted(p.name for p in (out / name).glob("*.pt")) == ["good1.pt", "good2.pt"], name
    items = pl.read_parquet(out / "items.parquet")
    assert items["clip_id"].to_list() == ["good1", "good2"]
    expected = schema_of(lib.Encoded)
    assert all(items.schema[name] == dtype for name, dtype in expected.items())
    row = items.row(0, named=True)
    assert row["video_latent_shape"] == [128, 3, 2, 2] and row["audio_latent_shape"][0] == 8
    assert row["reference_audio_latent_shape"][1] in (50, 51) and row["bucket"] == "64x64x17"
    assert row["caption_sha256"] == lib.caption_sha256(row["caption"])
    assert row["recipe"] == "helium" and row["target_hz"] == 180.0  # upstream columns are carried
    item = lat.load_item(out, "good1")
    assert item.conditions.tokens == row["text_tokens"] and item.reference_audio is not None
    assert Path(row["latents_path"]) == out / "latents" / "good1.pt"


def test_quarantine_names_items_and_reasons(run: tuple[Path, dict]) -> None:
    root, _ = run
    q = pl.read_parquet(root / "encode" / "quarantine.parquet")
    assert q.columns == list(schema_of(Quarantined))
    reasons = dict(zip(q["item_id"], q["reason"]))
    assert reasons == {"junk": "unreadable", "short": "no_bucket", "nan": "non_finite"}
    assert "fits none of ['64x64x17']" in q.filter(pl.col("item_id") == "short")["detail"][0]


def test_provenance_and_decoded_check(run: tuple[Path, dict]) -> None:
    root, metrics = run
    out = root / "encode"
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["stage"] == "encode" and provenance["device"] == "cpu"
    assert len(provenance["models"]["checkpoint_sha256"]) == 64 and provenance["versions"]["ltx-core"] == "1.0.0"
    assert (out / "verify" / "report.md").is_file() and (out / "verify" / "good1.audio.wav").is_file()
    assert metrics["verify_items"] == 1 and metrics["verify_non_finite_values"] == 0
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_bad_inputs_stop_before_any_work(tmp_path: Path, tiny_ltx: tuple[Path, Path]) -> None:
    manifest = fixtures.caption_manifest(tmp_path / "caption", [("a", 64, 64, 17)], reference=False)
    pl.read_parquet(manifest).drop("caption").write_parquet(manifest)
    with pytest.raises(StageError, match="missing column 'caption'"):
        encode(params_path=_params(tmp_path, tiny_ltx), upstream=str(tmp_path / "caption"), out=str(tmp_path / "o"))
    fixtures.caption_manifest(tmp_path / "caption", [("a", 64, 64, 17)], reference=False)
    params = _params(tmp_path, tiny_ltx)
    data = yaml.safe_load(Path(params).read_text())
    data["encode"]["checkpoint"] = str(tmp_path / "missing.safetensors")
    Path(params).write_text(yaml.safe_dump(data))
    with pytest.raises(StageError, match="LTX checkpoint not found: .*missing.safetensors"):
        encode(params_path=params, upstream=str(tmp_path / "caption"), out=str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()
