from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ltxvoice.cli import app

runner = CliRunner()


def _text(output: str) -> str:
    return " ".join(output.split())


def test_help_explains_itself() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for word in ("dvc repro", "ingest", "demo", "params"):
        assert word in _text(result.output)


def test_ingest_help_describes_outputs() -> None:
    result = runner.invoke(app, ["ingest", "--help"])
    assert result.exit_code == 0
    for text in ("ingest.sources", "quarantine.parquet", "clips.parquet", "frames"):
        assert text in _text(result.output)


def test_params_check(tmp_path: Path) -> None:
    good = runner.invoke(app, ["params", "check", "--params", str(Path(__file__).parents[1] / "params.yaml")])
    assert good.exit_code == 0 and "ok" in good.output
    bad = tmp_path / "p.yaml"
    bad.write_text("ingest:\n  sources: [x]\n  width: 100\n")
    result = runner.invoke(app, ["params", "check", "--params", str(bad)])
    assert result.exit_code == 1
    assert "ingest.width: must be a multiple of 32" in result.output


def test_params_check_names_a_section_a_stage_reads_but_the_file_lacks(tmp_path: Path) -> None:
    root = Path(__file__).parents[1]
    (tmp_path / "dvc.yaml").write_text((root / "dvc.yaml").read_text())
    text = (root / "params.yaml").read_text()
    start, end = text.index("\nmeasure:"), text.index("\nshift:")
    (tmp_path / "params.yaml").write_text(text[:start] + text[end:])
    result = runner.invoke(app, ["params", "check", "--params", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1
    assert f"section 'measure' is missing (stage 'measure' of {tmp_path / 'dvc.yaml'} reads it)" in result.output


def test_pitch_shift_tone_commands(tmp_path: Path) -> None:
    import json

    tone = tmp_path / "tone.wav"
    made = runner.invoke(app, ["tone", str(tone), "--f0", "150", "--seed", "2"])
    assert made.exit_code == 0, made.output
    measured = json.loads(runner.invoke(app, ["pitch", str(tone)]).output)
    assert abs(measured["f0_hz"] - 150) < 2
    shifted = tmp_path / "up.wav"
    result = runner.invoke(app, ["shift", str(tone), str(shifted), "--semitones", "5", "--engine", "world"])
    assert result.exit_code == 0, result.output
    after = json.loads(runner.invoke(app, ["pitch", str(shifted)]).output)
    assert abs(after["f0_hz"] - 150 * 2 ** (5 / 12)) < 5
    bad = runner.invoke(app, ["shift", str(tone), str(shifted), "--semitones", "1", "--engine", "nope"])
    assert bad.exit_code != 0 and "psola or world" in bad.output


def test_encode_and_tiny_models_commands_explain_themselves(tmp_path: Path) -> None:
    result = runner.invoke(app, ["encode", "--help"])
    assert result.exit_code == 0
    for text in ("encode.checkpoint", "latents/<id>.pt", "conditions/<id>.pt", "verify"):
        assert text in _text(result.output)
    assert "ltx-2.3-tiny.safetensors" in _text(runner.invoke(app, ["tiny-models", "--help"]).output)
    missing = runner.invoke(
        app,
        ["encode", "verify", "--encoded", str(tmp_path), "--params", str(Path(__file__).parents[1] / "params.yaml")],
    )
    assert missing.exit_code == 1 and "items.parquet: table not found" in _text(missing.output)


def test_encode_params_are_checked() -> None:
    import pytest

    from ltxvoice.config import ParamsError, parse_params

    assert parse_params({"encode": {"buckets": ["256x256x121"]}}).encode.bucket_shapes == [(121, 256, 256)]
    for bucket, message in (
        ("256x250x121", "multiples of 32"),
        ("256x256x120", "frames % 8 must be 1"),
        ("256x256", "WIDTHxHEIGHTxFRAMES"),
    ):
        with pytest.raises(ParamsError, match=message):
            parse_params({"encode": {"buckets": [bucket]}})
    with pytest.raises(ParamsError, match="encode.buckets: .*same shape more than once"):
        parse_params({"encode": {"buckets": ["64x64x9", "64x64x9"]}})
    with pytest.raises(ParamsError, match="encode.verify_sample: unknown key"):
        parse_params({"encode": {"verify_sample": 2}})


def _refusal(args: list[str], debug: bool) -> tuple[int, str]:
    result = runner.invoke(app, (["--debug"] if debug else []) + args)
    return result.exit_code, result.output


def test_refusals_are_one_line_and_show_a_traceback_only_with_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from ltxvoice.config import DEBUG_ENV
    from ltxvoice.pipeline import workspace_lock

    monkeypatch.setenv(DEBUG_ENV, "0")  # restored after the test, whatever --debug set
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    bad = tmp_path / "params.yaml"
    bad.write_text("ingest:\n  sources: [x]\n  frames: true\n")
    params_invalid = ["ingest", "--params", str(bad), "--out", str(tmp_path / "out")]
    good = tmp_path / "project" / "params.yaml"
    good.parent.mkdir()
    good.write_text("ingest:\n  sources: [x]\n")
    with socket.socket() as taken, workspace_lock(good.parent, holder="run A"):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port_in_use = ["server", "--port", str(taken.getsockname()[1])]
        busy = ["pipeline", "--params", str(good)]
        for args, says in (
            (params_invalid, "ingest.frames"),
            (port_in_use, "is in use by another program"),
            (busy, "another pipeline run is using this workspace"),
        ):
            code, plain = _refusal(args, debug=False)
            lines = [line for line in plain.splitlines() if line.strip()]
            assert code == 1 and len(lines) == 1 and says in lines[0], plain
            assert "Traceback" not in plain
            code, debug = _refusal(args, debug=True)
            assert code == 1 and says in _text(debug)
            assert "Traceback (most recent call last)" in debug, debug
            monkeypatch.setenv(DEBUG_ENV, "0")
