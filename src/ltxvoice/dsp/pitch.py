"""F0 measurement: Praat autocorrelation (parselmouth) and WORLD dio+stonemask (pyworld)."""

from __future__ import annotations

import math
import warnings
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

    def voiced_at(self, times: np.ndarray) -> np.ndarray:
        """Whether the frame nearest to each of ``times`` is voiced (tracks made with different
        pitch ranges have different frame times)."""
        return self.f0_at(times) > 0

    def f0_at(self, times: np.ndarray) -> np.ndarray:
        """F0 of the frame nearest to each of ``times`` (0 where that frame is unvoiced or more than a
        time step away)."""
        times = np.asarray(times, dtype=np.float64)
        if self.times.size == 0:
            return np.zeros(times.size)
        idx = np.minimum(np.searchsorted(self.times, times), self.times.size - 1)
        prev = np.maximum(idx - 1, 0)
        nearest = np.where(np.abs(self.times[prev] - times) <= np.abs(self.times[idx] - times), prev, idx)
        close = np.abs(self.times[nearest] - times) <= self.time_step
        return np.where(close, self.f0[nearest], 0.0)

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
    return PitchTrack(
        times=np.asarray(pitch.xs()), f0=np.asarray(pitch.selected_array["frequency"]), time_step=TIME_STEP_S
    )


def world_track(samples: np.ndarray, rate: int, floor: float, ceiling: float) -> PitchTrack:
    """WORLD's DIO estimate refined by StoneMask."""
    x = np.ascontiguousarray(samples, dtype=np.float64)
    coarse, times = pyworld.dio(x, rate, f0_floor=floor, f0_ceil=ceiling, frame_period=TIME_STEP_S * 1000)
    refined = pyworld.stonemask(x, coarse, times, rate)
    refined[(refined < floor) | (refined > ceiling)] = 0.0
    return PitchTrack(times=times, f0=refined, time_step=TIME_STEP_S)


def track(samples: np.ndarray, rate: int, floor: float, ceiling: float, method: Method) -> PitchTrack:
    return (
        praat_track(samples, rate, floor, ceiling) if method == "praat" else world_track(samples, rate, floor, ceiling)
    )


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
