"""Stage ``measure``: each clip's pitch and voicing (Praat and WORLD, both recorded) and formants.

Measured on the clip's vocals (the ``separate`` stage's output), resampled first: pitch to
``pitch_rate`` (12 kHz: Praat's AC runs ~1.2x faster than at 16 kHz and the clip's median stays
within 3 cents of Praat's at the clip's own rate; at 10 kHz and below a 1.4 s recording gained a
voiced frame and its median moved 40 cents; benchmarks/results/praat_pitch.md), formants to
``analysis_rate`` (they need 0-5.5 kHz)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltxvoice.config import MeasureParams
from ltxvoice.dsp.formants import formant_medians
from ltxvoice.dsp.pitch import cents, praat_track, world_track
from ltxvoice.media import read_wav, resample

STAGE = "measure"


@dataclass(frozen=True)
class MeasureInput:
    """The columns ``measure`` reads of a clip (the separate stage's table)."""

    clip_id: str
    vocals_path: str


@dataclass(frozen=True)
class Measured:
    """Columns ``measure`` adds. Pitches are medians over voiced frames (nan when nothing is voiced)."""

    f0_hz: float
    f0_praat_hz: float
    f0_world_hz: float
    f0_disagreement_cents: float
    voiced_fraction: float
    voiced_seconds: float
    f1_hz: float
    f2_hz: float


def measure_samples(
    samples: np.ndarray, rate: int, params: MeasureParams, floor: float | None = None, ceiling: float | None = None
) -> Measured:
    """Pitch, voicing and formants of mono audio; ``floor``/``ceiling`` override the params' range."""
    lo, hi = floor or params.floor_hz, ceiling or params.ceiling_hz
    p = resample(samples, rate, params.pitch_rate)
    praat = praat_track(p, params.pitch_rate, lo, hi)
    world = world_track(p, params.pitch_rate, lo, hi)
    primary = praat if params.method == "praat" else world
    x = resample(samples, rate, params.analysis_rate)
    formants = formant_medians(x, params.analysis_rate, primary, params.max_formant_hz)
    return Measured(
        f0_hz=primary.median(),
        f0_praat_hz=praat.median(),
        f0_world_hz=world.median(),
        f0_disagreement_cents=cents(world.median(), praat.median()),
        voiced_fraction=primary.voiced_fraction(),
        voiced_seconds=primary.voiced_seconds(),
        f1_hz=formants.f1_hz,
        f2_hz=formants.f2_hz,
    )


def measure_file(path: Path, params: MeasureParams) -> Measured:
    samples, rate = read_wav(path)
    return measure_samples(samples, rate, params)
