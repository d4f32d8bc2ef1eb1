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
