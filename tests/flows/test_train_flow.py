"""Stage ``train`` as a flow on the tiny checkpoint: outputs, quarantine, resume on rerun, bad params."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml

from flows.common import run_flow
from flows.train import train
from tests.train.conftest import train_section, write_items

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ltxvoice.models.ltx import write_tiny_ltx_checkpoint

    return write_tiny_ltx_checkpoint(tmp_path_factory.mktemp("ltx") / "tiny.safetensors", seed=0)


def _params(root: Path, checkpoint: Path, **train_overrides: object) -> str:
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    params["train"] = train_section(
        params["train"],
        checkpoint=str(checkpoint),
        steps=4,
        batch_size=2,
        rank=4,
        alpha=4.0,
        optimizer="adamw",
        lr=1e-3,
        checkpoint_every=2,
        keep_last=1,
        **train_overrides,
    )
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


def test_train_flow_outputs_and_resume(tiny_checkpoint: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    encode = write_items(tmp_path / "encode", 4)
    (encode / "reference_audio_latents" / "clip03.pt").unlink()  # one pair without its reference tone
    params = _params(tmp_path, tiny_checkpoint)
    out = tmp_path / "train"
    metrics = train(params_path=params, upstream=str(encode), out=str(out))
    assert metrics["items"] == 3 and metrics["quarantined"] == 1 and metrics["steps"] == 4
    assert metrics["resumed_from_step"] == 0 and metrics["processes"] == 1
    assert json.loads((out / "metrics.json").read_text()) == metrics
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"] and float(rows[0]["lr"]) == pytest.approx(1e-3)
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    q = pl.read_parquet(out / "quarantine.parquet")
    assert q["item_id"].to_list() == ["clip03"] and q["reason"].to_list() == ["missing_file"]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["stage"] == "train" and prov["params"]["lora"]["preset"] == "helium" and "peft" in prov["versions"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["state_000004.pt", "step_000004.safetensors"]
    lora = (out / "lora.safetensors").read_bytes()

    again = train(params_path=params, upstream=str(encode), out=str(out))  # nothing changed: resume at the end
    assert again["resumed_from_step"] == 4 and again["loss_last"] == metrics["loss_last"]
    assert (out / "lora.safetensors").read_bytes() == lora


def test_bad_train_params_fail_before_work(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = _params(tmp_path, tiny_checkpoint, fp8_matmul=True)  # fp8 matmuls need base_weights fp8
    code = run_flow(
        train, "train", ["--params-path", params, "--upstream", str(tmp_path / "none"), "--out", str(tmp_path / "out")]
    )
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "train.memory.fp8_matmul: needs base_weights fp8" in err
    assert not (tmp_path / "out").exists()
