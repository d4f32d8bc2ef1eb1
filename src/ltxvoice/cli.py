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


@app.command()
def evaluate(
    params: Path = PARAMS_OPT,
    checkpoint: Path = typer.Option(None, "--checkpoint", dir_okay=False,
                                    help="Evaluate this one LoRA file instead of every checkpoint of `train`."),
    out: str = typer.Option(None, help="Output folder (default: data/evaluate; with --checkpoint: "
                                       "data/evaluate_one/<file name>)."),
) -> None:
    """Evaluate LoRA checkpoints (stage `evaluate`).

    For each checkpoint: its structure (tensors, dtypes, finiteness, rank, modules touched, keys
    ltx-core would ignore, norms of B·A, distance to the previous checkpoint), then the recipe's
    controlled test generated with LTX-2.3 with the LoRA off and on at each `evaluate.strengths`,
    fused by ltx-core as users load it: the helium tone sweep (pitch slope with bootstrap CIs over
    seeds, voicing, the base arm's leak, a tracks / does not track / inconclusive decision), or
    voicing and level per prompt label; video drift with and without the LoRA. Writes:

    \b
      <out>/metrics/<checkpoint>.json   numbers and verdicts (dvc metrics)
      <out>/plots/*.csv                 slope, voicing, drift, norms per checkpoint (dvc plots)
      <out>/report/report.md            the report (also a Prefect artifact), with PNG plots
      <out>/samples/                    generated audio of the first `evaluate.sample_seeds` seeds"""
    args = ["--params-path", str(params)]
    if checkpoint is not None:
        args += ["--checkpoint", str(checkpoint)]
        out = out or f"data/evaluate_one/{checkpoint.stem}"
    args += ["--out", out or "data/evaluate"]
    flow_module = importlib.import_module("flows.evaluate")
    common = importlib.import_module("flows.common")
    raise typer.Exit(common.run_flow(flow_module.evaluate, "evaluate", args))


@app.command()
def pitch(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Audio or video file."),
    floor: float = typer.Option(60.0, help="Lowest F0 searched (Hz)."),
    ceiling: float = typer.Option(600.0, help="Highest F0 searched (Hz)."),
) -> None:
    """Measure one file's pitch (as stage `measure` does) and print JSON.

    Prints the median F0 over voiced frames from Praat's autocorrelation and from WORLD
    (dio+stonemask), their disagreement in cents, the voiced fraction and seconds, and median F1/F2."""
    import json

    from ltxvoice.config import MeasureParams
    from ltxvoice.measure import measure_samples

    samples, rate = _load_audio(file)
    result = measure_samples(samples, rate, MeasureParams(floor_hz=floor, ceiling_hz=ceiling))
    typer.echo(json.dumps({"file": str(file), **{k: _num(v) for k, v in result.__dict__.items()}}, indent=2))


@app.command()
def shift(
    inp: Path = typer.Argument(..., exists=True, dir_okay=False, metavar="IN", help="Audio or video file."),
    out: Path = typer.Argument(..., dir_okay=False, help="Output WAV."),
    semitones: float = typer.Option(..., help="Shift, e.g. -3 or 7."),
    engine: str = typer.Option("psola", help="psola (Praat PSOLA) or world (WORLD vocoder)."),
) -> None:
    """Shift one file's pitch by SEMITONES, keeping formants and the exact length (as stage `shift` does)."""
    from ltxvoice.dsp.pitch import adapted_range, praat_track
    from ltxvoice.dsp.shifting import shift as shift_samples
    from ltxvoice.media import write_wav

    if engine not in ("psola", "world"):
        raise typer.BadParameter("must be psola or world", param_hint="--engine")
    samples, rate = _load_audio(inp)
    f0 = praat_track(samples, rate, 60.0, 600.0).median()
    lo, hi = adapted_range(f0, 60.0, 600.0) if f0 == f0 else (60.0, 600.0)
    write_wav(out, shift_samples(samples, rate, semitones, engine, floor=lo, ceiling=hi), rate)  # type: ignore[arg-type]
    typer.echo(f"{out}: {samples.size / rate:.2f} s shifted {semitones:+g} st with {engine}")


@app.command()
def tone(
    out: Path = typer.Argument(..., dir_okay=False, help="Output WAV."),
    f0: float = typer.Option(..., "--f0", help="Pitch in Hz."),
    seconds: float = typer.Option(2.0, help="Length."),
    seed: int = typer.Option(0, help="Timbre and noise seed."),
) -> None:
    """Synthesize a voiced reference tone at F0 with a seeded random timbre (as stage `tones` does)."""
    from ltxvoice.config import TonesParams
    from ltxvoice.dsp.tone import synthesize
    from ltxvoice.media import write_wav
    from ltxvoice.tones import draw_timbre

    params = TonesParams(seconds=seconds)
    timbre = draw_timbre(params, seed)
    write_wav(out, synthesize(f0, seconds, params.rate, timbre, seed=seed, level_dbfs=params.level_dbfs), params.rate)
    typer.echo(f"{out}: {seconds:g} s at {f0:g} Hz, timbre {timbre}")


def _load_audio(path: Path):  # type: ignore[no-untyped-def]
    """Any audio or video file as mono float at 48 kHz (WAVs at their own rate)."""
    from ltxvoice.media import MediaError, probe, read_audio, read_wav

    if path.suffix.lower() == ".wav":
        return read_wav(path)
    try:
        info = probe(path)
        return read_audio(path, start_s=0.0, seconds=info.duration_s, rate=48000), 48000
    except MediaError as exc:
        raise typer.BadParameter(f"{path}: {exc.detail}") from None


def _num(v: object) -> object:
    return None if isinstance(v, float) and v != v else v


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


@app.command("tiny-models")
def tiny_models(
    params: Path = PARAMS_OPT,
    out: str = typer.Option("models/tiny", help="Folder for the tiny models."),
) -> None:
    """Write tiny random-weight models in the real file layouts (stage `tiny_models`).

    \b
      <out>/ltx-2.3-tiny.safetensors   LTX-2.3 unified checkpoint (bf16, real key prefixes + config metadata)
      <out>/gemma/                     Gemma 3 folder (HF layout, offline-trained tokenizer) for its text path
      <out>/provenance.json            seed, versions, sha256 of every file

    Same `tiny_models.seed`, same bytes. They prove loading code and tensor shapes, not quality."""
    _run_stage("tiny_models", params, out)


encode_app = typer.Typer(rich_markup_mode=None)  # help: the callback's docstring
app.add_typer(encode_app, name="encode")


@encode_app.callback(invoke_without_command=True)
def encode(
    ctx: typer.Context,
    params: Path = PARAMS_OPT,
    upstream: str = typer.Option("data/caption", help="Folder with the caption stage's clips.parquet."),
    out: str = typer.Option("data/encode", help="Stage output folder (the trainer's preprocessed_data_root)."),
) -> None:
    """Encode captioned clips with LTX-2.3 into the LTX trainer's precomputed layout (stage `encode`).

    With no subcommand, runs the stage. Reads `encode.checkpoint` (unified LTX-2.3 safetensors) and
    `encode.text_encoder` (Gemma 3 folder) and writes, one file per clip id:

    \b
      <out>/latents/<id>.pt                  video latents [128, (F-1)/8+1, H/32, W/32]
      <out>/audio_latents/<id>.pt            audio latents [8, ~25/s, 16]
      <out>/reference_audio_latents/<id>.pt  the reference tone's latents (helium)
      <out>/conditions/<id>.pt               caption features [1024, 4096] / [1024, 2048] + mask
      <out>/items.parquet                    manifest + file paths, shapes, caption sha256
      <out>/verify/                          `encode.verify_samples` items decoded back, report.md"""
    if ctx.invoked_subcommand is None:
        flow_module = importlib.import_module("flows.encode")
        common = importlib.import_module("flows.common")
        raise typer.Exit(common.run_flow(flow_module.encode, "encode",
                                         ["--params-path", str(params), "--upstream", upstream, "--out", out]))


@encode_app.command("verify")
def encode_verify(
    encoded: Path = typer.Option(Path("data/encode"), help="The encode stage's output folder."),
    samples: int = typer.Option(2, min=1, help="Items to decode (first by clip id)."),
    out: Path = typer.Option(None, help="Where WAV/MP4 files and report.md go (default: <encoded>/verify-cli)."),
    params: Path = PARAMS_OPT,
) -> None:
    """Decode written latents back (audio VAE + vocoder, video VAE) and measure them.

    Writes <id>.audio.wav, <id>.reference.wav, <id>.video.mp4 and report.json/report.md: pitch of the
    decoded speech vs the target pitch, level (dBFS), NaN/Inf, video PSNR. Uses `encode.checkpoint`."""
    import json

    from ltxvoice import encode as lib
    from ltxvoice.records import read_table

    try:
        cfg = load_params(params).encode
        items = read_table(encoded / "items.parquet")
        device = lib.resolve_device(cfg)
        lib.setup_torch(cfg, device)
        decoders = lib.Decoders(cfg.checkpoint, device, lib._dtype(cfg.video_dtype), lib._dtype(cfg.audio_dtype))
    except (ParamsError, FileNotFoundError, ValueError, RuntimeError) as exc:
        typer.echo(f"encode verify: error: {exc}", err=True)
        raise typer.Exit(1) from None
    target = out or encoded / "verify-cli"
    summary = lib.verify(items, decoders, target, samples, cfg.checkpoint)
    typer.echo(json.dumps(summary, indent=2))
    typer.echo(f"report: {target / 'report.md'}")


lora_app = typer.Typer(help="Inspect LoRA files.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(lora_app, name="lora")


@lora_app.command("inspect")
def lora_inspect(
    file: Path = typer.Argument(..., help="LoRA .safetensors file."),
    model: Path | None = typer.Option(None, "--model", help="Unified LTX-2.3 checkpoint to match keys against "
                                      "(default: the LTX-2.3 transformer's architecture)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check a LoRA file: tensor count, dtypes, all finite, modules touched (video / audio /
    cross-modal), rank, and every key that matches no model weight (loaders skip those silently).

    Exits 1 when the file has a problem (non-finite values, unmatched or unpaired keys, wrong shapes,
    alpha keys), 2 when it cannot be read."""
    import json

    from ltxvoice.train.inspection import inspect_lora

    try:
        report = inspect_lora(file, model)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"lora inspect: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str) if as_json else report.text())
    raise typer.Exit(0 if report.ok else 1)


def main() -> None:  # pragma: no cover - console entry point
    app()
