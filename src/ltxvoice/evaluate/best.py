"""The best checkpoint of stage ``evaluate``, by the rule declared in params ``evaluate.best``.

Among the evaluated checkpoints, judged by their LoRA arm at ``best.strength`` (default: the largest
strength), a checkpoint is a **candidate** when its ``pitch_cents`` is measured, its ``vuv_f1`` is at
least the base model's minus ``best.vuv_f1_tolerance`` (a LoRA that gets the pitch right by no longer
speaking does not count) and - when WER is measured (``evaluate.asr``) - its ``wer`` is at most the base
model's plus ``best.wer_tolerance`` (nor one that gets it right by no longer saying the words). The
candidate with the lowest ``pitch_cents`` wins. Ties go to the higher ``vuv_f1``, then the lower ``wer``,
then the earlier step (fewer training steps), then the name, so the choice is deterministic. No
candidate: no best checkpoint, and the reason says why.
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
    wer: float = math.nan  # nan: not measured


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
    wer: float = math.nan
    base_wer: float | None = None  # None: WER not measured, the rule leaves it out
    wer_ceiling: float = math.nan

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
            "wer": num(self.wer),
            "base_wer": num(self.base_wer) if self.base_wer is not None else None,
            "wer_ceiling": num(self.wer_ceiling),
            "wer_in_rule": self.base_wer is not None,
            "eligible": self.eligible,
            "excluded": self.excluded,
            "reason": self.reason,
        }


def choose(
    candidates: Sequence[Candidate], base_vuv_f1: float, rule: EvalBestParams, base_wer: float | None = None
) -> Choice:
    """Apply the rule (see the module docstring). ``base_wer``: the base model's WER when WER is
    measured (None: it is not, and the rule is on vuv_f1 alone). A base ``vuv_f1`` or ``wer`` that is
    not measured leaves no bound to hold the checkpoints to, so then none is chosen."""
    floor = base_vuv_f1 - rule.vuv_f1_tolerance
    ceiling = base_wer + rule.wer_tolerance if base_wer is not None else math.nan
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
        elif base_wer is not None and not math.isfinite(ceiling):
            excluded[c.name] = "the base model's wer is not measured: no tolerance to hold it to"
        elif base_wer is not None and not math.isfinite(c.wer):
            excluded[c.name] = "wer not measured (no generation transcribed)"
        elif base_wer is not None and not (c.wer <= ceiling):
            excluded[c.name] = f"wer {c.wer:.3f} above the base model's {base_wer:.3f} plus {rule.wer_tolerance:g}"
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
            base_wer=base_wer,
            wer_ceiling=ceiling,
        )

    def order(c: Candidate) -> tuple[float, float, float, float, str]:
        wer = c.wer if base_wer is not None and math.isfinite(c.wer) else 0.0
        return (c.pitch_cents, -c.vuv_f1, wer, c.step if c.step is not None else math.inf, c.name)

    best = min(eligible, key=order)
    bounds = f"vuv_f1 stays at or above {floor:.3f} (base {base_vuv_f1:.3f} - tolerance {rule.vuv_f1_tolerance:g})"
    if base_wer is not None:
        bounds += (
            f" and whose wer stays at or below {ceiling:.3f} (base {base_wer:.3f} + tolerance {rule.wer_tolerance:g})"
        )
    else:
        bounds += " (wer not measured: not in the rule)"
    reason = (
        f"{best.name}: lowest {rule.metric} ({best.pitch_cents:.1f} cents) among {len(eligible)} checkpoint(s) "
        f"whose {bounds}"
    )
    if excluded:
        reason += f"; {len(excluded)} excluded: " + "; ".join(f"{k}: {v}" for k, v in excluded.items())
    return Choice(
        best.name,
        best.step,
        best.path,
        best.pitch_cents,
        best.vuv_f1,
        base_vuv_f1,
        floor,
        names,
        excluded,
        reason,
        wer=best.wer,
        base_wer=base_wer,
        wer_ceiling=ceiling,
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
