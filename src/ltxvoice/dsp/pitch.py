"""F0 and formant measurement: Praat autocorrelation (parselmouth) and WORLD dio+stonemask (pyworld)."""

from __future__ import annotations

import warnings
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import parselmouth

with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    import pyworld

Method = Literal["praat", "world"]

TIME_STEP_S = 0.01


@dataclass(frozen=True)
class PitchTrack:
    """Frame-wise F0 (Hz, 0 where unvoiced) at a fixed time step."""

    times: np.ndarray
    f0: np.ndarray
    time_step: float

    @property
    def voiced(self) -> np.ndarray:
        return self.f0 > 0

    def median(self) -> float:
        """Median F0 over voiced frames (nan when no frame is voiced)."""
        v = self.f0[self.voiced]
        return float(np.median(v)) if v.size else float("nan")

    def voiced_fraction(self) -> float:
        return float(self.voiced.mean()) if self.f0.size else 0.0

    def voiced_seconds(self) -> float:
        return float(self.voiced.sum() * self.time_step)


def praat_track(samples: np.ndarray, rate: int, floor: float, ceiling: float) -> PitchTrack:
    """Praat's autocorrelation pitch ("To Pitch (ac)") with its standard voicing settings."""
    sound = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sampling_frequency=rate)
    pitch = sound.to_pitch_ac(time_step=TIME_STEP_S, pitch_floor=floor, pitch_ceiling=ceiling)
    return PitchTrack(times=np.asarray(pitch.xs()), f0=np.asarray(pitch.selected_array["frequency"]),
                      time_step=TIME_STEP_S)


def world_track(samples: np.ndarray, rate: int, floor: float, ceiling: float) -> PitchTrack:
    """WORLD's DIO estimate refined by StoneMask."""
    x = np.ascontiguousarray(samples, dtype=np.float64)
    coarse, times = pyworld.dio(x, rate, f0_floor=floor, f0_ceil=ceiling, frame_period=TIME_STEP_S * 1000)
    refined = pyworld.stonemask(x, coarse, times, rate)
    refined[(refined < floor) | (refined > ceiling)] = 0.0
    return PitchTrack(times=times, f0=refined, time_step=TIME_STEP_S)


def track(samples: np.ndarray, rate: int, floor: float, ceiling: float, method: Method) -> PitchTrack:
    return praat_track(samples, rate, floor, ceiling) if method == "praat" else world_track(samples, rate, floor, ceiling)


def cents(a: float, b: float) -> float:
    """Interval from b to a in cents (nan if either is not a positive number)."""
    if not (a > 0 and b > 0):
        return float("nan")
    return 1200.0 * math.log2(a / b)


def semitones_to_ratio(semitones: float) -> float:
    return 2.0 ** (semitones / 12.0)


def adapted_range(target_hz: float, floor: float, ceiling: float) -> tuple[float, float]:
    """A pitch search range that contains ``target_hz`` with room for intonation around it.

    A fixed 75 Hz floor cannot measure a male voice shifted down 7 semitones (~60 Hz): the floor
    follows the target down (and the ceiling up), never narrowing the configured range."""
    return min(floor, 0.6 * target_hz), max(ceiling, 1.8 * target_hz)


@dataclass(frozen=True)
class Formants:
    """Median F1 and F2 (Hz) over the voiced frames (Praat Burg)."""

    f1_hz: float
    f2_hz: float


def formant_medians(samples: np.ndarray, rate: int, voiced_times: np.ndarray, max_formant_hz: float = 5500.0) -> Formants:
    """Median F1/F2 at the given (voiced) times; nan when none can be measured."""
    sound = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sampling_frequency=rate)
    formant = sound.to_formant_burg(time_step=TIME_STEP_S, max_number_of_formants=5.0,
                                    maximum_formant=max_formant_hz, window_length=0.025, pre_emphasis_from=50.0)
    values = {1: [], 2: []}
    for t in voiced_times:
        for n in (1, 2):
            v = formant.get_value_at_time(n, float(t))
            if math.isfinite(v):
                values[n].append(v)
    med = {n: float(np.median(v)) if v else float("nan") for n, v in values.items()}
    return Formants(f1_hz=med[1], f2_hz=med[2])
