"""The ``evaluate`` stage under ``dvc repro``: it runs, a rerun is a no-op, and it reruns when a
checkpoint or an evaluate param changes - not for a param outside its section."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ltxvoice.config import EvalOracleParams
from tests.evaluate.loras import HELIUM, lora_tensors, save_lora
from tests.evaluate.voices import write_oracle_dataset

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _dvc(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PREFECT_HOME": str(repo / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args], cwd=repo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tiny_ltx: Path, whisper_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("dvcproject")
    for name in ("src", "tasks", "flows"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["evaluate"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"evaluate": stage}}, sort_keys=False))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    ev = params["evaluate"]
    ev.update(seeds=2, frames=9, width=32, height=32, text_encoder="random")
    ev["sampler"].update(steps=2)
    ev["helium"].update(tones_hz=[100.0, 160.0, 250.0], tone_seconds=0.5)
    ev["stats"].update(bootstrap=200, min_seeds=2)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    model = repo / ev["model"]
    model.parent.mkdir(parents=True)
    shutil.copy(tiny_ltx, model)
    shutil.copytree(tiny_ltx.parent / "gemma", repo / ev["gemma"])
    shutil.copytree(whisper_base, repo / ev["asr"]["model"])  # the real Whisper base, as stage asr_model writes it
    lora = lora_tensors(tiny_ltx, HELIUM, rank=2, seed=3, scale=0.2)
    save_lora(repo / "data/train/checkpoints/step_000005.safetensors", lora, step=5)
    save_lora(repo / "data/train/lora.safetensors", lora, step=5)
    write_oracle_dataset(repo, EvalOracleParams.model_validate(ev["oracle"]), 8)  # the oracle arms' deps
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc(repo, "init", "-q")
    return repo


def test_repro_runs_noops_and_goes_stale_on_checkpoint_or_param_change(repo: Path, tiny_ltx: Path) -> None:
    first = _dvc(repo, "repro")
    assert "Running stage 'evaluate'" in first
    assert (repo / "data/evaluate/metrics/step_000005.json").is_file()
    shown = _dvc(repo, "metrics", "show")
    assert "step_000005.json" in shown and "random-weight test model" in shown
    assert (repo / "data/evaluate/best/choice.json").is_file() and (repo / "data/evaluate/plots/voice.csv").is_file()
    assert json.loads((repo / "data/evaluate/metrics.json").read_text())["oracle"]["n_pairs"] == 8
    assert "Running stage" not in _dvc(repo, "repro")

    params_file = repo / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["runner"]["workers"] = 1  # not a stage dependency
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    assert "up to date" in _dvc(repo, "status")

    params["evaluate"]["stats"]["bootstrap"] = 300
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    status = _dvc(repo, "status")
    assert "params.yaml" in status and "modified:" in status and "evaluate" in status
    params_file.write_text(original)

    extra = save_lora(
        repo / "data/train/checkpoints/step_000010.safetensors",
        lora_tensors(tiny_ltx, HELIUM, rank=2, seed=4, scale=0.2),
        step=10,
    )
    status = _dvc(repo, "status")
    assert "changed deps" in status and "data/train/checkpoints" in status
    extra.unlink()
    assert "up to date" in _dvc(repo, "status")
