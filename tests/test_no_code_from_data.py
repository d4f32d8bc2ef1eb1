"""Nothing the pipeline reads can run code: no pickle, torch.load only with weights_only=True, YAML
only through a safe loader. Checked over src/, flows/ and tasks/ by reading the source (ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(p for d in ("src", "flows", "tasks") for p in (ROOT / d).rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}
# joblib's process pool (runner kind process) pickles only the calls a flow sends to the worker
# processes it started itself, over pipes; it never reads a file. joblib.load stays forbidden.
PROCESS_POOL = "joblib.externals.loky"


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _safe_loaders(tree: ast.Module) -> set[str]:
    """yaml.SafeLoader/CSafeLoader and the classes of this module built on them."""
    safe = {"yaml.SafeLoader", "yaml.CSafeLoader"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(_dotted(b) in safe for b in node.bases):
            safe.add(node.name)
    return safe


def problems(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    safe = _safe_loaders(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where}: imports {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES and n != PROCESS_POOL]
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        kwargs = {k.arg: k.value for k in node.keywords}
        if name == "torch.load":
            wo = kwargs.get("weights_only")
            if not (isinstance(wo, ast.Constant) and wo.value is True):
                found.append(f"{where}: torch.load without weights_only=True")
        if name in {"yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all"}:
            found.append(f"{where}: {name}")
        if name == "yaml.load" and _dotted(kwargs.get("Loader", ast.Constant(None))) not in safe:
            found.append(f"{where}: yaml.load without a safe loader")
        if name in {"numpy.load", "np.load"}:
            ap = kwargs.get("allow_pickle")
            if isinstance(ap, ast.Constant) and ap.value is True:
                found.append(f"{where}: np.load(allow_pickle=True)")
    return found


def test_no_code_runs_from_data_files() -> None:
    assert len(FILES) > 50
    assert [p for f in FILES for p in problems(f)] == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import pickle\n", "imports pickle"),
        ("import joblib\n", "imports joblib"),
        ("from joblib import load\n", "imports joblib"),
        ("import torch\ntorch.load('x')\n", "torch.load without weights_only=True"),
        ("import torch\ntorch.load('x', weights_only=False)\n", "torch.load without weights_only=True"),
        ("import yaml\nyaml.load('a: 1', Loader=yaml.Loader)\n", "yaml.load without a safe loader"),
        ("import yaml\nyaml.unsafe_load('a: 1')\n", "yaml.unsafe_load"),
    ],
)
def test_the_check_finds_each_unsafe_read(tmp_path: Path, source: str, expected: str) -> None:
    bad = tmp_path / "probe.py"
    bad.write_text(source)
    assert [p.split(": ", 1)[1] for p in problems(bad, tmp_path)] == [expected]


def test_a_safe_loader_subclass_passes(tmp_path: Path) -> None:
    ok = tmp_path / "probe.py"
    ok.write_text("import yaml\nclass L(yaml.SafeLoader):\n    pass\nyaml.load('a: 1', Loader=L)\n")
    assert problems(ok, tmp_path) == []


def test_the_process_pool_is_the_one_joblib_import_allowed(tmp_path: Path) -> None:
    ok = tmp_path / "probe.py"
    ok.write_text("from joblib.externals.loky import get_reusable_executor\n")
    assert problems(ok, tmp_path) == []
