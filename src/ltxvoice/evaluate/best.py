"""The best checkpoint of stage ``evaluate``, by the rule declared in params ``evaluate.best``.

Among the evaluated checkpoints, judged by their LoRA arm at ``best.strength`` (default: the largest
strength), a checkpoint is a **candidate** when its ``pitch_cents`` is measured and its ``vuv_f1``
is at least the base model's minus ``best.vuv_f1_tolerance`` (a LoRA that gets the pitch right by
no longer speaking does not count). The candidate with the lowest ``pitch_cents`` wins. Ties go to
the higher ``vuv_f1``, then the earlier step (fewer training steps), then the name, so the choice is
deterministic. No candidate: no best checkpoint, and the reason says why.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltxvoice.config import EvalBestParams

BEST_FILE = "lora.safetensors"
CHOICE_FILE = "choice.json"


@dataclass(frozen=True)
class Candidate:
    """One evaluated checkpoint's numbers as the rule sees them."""

    name: str
    step: int | None
    path: Path
    pitch_cents: float
    vuv_f1: float


@dataclass(frozen=True)
class Choice:
    checkpoint: str | None
    step: int | None
    path: Path | None
    pitch_cents: float
    vuv_f1: float
    base_vuv_f1: float
    vuv_f1_floor: float
    eligible: list[str]
    excluded: dict[str, str]  # checkpoint -> why it is not a candidate
    reason: str

    def as_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return round(v, 4) if math.isfinite(v) else None

        return {
            "best_checkpoint": self.checkpoint,
            "step": self.step,
            "source": str(self.path) if self.path is not None else None,
            "pitch_cents": num(self.pitch_cents),
            "vuv_f1": num(self.vuv_f1),
            "base_vuv_f1": num(self.base_vuv_f1),
            "vuv_f1_floor": num(self.vuv_f1_floor),
            "eligible": self.eligible,
            "excluded": self.excluded,
            "reason": self.reason,
        }


def choose(candidates: Sequence[Candidate], base_vuv_f1: float, rule: EvalBestParams) -> Choice:
    """Apply the rule (see the module docstring). A base ``vuv_f1`` that is not measured leaves no
    floor to hold the checkpoints to, so then none is chosen."""
    floor = base_vuv_f1 - rule.vuv_f1_tolerance
    excluded: dict[str, str] = {}
    eligible: list[Candidate] = []
    for c in candidates:
        if not math.isfinite(c.pitch_cents):
            excluded[c.name] = "no voiced frame to measure pitch_cents on"
        elif not math.isfinite(floor):
            excluded[c.name] = "the base model's vuv_f1 is not measured: no tolerance to hold it to"
        elif not (c.vuv_f1 >= floor):
            excluded[c.name] = (
                f"vuv_f1 {c.vuv_f1:.3f} below the base model's {base_vuv_f1:.3f} minus {rule.vuv_f1_tolerance:g}"
            )
        else:
            eligible.append(c)
    names = [c.name for c in eligible]
    if not eligible:
        return Choice(
            None,
            None,
            None,
            math.nan,
            math.nan,
            base_vuv_f1,
            floor,
            names,
            excluded,
            f"no best checkpoint: none of {len(candidates)} checkpoint(s) qualifies"
            + (f" ({'; '.join(f'{k}: {v}' for k, v in excluded.items())})" if excluded else ""),
        )
    best = min(eligible, key=lambda c: (c.pitch_cents, -c.vuv_f1, c.step if c.step is not None else math.inf, c.name))
    reason = (
        f"{best.name}: lowest {rule.metric} ({best.pitch_cents:.1f} cents) among {len(eligible)} checkpoint(s) "
        f"whose vuv_f1 stays at or above {floor:.3f} (base {base_vuv_f1:.3f} - tolerance {rule.vuv_f1_tolerance:g})"
    )
    if excluded:
        reason += f"; {len(excluded)} excluded: " + "; ".join(f"{k}: {v}" for k, v in excluded.items())
    return Choice(
        best.name, best.step, best.path, best.pitch_cents, best.vuv_f1, base_vuv_f1, floor, names, excluded, reason
    )


def write_choice(choice: Choice, folder: Path) -> Path:
    """``<folder>/choice.json`` and, when a checkpoint was chosen, a copy of it as ``lora.safetensors``."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / BEST_FILE
    target.unlink(missing_ok=True)
    if choice.path is not None:
        shutil.copyfile(choice.path, target)
    path = folder / CHOICE_FILE
    path.write_text(json.dumps(choice.as_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
