"""The sweep end to end on audio from a stand-in generator of known behaviour: Praat on the
generated span, then the statistics and the decision."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ltxvoice.config import EvalPitchParams
from ltxvoice.evaluate.stats import DOES_NOT_TRACK, INCONCLUSIVE, TRACKS, SweepRules, analyse_conditions, analyse_sweep
from ltxvoice.evaluate.sweep import (
    Arm,
    Output,
    drift,
    generated_span,
    measure_generated,
    run_prompts,
    run_sweep,
    write_audio,
)
from tests.evaluate.standin import RATE, Behaviour, StandIn, tone_references

PITCH = EvalPitchParams()
RULES = SweepRules(scale="hz", bootstrap=800, min_seeds=6)
TONES = (90.0, 130.0, 180.0, 250.0)
SEEDS = list(range(8))
LORA = Arm("lora@1", 1.0, None)


def sweep(behaviours: dict[str, Behaviour], ref_seconds: float = 0.5, **kw: object) -> tuple[list, StandIn]:
    gen = StandIn(behaviours, seconds=0.6)
    refs = tone_references(TONES, seconds=ref_seconds)
    run = run_sweep(gen, Arm.base(), "A person speaks.", refs, SEEDS, PITCH, batch_size=3, **kw)
    run.extend(run_sweep(gen, LORA, "A person speaks.", refs, SEEDS, PITCH, batch_size=3, **kw))
    return analyse_sweep(run.sweep, RULES), gen


def test_tracking_generator_is_recovered_through_praat() -> None:
    (base, lora), gen = sweep({"base": Behaviour(a=0.0, b=160.0), "lora@1": Behaviour(a=1.0, b=10.0)})
    assert lora.fit.slope.lo <= 1.0 <= lora.fit.slope.hi
    assert abs(lora.fit.slope.estimate - 1.0) < 0.05
    assert lora.verdict == TRACKS and base.leak is False
    assert gen.calls == 2 * len(TONES) * 3  # batches of 3 seeds: 3 calls per tone per arm


def test_non_tracking_generator() -> None:
    (_, lora), _ = sweep({"base": Behaviour(a=0.0, b=160.0), "lora@1": Behaviour(a=0.0, b=200.0)})
    assert lora.verdict == DOES_NOT_TRACK


def test_unvoiced_generator_is_flagged() -> None:
    (_, lora), _ = sweep({"base": Behaviour(), "lora@1": Behaviour(a=1.0, b=10.0, p_unvoiced=0.75)})
    assert lora.voiced_share < 0.5 and lora.mean_voiced_fraction < 0.5
    assert lora.verdict == INCONCLUSIVE and "unvoiced" in lora.reason


def test_tone_leaking_into_the_base_output_is_detected() -> None:
    (base, lora), _ = sweep(
        {"base": Behaviour(a=0.0, b=160.0, leak=0.7), "lora@1": Behaviour(a=0.0, b=160.0, leak=0.7)}
    )
    assert base.leak is True and base.fit.slope.lo > 0.5
    assert lora.verdict == DOES_NOT_TRACK  # its slope is the leak, which the base arm has too


def test_reference_outside_the_generated_span_is_never_measured() -> None:
    """The decoded audio holds the reference tone first; only the span after it is measured, so
    the base arm shows no leak. The same audio measured whole (a generator misreporting its span)
    would show one: the span is what keeps the reference out."""
    honest, _ = sweep(
        {"base": Behaviour(a=0.0, b=160.0, decoded_reference=True), "lora@1": Behaviour()}, ref_seconds=1.0
    )
    assert honest[0].leak is False
    broken, _ = sweep(
        {"base": Behaviour(a=0.0, b=160.0, decoded_reference=True, report_whole_waveform=True), "lora@1": Behaviour()},
        ref_seconds=1.0,
    )
    assert broken[0].leak is True


def test_span_outside_the_audio_is_refused() -> None:
    out = Output(seed=0, waveform=np.zeros(RATE, np.float32), rate=RATE, span_s=(0.5, 1.5))
    with pytest.raises(ValueError, match="not inside"):
        generated_span(out)
    with pytest.raises(ValueError, match="not inside"):
        generated_span(Output(seed=0, waveform=np.zeros(RATE, np.float32), rate=RATE, span_s=(0.3, 0.3)))


def test_measurement_of_a_known_tone() -> None:
    gen = StandIn({"base": Behaviour(a=1.0, b=0.0, noise=0.0, seed_sd=0.0)}, seconds=0.8)
    (out,) = gen.generate(Arm.base(), "x", [0], tone_references([200.0])[0])
    m = measure_generated(out, PITCH)
    assert abs(m.f0_hz - 200.0) < 2.0 and m.voiced_fraction > 0.8
    assert abs(m.level_dbfs + 20.0) < 0.5 and m.seconds == pytest.approx(0.8)
    (noise,) = StandIn({"base": Behaviour(p_unvoiced=1.0)}).generate(Arm.base(), "x", [0], None)
    assert math.isnan(measure_generated(noise, PITCH).f0_hz)


def test_register_prompts_voicing_and_level(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gen = StandIn({"base": Behaviour(), "lora@1": Behaviour(whisper_keyword="whispering")}, seconds=0.5, video=True)
    prompts = {"whispering": "(woman, whispering): hi", "soft": "(woman, speaking softly): hi"}
    run = run_prompts(gen, Arm.base(), prompts, SEEDS, PITCH, batch_size=4, keep_audio_seeds=1)
    run.extend(run_prompts(gen, LORA, prompts, SEEDS, PITCH, batch_size=4, keep_audio_seeds=1))
    res = {(r.arm, r.condition): r for r in analyse_conditions(run.conditions, RULES)}
    w, s = res[("lora@1", "whispering")], res[("lora@1", "soft")]
    assert w.voiced_fraction.hi < 0.2 and w.voiced_vs_base.hi < -0.5
    assert w.level_vs_base.estimate == pytest.approx(-15.0, abs=0.5)
    assert s.voiced_vs_base.lo <= 0 <= s.voiced_vs_base.hi
    written = write_audio(run, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "base/soft_seed0.wav",
        "base/whispering_seed0.wav",
        "lora@1/soft_seed0.wav",
        "lora@1/whispering_seed0.wav",
    ]
    points, floor, strengths = drift(run.latents)
    assert len(points) == 2 * len(SEEDS) and len(floor) == 2 * (len(SEEDS) - 1)
    assert all(0 < p.distance < 0.01 for p in points) and min(floor) > 0.5
    assert strengths == {"lora@1": 1.0}


def test_drift_needs_the_base_generation() -> None:
    with pytest.raises(ValueError, match="no base generation"):
        drift({("lora@1", 0, "c"): np.zeros(3)})
