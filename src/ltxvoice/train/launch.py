"""Multi-process training: the launch command line and the per-process entry point.

With ``train.memory.processes > 1`` the stage starts ``torchrun --nproc_per_node N -m
ltxvoice.train.launch ...``; every process runs :func:`ltxvoice.train.trainer.train` (DDP, or FSDP
with ``train.memory.distributed: fsdp``) and the main process writes the run's result as JSON into the
output folder for the stage to read back.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ltxvoice.config import TrainParams, load_params
from ltxvoice.records import Quarantined

RESULT_FILE = ".train_result.json"


def launch_command(
    params: TrainParams, params_path: Path, upstream: Path, out: Path, python: str = sys.executable
) -> list[str]:
    """The argv that runs this stage's training in ``params.memory.processes`` processes on this machine.

    torchrun starts the processes; accelerate inside each picks up the rank from its environment
    and sets up DDP (NCCL on GPUs, gloo on CPU) or FSDP from ``params.memory.distributed``."""
    return [
        python,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(params.memory.processes),
        "-m",
        "ltxvoice.train.launch",
        "--params",
        str(params_path),
        "--upstream",
        str(upstream),
        "--out",
        str(out),
    ]


def result_to_json(result: Any) -> dict[str, Any]:
    data = asdict(result)
    data["lora"] = str(result.lora)
    data["checkpoints"] = [str(p) for p in result.checkpoints]
    data["quarantined"] = [asdict(q) for q in result.quarantined]
    return data


def result_from_json(data: dict[str, Any]) -> Any:
    from ltxvoice.train.trainer import TrainResult

    return TrainResult(
        **{
            **data,
            "lora": Path(data["lora"]),
            "checkpoints": [Path(p) for p in data["checkpoints"]],
            "quarantined": [Quarantined(**q) for q in data["quarantined"]],
            "curve": [tuple(c) for c in data["curve"]],
        }
    )


def main(argv: list[str] | None = None) -> int:
    """One training process (started by torchrun, see :func:`launch_command`)."""
    from ltxvoice.train.trainer import train

    parser = argparse.ArgumentParser(prog="python -m ltxvoice.train.launch")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    params = load_params(args.params).train
    result = train(params, Path(args.upstream), Path(args.out))
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_rank() == 0:
        path = Path(args.out) / RESULT_FILE
        path.write_text(json.dumps(result_to_json(result), indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
