"""The ``ltxvoice`` command line.

Stage commands run the same Prefect flow that ``dvc repro`` runs for that stage (``flows.<stage>``),
from the project folder (the one with ``params.yaml`` and ``dvc.yaml``). Prefer ``dvc repro`` for
the pipeline: it skips what is up to date; a stage command always runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from ltxvoice.config import ParamsError, load_params

app = typer.Typer(
    name="ltxvoice",
    help=(
        "Build audio-LoRA training data for LTX-2.3, train and evaluate it, as a versioned pipeline.\n\n"
        "The pipeline is declared in dvc.yaml and configured in params.yaml; `dvc repro` runs whatever "
        "is stale. These commands run one stage (always), or check the configuration."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

PARAMS_OPT = typer.Option(Path("params.yaml"), "--params", "-p", help="The params.yaml to read.")


def _run_stage(stage: str, params: Path, out: str) -> None:
    flow_module = importlib.import_module(f"flows.{stage}")
    common = importlib.import_module("flows.common")
    code = common.run_flow(getattr(flow_module, stage), stage, ["--params-path", str(params), "--out", out])
    raise typer.Exit(code)


@app.command()
def demo(
    params: Path = PARAMS_OPT,
    out: str = typer.Option("data/demo/sources", help="Folder to (re)create with the demo sources."),
) -> None:
    """Generate the demo sources (stage `demo`): espeak-ng talking clips with an audio-driven face.

    Settings come from the `demo` section of params.yaml: how many clips, their length window, languages,
    the share of whispered clips, and whether to add one broken file per quarantine reason. The clips'
    transcripts are written beside them as <name>.txt and their voice facts to labels.csv."""
    _run_stage("demo", params, out)


@app.command()
def ingest(
    params: Path = PARAMS_OPT,
    out: str = typer.Option("data/ingest", help="Stage output folder."),
) -> None:
    """Cut sources into fixed-length clips (stage `ingest`).

    Scans the folders in `ingest.sources`, probes every file with ffprobe and cuts each into clips of
    `ingest.frames` frames at `ingest.fps`, `ingest.width` x `ingest.height` (center crop or letterbox),
    with the clip's audio as a mono WAV at `ingest.audio_rate` beside the video. Writes:

    \b
      <out>/clips/<clip_id>.mp4 and .wav   clip ids are content hashes of (source bytes, segment)
      <out>/clips.parquet                  one row per clip: source, offsets, fps, size, hashes
      <out>/quarantine.parquet             every file or clip that could not be used, and why
      <out>/metrics.json                   counts (kept, quarantined by reason)

    Sources are only read. A bad file is quarantined and the run goes on; no usable clip at all is an error."""
    _run_stage("ingest", params, out)


params_app = typer.Typer(help="Inspect params.yaml.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(params_app, name="params")


@params_app.command("check")
def params_check(params: Path = PARAMS_OPT) -> None:
    """Validate params.yaml: unknown keys, bad values and bad combinations, one line each."""
    try:
        loaded = load_params(params)
    except ParamsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    sections = [name for name, value in loaded if value is not None]
    typer.echo(f"{params}: ok ({', '.join(sections)})")


def main() -> None:  # pragma: no cover - console entry point
    app()
