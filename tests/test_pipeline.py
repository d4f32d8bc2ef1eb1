"""The DVC pipeline end to end on a tiny demo: `dvc repro` runs the flows, a rerun is a no-op, and a
changed param reruns its stage and what follows, nothing upstream of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _dvc(repo: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args], cwd=repo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("project")
    for name in ("src", "tasks", "flows", "recipes"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "dvc.lock"))
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    for recipe, frames in (("register", {"frames": 97}), ("talking_head", {"frames": 97, "max_frames": 193})):
        path = repo / "recipes" / recipe / "params.yaml"
        recipe_params = yaml.safe_load(path.read_text())
        recipe_params["ingest"].update(width=64, height=64, video_preset="ultrafast", **frames)
        lengths = range(frames["frames"], frames.get("max_frames", frames["frames"]) + 1, 8)
        recipe_params["encode"].update(buckets=[f"64x64x{n}" for n in lengths], verify_samples=1)
        path.write_text(yaml.safe_dump(recipe_params, sort_keys=False))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["demo"].update(count=3, width=160, height=96)
    params["ingest"].update(width=64, height=64, video_preset="ultrafast")
    params["encode"].update(buckets=["64x64x121"], verify_samples=1)
    params["train"]["optimization"].update(steps=4)
    params["train"]["checkpoints"].update(checkpoint_every=2, keep_last=2)
    params["train"]["lora"].update(rank=4, alpha=4.0)
    params["evaluate"].update(seeds=2, frames=9, width=32, height=32)
    params["evaluate"]["sampler"].update(steps=2)
    params["evaluate"]["helium"].update(tones_hz=[100.0, 160.0, 250.0], tone_seconds=0.5)
    params["evaluate"]["stats"].update(bootstrap=200, min_seeds=2)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc(repo, "init", "-q")
    return repo


def test_repro_builds_then_noops_then_reruns_only_what_changed(repo: Path) -> None:
    first = _dvc(repo, "repro")
    assert "Running stage 'demo'" in first and "Running stage 'ingest'" in first
    clips = pl.read_parquet(repo / "data/ingest/clips.parquet")
    quarantine = pl.read_parquet(repo / "data/ingest/quarantine.parquet")
    assert clips.height == 3
    assert quarantine.height == 7  # the demo's one broken file per reason
    assert len(list((repo / "data/ingest/clips").glob("*.mp4"))) == 3

    assert pl.read_parquet(repo / "data/select/pairs.parquet").height >= 1
    assert (repo / "data/select/report/report.md").is_file()

    again = _dvc(repo, "repro")
    assert "Running stage" not in again and "up to date" in again

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["tones"]["seed"] = 7
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    tones_changed = _dvc(repo, "repro")
    ran = {
        s
        for s in (
            "tiny_models",
            "asr_model",
            "demo",
            "ingest",
            "separate",
            "measure",
            "shift",
            "tones",
            "select",
            "caption",
            "encode",
            "train",
            "evaluate",
        )
        if f"Running stage '{s}'" in tones_changed
    }
    assert ran == {"tones", "select", "caption", "encode", "train", "evaluate"}

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["ingest"]["frames"] = 129
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = _dvc(repo, "repro")
    assert "Running stage 'ingest'" in changed and "Running stage 'demo'" not in changed
    assert set(pl.read_parquet(repo / "data/ingest/clips.parquet")["frames"]) == {129}


@pytest.mark.parametrize("recipe", ["register", "talking_head"])
def test_each_recipe_builds_with_one_command_then_noops(repo: Path, recipe: str) -> None:
    from ltxvoice.caption import parse_register, parse_talking_head

    first = _dvc(repo, "repro", f"recipes/{recipe}/dvc.yaml")
    for stage in ("ingest", "separate", "prepare", "asr_model", "caption", "encode"):
        assert f"Running stage 'recipes/{recipe}/dvc.yaml:{stage}'" in first
    assert "Running stage 'select'" not in first  # helium's own stages are not part of a recipe
    table = pl.read_parquet(repo / f"data/{recipe}/caption/clips.parquet")
    assert table.height >= 1 and set(table["recipe"]) == {recipe}
    parse = parse_register if recipe == "register" else parse_talking_head
    for text in table["caption"]:
        parse(text)
    dataset = repo / f"data/{recipe}/caption/dataset"
    assert (dataset / "dataset.json").is_file()
    assert (dataset / "CAPTIONS.json").is_file() == (recipe == "talking_head")
    again = _dvc(repo, "repro", f"recipes/{recipe}/dvc.yaml")
    assert "Running stage" not in again


def test_undeclared_source_is_an_error_under_dvc(repo: Path) -> None:
    other = repo / "elsewhere"
    other.mkdir(exist_ok=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["ingest"]["sources"] = ["data/demo/sources", "elsewhere"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "repro"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "elsewhere (from params.yaml) is not a dep of stage 'ingest'" in done.stdout + done.stderr
