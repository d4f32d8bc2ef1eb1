"""A stand-in for the LTX sampler with known behaviour, to test the evaluation end to end.

Per arm it generates real audio (a synthesized voiced tone, analysed by Praat like any generation):
pitch = a * tone + b (+ a per-seed offset + noise), in Hz or in semitones; unvoiced (breathy noise)
with probability ``p_unvoiced`` or when the prompt holds ``whisper_keyword``; ``leak`` copies the
reference tone over that share of the generated span; ``decoded_reference`` returns the reference
in front of the generated audio (outside the reported span, where it must never be measured).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ltxvoice.config import TonesParams
from ltxvoice.dsp.tone import synthesize
from ltxvoice.evaluate.sweep import Arm, Output, Reference
from ltxvoice.media import resample
from ltxvoice.tones import draw_timbre

RATE = 16000


@dataclass(frozen=True)
class Behaviour:
    a: float = 0.0
    b: float = 150.0
    noise: float = 3.0  # per-generation noise sd (Hz or semitones)
    seed_sd: float = 5.0  # per-seed offset sd: generations of one seed are correlated
    scale: str = "hz"
    p_unvoiced: float = 0.0
    leak: float = 0.0
    decoded_reference: bool = False
    whisper_keyword: str | None = None
    level_dbfs: float = -20.0
    whisper_level_dbfs: float = -35.0
    report_whole_waveform: bool = False  # a broken generator that claims the reference is generated

    def pitch(self, tone_hz: float, seed_offset: float, rng: np.random.Generator) -> float:
        if self.scale == "hz":
            return self.a * tone_hz + self.b + seed_offset + rng.normal(0, self.noise)
        st = 12 * np.log2(tone_hz / 100.0)
        return float(100.0 * 2 ** ((self.a * st + self.b + seed_offset + rng.normal(0, self.noise)) / 12))


class StandIn:
    """Generator with one :class:`Behaviour` per arm name; deterministic per (arm, seed, tone)."""

    def __init__(self, behaviours: dict[str, Behaviour], seconds: float = 1.0, video: bool = False) -> None:
        self.behaviours = behaviours
        self.seconds = seconds
        self.video = video
        self.timbre = draw_timbre(TonesParams(), 3)
        self.calls = 0

    def generate(self, arm: Arm, prompt: str, seeds: Sequence[int], reference: Reference | None) -> list[Output]:
        self.calls += 1
        beh = self.behaviours[arm.name]
        outputs = []
        for seed in seeds:
            tone = reference.tone_hz if reference else 0.0
            rng = np.random.default_rng(
                [zlib.crc32(arm.name.encode()), seed, int(tone * 100), zlib.crc32(prompt.encode())]
            )
            seed_offset = np.random.default_rng([seed, 7]).normal(0, beh.seed_sd)
            n = int(self.seconds * RATE)
            whisper = beh.whisper_keyword is not None and beh.whisper_keyword in prompt
            if whisper or rng.random() < beh.p_unvoiced:
                y = rng.standard_normal(n).astype(np.float32)
                y *= 10 ** (beh.whisper_level_dbfs / 20) / np.sqrt(np.mean(y**2))
            else:
                f0 = float(np.clip(beh.pitch(tone or 150.0, seed_offset, rng), 70.0, 500.0))
                y = synthesize(f0, self.seconds, RATE, self.timbre, seed=seed, level_dbfs=beh.level_dbfs)
            if reference is not None and beh.leak > 0:
                ref = resample(reference.samples, reference.rate, RATE)
                k = int(beh.leak * n)
                y[:k] = np.resize(ref, k)
            span = (0.0, self.seconds)
            if reference is not None and beh.decoded_reference:
                ref = resample(reference.samples, reference.rate, RATE).astype(np.float32)
                y = np.concatenate([ref, y])
                span = (ref.size / RATE, ref.size / RATE + self.seconds)
            if beh.report_whole_waveform:
                span = (0.0, y.size / RATE)
            latent = None
            if self.video:
                base = np.random.default_rng([seed, 11]).standard_normal((1, 4, 2, 2, 2))
                latent = base + arm.strength * 0.001 * np.random.default_rng([seed, 12]).standard_normal(base.shape)
            outputs.append(
                Output(seed=seed, waveform=y.astype(np.float32), rate=RATE, span_s=span, video_latent=latent)
            )
        return outputs


def tone_references(tones_hz: Sequence[float], seconds: float = 2.0) -> list[Reference]:
    timbre = draw_timbre(TonesParams(), 0)
    return [Reference(f, synthesize(f, seconds, RATE, timbre, seed=0), RATE) for f in tones_hz]
