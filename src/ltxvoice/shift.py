"""Stage ``shift``: a target pitch per clip, and the clip's speech moved there with formants and timing kept.

Planning (:func:`plan_targets`) has two modes:

* ``bounded`` -- the target is the clip's own pitch shifted by a random number of semitones,
  ``min_semitones <= |s| <= cap_semitones``. Source and target pitch stay correlated (the published
  helium set: r ~ 0.75).
* ``decorrelated`` -- the target is chosen so that, over the set, it does not follow the source
  pitch: low voices tend to go up, high voices down, each with its own random share, all within the
  cap. The mix is searched to bring the source-target Pearson r as close to 0 as the cap allows;
  r is reported.

Every clip draws its random numbers from its own seeded stream (seed + clip id), so adding or removing
a clip never changes another clip's target. The shift itself (:func:`shift_clip`) moves the vocals,
re-mixes them with the non-vocal stem when separation ran, and muxes the result with the clip's
untouched video frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltxvoice.config import ShiftParams
from ltxvoice.dsp.pitch import adapted_range
from ltxvoice.dsp.shifting import shift as shift_samples
from ltxvoice.media import MediaError, mux_audio, read_wav, write_wav
from ltxvoice.records import content_id, sha256_file

STAGE = "shift"
NO_PITCH = "no_pitch"
PITCH_EXTREME = "pitch_extreme"


@dataclass(frozen=True)
class ShiftInput:
    """The columns ``shift`` reads of a clip (the measure stage's table)."""

    clip_id: str
    f0_hz: float
    vocals_path: str
    other_path: str | None
    video_path: str | None


@dataclass(frozen=True)
class Planned:
    """A clip's target."""

    target_hz: float
    semitones: float


@dataclass(frozen=True)
class Shifted:
    """Columns ``shift`` adds."""

    shift_mode: str
    target_hz: float
    semitones: float
    engine: str
    envelope_restored: bool
    shifted_vocals_path: str
    target_audio_path: str
    target_video_path: str | None
    target_audio_sha256: str
    target_video_sha256: str | None


def _uniforms(seed: int, clip_id: str, n: int) -> np.ndarray:
    """``n`` uniforms in [0, 1) that depend only on (seed, clip_id)."""
    rng = np.random.default_rng(int(content_id(seed, clip_id), 16))
    return rng.random(n)


def _st(hz: np.ndarray | Sequence[float] | float) -> np.ndarray:
    return 12.0 * np.log2(np.asarray(hz, dtype=np.float64))


def _hz(st: np.ndarray) -> np.ndarray:
    return 2.0 ** (np.asarray(st) / 12.0)


def pearson(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Pearson r (nan for fewer than 3 points or no spread)."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _bounded(u: np.ndarray, q: np.ndarray, params: ShiftParams) -> np.ndarray:
    lo, cap = params.min_semitones, params.cap_semitones
    magnitude = lo + q[:, 1] * (cap - lo)
    sign = np.where(q[:, 0] < 0.5, -1.0, 1.0)
    return u + sign * magnitude


def _decorrelated(u: np.ndarray, q: np.ndarray, params: ShiftParams) -> np.ndarray:
    """Targets ``v = u + cap * t`` with ``t = clip(-alpha * z + beta * xi, -1, 1)``: ``z`` the clip's
    standardised own pitch, ``xi`` its own uniform draw in [-1, 1].

    With alpha = 0 this is the bounded mode (r high). Pulling low voices up and high voices down
    (alpha > 0) cancels the correlation the cap forces at the extremes. alpha and beta are searched
    for the smallest |r| of this very set; among near-ties (within 0.02) the most random
    (largest beta) wins, so targets stay varied."""
    z = (u - u.mean()) / (u.std() or 1.0)
    xi = 2.0 * q[:, 1] - 1.0
    lo, hi = _st(params.target_min_hz), _st(params.target_max_hz)
    cap = params.cap_semitones
    scored = []
    for beta in (1.0, 0.75, 0.5, 0.25):
        for alpha in np.arange(0.0, 3.01, 0.05):
            t = np.clip(-alpha * z + beta * xi, -1.0, 1.0)
            v = np.clip(u + cap * t, np.maximum(u - cap, lo), np.minimum(u + cap, hi))
            r = pearson(u, v)
            scored.append((abs(r) if math.isfinite(r) else 1.0, beta, v))
    best = min(score for score, _, _ in scored)
    return max((c for c in scored if c[0] <= best + 0.02), key=lambda c: (c[1], -c[0]))[2]


@dataclass(frozen=True)
class Plan:
    """Targets for the clips that get one, the clips left out and why, and the plan's source-target r."""

    targets: dict[str, Planned]
    dropped: dict[str, str]
    r: float


def plan_targets(sources: dict[str, float], params: ShiftParams) -> Plan:
    """Plan targets for clips with a measured pitch ({clip_id: f0_hz}).

    Clips without a pitch are dropped (``no_pitch``). In decorrelated mode a cap of a few semitones
    cannot move the lowest and highest voices far enough for r to reach 0; the most extreme voices
    are then left out one by one (``pitch_extreme``) until |r| <= ``max_r`` or ``max_dropped_share``
    of the clips are out."""
    dropped = {c: NO_PITCH for c, f0 in sources.items() if not (f0 > 0 and math.isfinite(f0))}
    ids = sorted(c for c in sources if c not in dropped)
    if not ids:
        return Plan({}, dropped, float("nan"))
    u = _st([sources[c] for c in ids])
    q = np.stack([_uniforms(params.seed, c, 2) for c in ids])
    keep = np.ones(len(ids), bool)
    while True:
        v = np.full(len(ids), np.nan)
        v[keep] = (
            _bounded(u[keep], q[keep], params) if params.mode == "bounded" else _decorrelated(u[keep], q[keep], params)
        )
        r = pearson(u[keep], v[keep])
        if (
            params.mode == "bounded"
            or not (abs(r) > params.max_r)
            or (len(ids) - keep.sum() + 1) > params.max_dropped_share * len(ids)
        ):
            break
        center = np.median(u[keep])
        extreme = np.argmax(np.where(keep, np.abs(u - center), -1.0))
        keep[extreme] = False
    lo, hi = _st(params.target_min_hz), _st(params.target_max_hz)
    v = np.clip(v, np.maximum(u - params.cap_semitones, lo), np.minimum(u + params.cap_semitones, hi))
    targets = {
        c: Planned(target_hz=round(float(_hz(vi)), 4), semitones=round(float(vi - ui), 4))
        for c, ui, vi, k in zip(ids, u, v, keep)
        if k
    }
    dropped.update({c: PITCH_EXTREME for c, k in zip(ids, keep) if not k})
    hz = [sources[c] for c in targets]
    return Plan(targets, dropped, pearson(hz, [t.target_hz for t in targets.values()]))


def shift_clip(
    clip_id: str,
    source_f0_hz: float,
    plan: Planned,
    vocals_path: Path,
    other_path: Path | None,
    video_path: Path | None,
    params: ShiftParams,
    floor_hz: float,
    ceiling_hz: float,
    out_dir: Path,
) -> Shifted:
    """Shift the vocals to the plan, re-mix, write ``<id>.wav`` (and ``<id>.mp4`` with the untouched video)."""
    vocals, rate = read_wav(vocals_path)
    lo, hi = adapted_range(source_f0_hz, floor_hz, ceiling_hz)
    moved = shift_samples(
        vocals, rate, plan.semitones, params.engine, floor=lo, ceiling=hi, restore=params.restore_envelope
    )
    if moved.size != vocals.size or not np.all(np.isfinite(moved)):
        raise MediaError(
            "shift_failed", f"{params.engine} returned {moved.size} samples for {vocals.size}, or non-finite values"
        )
    mix = moved
    shifted_vocals = out_dir / f"{clip_id}.vocals.wav"
    if other_path is not None:
        other, other_rate = read_wav(other_path)
        if other_rate != rate or other.size != vocals.size:
            raise MediaError(
                "stem_mismatch",
                f"other stem {other_path} is {other.size} samples at {other_rate} Hz, "
                f"vocals {vocals.size} at {rate} Hz",
            )
        write_wav(shifted_vocals, moved, rate)
        mix = moved + other
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    if peak > 1.0:
        mix = mix / peak * 0.999  # the re-mix can clip where the original did not
    audio_out = write_wav(out_dir / f"{clip_id}.wav", mix, rate)
    if other_path is None:
        shifted_vocals = audio_out
    video_out = None
    if video_path is not None:
        video_out = out_dir / f"{clip_id}.mp4"
        mux_audio(video_path, audio_out, video_out, params.audio_bitrate)
    return Shifted(
        shift_mode=params.mode,
        target_hz=plan.target_hz,
        semitones=plan.semitones,
        engine=params.engine,
        envelope_restored=params.restore_envelope,
        shifted_vocals_path=str(shifted_vocals),
        target_audio_path=str(audio_out),
        target_video_path=str(video_out) if video_out else None,
        target_audio_sha256=sha256_file(audio_out),
        target_video_sha256=sha256_file(video_out) if video_out else None,
    )
