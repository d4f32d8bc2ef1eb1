"""The two ways this project copes with a torchaudio that does not load.

PyPI's torchaudio is a CUDA build: next to the CPU torch of these machines, ``import torchaudio``
fails loading its compiled extension (``libc10_cuda.so``). Two users need different answers:

- ltx-core's audio VAE needs torchaudio's pure-Python ops (MelSpectrogram, resample):
  :func:`ensure_torchaudio_importable` imports torchaudio without its compiled extension.
- transformers' Whisper classes only need torchaudio to be absent when it is broken:
  :func:`hide_broken_torchaudio` makes ``find_spec("torchaudio")`` return None.

Whichever runs first, the other still works in the same process. Where torchaudio matches torch
(the GPU machines) both leave the real one alone.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def ensure_torchaudio_importable() -> None:
    """Make ``import torchaudio`` work, without its compiled extension if that cannot load.

    After a failed import, ``sys.modules`` is pre-seeded with a ``torchaudio._extension`` stub saying
    "no extension"; the rest of torchaudio then imports normally (filtering falls back to Python
    loops). A torchaudio hidden by :func:`hide_broken_torchaudio` is brought back this way."""
    if "torchaudio" in sys.modules and sys.modules["torchaudio"] is None:
        del sys.modules["torchaudio"]  # hidden for transformers; ltx-core needs it
    elif "torchaudio" in sys.modules:
        return
    import importlib.util

    if importlib.util.find_spec("torchaudio") is None:
        return
    try:
        import torchaudio  # noqa: F401
        return
    except (OSError, ImportError, RuntimeError):
        for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
            del sys.modules[name]
    stub: Any = types.ModuleType("torchaudio._extension")
    stub._IS_TORCHAUDIO_EXT_AVAILABLE = False  # filtering.py falls back to Python loops
    stub._IS_ALIGN_AVAILABLE = False
    stub.fail_if_no_align = lambda fn: fn  # decorator used by functional/_alignment.py
    stub._check_cuda_version = lambda: None
    stub._load_lib = lambda name: False
    sys.modules["torchaudio._extension"] = stub
    import torchaudio  # noqa: F401,F811


def hide_broken_torchaudio() -> None:
    """Make transformers treat an unloadable torchaudio as absent.

    transformers imports torchaudio whenever ``importlib.util.find_spec("torchaudio")`` finds it, and a
    torchaudio whose C extension does not match the installed torch raises OSError there, breaking
    ``transformers.WhisperForConditionalGeneration``. A ``None`` entry in ``sys.modules`` makes
    ``find_spec`` return None (and later ``import torchaudio`` raise ImportError). No-op if it imports
    (or was already made importable by :func:`ensure_torchaudio_importable`)."""
    if "torchaudio" in sys.modules:
        return
    try:
        import torchaudio  # noqa: F401
    except (ImportError, OSError):
        for name in [name for name in sys.modules if name.startswith("torchaudio.")]:
            del sys.modules[name]  # half-imported submodules of the failed import
        sys.modules["torchaudio"] = None  # type: ignore[assignment]
