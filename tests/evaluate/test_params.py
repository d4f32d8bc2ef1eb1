"""The ``evaluate`` params section: the project's params.yaml loads, bad values fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ltxvoice.config import EvaluateParams, ParamsError, load_params, parse_params

ROOT = Path(__file__).resolve().parents[2]


def section(**over: object) -> dict:
    data = yaml.safe_load((ROOT / "params.yaml").read_text())["evaluate"]
    data.update(over)
    return data


def test_project_params_load() -> None:
    ev = load_params(ROOT / "params.yaml").require(EvaluateParams)
    assert isinstance(ev, EvaluateParams) and ev.seed_list == list(range(ev.seed, ev.seed + ev.seeds))
    assert ev.recipe == "helium" and len(ev.helium.tones_hz) >= 3


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"frames": 24}, "evaluate.frames: frames % 8 must be 1"),
        ({"width": 100}, "evaluate.width: must be a multiple of 32"),
        ({"strengths": [1.0, 1.0]}, "evaluate.strengths: strengths must be distinct"),
        ({"recipe": "register"}, "evaluate.recipe is not a setting"),
        ({"sample_seeds": 99}, "sample_seeds (99) cannot exceed seeds"),
        ({"sampler": {"steps": 2, "sigmas": [1.0, 0.5]}}, "sigmas has 2 values; steps 2 needs"),
        ({"sampler": {"steps": 2, "sigmas": [1.0, 0.6, 0.7]}}, "sigmas must fall strictly"),
        ({"helium": {"tones_hz": [100.0, 100.0, 200.0]}}, "evaluate.helium.tones_hz: needs at least 3 distinct"),
        ({"stats": {"confidence": 1.5}}, "evaluate.stats.confidence"),
        ({"pitch": {"floor_hz": 300.0, "ceiling_hz": 400.0}}, "ceiling_hz (400) must be at least twice"),
        ({"colour": "blue"}, "evaluate.colour: unknown key"),
        ({"oracle": {"pairs": "data/select/pairs.parquet", "extra": 1}}, "evaluate.oracle.extra: unknown key"),
        ({"best": {"strength": 0.5}}, "best.strength 0.5 is not one of strengths"),
        ({"best": {"vuv_f1_tolerance": 2.0}}, "evaluate.best.vuv_f1_tolerance"),
        ({"best": {"wer_tolerance": -0.1}}, "evaluate.best.wer_tolerance"),
        ({"asr": None}, "evaluate: helium.speech is a WER reference but asr is null"),
        ({"helium": {"speech": None}}, "evaluate: asr is set but the helium sweep asks for no words"),
        ({"helium": {"speech": 'say "this"'}}, "evaluate.helium.speech: needs words to say, without double quotes"),
        ({"helium": {"speech": "hi", "wer_per_seed": 0}}, "evaluate.helium.wer_per_seed"),
        ({"asr": {"model": "models/helium/asr", "colour": 1}}, "evaluate.asr.colour: unknown key"),
    ],
)
def test_bad_values_fail_naming_the_key(over: dict, message: str) -> None:
    with pytest.raises(ParamsError) as err:
        parse_params({"evaluate": section(**over)})
    assert message in str(err.value)


def test_model_is_required() -> None:
    data = section()
    del data["model"]
    with pytest.raises(ParamsError, match="evaluate.model: required key is missing"):
        parse_params({"evaluate": data})


def test_evaluate_follows_the_recipe_and_caption() -> None:
    """What evaluate tests is what was trained: never a second copy of `recipe` or `caption.text`."""
    from ltxvoice.config import ParamsError, parse_params

    params = parse_params(
        {
            "recipe": "helium",
            "caption": {"template": "constant", "text": "someone talks"},
            "evaluate": {"model": "m.safetensors"},
        }
    )
    assert params.evaluate is not None
    assert (params.evaluate.recipe, params.evaluate.helium.caption) == ("helium", "someone talks")
    register = parse_params({"recipe": "register", "evaluate": {"model": "m", "prompts": {"whisper": "a whisper"}}})
    assert register.evaluate is not None and register.evaluate.recipe == "register"
    with pytest.raises(ParamsError, match="evaluate: recipe register needs prompts"):
        parse_params({"recipe": "register", "evaluate": {"model": "m"}})
    for section, key in (
        ({"model": "m", "recipe": "helium"}, "evaluate.recipe"),
        ({"model": "m", "helium": {"caption": "x"}}, "evaluate.helium.caption"),
    ):
        with pytest.raises(ParamsError, match=f"^params.yaml: {key} is not a setting"):
            parse_params({"evaluate": section})


def test_wer_needs_both_an_asr_and_words_to_score() -> None:
    """The project's demo measures WER (the real Whisper base of stage asr_model); a WER reference
    without an ASR model, or the reverse, fails before any work, naming the key."""
    ev = load_params(ROOT / "params.yaml").require(EvaluateParams)
    assert ev.asr is not None and ev.asr.model == "models/helium/asr" and ev.helium.speech
    assert ev.helium.prompt == f'{ev.helium.caption}: "{ev.helium.speech}"'
    off = parse_params({"evaluate": section(asr=None, helium={"speech": None})}).evaluate
    assert off is not None and off.asr is None and off.helium.prompt == off.helium.caption
    asr = {"model": "models/register/asr"}
    quoted = {"whispering": '(woman, whispering): "hello there", intimate ASMR', "plain": "a woman"}
    register = parse_params({"recipe": "register", "evaluate": {"model": "m", "prompts": quoted, "asr": asr}})
    assert register.evaluate is not None and register.evaluate.asr is not None
    with pytest.raises(ParamsError, match="evaluate: asr is set but no prompt in prompts quotes a line"):
        parse_params({"recipe": "register", "evaluate": {"model": "m", "prompts": {"a": "a woman"}, "asr": asr}})
    # prompts quote their dialogue whether or not WER is scored: no ASR is allowed, and said (null wer)
    assert parse_params({"recipe": "register", "evaluate": {"model": "m", "prompts": quoted}}).evaluate is not None


def test_the_quoted_line_is_the_last_quoted_stretch() -> None:
    from ltxvoice.config import quoted_line

    assert quoted_line('a (woman, whispering): "hello there", intimate ASMR') == "hello there"
    assert quoted_line('[VISUAL] a sign "OPEN". [SPEECH] X speaks: \u201cgood morning\u201d') == "good morning"
    assert quoted_line("a person speaking") is None and quoted_line('a "  " b') is None
