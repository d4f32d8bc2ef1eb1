"""Voice metrics: pitch_cents is small for output at the tone's pitch and large for output that
ignores it, vuv_f1 falls with unvoiced output, the level is the RMS dBFS; wer is what the real Whisper
base hears against the words asked for (lower for speech that says them than for other words or
noise), averaged per seed with a CI over seeds, and null with a true reason when nothing was heard."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ltxvoice.config import AsrParams, EvalHeliumParams, EvalPitchParams
from ltxvoice.evaluate.stats import SweepPoint, SweepRules, analyse_conditions
from ltxvoice.evaluate.sweep import Arm, Output, Reference, Run, pitch_track, run_prompts, run_sweep
from ltxvoice.evaluate.voice import Listener, analyse_voice, pitch_cents, vuv_f1
from ltxvoice.media import rms_dbfs
from ltxvoice.models.asr import Transcript, load_transcriber
from ltxvoice.wer import wer
from tests.evaluate.standin import Behaviour, StandIn, tone_references
from tests.evaluate.voices import RATE, gapped, harmonic
from tests.fixtures import espeak_samples

PITCH = EvalPitchParams()
RULES = SweepRules(bootstrap=400, seed=0)


def test_pitch_cents_of_known_tones() -> None:
    assert pitch_cents(pitch_track(harmonic(200.0), RATE, PITCH), 200.0) < 10.0
    off = pitch_cents(pitch_track(harmonic(150.0), RATE, PITCH), 200.0)
    assert off == pytest.approx(1200 * math.log2(200 / 150), abs=15.0)
    assert math.isnan(pitch_cents(pitch_track(np.zeros(RATE // 2, np.float32), RATE, PITCH), 200.0))


def test_vuv_f1_definition() -> None:
    ref = np.ones(10, bool)
    assert vuv_f1(np.ones(10, bool), ref) == 1.0
    assert vuv_f1(np.r_[np.ones(5, bool), np.zeros(5, bool)], ref) == pytest.approx(2 * 0.5 / 1.5)
    assert vuv_f1(np.zeros(4, bool), np.zeros(4, bool)) == 1.0  # agree: nothing voiced
    assert vuv_f1(np.ones(4, bool), np.zeros(4, bool)) == 0.0
    assert vuv_f1(np.ones(3, bool), np.r_[np.ones(3, bool), np.zeros(20, bool)]) == 1.0  # common frames only
    assert math.isnan(vuv_f1(np.ones(0, bool), ref))
    half = pitch_track(gapped(180.0, 0.5), RATE, PITCH).voiced
    assert vuv_f1(half, pitch_track(harmonic(180.0, 1.0), RATE, PITCH).voiced) == pytest.approx(2 / 3, abs=0.06)


def test_planted_effect_ranks_the_following_arm_first() -> None:
    gen = StandIn(
        {
            "base": Behaviour(a=0.0, b=150.0, noise=2.0, seed_sd=3.0),
            "lora@1": Behaviour(a=1.0, b=0.0, noise=2.0, seed_sd=3.0),
        },
        seconds=0.5,
    )
    refs = tone_references((100.0, 160.0, 250.0), seconds=0.5)
    run = run_sweep(gen, Arm.base(), "x", refs, list(range(4)), PITCH)
    run.extend(run_sweep(gen, Arm("lora@1", 1.0, None), "x", refs, list(range(4)), PITCH))
    base, lora = analyse_voice(run.sweep, RULES)
    assert (base.arm, lora.arm) == ("base", "lora@1") and lora.generations == 12
    assert lora.pitch_cents.estimate < 50.0 and base.pitch_cents.estimate > 300.0
    assert lora.pitch_cents.hi < base.pitch_cents.lo
    assert lora.vuv_f1.estimate > 0.9 and base.vuv_f1.estimate > 0.9
    assert lora.level_dbfs.estimate == pytest.approx(-20.0, abs=1.0)
    m = lora.as_metrics()
    assert m["wer"] is None and m["transcribed"] == 0 and m["level_unit"] == "RMS dBFS"
    assert m["wer_reason"] == "not measured: no generation of this arm was transcribed"
    assert m["speaker_similarity"] is None and "no speaker-embedding model" in m["speaker_similarity_reason"]
    assert m["pitch_cents_lo"] <= m["pitch_cents"] <= m["pitch_cents_hi"]


def test_unvoiced_output_lowers_vuv_f1_and_leaves_pitch_cents_out() -> None:
    points = [SweepPoint("base", 0.0, s, 100.0, 100.0, 0.9, 10.0, 0.95, -20.0) for s in range(6)]
    points += [
        SweepPoint("lora@1", 1.0, s, 100.0, math.nan, 0.0, math.nan, 0.0, -math.inf)
        if s % 2
        else SweepPoint("lora@1", 1.0, s, 100.0, 100.0, 0.9, 30.0, 0.9, -20.0)
        for s in range(6)
    ]
    base, lora = analyse_voice(points, RULES)
    assert lora.pitch_cents.estimate == pytest.approx(30.0)  # the unvoiced seeds have no pitch to judge
    assert lora.vuv_f1.estimate == pytest.approx(0.45) and base.vuv_f1.estimate == pytest.approx(0.95)
    assert lora.level_dbfs.estimate == pytest.approx((-20.0 - 120.0) / 2)  # silence at the floor


SAID = "I would like a cup of tea with milk, please."
OTHER = "Please call Stella and ask her to bring the book."
PROMPT = EvalHeliumParams(caption="a person speaking", speech=SAID).prompt


def test_the_sweep_prompt_quotes_the_words_to_say() -> None:
    assert PROMPT == 'a person speaking: "I would like a cup of tea with milk, please."'
    assert EvalHeliumParams(caption="a person speaking").prompt == "a person speaking"


def test_tones_are_transcribed_in_turn_so_the_seeds_cover_every_tone() -> None:
    one = Listener(lambda audio, language=None: Transcript("", "en", None, ()), per_seed=1)
    assert [one.tones_of_seed(p, 4) for p in range(5)] == [{0}, {1}, {2}, {3}, {0}]
    two = Listener(one.transcribe, per_seed=2)
    assert two.tones_of_seed(3, 4) == {3, 0} and Listener(one.transcribe).tones_of_seed(1, 3) == {0, 1, 2}


class Stub:
    """A transcriber for the arithmetic only: hears SAID in loud audio and 'a cup of coffee' in quiet
    audio (WER 0 and 0.4 against SAID), and counts what it was asked."""

    def __init__(self) -> None:
        self.calls: list[str | None] = []

    def __call__(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        self.calls.append(language)
        text = SAID if rms_dbfs(audio) > -25.0 else "I would like a cup of coffee"
        return Transcript(text, language or "en", None, ())


def test_wer_per_arm_is_the_mean_over_seeds_of_the_transcribed_generations() -> None:
    gen = StandIn(
        {
            "base": Behaviour(a=0.0, b=150.0, level_dbfs=-20.0),
            "lora@1": Behaviour(a=1.0, b=0.0, level_dbfs=-20.0, p_unvoiced=0.5, whisper_level_dbfs=-35.0),
        },
        seconds=0.5,
    )
    refs = tone_references((100.0, 160.0, 250.0), seconds=0.5)
    stub = Stub()
    listener = Listener(stub, "en", per_seed=1)
    run = Run()
    for arm in (Arm.base(), Arm("lora@1", 1.0, None)):
        run.extend(run_sweep(gen, arm, PROMPT, refs, list(range(6)), PITCH, listener=listener))
    assert stub.calls == ["en"] * 12  # one tone per seed and arm
    base, lora = analyse_voice(run.sweep, RULES)
    assert (base.transcribed, lora.transcribed, base.generations) == (6, 6, 18)
    assert base.wer.estimate == 0.0 and base.wer.lo == 0.0 and base.wer.hi == 0.0
    heard = [p.wer for p in run.sweep if p.arm == "lora@1" and math.isfinite(p.wer)]
    assert set(heard) == {0.0, 0.4} and lora.wer.estimate == pytest.approx(np.mean(heard))
    assert lora.wer.lo <= lora.wer.estimate <= lora.wer.hi and lora.wer.hi > lora.wer.lo
    assert {(h.seed, h.condition) for h in run.heard if h.arm == "base"} == {
        (s, f"tone_{(100, 160, 250)[s % 3]}Hz") for s in range(6)
    }
    m = lora.as_metrics()
    assert m["wer"] == pytest.approx(lora.wer.estimate, abs=1e-4) and "wer_reason" not in m


def test_no_words_asked_for_nothing_transcribed() -> None:
    gen = StandIn({"base": Behaviour()}, seconds=0.5)
    stub = Stub()
    run = run_sweep(
        gen,
        Arm.base(),
        "a person speaking",
        tone_references((100.0, 160.0, 250.0), 0.5),
        [0, 1],
        PITCH,
        listener=Listener(stub, "en"),
    )
    assert stub.calls == [] and run.heard == []
    (base,) = analyse_voice(run.sweep, RULES, "not measured: evaluate.asr and evaluate.helium.speech are null")
    assert base.as_metrics()["wer"] is None and "speech are null" in base.as_metrics()["wer_reason"]


class Speaker:
    """A generator whose words are known: per arm, espeak-ng saying a sentence (a different voice for
    each seed) or, for None, hiss; the whole output is the generated span."""

    VOICES = (("en+m3", 40), ("en+f3", 60), ("en-us+m1", 50))

    def __init__(self, words: dict[str, str | None]) -> None:
        self.words = words
        self.cache: dict[tuple[str, int], np.ndarray] = {}

    def generate(self, arm: Arm, prompt: str, seeds: list[int], reference: Reference | None) -> list[Output]:
        out = []
        for seed in seeds:
            if (arm.name, seed) not in self.cache:
                text = self.words[arm.name]
                voice, pitch = self.VOICES[seed % len(self.VOICES)]
                noise = 0.05 * np.random.default_rng(seed).standard_normal(2 * RATE)
                y = noise if text is None else espeak_samples(voice, pitch, rate=RATE, text=text)
                self.cache[(arm.name, seed)] = np.asarray(y, np.float32)
            y = self.cache[(arm.name, seed)]
            out.append(Output(seed, y, RATE, (0.0, y.size / RATE)))
        return out


@pytest.mark.slow  # 9 transcriptions by Whisper base: ~30 s on 2 busy cores
def test_planted_words_the_real_whisper_ranks_the_right_words_first(whisper_base: Path) -> None:
    """Speech that says the words asked for, speech that says other words, and hiss, through the sweep
    with the real Whisper base (beam 5, temperature 0, English): the right words get the lowest WER,
    with CIs over seeds that do not overlap."""
    asr = AsrParams(model=str(whisper_base), language="en", beam_size=5, word_timestamps=False)
    listener = Listener(load_transcriber(asr), asr.language, per_seed=1)
    gen = Speaker({"base": OTHER, "lora@0.5": None, "lora@1": SAID})
    refs = tone_references((120.0, 200.0), seconds=0.5)
    run = Run()
    for arm in (Arm.base(), Arm("lora@0.5", 0.5, None), Arm("lora@1", 1.0, None)):
        run.extend(run_sweep(gen, arm, PROMPT, refs, [0, 1, 2], PITCH, listener=listener))
    other, hiss, right = analyse_voice(run.sweep, RULES)
    assert (other.arm, hiss.arm, right.arm) == ("base", "lora@0.5", "lora@1")
    assert right.transcribed == other.transcribed == hiss.transcribed == 3
    heard = {h.seed: h.text for h in run.heard if h.arm == "lora@1"}
    assert right.wer.estimate <= 0.2, heard
    assert other.wer.estimate >= 0.7 and hiss.wer.estimate >= 0.9
    assert right.wer.hi < min(other.wer.lo, hiss.wer.lo)
    assert all(h.wer == wer(SAID, h.text) for h in run.heard)


def test_labelled_prompts_are_scored_against_their_quoted_line() -> None:
    """register / talking-head prompts: each prompt's quoted line is its reference; a prompt that quotes
    nothing is not transcribed and its wer stays null."""
    gen = StandIn({"base": Behaviour(level_dbfs=-20.0), "lora@1": Behaviour(level_dbfs=-30.0)}, seconds=0.5)
    prompts = {"asks": f'a woman (woman, speaking softly): "{SAID}", intimate ASMR', "silent": "a woman, no words"}
    stub = Stub()
    run = Run()
    for arm in (Arm.base(), Arm("lora@1", 1.0, None)):
        run.extend(run_prompts(gen, arm, prompts, [0, 1, 2], PITCH, listener=Listener(stub, "en")))
    assert len(stub.calls) == 6 and {h.condition for h in run.heard} == {"asks"}
    assert {h.reference for h in run.heard} == {SAID}
    by = {(r.arm, r.condition): r for r in analyse_conditions(run.conditions, RULES)}
    assert by[("base", "asks")].wer.estimate == 0.0 and by[("lora@1", "asks")].wer.estimate == pytest.approx(0.4)
    assert math.isnan(by[("lora@1", "silent")].wer.estimate)
