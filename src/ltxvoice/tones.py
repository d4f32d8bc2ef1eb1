"""Stage ``tones``: the reference of each pair, a voiced tone at the pair's target pitch.

The timbre (vowel, formant scale, harmonic roll-off, vibrato, jitter, shimmer, breath) is drawn for
each pair independently of its pitch and of its speaker, from its own seeded stream (seed + clip
id), so a model cannot read the target from anything but the tone's pitch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ltxvoice.config import TonesParams
from ltxvoice.dsp.tone import Timbre, synthesize
from ltxvoice.media import write_wav
from ltxvoice.records import content_id, sha256_file

STAGE = "tones"


@dataclass(frozen=True)
class TonesInput:
    """The columns ``tones`` reads of a pair (the shift stage's table)."""

    clip_id: str
    target_hz: float
    target_audio_path: str  # the pair's target, named in the quarantine row when its tone fails


@dataclass(frozen=True)
class Tone:
    """Columns ``tones`` adds."""

    tone_path: str
    tone_sha256: str
    tone_seconds: float
    tone_vowel: str
    tone_formant_scale: float
    tone_rolloff_db_per_octave: float
    tone_vibrato_rate_hz: float
    tone_vibrato_cents: float
    tone_jitter_percent: float
    tone_shimmer_percent: float
    tone_breath_snr_db: float


def tone_seed(seed: int, clip_id: str) -> int:
    return int(content_id("tone", seed, clip_id), 16) % (2**63)


def draw_timbre(params: TonesParams, seed: int) -> Timbre:
    rng = np.random.default_rng(seed)

    def pick(span: tuple[float, float]) -> float:
        return round(float(rng.uniform(*span)), 4)

    return Timbre(
        vowel=params.vowels[int(rng.integers(len(params.vowels)))],
        formant_scale=pick((0.85, 1.2)),
        rolloff_db_per_octave=pick(params.rolloff_db_per_octave),
        vibrato_rate_hz=pick(params.vibrato_rate_hz),
        vibrato_cents=pick(params.vibrato_cents),
        jitter_percent=pick(params.jitter_percent),
        shimmer_percent=pick(params.shimmer_percent),
        breath_snr_db=pick(params.breath_snr_db),
    )


def make_tone(clip_id: str, target_hz: float, params: TonesParams, out_dir: Path) -> Tone:
    seed = tone_seed(params.seed, clip_id)
    timbre = draw_timbre(params, seed)
    samples = synthesize(target_hz, params.seconds, params.rate, timbre, seed=seed, level_dbfs=params.level_dbfs)
    path = write_wav(out_dir / f"{clip_id}.tone.wav", samples, params.rate)
    return Tone(
        tone_path=str(path),
        tone_sha256=sha256_file(path),
        tone_seconds=params.seconds,
        **{f"tone_{k}": v for k, v in asdict(timbre).items()},
    )
