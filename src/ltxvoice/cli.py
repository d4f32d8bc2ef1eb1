"""The ``ltxvoice`` command line.

Stage commands run the same Prefect flow that ``dvc repro`` runs for that stage (``flows.<stage>``),
from the project folder (the one with ``params.yaml`` and ``dvc.yaml``). Prefer ``dvc repro`` for
the pipeline: it skips what is up to date; a stage command always runs.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

from ltxvoice import kernels

kernels.pin()  # before NumPy or PyTorch loads: the single-file tools give the numbers the stages give

import typer  # noqa: E402

from ltxvoice.config import DEBUG_ENV, Params, ParamsError, debugging, load_params, missing_sections  # noqa: E402

app = typer.Typer(
    name="ltxvoice",
    help=(
        "Build audio-LoRA training data for LTX-2.3, train and evaluate it, as a versioned pipeline.\n\n"
        "The pipeline is declared in dvc.yaml and configured in params.yaml; `dvc repro` runs whatever "
        "is stale. These commands run one stage (always), or check the configuration; `pipeline`, `server`, "
        "`serve` and `ci` operate the whole pipeline (Prefect UI, schedules, CI retraining)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback behind a refusal as well as its one line (or LTXVOICE_DEBUG=1)."
    ),
) -> None:
    """Every refusal (workspace busy, a stage locked, a port in use, params invalid) is one line."""
    if debug:
        os.environ[DEBUG_ENV] = "1"  # stage processes started from here inherit it


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
    checkpoint: Path = typer.Option(
        None, "--checkpoint", dir_okay=False, help="Evaluate this one LoRA file instead of every checkpoint of `train`."
    ),
    out: str = typer.Option(
        None, help="Output folder (default: data/evaluate; with --checkpoint: data/evaluate_one/<file name>)."
    ),
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
    restore_envelope: bool = typer.Option(
        True,
        "--restore-envelope/--engine-envelope",
        help="Put the original's spectral envelope back (as the stage's default) or keep the engine's output as it is.",
    ),
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
    moved = shift_samples(samples, rate, semitones, engine, floor=lo, ceiling=hi, restore=restore_envelope)  # type: ignore[arg-type]
    write_wav(out, moved, rate)
    typer.echo(
        f"{out}: {samples.size / rate:.2f} s shifted {semitones:+g} st with {engine}"
        f"{', envelope restored' if restore_envelope else ''}"
    )


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


def _load_audio(path: Path):
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
    missing = missing_sections(loaded, params.parent / "dvc.yaml")
    if missing:
        typer.echo("\n".join(f"{params}: {line}" for line in missing), err=True)
        raise typer.Exit(1)
    sections = [name for name, value in loaded if value is not None]
    typer.echo(f"{params}: ok ({', '.join(sections)})")


deps_app = typer.Typer(
    help="A stage's code is one of its deps: check or write the code deps of dvc.yaml files.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(deps_app, name="deps")
DVC_FILES_ARG = typer.Argument(None, help="dvc.yaml files (default: the project's, the root one and the recipes').")


def _dvc_files(files: list[Path] | None) -> tuple[Path, list[Path]]:
    from ltxvoice import codedeps

    root = Path.cwd()
    return root, [f.resolve().relative_to(root) for f in files] if files else codedeps.dvc_files(root)


@deps_app.command("check")
def deps_check(files: list[Path] = DVC_FILES_ARG) -> None:
    """Compare every stage's code deps with the import closure of its command (`python -m flows.<stage>`):
    one line per file a stage runs but does not declare, or declares but does not run. Exit 1 if any."""
    from ltxvoice import codedeps

    root, found = _dvc_files(files)
    try:
        problems = codedeps.check(root, found)
    except codedeps.CodeDepsError as exc:
        raise _fail(f"deps: {exc}") from None
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"code deps match the import closures in {', '.join(str(f) for f in found)}")


@deps_app.command("write")
def deps_write(files: list[Path] = DVC_FILES_ARG) -> None:
    """Write each stage's code deps (its command's import closure) into the dvc.yaml files; every other line
    stays as it is. Run it after adding or removing an import, then `dvc status` shows what it reruns."""
    from ltxvoice import codedeps

    root, found = _dvc_files(files)
    try:
        changed = codedeps.write(root, found)
    except codedeps.CodeDepsError as exc:
        raise _fail(f"deps: {exc}") from None
    typer.echo(f"updated {', '.join(str(f) for f in changed)}" if changed else "code deps already up to date")


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
        raise typer.Exit(
            common.run_flow(
                flow_module.encode, "encode", ["--params-path", str(params), "--upstream", upstream, "--out", out]
            )
        )


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
    from ltxvoice.models.device import resolve_device
    from ltxvoice.records import read_table

    try:
        cfg = load_params(params).encode
        items = read_table(encoded / "items.parquet")
        device = resolve_device(cfg.device, "encode.device")
        lib.setup_torch(cfg, device)
        decoders = lib.decoders(cfg, device)
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
    model: Path | None = typer.Option(
        None,
        "--model",
        help="Unified LTX-2.3 checkpoint to match keys against (default: the LTX-2.3 transformer's architecture).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check a LoRA file: tensor count, dtypes, all finite, modules touched (video / audio /
    cross-modal), rank, and every key that matches no model weight (loaders skip those silently).

    Exits 1 when the file has a problem (non-finite values, unmatched or unpaired keys, wrong shapes,
    alpha keys), 2 when it cannot be read."""
    import json

    from ltxvoice.models.lora_file import inspect_lora, transformer_weights

    try:
        report = inspect_lora(file, transformer_weights(model))
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"lora inspect: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True, default=str) if as_json else report.text())
    raise typer.Exit(0 if report.ok else 1)


# --- operations: the whole pipeline as a Prefect flow, schedules, CI ----------------------------------


def _fail(message: str, code: int = 1) -> typer.Exit:
    """A refusal: one line on stderr and exit ``code``; with ``--debug``, the traceback of the exception
    being handled first."""
    if debugging() and sys.exc_info()[0] is not None:
        traceback.print_exc()
    typer.echo(message, err=True)
    return typer.Exit(code)


def _checked_params(params: Path) -> Params:
    try:
        return load_params(params)
    except ParamsError as exc:
        raise _fail(str(exc)) from None


def _project_prefect_home() -> None:
    """Prefect state in the project's .prefect/ (as the stage flows use), unless set already."""
    import os

    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@app.command()
def pipeline(
    params: Path = PARAMS_OPT,
    target: list[str] = typer.Option(
        None, "--target", "-t", help="Reproduce only this stage and what it needs (repeatable)."
    ),
    force: bool = typer.Option(False, help="Rerun the stages even if DVC finds them up to date."),
    pull: bool = typer.Option(False, help="`dvc pull` from the default remote first."),
    push: bool = typer.Option(
        None, "--push/--no-push", help="`dvc push` after a run that changed something (default: ops.push)."
    ),
) -> None:
    """Run the whole pipeline now as one Prefect flow (what a schedule runs).

    It runs `dvc repro` (only what is stale), then reports which stages ran, which were skipped, and how
    the metrics changed; the reports and plots of the stages that ran become Prefect artifacts. Runs
    against PREFECT_API_URL when set (see `ltxvoice server`), else Prefect's embedded API."""
    _checked_params(params)
    _project_prefect_home()
    from flows.common import shared_api
    from flows.pipeline import pipeline as flow
    from ltxvoice.pipeline import PipelineError, WorkspaceBusy, preflight

    try:
        preflight(params.resolve().parent)  # busy: one line now, not a failed Prefect run
        with shared_api():  # the stage flows dvc repro starts report to the same API
            summary = flow(
                project_dir=str(params.resolve().parent), targets=target or None, force=force, pull=pull, push=push
            )
    except (PipelineError, WorkspaceBusy, ParamsError) as exc:
        raise _fail(f"pipeline: {exc}") from None
    ran, skipped = ", ".join(summary["ran"]) or "nothing", ", ".join(summary["skipped"]) or "nothing"
    typer.echo(
        f"ran: {ran}; up to date: {skipped}; {len(summary['metric_changes'])} metric(s) changed "
        "(report: Prefect artifact 'pipeline-run')"
    )


@app.command()
def server(port: int = typer.Option(4200, help="Port on 127.0.0.1.")) -> None:
    """Start a local Prefect server (API and UI) on 127.0.0.1, with its database in .prefect/.

    Open http://127.0.0.1:PORT for the UI. Then `ltxvoice serve` (another terminal) serves the scheduled
    pipeline to it. Stop with Ctrl-C."""
    import errno
    import os
    import socket
    import sys

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:  # a clear line, not uvicorn's traceback
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            why = (
                "is in use by another program" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            )
            raise _fail(
                f"server: port {port} on 127.0.0.1 {why}; stop it, or start this server with --port <another> "
                "and point `ltxvoice serve --api-url http://127.0.0.1:<another>/api` at it"
            ) from None
    _project_prefect_home()
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "true",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
    }
    env.pop("PREFECT_API_URL", None)  # the server must not try to talk to another API
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    typer.echo(f"Prefect server on http://127.0.0.1:{port} (home {env['PREFECT_HOME']})", err=True)
    os.execve(sys.executable, argv, env)


@app.command()
def serve(
    params: Path = PARAMS_OPT,
    api_url: str = typer.Option(None, help="Prefect API (default: $PREFECT_API_URL, else http://127.0.0.1:4200/api)."),
) -> None:
    """Serve the pipeline flow as a scheduled deployment (params.yaml `ops`) to the Prefect server.

    Registers deployment `pipeline/<ops.deployment>` with the schedule in `ops` (cron or interval) and runs
    its flow runs here, over this project folder, until Ctrl-C. One run at a time: a run that comes due
    while another is going is cancelled (deployment concurrency 1), and a workspace lock guards besides.
    Trigger a run by hand in the UI or with `prefect deployment run pipeline/<ops.deployment>`."""
    import os
    import urllib.error
    import urllib.request

    loaded = _checked_params(params)
    api = (api_url or os.environ.get("PREFECT_API_URL") or "http://127.0.0.1:4200/api").rstrip("/")
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=10) as reply:  # noqa: S310 (a local URL the user gives)
            reply.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _fail(
            f"serve: no Prefect API at {api} ({reason}); start one with `ltxvoice server` in another "
            "terminal, or pass --api-url"
        ) from None
    os.environ["PREFECT_API_URL"] = api
    _project_prefect_home()
    from flows.pipeline import serve as serve_flow

    try:
        serve_flow(params.resolve().parent, loaded.ops)
    except ValueError as exc:  # e.g. a cron string Prefect does not accept
        raise _fail(f"serve: {params}: ops: {exc}") from None


@app.command()
def ci(
    base: str = typer.Option("HEAD", help="Git ref to compare with (CI: the PR base or the commit before the push)."),
    params: Path = PARAMS_OPT,
    watch: list[str] = typer.Option(
        None,
        help="Glob of files whose change triggers a run (repeatable; default: "
        "params.yaml, dvc.yaml, dvc.lock, *.dvc); every params file a stage reads "
        "always counts.",
    ),
    pull: bool = typer.Option(True, "--pull/--no-pull", help="`dvc pull --allow-missing` before reproducing."),
    push: bool = typer.Option(True, "--push/--no-push", help="`dvc push` after reproducing."),
    report: Path = typer.Option(None, help="Also write the markdown report here."),
    json_out: Path = typer.Option(None, "--json", help="Also write the result as JSON here."),
) -> None:
    """Retrain when params or data pointers changed since BASE: pull, `dvc repro`, push, and report.

    Compares the workspace with BASE; if no watched file changed, nothing runs. Otherwise it pulls from the
    DVC remote, reproduces (DVC reruns exactly the stages that depend on the change), pushes the new
    artifacts and prints a markdown report: the changed params (`dvc params diff`), which stages ran, and
    the metric changes (`dvc metrics diff`) against BASE. On GitHub Actions the report is also added to the
    job summary. Exit 1 when a stage fails."""
    import json
    import os

    from ltxvoice import ci as lib
    from ltxvoice.pipeline import PipelineError

    _checked_params(params)
    root = params.resolve().parent
    try:
        result = lib.check(
            root,
            base,
            watch=watch or lib.DEFAULT_WATCH,
            pull=pull,
            push=push,
            log=lambda line: typer.echo(line, err=True),
        )
    except (lib.CIError, PipelineError) as exc:
        raise _fail(f"ci: {exc}", 2) from None
    text = lib.report_markdown(result)
    typer.echo(text)
    if report:
        report.write_text(text, encoding="utf-8")
    if json_out:
        json_out.write_text(json.dumps(result.summary(), indent=2, default=str) + "\n", encoding="utf-8")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
            summary.write(text + "\n")
    if not result.ok:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app()
