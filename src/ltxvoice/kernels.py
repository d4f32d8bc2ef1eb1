"""One set of CPU kernels on every x86-64 machine, so a stage's floating-point results do not depend
on which processor ran it.

NumPy/SciPy's OpenBLAS, NumPy's own SIMD loops and PyTorch (ATen, oneDNN, MKL) each pick their
kernels from the processor they find, and kernels of different widths round differently. The DSP
stages' numbers then move in their last bits from one machine to another (OpenBLAS's Haswell and
Sandybridge kernels give different F1/F2 fits on the same clip), every hash downstream changes, and
``dvc.lock`` no longer says what a rebuild gives. :func:`pin` caps all of them at AVX2 (x86-64-v3),
which every x86-64 processor of the last decade runs; on other processors it does nothing.

The caps are read when those libraries load, so :func:`pin` must run before NumPy or PyTorch is
imported: ``tasks`` (and so every stage flow) and the CLI call it first. Set ``LTXVOICE_NATIVE_KERNELS=1``
to let each library use the widest kernels it finds (faster on AVX-512 machines, no longer
bit-identical to a machine without them).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import MutableMapping
from pathlib import Path

NATIVE = "LTXVOICE_NATIVE_KERNELS"
PINNED = "x86-64-v3 (AVX2)"
LATE = "capped after NumPy/PyTorch had loaded: native in this process"
_late: list[bool] = []  # set by pin() when a library it caps was already loaded

# What each library reads, with the value that caps it at AVX2.
CAPS = {
    "OPENBLAS_CORETYPE": "Haswell",  # NumPy/SciPy's OpenBLAS (DYNAMIC_ARCH)
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # NumPy's dispatched loops above x86-64-v3
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own CPU kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # PyTorch's oneDNN convolutions and matmuls
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility
}


def cpu_has_avx2(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True on an x86-64 processor whose flags include avx2 and fma (what the capped kernels use)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return {"avx2", "fma"} <= flags
    return False


def pin(environ: MutableMapping[str, str] | None = None, has_avx2: bool | None = None) -> str:
    """Cap the numerical libraries' CPU kernels at AVX2 in ``environ`` (``os.environ``) and return
    what the kernels are now (:func:`describe`). Nothing is set when ``LTXVOICE_NATIVE_KERNELS`` is
    set or the processor has no AVX2."""
    env = os.environ if environ is None else environ
    if env.get(NATIVE, "") not in ("", "0") or not (cpu_has_avx2() if has_avx2 is None else has_avx2):
        return describe(environ)
    already = all(env.get(k) == v for k, v in CAPS.items())  # e.g. inherited from the process that started this one
    env.update(CAPS)
    if environ is None and not already and any(m in sys.modules for m in ("numpy", "torch")):
        _late.append(True)
    return describe(environ)


def describe(environ: MutableMapping[str, str] | None = None) -> str:
    """``x86-64-v3 (AVX2)`` when every cap is in place, else ``native (<machine>)``: recorded with
    each stage's provenance, since results are bit-identical only between runs that say the same.
    Caps set too late for this process (:func:`pin` after NumPy loaded, as under pytest) say so."""
    env = os.environ if environ is None else environ
    if all(env.get(k) == v for k, v in CAPS.items()):
        return f"{PINNED}, {LATE}" if environ is None and _late else PINNED
    return f"native ({platform.machine() or 'unknown'})"
