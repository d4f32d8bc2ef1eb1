"""Tests of the benchmark scripts (benchmarks/ is not a package: ``script`` loads one as a module)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` loaded as the module ``name`` (registered in sys.modules first: the
    scripts' dataclasses look their module up while it loads; benchmarks/ goes on sys.path for the
    scripts' imports of each other)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
