"""Several processes: the torchrun launch of the training worker, DDP and FSDP over gloo on CPU."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ltxvoice.config import TrainParams
from ltxvoice.train.launch import RESULT_FILE, launch_command, result_from_json
from tests.train.conftest import train_params, train_section, write_items

pytestmark = pytest.mark.slow


def test_launch_command_shape() -> None:
    cmd = launch_command(
        train_params(processes=4), Path("params.yaml"), Path("data/encode"), Path("data/train"), python="python"
    )
    assert cmd[:6] == ["python", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4"]
    assert cmd[6:9] == ["-m", "ltxvoice.train.launch", "--params"] and cmd[-2:] == ["--out", "data/train"]


@pytest.mark.parametrize("distributed", ["ddp", "fsdp"])
def test_two_process_run_on_cpu(tiny_checkpoint: Path, tmp_path: Path, distributed: str) -> None:
    from ltxvoice.models.lora_file import inspect_lora, transformer_weights

    data = write_items(tmp_path / "encode", 4)
    params = {
        "train": train_section(
            checkpoint=str(tiny_checkpoint),
            steps=3,
            batch_size=1,
            rank=4,
            alpha=4.0,
            optimizer="adamw",
            lr=1e-3,
            checkpoint_every=2,
            processes=2,
            distributed=distributed,
        )
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    cmd = launch_command(TrainParams.model_validate(params["train"]), tmp_path / "params.yaml", data, tmp_path / "out")
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    if distributed == "fsdp":  # accelerate shards only on GPUs: refused on CPU, never quietly run as DDP
        assert done.returncode != 0 and "distributed: fsdp needs CUDA GPUs" in done.stderr
        assert not (tmp_path / "out" / RESULT_FILE).exists()
        return
    assert done.returncode == 0, done.stderr[-3000:]
    result = result_from_json(json.loads((tmp_path / "out" / RESULT_FILE).read_text()))
    assert result.world_size == 2 and result.distributed == "MULTI_CPU" and len(result.curve) == 3
    assert inspect_lora(result.lora, transformer_weights(tiny_checkpoint)).ok
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == [
        "state_000002.pt",
        "state_000003.pt",
        "step_000002.safetensors",
        "step_000003.safetensors",
    ]
