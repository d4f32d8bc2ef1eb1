"""DVC tracks what encode depends on: a rerun with nothing changed is a no-op; a changed bucket list,
caption (e.g. its trigger word) or checkpoint reruns encode, and only what depends on that change."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from ltxvoice.records import sha256_file
from tests import fixtures

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _dvc(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PREFECT_HOME": str(repo / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args], cwd=repo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _ran(output: str) -> set[str]:
    return {s for s in ("tiny_models", "encode") if f"Running stage '{s}'" in output}


def _set(repo: Path, section: str, **values: object) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("project")
    for name in ("src", "tasks", "flows"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    (repo / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": {k: stages[k] for k in ("tiny_models", "encode")}}, sort_keys=False)
    )
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["encode"].update(buckets=["64x64x17"], video_dtype="float32", verify_samples=0)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # what the caption stage would have left: its dataset folder (media) + manifest
    made = fixtures.caption_manifest(repo / "made", [("c1", 64, 64, 17)])
    clips = tones = repo / "data/caption/dataset"  # the caption stage's dataset folder holds all media
    clips.mkdir(parents=True)
    rows = pl.read_parquet(made).to_dicts()
    for row in rows:
        for key, folder in (("train_video_path", clips), ("train_audio_path", clips), ("reference_audio_path", tones)):
            dst = folder / Path(row[key]).name
            shutil.move(row[key], dst)
            row[key] = str(dst.relative_to(repo))
    pl.DataFrame(rows).write_parquet(repo / "data/caption/clips.parquet")
    shutil.rmtree(repo / "made")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc(repo, "init", "-q")
    return repo


def test_encode_reruns_exactly_when_its_inputs_change(repo: Path) -> None:
    import json

    latents, conditions = repo / "data/encode/latents/c1.pt", repo / "data/encode/conditions/c1.pt"
    assert _ran(_dvc(repo, "repro")) == {"tiny_models", "encode"}
    first = {p: sha256_file(p) for p in (latents, conditions)}
    assert not _ran(_dvc(repo, "repro"))

    _set(repo, "encode", buckets=["64x64x17", "96x96x9"])  # buckets: encode is stale, nothing else
    status = json.loads(_dvc(repo, "status", "--json"))
    assert status == {"encode": [{"changed deps": {"params.yaml": {"encode": "modified"}}}]}
    _set(repo, "encode", buckets=["64x64x17"])
    assert json.loads(_dvc(repo, "status", "--json")) == {}

    manifest = pl.read_parquet(repo / "data/caption/clips.parquet")
    manifest.with_columns(pl.col("caption").str.replace("TRGR", "NEWTRIGGER")).write_parquet(
        repo / "data/caption/clips.parquet"
    )  # what a changed trigger word does upstream
    assert _ran(_dvc(repo, "repro")) == {"encode"}
    assert sha256_file(conditions) != first[conditions] and sha256_file(latents) == first[latents]

    _set(repo, "tiny_models", seed=1)  # another checkpoint: everything it encodes changes
    assert _ran(_dvc(repo, "repro")) == {"tiny_models", "encode"}
    assert sha256_file(latents) != first[latents]
