"""Prefect task of stage ``train``: one LoRA run (in this process, or in N processes via torchrun)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice.config import TrainParams
from ltxvoice.stage import StageError
from ltxvoice.train.launch import RESULT_FILE, launch_command, result_from_json
from ltxvoice.train.trainer import TrainResult, train


@task(name="train-lora", cache_policy=NO_CACHE, retries=0)
def train_lora(params: TrainParams, params_path: str, upstream: str, out: str) -> TrainResult:
    """Train (or resume) the LoRA. With ``memory.processes > 1`` the run is launched with torchrun and
    its result read back from the output folder."""
    if params.memory.processes == 1:
        return train(params, Path(upstream), Path(out))
    result_file = Path(out) / RESULT_FILE
    result_file.unlink(missing_ok=True)
    code = subprocess.run(launch_command(params, Path(params_path), Path(upstream), Path(out)), check=False).returncode
    if code != 0 or not result_file.is_file():
        raise StageError(
            f"train: the {params.memory.processes}-process run failed (exit code {code}); see its log above"
        )
    return result_from_json(json.loads(result_file.read_text(encoding="utf-8")))
