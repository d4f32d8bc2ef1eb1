"""A stage's code is one of its deps: the project files its command imports, found with ``ast``.

DVC reruns a stage when one of its declared ``deps`` changes, so a stage whose command imports a
project module that is not declared goes on saying "up to date" after that module changed. The
code deps of every stage are therefore derived, not written by hand: the import closure of the
module the stage's command runs (``python -m flows.<stage>``) over the project's own packages
(``flows``, ``tasks`` and ``ltxvoice`` under ``src/``), package ``__init__`` files included, read
from the source with :mod:`ast` (nothing is imported). Imports inside functions count too (they
run when the function does); so do imports under ``if TYPE_CHECKING`` (over-declaring one file
costs at most a rerun, missing one costs a stale artifact).

:func:`check` compares each stage's declared code deps (deps under ``src/``, ``flows/``,
``tasks/``) with its closure, both ways; :func:`write` puts the closure into a ``dvc.yaml``,
leaving every other line as it is. ``ltxvoice deps check`` / ``ltxvoice deps write`` are the
commands; a test runs the check over every ``dvc.yaml`` of the project.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

PACKAGES: Mapping[str, str] = {"ltxvoice": "src", "flows": ".", "tasks": "."}
"""Top-level project package -> the folder (relative to the project root) it lives in."""
CODE_ROOTS = ("src/", "flows/", "tasks/")
"""A dep under one of these folders is code: its list is derived, never written by hand."""
HEADER = "# code: the import closure of the command's module (ltxvoice deps write)"


class CodeDepsError(ValueError):
    """A dvc.yaml or a module could not be read. The message names the file."""


@dataclass(frozen=True)
class Problem:
    """One stage whose declared code deps differ from its closure."""

    dvc_yaml: Path
    stage: str
    path: str
    kind: str  # "missing": imported, not declared; "extra": declared, not imported

    def __str__(self) -> str:
        if self.kind == "missing":
            return (
                f"{self.dvc_yaml}: stage '{self.stage}' runs {self.path} but does not list it under deps "
                "(ltxvoice deps write)"
            )
        return (
            f"{self.dvc_yaml}: stage '{self.stage}' lists {self.path} under deps but does not import it "
            "(ltxvoice deps write)"
        )


# ------------------------------------------------------------------------------------- import graph


def module_file(root: Path, name: str) -> Path | None:
    """The project file of module ``name`` (``pkg/__init__.py`` for a package), relative to ``root``,
    or None when the module is not the project's."""
    parts = name.split(".")
    base = PACKAGES.get(parts[0])
    if base is None:
        return None
    path = Path(base).joinpath(*parts)
    if (root / path / "__init__.py").is_file():
        return path / "__init__.py"
    if (root / path.with_suffix(".py")).is_file():
        return path.with_suffix(".py")
    return None


def module_name(path: Path) -> str:
    """``src/ltxvoice/dsp/pitch.py`` -> ``ltxvoice.dsp.pitch``; ``flows/__init__.py`` -> ``flows``."""
    parts = list(path.with_suffix("").parts)
    if parts[0] == "src":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_names(root: Path, path: Path) -> tuple[str, ...]:
    """Every module name a file imports, anywhere in it, as absolute dotted names. ``from a import b``
    yields ``a`` and ``a.b`` (b may be a module or a name in a; only modules resolve to files)."""
    full = root / path
    try:
        stat = full.stat()
    except OSError as exc:
        raise CodeDepsError(f"{path}: cannot read its imports ({exc})") from None
    return _imported_names(full, path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _imported_names(full: Path, path: Path, mtime_ns: int, size: int) -> tuple[str, ...]:
    """:func:`imported_names`, parsed once per version of a file (its time and size are the key)."""
    return tuple(_parse_imports(full, path))


def _parse_imports(full: Path, path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(full.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise CodeDepsError(f"{path}: cannot read its imports ({exc})") from None
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def _with_parents(root: Path, name: str) -> Iterator[Path]:
    """The files that importing ``name`` runs: each enclosing package's ``__init__.py``, then its own."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        found = module_file(root, ".".join(parts[:i]))
        if found is not None:
            yield found


def closure(root: Path, module: str) -> list[Path]:
    """Every project file that running ``python -m module`` can import, sorted."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        for path in _with_parents(root, todo.pop()):
            if path in seen:
                continue
            seen.add(path)
            todo.extend(n for n in imported_names(root, path) if n.split(".")[0] in PACKAGES)
    if not seen:
        raise CodeDepsError(f"module {module} is not a project module under {root}")
    return sorted(seen)


def import_graph(root: Path) -> dict[Path, set[Path]]:
    """Every project module -> the project modules it imports directly (parent packages excluded)."""
    files = sorted(
        p.relative_to(root)
        for base in {root / b / pkg for pkg, b in PACKAGES.items()}
        for p in base.rglob("*.py")
        if "__pycache__" not in p.parts
    )
    graph: dict[Path, set[Path]] = {}
    for path in files:
        targets = {module_file(root, n) for n in imported_names(root, path) if n.split(".")[0] in PACKAGES}
        graph[path] = {t for t in targets if t is not None and t != path}
    return graph


def cycles(graph: Mapping[Path, set[Path]]) -> list[list[Path]]:
    """The import cycles of a graph (each as the list of modules on it), by Tarjan's strongly
    connected components; a package importing its own ``__init__`` is not counted."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    on_stack: set[Path] = set()
    found: list[list[Path]] = []

    def visit(node: Path) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt.name == "__init__.py" and nxt.parent in node.parents:
                continue  # a module importing its own package runs the package's __init__ first anyway
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# ---------------------------------------------------------------------------------------- dvc.yaml


@dataclass(frozen=True)
class StageDecl:
    """What a dvc.yaml says of one stage: its command's module and its deps (relative to ``root``)."""

    name: str
    module: str | None
    deps: tuple[str, ...]


_PYTHON_M = re.compile(r"^(?:\S*/)?python[0-9.]*$")


def command_module(cmd: str) -> str | None:
    """``python -m flows.shift --out x`` -> ``flows.shift``; None for a command that is not
    ``python -m <module>``."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        return None
    if len(words) >= 3 and _PYTHON_M.match(words[0]) and words[1] == "-m":
        return words[2]
    return None


def read_stages(dvc_yaml: Path, root: Path) -> list[StageDecl]:
    """The stages of a dvc.yaml, deps made relative to the project ``root`` (through ``wdir``)."""
    try:
        spec = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CodeDepsError(f"{dvc_yaml}: cannot read ({exc})") from None
    stages: list[StageDecl] = []
    for name, body in (spec.get("stages") or {}).items():
        if not isinstance(body, Mapping):
            raise CodeDepsError(f"{dvc_yaml}: stage '{name}' is not a mapping")
        wdir = (dvc_yaml.parent / str(body.get("wdir", "."))).resolve()
        cmd = body.get("cmd")
        module = command_module(cmd if isinstance(cmd, str) else " ".join(cmd or []))
        deps = tuple(
            _relative((wdir / str(d)).resolve(), root.resolve()) for d in body.get("deps") or [] if isinstance(d, str)
        )
        stages.append(StageDecl(str(name), module, deps))
    return stages


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def is_code(dep: str) -> bool:
    return dep.startswith(CODE_ROOTS) or dep.endswith(".py")


def compact(root: Path, files: Iterable[Path]) -> list[str]:
    """Closure files as deps: a folder stands for its files when every file in it (recursively,
    caches aside) is in the closure, so a list stays short without declaring more than is run."""
    wanted = {f.as_posix() for f in files}
    folders = sorted(
        {p for f in files for p in f.parents if p.as_posix() not in (".", "src")}, key=lambda p: len(p.parts)
    )
    out: list[str] = []
    covered: set[str] = set()
    for folder in folders:
        if any(folder.is_relative_to(Path(c)) for c in covered):
            continue
        inside = [
            p.relative_to(root).as_posix()
            for p in (root / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ]
        if inside and all(p in wanted for p in inside) and folder.parent.as_posix() not in ("", "."):
            covered.add(folder.as_posix())
            out.append(folder.as_posix())
    out += [f for f in sorted(wanted) if not any(f.startswith(c + "/") for c in covered)]
    return sorted(out)


def _covers(dep: str, path: str) -> bool:
    return path == dep or path.startswith(dep.rstrip("/") + "/")


def check_stage(root: Path, dvc_yaml: Path, stage: StageDecl) -> list[Problem]:
    """The differences between a stage's declared code deps and its command's import closure."""
    if stage.module is None:
        return []  # not a project module: nothing to derive
    files = [f.as_posix() for f in closure(root, stage.module)]
    code = [d for d in stage.deps if is_code(d)]
    problems = [Problem(dvc_yaml, stage.name, f, "missing") for f in files if not any(_covers(d, f) for d in code)]
    for dep in code:
        declared = (
            [dep]
            if (root / dep).is_file()
            else [
                p.relative_to(root).as_posix()
                for p in (root / dep).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            ]
        )
        problems += [Problem(dvc_yaml, stage.name, p, "extra") for p in declared if p not in files]
    return problems


def check(root: Path, dvc_yamls: Iterable[Path]) -> list[Problem]:
    """Every difference between declared code deps and import closures, in every given dvc.yaml."""
    return [p for f in dvc_yamls for s in read_stages(root / f, root) for p in check_stage(root, f, s)]


def dvc_files(root: Path) -> list[Path]:
    """The project's dvc.yaml files (the root one, then the recipes'), relative to ``root``."""
    found = [
        p.relative_to(root)
        for p in root.rglob("dvc.yaml")
        if not any(
            part.startswith(".") or part in ("data", "models", "node_modules")
            for part in p.relative_to(root).parts[:-1]
        )
    ]
    return sorted(found, key=lambda p: (len(p.parts), p.as_posix()))


# ------------------------------------------------------------------------------------------ writing

_STAGE = re.compile(r"^  (?P<name>[A-Za-z0-9_.-]+):\s*(#.*)?$")
_DEPS = re.compile(r"^    deps:\s*(#.*)?$")
_ITEM = re.compile(r"^      - (?P<value>[^#\s][^#]*?)\s*(#.*)?$")


def rendered(root: Path, dvc_yaml: Path) -> str:
    """The dvc.yaml text with each ``python -m`` stage's code deps replaced by its closure (after
    its other deps, under one comment line); every other line is kept as it is. The file must be in
    the block style of the project's dvc.yaml files (stages at 2 spaces, deps items at 6)."""
    text = (root / dvc_yaml).read_text(encoding="utf-8")
    stages = {s.name: s for s in read_stages(root / dvc_yaml, root)}
    wdir_of = _wdirs(root / dvc_yaml)
    lines = text.splitlines()
    out: list[str] = []
    stage: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (m := _STAGE.match(line)) and m["name"] != "stages":
            stage = m["name"]
        if stage is not None and _DEPS.match(line) and stages.get(stage) and stages[stage].module:
            out.append(line)
            i += 1
            kept: list[str] = []
            while i < len(lines) and (lines[i].startswith("      ") or not lines[i].strip()):
                item = _ITEM.match(lines[i])
                if lines[i].strip() == HEADER:
                    pass
                elif item is not None and is_code(_rooted(root, dvc_yaml, wdir_of[stage], item["value"])):
                    pass
                else:
                    kept.append(lines[i])
                i += 1
            trailing: list[str] = []
            while kept and not kept[-1].strip():
                trailing.insert(0, kept.pop())
            module = stages[stage].module
            assert module is not None
            deps = compact(root, closure(root, module))
            prefix = _prefix(root, dvc_yaml, wdir_of[stage])
            out += kept + [f"      {HEADER}"] + [f"      - {prefix}{d}" for d in deps] + trailing
            continue
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def _wdirs(dvc_yaml: Path) -> dict[str, str]:
    spec = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
    return {str(k): str(v.get("wdir", ".")) for k, v in (spec.get("stages") or {}).items() if isinstance(v, Mapping)}


def _prefix(root: Path, dvc_yaml: Path, wdir: str) -> str:
    """How a root-relative path is written in a stage whose deps are relative to its wdir."""
    base = ((root / dvc_yaml).parent / wdir).resolve()
    up = Path(*[".."] * len(base.relative_to(root.resolve()).parts)) if base != root.resolve() else Path()
    return "" if up == Path() else up.as_posix() + "/"


def _rooted(root: Path, dvc_yaml: Path, wdir: str, dep: str) -> str:
    return _relative(((root / dvc_yaml).parent / wdir / dep).resolve(), root.resolve())


def write(root: Path, dvc_yamls: Iterable[Path]) -> list[Path]:
    """Rewrite the code deps of every given dvc.yaml; returns the files that changed."""
    changed = []
    for dvc_yaml in dvc_yamls:
        new = rendered(root, dvc_yaml)
        if new != (root / dvc_yaml).read_text(encoding="utf-8"):
            (root / dvc_yaml).write_text(new, encoding="utf-8")
            changed.append(dvc_yaml)
    return changed
