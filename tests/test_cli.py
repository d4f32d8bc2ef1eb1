from __future__ import annotations

from pathlib import Path

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
