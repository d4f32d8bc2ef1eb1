"""Stage ``prepare``: the training audio of a recipe without a reference (register, talking head).

Per clip: the separate stage's vocals (or the mix) as mono at ``audio_rate``, gained to an integrated
loudness target (ITU-R BS.1770 via pyloudnorm), written as a WAV and muxed as AAC with the clip's
untouched video frames. Length and timing never change (the trim happens when ingest places the
clip), so lips still line up. A clip that would clip at the target, or has no measurable loudness,
is quarantined with its reason rather than distorted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm

from ltxvoice.config import PrepareParams
from ltxvoice.media import MediaError, mux_audio, read_wav, resample, write_wav
from ltxvoice.records import sha256_file

STAGE = "prepare"

SILENT = "silent"
WOULD_CLIP = "would_clip"
# BS.1770 gating: blocks below -70 LUFS are ignored; a clip with nothing above it has no loudness.
_ABSOLUTE_GATE_LUFS = -70.0


@dataclass(frozen=True)
class PrepareInput:
    """The columns ``prepare`` reads of a clip (the separate stage's table)."""

    clip_id: str
    audio_path: str
    vocals_path: str | None
    video_path: str | None
    separation_model: str


@dataclass(frozen=True)
class Prepared:
    """Columns the ``prepare`` stage adds to each clip."""

    prepared_audio_path: str
    prepared_video_path: str | None
    prepared_audio_sha256: str
    prepared_video_sha256: str | None
    prepared_from: str
    prepared_rate: int
    loudness_before_lufs: float
    loudness_lufs: float
    gain_db: float
    peak_dbfs: float


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness of mono audio in LUFS (-inf when nothing is above the absolute gate)."""
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))


def normalize(
    samples: np.ndarray, rate: int, target_lufs: float, max_peak_dbfs: float
) -> tuple[np.ndarray, float, float]:
    """``samples`` gained to ``target_lufs``; returns (audio, loudness before, gain dB).

    Raises MediaError('silent') when the loudness cannot be measured and MediaError('would_clip') when
    reaching the target would push the peak above ``max_peak_dbfs`` (a limiter would change the very
    dynamics the LoRA is meant to learn, so such a clip is left out, with the numbers)."""
    before = integrated_loudness(samples, rate)
    if not math.isfinite(before) or before < _ABSOLUTE_GATE_LUFS:
        raise MediaError(SILENT, f"no measurable loudness (below {_ABSOLUTE_GATE_LUFS:g} LUFS)")
    gain_db = target_lufs - before
    out = samples.astype(np.float64) * 10 ** (gain_db / 20)
    peak = float(np.max(np.abs(out)))
    peak_db = 20 * math.log10(peak) if peak > 0 else float("-inf")
    if peak_db > max_peak_dbfs:
        raise MediaError(
            WOULD_CLIP,
            f"at {target_lufs:g} LUFS (gain {gain_db:+.1f} dB from {before:.1f} LUFS) the peak would be "
            f"{peak_db:+.1f} dBFS, above prepare.max_peak_dbfs {max_peak_dbfs:g}",
        )
    return out.astype(np.float32), before, gain_db


def prepare_clip(row: PrepareInput, params: PrepareParams, out_dir: Path) -> Prepared:
    """Prepare one clip (a row of the separate stage's table) into ``out_dir``."""
    clip_id = row.clip_id
    source = row.vocals_path if params.audio == "vocals" else row.audio_path
    if not source:
        raise MediaError("no_vocals", "the separate stage wrote no vocals for this clip")
    samples, rate = read_wav(Path(source))  # mono (channels averaged)
    length = round(samples.size * params.audio_rate / rate)
    samples = resample(samples, rate, params.audio_rate)[:length].astype(np.float32)
    audio, before, gain_db = normalize(samples, params.audio_rate, params.loudness_lufs, params.max_peak_dbfs)
    audio_path = write_wav(out_dir / f"{clip_id}.wav", audio, params.audio_rate)
    video_path = None
    if row.video_path:
        video_path = mux_audio(Path(row.video_path), audio_path, out_dir / f"{clip_id}.mp4", params.audio_bitrate)
    peak = float(np.max(np.abs(audio)))
    return Prepared(
        prepared_audio_path=str(audio_path),
        prepared_video_path=str(video_path) if video_path else None,
        prepared_audio_sha256=sha256_file(audio_path),
        prepared_video_sha256=sha256_file(video_path) if video_path else None,
        prepared_from="vocals"
        if params.audio == "vocals" and row.separation_model != "none"
        else ("mix" if params.audio == "mix" else "mix (separate.model none)"),
        prepared_rate=params.audio_rate,
        loudness_before_lufs=round(before, 3),
        loudness_lufs=round(integrated_loudness(audio, params.audio_rate), 3),
        gain_db=round(gain_db, 3),
        peak_dbfs=round(20 * math.log10(peak), 3) if peak > 0 else float("-inf"),
    )
