"""A stage's code is one of its deps: every dvc.yaml of the project declares the import closure of
each stage's command, DVC sees a change to any file of it, and the project's imports have no cycle."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ltxvoice import codedeps

ROOT = Path(__file__).resolve().parents[1]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    """A project of four packages' worth of imports: absolute, relative, inside a function, a submodule
    named in ``from x import y``, and a module nothing imports."""
    _write(
        tmp_path,
        {
            "flows/__init__.py": "import tasks\n",
            "flows/a.py": "from flows.common import run\nfrom ltxvoice import lib\n",
            "flows/common.py": "import os\n",
            "tasks/__init__.py": "",
            "src/ltxvoice/__init__.py": "",
            "src/ltxvoice/lib.py": "from .dsp import pitch\n\ndef f():\n    from ltxvoice.models.late import g\n",
            "src/ltxvoice/dsp/__init__.py": "",
            "src/ltxvoice/dsp/pitch.py": "from ..records import Row\n",
            "src/ltxvoice/records.py": "import numpy\n",
            "src/ltxvoice/models/__init__.py": "",
            "src/ltxvoice/models/late.py": "",
            "src/ltxvoice/unused.py": "",
        },
    )
    return tmp_path


def test_closure_follows_every_kind_of_import_and_runs_package_inits(mini: Path) -> None:
    got = [p.as_posix() for p in codedeps.closure(mini, "flows.a")]
    assert got == [
        "flows/__init__.py",
        "flows/a.py",
        "flows/common.py",
        "src/ltxvoice/__init__.py",
        "src/ltxvoice/dsp/__init__.py",
        "src/ltxvoice/dsp/pitch.py",
        "src/ltxvoice/lib.py",
        "src/ltxvoice/models/__init__.py",
        "src/ltxvoice/models/late.py",
        "src/ltxvoice/records.py",
        "tasks/__init__.py",
    ]


def test_a_module_that_is_not_the_projects_is_an_error(mini: Path) -> None:
    with pytest.raises(codedeps.CodeDepsError, match="not a project module"):
        codedeps.closure(mini, "numpy")


def test_command_module() -> None:
    assert codedeps.command_module("python -m flows.shift --out data/shift") == "flows.shift"
    assert codedeps.command_module(".venv/bin/python3.11 -m flows.x") == "flows.x"
    assert codedeps.command_module("bash run.sh") is None


def test_check_names_stage_and_file_both_ways_and_write_fixes_it(mini: Path) -> None:
    (mini / "dvc.yaml").write_text(
        "stages:\n"
        "  a:\n"
        "    cmd: python -m flows.a\n"
        "    deps:\n"
        "      - data/in      # data\n"
        "      - flows/a.py\n"
        "      - src/ltxvoice/unused.py\n"
        "    outs:\n"
        "      - data/out\n"
    )
    problems = [str(p) for p in codedeps.check(mini, [Path("dvc.yaml")])]
    assert any("stage 'a' runs src/ltxvoice/dsp/pitch.py but does not list it" in p for p in problems)
    assert any("stage 'a' lists src/ltxvoice/unused.py under deps but does not import it" in p for p in problems)
    assert codedeps.write(mini, [Path("dvc.yaml")]) == [Path("dvc.yaml")]
    assert codedeps.check(mini, [Path("dvc.yaml")]) == []
    spec = yaml.safe_load((mini / "dvc.yaml").read_text())["stages"]["a"]
    assert spec["deps"][0] == "data/in" and spec["outs"] == ["data/out"]
    assert "src/ltxvoice/dsp" in spec["deps"]  # a folder whose every file is run stands for its files
    assert codedeps.write(mini, [Path("dvc.yaml")]) == []  # written once, stable


def test_wdir_relative_deps(mini: Path) -> None:
    (mini / "recipes/r").mkdir(parents=True)
    (mini / "recipes/r/dvc.yaml").write_text(
        "stages:\n  a:\n    wdir: ../..\n    cmd: python -m flows.a\n    deps:\n      - data/in\n"
    )
    codedeps.write(mini, [Path("recipes/r/dvc.yaml")])
    assert codedeps.check(mini, [Path("recipes/r/dvc.yaml")]) == []
    assert "      - flows/a.py" in (mini / "recipes/r/dvc.yaml").read_text().splitlines()


# ----------------------------------------------------------------------------------- the project


def test_every_stage_of_every_recipe_declares_its_import_closure() -> None:
    files = codedeps.dvc_files(ROOT)
    assert [f.as_posix() for f in files] == ["dvc.yaml", "recipes/register/dvc.yaml", "recipes/talking_head/dvc.yaml"]
    problems = codedeps.check(ROOT, files)
    assert not problems, "\n".join(map(str, problems))
    for f in files:  # and in the form `ltxvoice deps write` gives, so a rewrite changes nothing
        assert codedeps.rendered(ROOT, f) == (ROOT / f).read_text(), f"{f}: run `ltxvoice deps write`"


def test_a_removed_dep_fails_the_check_naming_stage_and_file(tmp_path: Path) -> None:
    for name in ("src", "flows", "tasks"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    text = (ROOT / "dvc.yaml").read_text()
    removed = text.replace("      - src/ltxvoice/media.py\n", "", 1)
    assert removed != text
    (tmp_path / "dvc.yaml").write_text(removed)
    problems = [str(p) for p in codedeps.check(tmp_path, [Path("dvc.yaml")])]
    assert problems == [
        "dvc.yaml: stage 'demo' runs src/ltxvoice/media.py but does not list it under deps (ltxvoice deps write)"
    ]


def test_the_import_graph_has_no_cycle() -> None:
    found = codedeps.cycles(codedeps.import_graph(ROOT))
    assert not found, "import cycles: " + "; ".join(" -> ".join(map(str, c)) for c in found)


def test_a_planted_cycle_is_found(mini: Path) -> None:
    (mini / "src/ltxvoice/records.py").write_text("from ltxvoice import lib\n")
    found = codedeps.cycles(codedeps.import_graph(mini))
    assert [p.as_posix() for p in found[0]] == [
        "src/ltxvoice/dsp/pitch.py",
        "src/ltxvoice/lib.py",
        "src/ltxvoice/records.py",
    ]


def _changed(status: dict, stage: str) -> set[str]:
    return {
        path for entry in status.get(stage, []) if isinstance(entry, dict) for path in entry.get("changed deps", {})
    }


@pytest.mark.slow
def test_one_changed_byte_in_any_file_of_a_closure_makes_dvc_report_that_stage(tmp_path: Path) -> None:
    """For every stage of every recipe: DVC itself (``dvc status``) reports the stage when one byte of any
    file its command imports changes, and reports no stage for a file it does not import. The project's
    code deps are copied as they are into a DVC project whose stages run nothing (``true``) and have no
    data, so that a first ``dvc repro`` records the code's hashes and every report after it comes from the
    changed bytes. DVC compares each dep on its own, so changing every file declared as a file dep at once
    tests each of them; a file inside a folder dep is changed alone (the folder is the dep DVC reports)."""
    from dvc.repo import Repo

    for name in ("src", "flows", "tasks"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".dvcignore", tmp_path / ".dvcignore")
    closures: dict[str, set[str]] = {}  # stage address -> its closure files
    declared: dict[str, set[str]] = {}  # stage address -> its code deps, relative to the root
    for dvc_yaml in codedeps.dvc_files(ROOT):
        spec = yaml.safe_load((ROOT / dvc_yaml).read_text())
        stages = {}
        for decl in codedeps.read_stages(ROOT / dvc_yaml, ROOT):
            body = spec["stages"][decl.name]
            code = [d for d in body.get("deps", []) if codedeps.is_code(d)]
            stages[decl.name] = {"cmd": "true", "deps": code, **({"wdir": body["wdir"]} if "wdir" in body else {})}
            address = decl.name if dvc_yaml == Path("dvc.yaml") else f"{dvc_yaml.as_posix()}:{decl.name}"
            assert decl.module is not None
            closures[address] = {p.as_posix() for p in codedeps.closure(ROOT, decl.module)}
            declared[address] = {d for d in decl.deps if codedeps.is_code(d)}
        (tmp_path / dvc_yaml).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / dvc_yaml).write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    every_stage = {
        name if dvc_yaml == Path("dvc.yaml") else f"{dvc_yaml.as_posix()}:{name}"
        for dvc_yaml in codedeps.dvc_files(ROOT)
        for name in yaml.safe_load((ROOT / dvc_yaml).read_text())["stages"]
    }
    assert closures.keys() == every_stage  # every stage of every pipeline is tested
    in_folders = {f for stage, files in closures.items() for f in files if f not in declared[stage]}
    alone = sorted(set().union(*closures.values()) - in_folders)
    missed: list[str] = []
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    with contextlib.chdir(tmp_path):
        Repo.init(str(tmp_path))
        with Repo(str(tmp_path)) as repo:
            repo.reproduce(all_pipelines=True)
            assert repo.status() == {}
            with _appended(tmp_path, alone):
                status = repo.status()
            for stage, files in closures.items():
                changed = _changed(status, stage)
                missed += [f"{stage} does not see {f}" for f in files if f in alone and f not in changed]
                missed += [f"{stage} reruns for {f}, which it does not import" for f in changed - files]
            for name in sorted(in_folders):
                with _appended(tmp_path, [name]):
                    status = repo.status()
                for stage, files in closures.items():
                    if (name in files) != (stage in status):
                        missed.append(
                            f"{stage}: {name} {'changed' if name in files else 'not imported'}, "
                            f"but DVC reports {status.get(stage) or 'nothing'}"
                        )
    assert not missed, "\n".join(missed)
    assert len(alone) > 40 and in_folders


@contextlib.contextmanager
def _appended(root: Path, names: list[str]):  # type: ignore[no-untyped-def]
    """One byte more at the end of each file for the block."""
    saved = {name: (root / name).read_bytes() for name in names}
    try:
        for name, data in saved.items():
            (root / name).write_bytes(data + b"#")
        yield
    finally:
        for name, data in saved.items():
            (root / name).write_bytes(data)


def test_a_stage_is_found_by_its_one_name() -> None:
    """Every stage of every dvc.yaml has, under its own name, a params.yaml section, a flow that its
    command runs, a task module and a library module (or package)."""
    from ltxvoice.config import Params

    problems = []
    for dvc_yaml in codedeps.dvc_files(ROOT):
        for stage in codedeps.read_stages(ROOT / dvc_yaml, ROOT):
            name = stage.name
            if stage.module != f"flows.{name}":
                problems.append(f"{dvc_yaml}: {name}: command runs {stage.module}, not flows.{name}")
            for path in (f"flows/{name}.py", f"tasks/{name}.py"):
                if not (ROOT / path).is_file():
                    problems.append(f"{dvc_yaml}: {name}: no {path}")
            if not (
                (ROOT / f"src/ltxvoice/{name}.py").is_file() or (ROOT / f"src/ltxvoice/{name}/__init__.py").is_file()
            ):
                problems.append(f"{dvc_yaml}: {name}: no src/ltxvoice/{name}.py")
            if name not in Params.model_fields:
                problems.append(f"{dvc_yaml}: {name}: no params section '{name}'")
    assert not problems, "\n".join(problems)
