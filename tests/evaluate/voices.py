"""Generated voice-like audio for the evaluate tests: harmonic tones of known pitch, silence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from ltxvoice.config import EvalOracleParams
from ltxvoice.media import write_wav

RATE = 16000


def harmonic(f0_hz: float, seconds: float = 0.5, rate: int = RATE, harmonics: int = 8) -> np.ndarray:
    """A steady voiced sound at ``f0_hz``: harmonics with 1/k amplitudes, -20 dBFS-ish."""
    t = np.arange(round(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(1, harmonics + 1) if k * f0_hz < rate / 2)
    return (0.1 * np.asarray(x) / np.max(np.abs(x))).astype(np.float32)


def gapped(f0_hz: float, voiced: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    """Voiced for the first ``voiced`` share of ``seconds``, digital silence after."""
    x = harmonic(f0_hz, seconds, rate)
    x[round(voiced * x.size) :] = 0.0
    return x


def write_oracle_dataset(root: Path, params: EvalOracleParams, n: int) -> pl.DataFrame:
    """A select-stage pairs table under ``root`` with ``n`` kept pairs in the oracle's folders: tones
    from 80 to 300 Hz, targets at the tone pitch (+1%), sources at random pitches (half in each of
    the first two source folders), plus one rejected pair; and a shift plan."""
    rng = np.random.default_rng(1)
    rows = []
    for i, tone in enumerate(np.geomspace(80, 300, n)):
        cid = f"clip{i}"
        source = params.sources[i % len(params.sources[:2])] / f"{cid}.wav"
        write_wav(root / params.tones / f"{cid}.tone.wav", harmonic(tone), RATE)
        write_wav(root / params.targets / f"{cid}.wav", harmonic(tone * 1.01), RATE)
        write_wav(root / source, harmonic(float(rng.uniform(100, 220))), RATE)
        rows.append({"clip_id": cid, "tone_path": str(params.tones / f"{cid}.tone.wav"), "vocals_path": str(source)})
    rows = [r | {"kept": True} for r in rows]
    rows.append({"clip_id": "dropped", "tone_path": "x.wav", "vocals_path": "y.wav", "kept": False})
    frame = pl.DataFrame(rows)
    (root / params.pairs).parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(root / params.pairs)
    (root / params.plan).parent.mkdir(parents=True, exist_ok=True)
    (root / params.plan).write_text('{"r_source_target_planned": 0.1}\n', encoding="utf-8")
    return frame
