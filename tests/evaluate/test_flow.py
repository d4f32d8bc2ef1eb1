"""Stage ``evaluate`` end to end on the tiny LTX-2.3 checkpoint and tiny LoRA checkpoints in the
train stage's layout: structure, quarantine of a broken checkpoint, generation with the LoRA off
and on, metrics, plots, samples, report and its Prefect artifact; one file through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml
from prefect.testing.utilities import prefect_test_harness

from tests.evaluate.loras import HELIUM, lora_tensors, save_lora

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def prefect_harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


def params(tmp: Path, model: Path, **over: object) -> Path:
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    ev = data["evaluate"]
    ev.update(
        model=str(model),
        checkpoints=str(tmp / "checkpoints"),
        final=str(tmp / "lora.safetensors"),
        seeds=2,
        frames=9,
        width=32,
        height=32,
        strengths=[1.0],
        sample_seeds=1,
        text_encoder="random",
        gemma=str(Path(model).parent / "gemma"),
    )
    ev["sampler"].update(steps=2, batch_size=2)
    ev["helium"].update(tones_hz=[100.0, 160.0, 250.0], tone_seconds=0.5)
    ev["stats"].update(bootstrap=200, min_seeds=2)
    ev["asr"].update(model=str(tmp / "asr"))  # the real Whisper base (the project fixture links it there)
    if "recipe" in over:  # what evaluate tests follows the top-level recipe
        data["recipe"] = over.pop("recipe")
    ev.update(over)
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def project(tiny_ltx: Path, whisper_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("evalproject")
    (tmp / "asr").symlink_to(whisper_base, target_is_directory=True)
    first = lora_tensors(tiny_ltx, HELIUM, rank=4, seed=1, scale=0.2)
    save_lora(tmp / "checkpoints" / "step_000010.safetensors", first, step=10)
    broken = {k: v.clone() for k, v in first.items()}
    next(iter(broken.values()))[0, 0] = float("nan")
    save_lora(tmp / "checkpoints" / "step_000015.safetensors", broken, step=15)
    grown = {k: (v * 1.08 if "lora_B" in k else v) for k, v in first.items()}
    last = save_lora(tmp / "checkpoints" / "step_000020.safetensors", grown, step=20)
    (tmp / "lora.safetensors").write_bytes(last.read_bytes())  # the final file is the last checkpoint
    params(tmp, tiny_ltx)
    return tmp


@pytest.fixture(scope="module")
def evaluated(project: Path) -> tuple[Path, dict]:
    from flows.evaluate import evaluate

    out = project / "out"
    summary = evaluate(params_path=str(project / "params.yaml"), out=str(out))
    return out, summary


def test_checkpoints_are_evaluated_and_the_broken_one_quarantined(evaluated: tuple[Path, dict]) -> None:
    out, summary = evaluated
    assert summary["inputs"] == 3 and summary["evaluated"] == 2  # the final file equals step 20
    assert summary["quarantined_by_reason"] == {"non_finite": 1}
    q = pl.read_parquet(out / "quarantine.parquet")
    assert q["item_id"].to_list() == ["step_000015"]
    assert sorted(p.name for p in (out / "metrics").iterdir()) == ["step_000010.json", "step_000020.json"]
    assert json.loads((out / "metrics.json").read_text()) == summary
    # the oracle arms run every time; this test's working directory holds no select pairs
    assert summary["oracle"]["resolved"] is False and "no oracle data" in summary["oracle"]["reason"]
    choice = json.loads((out / "best" / "choice.json").read_text())
    assert summary["best_checkpoint"] == choice["best_checkpoint"] and summary["best_reason"] == choice["reason"]
    assert (out / "best" / "lora.safetensors").is_file() == (choice["best_checkpoint"] is not None)


def test_metrics_hold_structure_distance_sweep_and_drift(evaluated: tuple[Path, dict]) -> None:
    out, _ = evaluated
    m = json.loads((out / "metrics" / "step_000020.json").read_text())
    assert m["model"] == "random-weight test model" and m["text"] == "random" and m["step"] == 20
    assert m["structure"]["tensors"] == 40 and m["structure"]["touched"]["audio"] == 20
    assert m["structure"]["unmatched"] == 0 and m["structure"]["rank"] == 4
    assert m["distance_to_previous"]["relative"] == pytest.approx(0.08, abs=0.002)  # bf16 factors
    assert set(m["helium"]) == {"base", "lora@1"} and m["helium"]["base"]["generations"] == 6
    assert set(m["voice"]) == {"base", "lora@1"}
    for arm in ("base", "lora@1"):  # the real Whisper base on the tiny model's noise: measured, one tone per seed
        v = m["voice"][arm]
        assert v["transcribed"] == 2 and v["wer_lo"] <= v["wer"] <= v["wer_hi"] and "wer_reason" not in v
    assert m["voice"]["lora@1"]["speaker_similarity"] is None
    assert m["helium"]["lora@1"]["verdict"] in {"tracks", "does not track", "inconclusive"}
    d = m["drift"]["lora@1"]
    assert d["drift"] > 0 and d["verdict"] in {"unchanged", "changed"}
    details = json.loads((out / "details" / "step_000020.json").read_text())
    assert details["helium"][1]["reason"] and details["structure"]["problems"] == []
    heard = details["transcripts"]
    assert len(heard) == 4 and {h["arm"] for h in heard} == {"base", "lora@1"}
    assert {h["reference"] for h in heard} == {
        yaml.safe_load((ROOT / "params.yaml").read_text())["evaluate"]["helium"]["speech"]
    }
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["voice"]["step_000020"]["lora@1"]["wer"] == m["voice"]["lora@1"]["wer"]


def test_plots_samples_and_report(evaluated: tuple[Path, dict]) -> None:
    from prefect.artifacts import Artifact

    out, _ = evaluated
    slope = pl.read_csv(out / "plots" / "slope.csv")
    assert slope["step"].to_list() == [10, 20]
    assert {"base_slope", "base_slope_lo", "lora_1_slope", "lora_1_vs_base_hi"} <= set(slope.columns)
    assert pl.read_csv(out / "plots" / "structure.csv")["distance_to_previous"].to_list()[1] == pytest.approx(
        0.08, abs=0.002
    )
    assert "lora_1_ratio" in pl.read_csv(out / "plots" / "drift.csv").columns
    voice = pl.read_csv(out / "plots" / "voice.csv")
    assert voice["step"].to_list() == [10, 20]
    assert {"base_pitch_cents", "lora_1_pitch_cents_lo", "lora_1_vuv_f1_hi", "lora_1_level_dbfs"} <= set(voice.columns)
    assert {"base_wer", "lora_1_wer", "lora_1_wer_lo", "lora_1_wer_hi"} <= set(voice.columns)
    assert voice["lora_1_wer"].is_not_null().all()
    samples = sorted(p.relative_to(out / "samples").as_posix() for p in (out / "samples").rglob("*.wav"))
    assert samples == [
        f"{prefix}/tone_{t}Hz_seed0.wav"
        for prefix in ("base", "step_000010/lora@1", "step_000020/lora@1")
        for t in (100, 160, 250)
    ]
    report = (out / "report" / "report.md").read_text()
    assert "random-weight" in report and "random-context" in report and "step_000015 | non_finite" in report
    assert "## Oracle arms" in report and "**Cannot resolve:**" in report and "## Best checkpoint" in report
    assert "WER: the sweep asks for the words" in report and "real measurement code on meaningless audio" in report
    assert "whose wer is at most the base model's plus 0.1" in report
    assert (out / "report" / "slope.png").is_file() and (out / "report" / "drift.png").is_file()
    artifact = Artifact.get("evaluate-report")
    assert artifact is not None and "random-weight" in str(artifact.data)


def test_one_checkpoint_through_the_cli_with_prompts(
    project: Path, tiny_ltx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from ltxvoice.cli import app

    p = params(
        project,
        tiny_ltx,
        recipe="register",
        prompts={"whispering": '(woman, whispering): "hello"', "none": '(woman): "hello"'},
    )
    monkeypatch.chdir(project)
    res = CliRunner().invoke(
        app, ["evaluate", "--params", str(p), "--checkpoint", "checkpoints/step_000010.safetensors"]
    )
    assert res.exit_code == 0, res.output
    out = project / "data" / "evaluate_one" / "step_000010"
    m = json.loads((out / "metrics" / "step_000010.json").read_text())
    assert set(m["conditions"]["lora@1"]) == {"whispering", "none"} and "helium" not in m
    assert m["conditions"]["lora@1"]["whispering"]["wer"] is not None  # its quoted line, heard by Whisper base
    assert "distance_to_previous" not in m
    res = CliRunner().invoke(
        app, ["evaluate", "--params", str(p), "--checkpoint", "checkpoints/step_000015.safetensors"]
    )
    assert res.exit_code == 1 and "non_finite" in res.output


def test_missing_checkpoints_fail_with_one_line(project: Path, tiny_ltx: Path) -> None:
    from flows.common import run_flow
    from flows.evaluate import evaluate

    empty = project / "nothing"
    empty.mkdir()
    p = params(project, tiny_ltx, checkpoints=str(empty), final=None)
    assert run_flow(evaluate, "evaluate", ["--params-path", str(p), "--out", str(project / "o2")]) == 1
