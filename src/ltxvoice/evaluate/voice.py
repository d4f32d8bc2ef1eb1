"""Voice metrics of stage ``evaluate``: how close each generation's voice is to what the reference
asked for, per arm, with a bootstrap CI over seeds (:func:`ltxvoice.evaluate.stats.mean_interval`).

Per generation (its generated span only, measured by :func:`ltxvoice.evaluate.sweep.pitch_track`):

* ``pitch_cents`` - the median over the span's voiced frames of ``|1200 log2(f0 / tone)|``: how far,
  in cents, the generated pitch is from the reference tone's pitch (the target). nan when no frame
  is voiced. Lower is better.
* ``vuv_f1`` - voiced/unvoiced agreement with the reference's voicing: both are framed on the pitch
  track's 10 ms grid from their first sample, compared over the frames both have, "voiced" is the
  positive class, and F1 = 2 TP / (2 TP + FP + FN); 1 when neither has a voiced frame. The helium
  tone is voiced throughout, so there it is 2v / (1 + v) for a voiced share v: it falls when the
  output drops into silence, whisper or noise. Higher is better.
* ``level_dbfs`` - loudness as the RMS level of the span in dBFS (not LUFS: no K-weighting, no
  gating); digital silence counts as ``stats.SILENCE_FLOOR_DBFS``.
* ``wer`` - word error rate (:func:`ltxvoice.wer.wer`: lowercased, punctuation removed) of what the
  pipeline's real ASR (params ``evaluate.asr``, e.g. Whisper base of stage ``asr_model``) hears in the
  span against the words the prompt asks for (``evaluate.helium.speech``; the quoted line of each prompt
  in ``evaluate.prompts``), decoded at temperature 0. nan when the generation is not transcribed (no ASR,
  no words asked for, or a tone left out by ``helium.wer_per_seed``). 0 is perfect, 1 is every word
  wrong or missing, above 1 means extra words. Lower is better.

Per arm, each metric is averaged over the tones of a seed, then over seeds; the CI resamples seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ltxvoice.dsp.pitch import PitchTrack
from ltxvoice.evaluate.stats import SILENCE_FLOOR_DBFS, Interval, SweepPoint, SweepRules, mean_interval, seed_counts
from ltxvoice.media import resample
from ltxvoice.models.asr import RATE as ASR_RATE
from ltxvoice.models.asr import Transcriber
from ltxvoice.wer import wer

METRICS = ("pitch_cents", "vuv_f1", "level_dbfs", "wer")
SPEAKER_SIMILARITY_REASON = (
    "not measured: no speaker-embedding model is installed (none in requirements/lock.txt; see the README's "
    "table of real models shipped in packages)"
)
NOT_TRANSCRIBED = "not measured: no generation of this arm was transcribed"


@dataclass(frozen=True)
class Listener:
    """The ASR that scores WER: a transcriber (:func:`ltxvoice.models.asr.load_transcriber`), the
    language to decode in (None: detected), and how many generations per seed of the helium sweep it
    transcribes (None: all)."""

    transcribe: Transcriber
    language: str | None = None
    per_seed: int | None = None

    def tones_of_seed(self, position: int, tones: int) -> set[int]:
        """Which tone indices the seed at ``position`` (0, 1, ...) has transcribed: ``per_seed`` of them
        taken in turn from its position, so consecutive seeds cover every tone."""
        if self.per_seed is None or self.per_seed >= tones:
            return set(range(tones))
        return {(position + k) % tones for k in range(self.per_seed)}


@dataclass(frozen=True)
class Heard:
    """What the ASR heard in one generation, against the words the prompt asked for."""

    arm: str
    seed: int
    condition: str
    reference: str
    text: str
    wer: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "seed": self.seed,
            "condition": self.condition,
            "reference": self.reference,
            "heard": self.text,
            "wer": round(self.wer, 4),
        }


def transcript_wer(samples: np.ndarray, rate: int, reference: str, listener: Listener) -> tuple[float, str]:
    """WER of what ``listener`` hears in ``samples`` (mono at ``rate``) against ``reference``, and
    the transcript."""
    audio = resample(np.asarray(samples, dtype=np.float32), rate, ASR_RATE).astype(np.float32)
    heard = listener.transcribe(audio, listener.language)
    return wer(reference, heard.text), heard.text


def pitch_cents(track: PitchTrack, target_hz: float) -> float:
    """Median |cents| from ``target_hz`` over the voiced frames of ``track`` (nan if none)."""
    f0 = track.f0[track.voiced]
    if f0.size == 0 or not target_hz > 0:
        return math.nan
    return float(np.median(np.abs(1200.0 * np.log2(f0 / target_hz))))


def vuv_f1(generated: np.ndarray, reference: np.ndarray) -> float:
    """F1 of the generated frames' voicing against the reference frames' voicing (voiced = positive),
    over the frames both have; 1 when neither has a voiced frame there, nan when there is no frame."""
    n = min(generated.size, reference.size)
    if n == 0:
        return math.nan
    g, r = np.asarray(generated[:n], bool), np.asarray(reference[:n], bool)
    tp, fp, fn = int((g & r).sum()), int((g & ~r).sum()), int((~g & r).sum())
    return 1.0 if tp + fp + fn == 0 else 2.0 * tp / (2.0 * tp + fp + fn)


@dataclass(frozen=True)
class VoiceResult:
    """The voice metrics of one arm: means over seeds with their CIs."""

    arm: str
    strength: float
    generations: int
    pitch_cents: Interval
    vuv_f1: Interval
    level_dbfs: Interval
    wer: Interval = Interval.undefined()
    transcribed: int = 0  # generations scored for WER
    wer_reason: str = NOT_TRANSCRIBED  # why wer is not measured (used only when it is not)

    def as_metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"generations": self.generations}
        for name in METRICS:
            i = getattr(self, name).as_dict(2 if name in ("pitch_cents", "level_dbfs") else 4)
            out |= {name: i["estimate"], f"{name}_lo": i["lo"], f"{name}_hi": i["hi"]}
        out["level_unit"] = "RMS dBFS"
        out["transcribed"] = self.transcribed
        if not math.isfinite(self.wer.estimate):
            out["wer_reason"] = self.wer_reason
        out["speaker_similarity"] = None
        out["speaker_similarity_reason"] = SPEAKER_SIMILARITY_REASON
        return out


def analyse_voice(
    points: Sequence[SweepPoint], rules: SweepRules, wer_reason: str = NOT_TRANSCRIBED
) -> list[VoiceResult]:
    """Per arm (base first, then by strength): each metric's mean over seeds (a seed's value is its
    mean over tones, unvoiced generations left out of ``pitch_cents``, untranscribed ones out of
    ``wer``) with a seeded bootstrap CI; all arms share the same seed draws. ``wer_reason``: why WER
    is not measured, recorded for an arm with no transcribed generation."""
    if not points:
        return []
    seeds = sorted({p.seed for p in points})
    index = {s: i for i, s in enumerate(seeds)}
    counts = seed_counts(len(seeds), rules.bootstrap, np.random.default_rng(rules.seed + 3))
    results = []
    for arm, strength in sorted({(p.arm, p.strength) for p in points}, key=lambda a: (a[0] != "base", a[1], a[0])):
        own = [p for p in points if p.arm == arm]
        per_seed = {name: np.full(len(seeds), np.nan) for name in METRICS}
        for name in METRICS:
            for s in seeds:
                values = [getattr(p, name) for p in own if p.seed == s]
                if name == "level_dbfs":
                    values = [max(v, SILENCE_FLOOR_DBFS) for v in values if not math.isnan(v)]
                finite = [v for v in values if math.isfinite(v)]
                if finite:
                    per_seed[name][index[s]] = float(np.mean(finite))
        results.append(
            VoiceResult(
                arm=arm,
                strength=strength,
                generations=len(own),
                pitch_cents=mean_interval(per_seed["pitch_cents"], counts, rules.confidence),
                vuv_f1=mean_interval(per_seed["vuv_f1"], counts, rules.confidence),
                level_dbfs=mean_interval(per_seed["level_dbfs"], counts, rules.confidence),
                wer=mean_interval(per_seed["wer"], counts, rules.confidence),
                transcribed=sum(1 for p in own if math.isfinite(p.wer)),
                wer_reason=wer_reason,
            )
        )
    return results
