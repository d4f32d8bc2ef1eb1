"""Running the controlled tests against any generator, and measuring what it generated.

The sampler on ltx-core (:mod:`ltxvoice.evaluate.sampler`) is one :class:`Generator`; the tests
drive the same code with stand-ins of known behaviour, so the statistics are checked end to end
(generation -> Praat on the generated span -> slope, CI, decision) without a model.

A generator returns the decoded audio together with the span of it that was generated
(:attr:`Output.span_s`). Only that span is ever measured: a reference that ends up in the decoded
audio (decoded by mistake, or a generator that echoes its input) lies outside the span and cannot
leak into the measured pitch through the measurement. A leak *through the model* is what the base
arm's slope measures (see :func:`ltxvoice.evaluate.stats.analyse_sweep`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ltxvoice.config import EvalPitchParams, quoted_line
from ltxvoice.dsp.pitch import PitchTrack, praat_track
from ltxvoice.evaluate.stats import ConditionPoint, DriftPoint, SweepPoint, relative_distance
from ltxvoice.evaluate.voice import Heard, Listener, pitch_cents, transcript_wer, vuv_f1
from ltxvoice.media import resample, rms_dbfs, write_wav

BASE = "base"


@dataclass(frozen=True)
class Arm:
    """A model variant: the base model (no LoRA) or a LoRA file fused at a strength."""

    name: str
    strength: float
    lora: Path | None

    @staticmethod
    def base() -> Arm:
        return Arm(BASE, 0.0, None)

    @staticmethod
    def lora_at(path: Path, strength: float) -> Arm:
        return Arm(f"lora@{strength:g}", strength, Path(path))


@dataclass(frozen=True)
class Reference:
    """An audio reference (the helium tone): mono samples at ``rate``."""

    tone_hz: float
    samples: np.ndarray
    rate: int


@dataclass(frozen=True)
class Output:
    """One generation as the eval receives it: the decoded audio (mono), the span of it that was
    generated, in seconds, and the generated video latents (for drift; None if not generated)."""

    seed: int
    waveform: np.ndarray
    rate: int
    span_s: tuple[float, float]
    video_latent: np.ndarray | None = None


class Generator(Protocol):
    """Anything that generates audio (and optionally video latents) for an arm, a prompt, seeds
    and an optional reference. One output per seed, in order; the same inputs give the same output."""

    def generate(self, arm: Arm, prompt: str, seeds: Sequence[int], reference: Reference | None) -> list[Output]: ...


@dataclass(frozen=True)
class Measurement:
    """Praat pitch and level of a generated span."""

    f0_hz: float  # median over voiced frames; nan when fewer than min_voiced_fraction are voiced
    voiced_fraction: float
    level_dbfs: float
    seconds: float
    pitch_cents: float = math.nan  # against a reference (ltxvoice.evaluate.voice); nan without one
    vuv_f1: float = math.nan


def generated_span(output: Output) -> np.ndarray:
    """The samples of the generated span. Raises ValueError when the span is empty or does not lie
    inside the waveform (a generator that misreports its span must not be measured at all)."""
    start_s, end_s = output.span_s
    n = output.waveform.shape[-1]
    start, end = round(start_s * output.rate), round(end_s * output.rate)
    if not (0 <= start < end <= n):
        raise ValueError(
            f"seed {output.seed}: generated span {output.span_s} s is not inside the "
            f"{n / output.rate:.3f} s of decoded audio"
        )
    return np.asarray(output.waveform[start:end], dtype=np.float32)


def pitch_track(samples: np.ndarray, rate: int, pitch: EvalPitchParams) -> PitchTrack:
    """The evaluation's pitch measurement: Praat autocorrelation at ``pitch.analysis_rate`` in the
    configured range. The sweep, the voice metrics and the oracle arms all measure with this."""
    x = resample(np.asarray(samples, dtype=np.float32), rate, pitch.analysis_rate)
    return praat_track(x, pitch.analysis_rate, pitch.floor_hz, pitch.ceiling_hz)


def median_f0(track: PitchTrack, pitch: EvalPitchParams) -> float:
    """Median F0 over voiced frames; nan when fewer than ``pitch.min_voiced_fraction`` are voiced."""
    return track.median() if track.voiced_fraction() >= pitch.min_voiced_fraction else math.nan


def measure_generated(output: Output, pitch: EvalPitchParams, reference: Reference | None = None) -> Measurement:
    """Pitch (Praat autocorrelation), voicing and RMS level of the generated span only; with a
    reference tone also the voice metrics against it (``pitch_cents``, ``vuv_f1``)."""
    span = generated_span(output)
    track = pitch_track(span, output.rate, pitch)
    cents, f1 = math.nan, math.nan
    if reference is not None:
        cents = pitch_cents(track, reference.tone_hz)
        f1 = vuv_f1(track.voiced, pitch_track(reference.samples, reference.rate, pitch).voiced)
    return Measurement(
        f0_hz=median_f0(track, pitch),
        voiced_fraction=track.voiced_fraction(),
        level_dbfs=rms_dbfs(span),
        seconds=span.size / output.rate,
        pitch_cents=cents,
        vuv_f1=f1,
    )


@dataclass
class Run:
    """What a test run produced: measured points, video latents for drift, kept audio."""

    sweep: list[SweepPoint] = field(default_factory=list)
    conditions: list[ConditionPoint] = field(default_factory=list)
    latents: dict[tuple[str, int, str], np.ndarray] = field(default_factory=dict)  # (arm, seed, condition)
    audio: list[tuple[Arm, int, str, Output]] = field(default_factory=list)  # kept for writing
    heard: list[Heard] = field(default_factory=list)  # what the ASR heard, where it listened

    def extend(self, other: Run) -> Run:
        self.sweep += other.sweep
        self.conditions += other.conditions
        self.latents |= other.latents
        self.audio += other.audio
        self.heard += other.heard
        return self


Progress = Callable[[int], None]


def _batches(seeds: Sequence[int], size: int) -> list[list[int]]:
    return [list(seeds[i : i + size]) for i in range(0, len(seeds), size)]


def tone_label(tone_hz: float) -> str:
    return f"tone_{tone_hz:g}Hz"


def run_sweep(
    generator: Generator,
    arm: Arm,
    caption: str,
    references: Sequence[Reference],
    seeds: Sequence[int],
    pitch: EvalPitchParams,
    *,
    batch_size: int = 4,
    keep_audio_seeds: int = 0,
    progress: Progress | None = None,
    listener: Listener | None = None,
) -> Run:
    """The helium sweep for one arm: every reference tone at every seed, one fixed caption. With a
    ``listener`` and a caption that quotes words to say, the generations ``listener.per_seed`` picks
    are transcribed and scored for WER against those words."""
    run = Run()
    speech = quoted_line(caption)
    for j, ref in enumerate(references):
        listening = None
        if listener is not None and speech is not None:
            chosen = {s for pos, s in enumerate(seeds) if j in listener.tones_of_seed(pos, len(references))}
            listening = _Listening(listener, speech, chosen)
        _generate(
            run,
            generator,
            arm,
            tone_label(ref.tone_hz),
            caption,
            ref,
            seeds,
            pitch,
            batch_size,
            keep_audio_seeds,
            progress,
            listening,
        )
    return run


def run_prompts(
    generator: Generator,
    arm: Arm,
    prompts: dict[str, str],
    seeds: Sequence[int],
    pitch: EvalPitchParams,
    *,
    batch_size: int = 4,
    keep_audio_seeds: int = 0,
    progress: Progress | None = None,
    listener: Listener | None = None,
) -> Run:
    """Labelled prompts (e.g. one per manner keyword) at every seed, no reference. With a ``listener``,
    every generation of a prompt that quotes a line is transcribed and scored for WER against it."""
    run = Run()
    for label, prompt in prompts.items():
        speech = quoted_line(prompt)
        listening = _Listening(listener, speech, set(seeds)) if listener is not None and speech is not None else None
        _generate(
            run, generator, arm, label, prompt, None, seeds, pitch, batch_size, keep_audio_seeds, progress, listening
        )
    return run


@dataclass(frozen=True)
class _Listening:
    """Which generations of one condition are transcribed, and the words they are scored against."""

    listener: Listener
    reference: str
    seeds: set[int]


def _generate(
    run: Run,
    generator: Generator,
    arm: Arm,
    label: str,
    prompt: str,
    ref: Reference | None,
    seeds: Sequence[int],
    pitch: EvalPitchParams,
    batch_size: int,
    keep_audio_seeds: int,
    progress: Progress | None,
    listening: _Listening | None = None,
) -> None:
    """One condition (a tone or a labelled prompt) at every seed, in batches, measured into ``run``;
    with a reference tone each generation is also a sweep point; the generations ``listening`` names
    are transcribed and scored for WER."""
    for batch in _batches(seeds, batch_size):
        outputs = generator.generate(arm, prompt, batch, ref)
        _check_outputs(outputs, batch)
        for out in outputs:
            m = measure_generated(out, pitch, ref)
            error = math.nan
            if listening is not None and out.seed in listening.seeds:
                error, text = transcript_wer(generated_span(out), out.rate, listening.reference, listening.listener)
                run.heard.append(Heard(arm.name, out.seed, label, listening.reference, text, error))
            if ref is not None:
                run.sweep.append(
                    SweepPoint(
                        arm.name,
                        arm.strength,
                        out.seed,
                        ref.tone_hz,
                        m.f0_hz,
                        m.voiced_fraction,
                        pitch_cents=m.pitch_cents,
                        vuv_f1=m.vuv_f1,
                        level_dbfs=m.level_dbfs,
                        wer=error,
                    )
                )
            run.conditions.append(
                ConditionPoint(arm.name, arm.strength, out.seed, label, m.voiced_fraction, m.level_dbfs, error)
            )
            _keep(run, arm, label, out, seeds, keep_audio_seeds)
        if progress:
            progress(len(batch))


def _check_outputs(outputs: list[Output], seeds: list[int]) -> None:
    got = [o.seed for o in outputs]
    if got != seeds:
        raise ValueError(f"generator returned seeds {got} for requested seeds {seeds}")


def _keep(run: Run, arm: Arm, label: str, out: Output, seeds: Sequence[int], keep_audio_seeds: int) -> None:
    if out.video_latent is not None:
        run.latents[(arm.name, out.seed, label)] = out.video_latent
    if out.seed in seeds[:keep_audio_seeds]:
        run.audio.append((arm, out.seed, label, out))


def drift(latents: dict[tuple[str, int, str], np.ndarray]) -> tuple[list[DriftPoint], list[float], dict[str, float]]:
    """Video drift of every LoRA generation against the base generation at the same seed and
    condition, plus the seed-to-seed floor (base generations of consecutive seeds, same condition).

    Returns (drift points, floor distances, strength by arm name)."""
    base = {(s, c): v for (a, s, c), v in latents.items() if a == BASE}
    points: list[DriftPoint] = []
    for (arm, seed, cond), v in sorted(latents.items(), key=lambda kv: kv[0]):
        if arm == BASE:
            continue
        ref = base.get((seed, cond))
        if ref is None:
            raise ValueError(f"no base generation at seed {seed}, condition {cond} to measure {arm}'s drift against")
        points.append(
            DriftPoint(
                arm,
                _strength(arm),
                seed,
                cond,
                relative_distance(v, ref),
                float(np.max(np.abs(np.asarray(v, np.float64) - ref))),
            )
        )
    floor: list[float] = []
    for cond in sorted({c for _, c in base}):
        seeds = sorted(s for s, c in base if c == cond)
        floor += [relative_distance(base[(b, cond)], base[(a, cond)]) for a, b in zip(seeds, seeds[1:])]
    return points, floor, {p.arm: p.strength for p in points}


def _strength(arm_name: str) -> float:
    return float(arm_name.split("@", 1)[1]) if "@" in arm_name else math.nan


def write_audio(run: Run, out_dir: Path) -> list[Path]:
    """Write the kept generations as WAVs: ``<arm>/<condition>_seed<N>.wav`` (generated span only)."""
    paths = []
    for arm, seed, label, out in run.audio:
        path = out_dir / arm.name / f"{label}_seed{seed}.wav"
        paths.append(write_wav(path, generated_span(out), out.rate))
    return sorted(paths)
