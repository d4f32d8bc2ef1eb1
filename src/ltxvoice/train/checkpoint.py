"""Checkpoints of a run: the LoRA file every N steps (keep-last-N) and a resume state beside it.

``checkpoints/step_<NNNNNN>.safetensors`` is the LoRA as ComfyUI/ltx-core read it (bf16, alpha folded);
``checkpoints/state_<NNNNNN>.pt`` holds what an identical continuation needs: the step, the exact
fp32 adapter, optimizer and LR-scheduler states, RNG states, the loss/LR curve so far, and the
run's fingerprint (settings + data + base checkpoint) - a state with another fingerprint is never
resumed from.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STEP = re.compile(r"^(step|state)_(\d{6,})\.(safetensors|pt)$")


def lora_path(folder: Path, step: int) -> Path:
    return Path(folder) / f"step_{step:06d}.safetensors"


def state_path(folder: Path, step: int) -> Path:
    return Path(folder) / f"state_{step:06d}.pt"


def steps_on_disk(folder: Path) -> dict[int, set[str]]:
    """step -> {"step", "state"} for the checkpoint files present in ``folder``."""
    found: dict[int, set[str]] = {}
    if Path(folder).is_dir():
        for p in Path(folder).iterdir():
            m = _STEP.match(p.name)
            if m:
                found.setdefault(int(m.group(2)), set()).add(m.group(1))
    return found


def rng_states() -> dict[str, Any]:
    """The RNG states as tensors, ints and tuples only, so a state file loads with ``weights_only``.

    Python's own generator is not among them: other threads of the process (Prefect's client draws
    its jitter from it) advance it at times no training step controls, so its state differed between
    two runs of the same params and a state file was not a function of (seed, step). Nothing is lost:
    the trainer seeds it, with numpy's and torch's, at every micro-step."""
    import numpy as np
    import torch

    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    states: dict[str, Any] = {
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.random.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    import numpy as np
    import torch

    if "python" in states:  # state files written before it was left out
        random.setstate(states["python"])
    n = states["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.random.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


@dataclass
class ResumeState:
    """A loaded ``state_*.pt``."""

    step: int
    fingerprint: str
    adapter: dict[str, Any]
    optimizer: dict[str, Any] | None
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    curve: list[tuple[int, float, float]]


def save_state(folder: Path, state: ResumeState) -> Path:
    """Write ``state_<step>.pt`` atomically."""
    import torch

    path = state_path(folder, state.step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "step": state.step,
            "fingerprint": state.fingerprint,
            "adapter": state.adapter,
            "optimizer": state.optimizer,
            "scheduler": state.scheduler,
            "rng": state.rng,
            "curve": state.curve,
        },
        tmp,
    )
    os.replace(tmp, path)
    return path


def load_latest(folder: Path, fingerprint: str) -> tuple[ResumeState | None, list[str]]:
    """The newest state in ``folder`` whose fingerprint matches, and why newer ones were skipped."""
    import torch

    skipped: list[str] = []
    for step in sorted(steps_on_disk(folder), reverse=True):
        path = state_path(folder, step)
        if not path.is_file():
            continue
        try:
            # weights_only: tensors and plain containers only. A state file can come from a shared
            # DVC remote; unpickling arbitrary objects from it would run whatever code it names.
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a partial write, a foreign or a hostile file: never resumed from
            skipped.append(f"{path.name}: unreadable or not a plain state file ({type(exc).__name__})")
            continue
        if raw.get("fingerprint") != fingerprint:
            skipped.append(f"{path.name}: made with other settings, data or base model")
            continue
        return ResumeState(
            step=int(raw["step"]),
            fingerprint=raw["fingerprint"],
            adapter=raw["adapter"],
            optimizer=raw["optimizer"],
            scheduler=raw["scheduler"],
            rng=raw["rng"],
            curve=[tuple(r) for r in raw["curve"]],
        ), skipped
    return None, skipped


def prune(folder: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints (LoRA file and state together); 0 keeps all."""
    removed: list[Path] = []
    if keep_last <= 0:
        return removed
    for step in sorted(steps_on_disk(folder))[:-keep_last]:
        for p in (lora_path(folder, step), state_path(folder, step)):
            if p.exists():
                p.unlink()
                removed.append(p)
    return removed


def clear(folder: Path) -> list[Path]:
    """Delete every checkpoint file of this format in ``folder`` (other files are left alone)."""
    removed: list[Path] = []
    for step in steps_on_disk(folder):
        for p in (lora_path(folder, step), state_path(folder, step)):
            if p.exists():
                p.unlink()
                removed.append(p)
    return removed
