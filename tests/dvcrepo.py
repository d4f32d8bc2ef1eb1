"""A throwaway git + DVC project with three trivial stages, for the operations tests (fast: no media).

    count  (params tones.seed)                      -> out/count.txt, metrics out/count.json
    score  (deps out/count.txt, params select)      -> out/score.txt, metrics out/score.json,
                                                       plot out/curve.csv, report out/report/ (md + png)
    other  (params demo.seed)                       -> other.txt

Its params.yaml is a valid ltxvoice params file (the stages read real sections), so the project's
params checks apply as they do in the real pipeline. Every stage appends its name to ``runs.log``
(not a DVC output) so tests can see what really ran, independently of what the code reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

STEP = r"""
import json, os, pathlib, struct, sys, time, zlib
import yaml

name = sys.argv[1]
params = yaml.safe_load(open("params.yaml"))
with open("runs.log", "a") as log:
    log.write(name + "\n")
time.sleep(float(os.environ.get("LTXV_TEST_STAGE_SLEEP", "0")) if name == "count" else 0)
out = pathlib.Path("out")
out.mkdir(exist_ok=True)


def png(path, shade):  # a 4x4 grey PNG, no imaging library needed
    raw = b"".join(b"\x00" + bytes([shade]) * 4 for _ in range(4))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


if name == "count":
    n = params["tones"]["seed"] + 1
    (out / "count.txt").write_text(f"{n}\n")
    json.dump({"n": n}, open(out / "count.json", "w"))
elif name == "score":
    n = int((out / "count.txt").read_text())
    limit = params["select"]["max_error_hz"]
    score = round(n * limit / 10, 4)
    (out / "score.txt").write_text(f"{score}\n")
    json.dump({"score": score, "detail": {"limit_hz": limit}}, open(out / "score.json", "w"))
    (out / "curve.csv").write_text("step,loss\n" + "".join(f"{s},{1 / (s + 1) * score:.4f}\n" for s in range(5)))
    report = out / "report"
    report.mkdir(exist_ok=True)
    png(report / "chart.png", 200)
    (report / "report.md").write_text(f"# Score report\n\nscore {score}\n\n![chart](chart.png)\n")
else:
    pathlib.Path("other.txt").write_text(str(params["demo"]["seed"]) + "\n")
"""

DVC_YAML = {
    "stages": {
        "count": {
            "cmd": "python step.py count",
            "deps": ["step.py"],
            "params": ["tones.seed"],
            "outs": ["out/count.txt"],
            "metrics": [{"out/count.json": {"cache": False}}],
        },
        "score": {
            "cmd": "python step.py score",
            "deps": ["step.py", "out/count.txt"],
            "params": ["select"],
            "outs": ["out/score.txt", "out/report"],
            "metrics": [{"out/score.json": {"cache": False}}],
            "plots": [{"out/curve.csv": {"x": "step", "y": "loss"}}],
        },
        "other": {"cmd": "python step.py other", "deps": ["step.py"], "params": ["demo.seed"], "outs": ["other.txt"]},
    }
}

PARAMS = {
    "runner": {"workers": 1},
    "demo": {"seed": 1},
    "tones": {"seed": 2},
    "select": {"max_error_hz": 30.0},
    "ops": {"deployment": "tiny", "cron": None, "interval_minutes": 60},
}


def env() -> dict[str, str]:
    """The environment for git/dvc subprocesses: this interpreter's tools first on PATH."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


def sh(repo: Path, *args: str) -> str:
    done = subprocess.run(list(args), cwd=repo, env=env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def make_repo(path: Path, remote: Path | None = None) -> Path:
    """Create the project at ``path`` (git + dvc init, one commit; nothing built yet)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "step.py").write_text(STEP)
    (path / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (path / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    (path / ".gitignore").write_text("runs.log\n")
    sh(path, "git", "init", "-q", "-b", "main")
    from dvc.repo import Repo

    Repo.init(str(path)).close()  # in-process: `dvc init` as a command costs seconds here
    config = "[core]\n    analytics = false\n"
    if remote is not None:
        config += f"    remote = local\n['remote \"local\"']\n    url = {remote}\n"
    (path / ".dvc" / "config").write_text(config)
    commit(path, "tiny project")
    return path


def commit(repo: Path, message: str) -> str:
    """Commit everything (outputs are git-ignored by DVC); returns the new HEAD sha."""
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-q", "--allow-empty", "-m", message)
    return sh(repo, "git", "rev-parse", "HEAD").strip()


def set_param(repo: Path, section: str, key: str, value: object) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def break_stage(repo: Path, stage: str, message: str = "broken") -> None:
    """Make the stage's command fail (edits step.py, so every stage becomes stale)."""
    step = repo / "step.py"
    head = f'if name == "{stage}":'
    step.write_text(step.read_text().replace(head, f"{head}\n    sys.exit({message!r})"))


def runs(repo: Path) -> list[str]:
    """Stage names in the order their commands really ran (and forget them)."""
    log = repo / "runs.log"
    names = log.read_text().split() if log.is_file() else []
    log.unlink(missing_ok=True)
    return names
