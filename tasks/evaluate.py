"""Prefect tasks of stage ``evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from ltxvoice.config import EvaluateParams
from ltxvoice.evaluate import run as lib
from ltxvoice.evaluate.oracle import OracleResult, run_oracle
from ltxvoice.evaluate.sampler import LTXGenerator
from ltxvoice.evaluate.sweep import Arm, Reference, Run
from ltxvoice.evaluate.voice import Listener
from ltxvoice.models.lora_file import (
    CheckpointDistance,
    LoraReport,
    TransformerWeights,
    checkpoint_distance,
    inspect_lora,
)


@task(name="evaluate-structure", cache_policy=NO_CACHE)
def inspect_checkpoint(checkpoint: lib.Checkpoint, model: TransformerWeights) -> LoraReport:
    return inspect_lora(checkpoint.path, model)


@task(name="evaluate-distance", cache_policy=NO_CACHE)
def distance(previous: lib.Checkpoint, current: lib.Checkpoint) -> CheckpointDistance:
    return checkpoint_distance(previous.path, current.path)


@task(name="evaluate-load-model", cache_policy=NO_CACHE)
def load_generator(params: EvaluateParams) -> LTXGenerator:
    return lib.make_generator(params)


@task(name="evaluate-load-asr", cache_policy=NO_CACHE)
def load_listener(params: EvaluateParams) -> Listener | None:
    return lib.make_listener(params)


@task(name="evaluate-generate-arm", cache_policy=NO_CACHE)
def generate_arm(
    generator: Any, arm: Arm, params: EvaluateParams, refs: list[Reference] | None, listener: Listener | None = None
) -> Run:
    """Every generation of one arm (one transformer build): the recipe's test at every seed, and the
    ASR's transcripts of those that say words (WER)."""
    from tqdm import tqdm

    with tqdm(
        total=lib.generations_per_arm(params), desc=f"generate {arm.name}", unit="gen", dynamic_ncols=True
    ) as bar:
        return lib.run_arm(generator, arm, params, refs, progress=bar.update, listener=listener)


@task(name="evaluate-write-audio", cache_policy=NO_CACHE)
def write_audio(run: Run, folder: Path) -> list[Path]:
    from ltxvoice.evaluate.sweep import write_audio as write

    return write(run, folder)


@task(name="evaluate-oracle", cache_policy=NO_CACHE)
def oracle_arms(params: EvaluateParams, root: Path) -> OracleResult:
    """The oracle arms on the dataset under ``root`` (the repository)."""
    return run_oracle(params.oracle, params.pitch, lib.rules(params), root)
