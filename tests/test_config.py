from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ltxvoice.config import IngestParams, ParamsError, load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def test_project_params_are_valid() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.ingest is not None
    assert (params.ingest.frames, params.ingest.fps, params.ingest.width, params.ingest.height) == (121, 25.0, 256, 256)
    assert params.ingest.clip_samples == 232320  # 121 / 25 * 48000


def _error(data: dict) -> str:
    with pytest.raises(ParamsError) as info:
        parse_params(data)
    return str(info.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"ingest": {"sources": ["x"], "frame": 121}}, "params.yaml: ingest.frame: unknown key"),
        ({"ingest": {"sources": ["x"], "frames": 120}}, "params.yaml: ingest.frames: frames % 8 must be 1"),
        ({"ingest": {"sources": ["x"], "width": 250}}, "params.yaml: ingest.width: must be a multiple of 32"),
        ({"ingest": {"sources": ["x"], "fps": -1}}, "params.yaml: ingest.fps: Input should be greater than 0"),
        ({"ingest": {"sources": []}}, "params.yaml: ingest.sources: List should have at least 1 item"),
        ({"ingest": {}}, "params.yaml: ingest.sources: required key is missing"),
        ({"ingest": {"sources": ["x"], "resize": "stretch"}}, "params.yaml: ingest.resize:"),
        ({"bogus": {}}, "params.yaml: bogus: unknown key"),
        (
            {"ingest": {"sources": ["x"], "frames": True}},
            "params.yaml: ingest.frames: expected a number, not a boolean",
        ),
        ({"runner": {"retry_delay_s": False}}, "params.yaml: runner.retry_delay_s: expected a number, not a boolean"),
        (
            {"ingest": {"sources": ["x"], "fps": float("inf")}},
            "params.yaml: ingest.fps: Input should be a finite number",
        ),
        ({"measure": {"floor_hz": float("nan")}}, "params.yaml: measure.floor_hz: Input should be a finite number"),
        ({"runner": {"workers": 0}}, "params.yaml: runner.workers: Input should be greater than or equal to 1"),
        (
            {"demo": {"min_seconds": 9, "max_seconds": 8}},
            "params.yaml: demo: min_seconds (9.0) must not exceed max_seconds",
        ),
        (
            {"measure": {"pitch_rate": 4000, "ceiling_hz": 1200}},
            "params.yaml: measure: pitch_rate (4000) must be at least 4 times ceiling_hz",
        ),
    ],
)
def test_bad_values_name_the_key(data: dict, expected: str) -> None:
    message = _error(data)
    assert message.startswith(expected), message
    assert "\n" not in message  # one problem, one line


def test_cross_field_audio_extensions_need_require_video_false() -> None:
    message = _error({"ingest": {"sources": ["x"], "extensions": [".mp4", ".wav"]}})
    assert message.startswith("params.yaml: ingest: extensions include audio-only formats ['.wav']")
    ok = parse_params({"ingest": {"sources": ["x"], "extensions": [".wav"], "require_video": False}})
    assert ok.ingest is not None and ok.ingest.extensions == [".wav"]


def test_sidecar_extension_is_not_media() -> None:
    assert "sidecar" in _error({"ingest": {"sources": ["x"], "extensions": [".txt"]}})


def test_several_problems_are_one_line_each() -> None:
    lines = _error({"ingest": {"sources": ["x"], "frames": 120, "height": 100, "nope": 1}}).splitlines()
    assert sorted(line.split(":")[1].strip() for line in lines) == ["ingest.frames", "ingest.height", "ingest.nope"]


def test_load_params_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("ingest: [unclosed\n")
    with pytest.raises(ParamsError, match=r"not valid YAML at line \d"):
        load_params(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ParamsError, match="top level must be a mapping"):
        load_params(scalar)
    for text in ("", "# only\n# comments\n", "---\n"):
        scalar.write_text(text)
        with pytest.raises(ParamsError, match=r"holds no settings \(empty, or comments only\)"):
            load_params(scalar)


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    twice = tmp_path / "params.yaml"
    twice.write_text("ingest:\n  sources: [x]\n  frames: 121\n  frames: 57\n")
    with pytest.raises(ParamsError, match=r"line 4: key 'frames' is given twice \(first at line 3\)"):
        load_params(twice)
    twice.write_text("ingest:\n  sources: [x]\n  frames: 57\n")
    assert load_params(twice).ingest.frames == 57  # type: ignore[union-attr]


def test_a_boolean_setting_still_takes_a_boolean() -> None:
    params = parse_params({"ingest": {"sources": ["x"], "require_video": False, "extensions": [".wav"]}})
    assert params.ingest is not None and params.ingest.require_video is False


def test_params_are_frozen() -> None:
    cfg = IngestParams(sources=[Path("x")])
    with pytest.raises(ValidationError, match="frozen"):
        cfg.frames = 9  # type: ignore[misc]


def test_missing_section_is_reported() -> None:
    with pytest.raises(ParamsError, match="section 'ingest' is missing"):
        parse_params({}).require("ingest")
