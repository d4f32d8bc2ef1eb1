"""Strict, typed view of ``params.yaml``.

One pydantic model per ``params.yaml`` section; the section name is the stage name (``ingest`` in
``dvc.yaml``, ``params.yaml``, ``ltxvoice.ingest``, ``tasks.ingest`` and ``flows.ingest``).
Unknown keys, out-of-range values and inconsistent combinations are errors, reported as one line
per problem that names the key, before any stage does work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_PARAMS = Path("params.yaml")


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or invalid. The message is ready to show a user."""


class Section(BaseModel):
    """Base for a params.yaml section: no unknown keys, immutable after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RunnerParams(Section):
    """How per-item work is executed. Not a stage: changing it never invalidates artifacts."""

    workers: int = Field(2, ge=1, le=256, description="Task runs in flight at once.")
    batch_size: int = Field(
        8, ge=1, le=10000, description="Items per task run; 1 gives every item its own task run in the UI."
    )
    retries: int = Field(1, ge=0, le=10, description="Retries of a per-item task after an unexpected error.")
    retry_delay_s: float = Field(1.0, ge=0, le=600)


class DemoParams(Section):
    """Synthetic talking clips made from nothing (espeak-ng speech + an audio-driven face)."""

    count: int = Field(48, ge=1, le=2000, description="Number of good demo clips.")
    seed: int = Field(20261121, ge=0)
    min_seconds: float = Field(5.0, gt=0, le=60)
    max_seconds: float = Field(8.0, gt=0, le=60)
    width: int = Field(640, ge=64, le=3840)
    height: int = Field(360, ge=64, le=2160)
    fps: float = Field(30.0, gt=0, le=120)
    whisper_share: float = Field(
        0.125, ge=0, le=1, description="Share of clips spoken with espeak-ng's whisper voices."
    )
    languages: list[str] = Field(default_factory=lambda: ["en", "en-us", "de", "fr", "es"], min_length=1)
    bad_files: bool = Field(
        True, description="Also write a few deliberately broken files so the quarantine is visible."
    )

    @model_validator(mode="after")
    def _check(self) -> DemoParams:
        if self.min_seconds > self.max_seconds:
            raise ValueError(
                f"min_seconds ({self.min_seconds}) must not exceed max_seconds ({self.max_seconds})"
            )
        return self


VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus")
SIDECAR_EXTENSIONS = (".txt", ".json", ".yaml", ".yml", ".csv", ".srt", ".vtt", ".md")


class IngestParams(Section):
    """Cut every source into fixed-length clips at the model's frame rate and size."""

    sources: list[Path] = Field(min_length=1, description="Folders (or files) to scan for sources.")
    recursive: bool = True
    require_video: bool = Field(True, description="Quarantine sources without a video stream.")
    extensions: list[str] = Field(default_factory=lambda: list(VIDEO_EXTENSIONS), min_length=1)
    frames: int = Field(121, ge=1, le=1025, description="Frames per clip; LTX needs frames % 8 == 1.")
    fps: float = Field(25.0, gt=0, le=120)
    width: int = Field(256, ge=32, le=4096, description="Clip width; a multiple of 32.")
    height: int = Field(256, ge=32, le=4096, description="Clip height; a multiple of 32.")
    resize: Literal["crop", "pad"] = Field(
        "crop", description="crop: scale to cover, then center-crop. pad: scale to fit, then letterbox."
    )
    audio_rate: int = Field(48000, ge=8000, le=192000, description="Sample rate of the clip's mono WAV.")
    start_s: float = Field(0.0, ge=0, description="Skip this much of every source.")
    hop_frames: int | None = Field(
        None, ge=1, description="Frames between clip starts; default: clip length (no overlap)."
    )
    max_clips_per_source: int | None = Field(1, ge=1, description="null: as many as fit.")
    silence_dbfs: float = Field(-50.0, le=0, description="Clips whose RMS level is below this are silent.")
    video_crf: int = Field(16, ge=0, le=51)
    video_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = "medium"
    encoder_threads: int = Field(
        2, ge=1, le=64, description="x264 threads; fixed so encoded bytes do not depend on the machine."
    )

    @field_validator("frames")
    @classmethod
    def _frames_8k_plus_1(cls, v: int) -> int:
        if v % 8 != 1:
            raise ValueError(f"frames % 8 must be 1 for the LTX video VAE, e.g. {v - v % 8 + 1} or {v - v % 8 + 9}")
        return v

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32 != 0:
            raise ValueError(f"must be a multiple of 32 for the LTX video VAE, e.g. {max(32, v - v % 32)}")
        return v

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if not (e.startswith(".") and e == e.lower() and len(e) > 1)]
        if bad:
            raise ValueError(f"extensions must be lower-case and start with '.', got {bad}")
        return v

    @model_validator(mode="after")
    def _check(self) -> IngestParams:
        clash = sorted(set(self.extensions) & set(SIDECAR_EXTENSIONS))
        if clash:
            raise ValueError(f"extensions {clash} are sidecar (transcript/label) extensions, not media")
        audio_only = sorted(set(self.extensions) & set(AUDIO_EXTENSIONS))
        if audio_only and self.require_video:
            raise ValueError(
                f"extensions include audio-only formats {audio_only} but require_video is true; "
                "set require_video: false to ingest audio-only sources"
            )
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("sources lists the same path more than once")
        return self

    @property
    def clip_seconds(self) -> float:
        return self.frames / self.fps

    @property
    def clip_samples(self) -> int:
        """Audio samples per clip: the clip duration at ``audio_rate``, rounded to a whole sample."""
        return round(self.frames * self.audio_rate / self.fps)

    @property
    def hop(self) -> int:
        return self.hop_frames or self.frames


class SeparateParams(Section):
    """Vocal separation with a MelBand Roformer through audio-separator."""

    model: str = Field(
        "vocals_mel_band_roformer.ckpt",
        description="Checkpoint file name in model_dir (audio-separator model list), or 'none' for audio "
        "that is already clean vocals: an explicit choice, recorded in the manifest.",
    )
    model_dir: Path = Field(Path("models/audio-separator"), description="Folder with the .ckpt and .yaml.")
    segment_size: int = Field(256, ge=16, le=4096, description="STFT frames per chunk (audio-separator).")
    overlap: int = Field(8, ge=1, le=64, description="Chunk overlap factor (audio-separator).")
    torch_threads: int = Field(1, ge=1, le=64, description="Torch CPU threads per separating task.")

    @property
    def enabled(self) -> bool:
        return self.model.lower() != "none"

    @field_validator("model")
    @classmethod
    def _model_name(cls, v: str) -> str:
        if v.lower() != "none" and not v.endswith((".ckpt", ".pth", ".th", ".onnx")):
            raise ValueError("must be a model file name such as vocals_mel_band_roformer.ckpt, or none")
        return v


class MeasureParams(Section):
    """Median F0 (Praat autocorrelation and WORLD), voicing and formants of each clip's vocals."""

    method: Literal["praat", "world"] = Field("praat", description="Which estimate is the clip's f0_hz.")
    floor_hz: float = Field(60.0, ge=20, le=400, description="Lowest F0 searched.")
    ceiling_hz: float = Field(600.0, ge=100, le=2000, description="Highest F0 searched.")
    analysis_rate: int = Field(16000, ge=8000, le=192000, description="Formants are measured at this rate.")
    max_formant_hz: float = Field(5500.0, ge=3000, le=8000, description="Formant ceiling (5 formants below it).")
    pitch_rate: int = Field(12000, ge=4000, le=192000, description="Pitch (Praat, WORLD) is measured at this rate.")

    @model_validator(mode="after")
    def _check(self) -> MeasureParams:
        if self.floor_hz * 2 > self.ceiling_hz:
            raise ValueError(f"ceiling_hz ({self.ceiling_hz:g}) must be at least twice floor_hz ({self.floor_hz:g})")
        if self.analysis_rate < 2 * self.max_formant_hz:
            raise ValueError(
                f"analysis_rate ({self.analysis_rate}) must be at least twice max_formant_hz ({self.max_formant_hz:g})"
            )
        if self.pitch_rate < 4 * self.ceiling_hz:
            raise ValueError(f"pitch_rate ({self.pitch_rate}) must be at least 4 times ceiling_hz ({self.ceiling_hz:g})")
        return self


class ShiftParams(Section):
    """Target pitch per clip and a formant-preserving, length-preserving shift of its vocals."""

    mode: Literal["bounded", "decorrelated"] = Field(
        "bounded", description="bounded: own pitch +- a random shift; decorrelated: target independent of own pitch."
    )
    cap_semitones: float = Field(7.0, gt=0, le=24, description="Largest shift, either way.")
    min_semitones: float = Field(0.0, ge=0, description="Smallest shift (bounded mode).")
    target_min_hz: float = Field(60.0, gt=20, description="No target below this.")
    target_max_hz: float = Field(400.0, gt=20, description="No target above this.")
    max_r: float = Field(
        0.15, ge=0, le=1, description="Decorrelated mode: drop the most extreme voices until |r| is at most this..."
    )
    max_dropped_share: float = Field(0.3, ge=0, le=1, description="...but never more than this share of the clips.")
    engine: Literal["world", "psola"] = Field("psola", description="world: WORLD vocoder; psola: Praat PSOLA.")
    seed: int = Field(0, ge=0)
    audio_bitrate: str = Field("192k", pattern=r"^\d+k$", description="AAC bitrate of the target clip's audio.")

    @model_validator(mode="after")
    def _check(self) -> ShiftParams:
        if self.min_semitones >= self.cap_semitones:
            raise ValueError(f"min_semitones ({self.min_semitones:g}) must be below cap_semitones ({self.cap_semitones:g})")
        if self.target_min_hz >= self.target_max_hz:
            raise ValueError(f"target_min_hz ({self.target_min_hz:g}) must be below target_max_hz ({self.target_max_hz:g})")
        return self


Span = tuple[float, float]


def _span(v: Span, name: str) -> Span:
    if v[0] > v[1]:
        raise ValueError(f"{name}: [low, high] needs low <= high, got {list(v)}")
    return v


class TonesParams(Section):
    """A voiced reference tone per pair at the target pitch, with timbre drawn independently."""

    seconds: float = Field(2.0, gt=0.2, le=10)
    rate: int = Field(48000, ge=16000, le=96000)
    seed: int = Field(0, ge=0)
    level_dbfs: float = Field(-20.0, ge=-60, le=-1, description="RMS level of every tone.")
    rolloff_db_per_octave: Span = (6.0, 15.0)
    vibrato_rate_hz: Span = (4.0, 6.5)
    vibrato_cents: Span = (0.0, 40.0)
    jitter_percent: Span = (0.0, 1.0)
    shimmer_percent: Span = (0.0, 6.0)
    breath_snr_db: Span = (15.0, 40.0)
    vowels: list[Literal["a", "e", "i", "o", "u"]] = Field(default_factory=lambda: ["a", "e", "i", "o", "u"], min_length=1)

    @model_validator(mode="after")
    def _check(self) -> TonesParams:
        for name in ("rolloff_db_per_octave", "vibrato_rate_hz", "vibrato_cents", "jitter_percent",
                     "shimmer_percent", "breath_snr_db"):
            _span(getattr(self, name), name)
        return self


class SelectParams(Section):
    """Keep a pair only if the shifted speech re-measures on target, is voiced, and kept its formants."""

    gate: Literal["hz", "cents"] = Field("hz", description="Which pitch error gate applies.")
    max_error_hz: float = Field(30.0, gt=0, description="Gate 'hz': |measured - target| limit.")
    max_error_cents: float = Field(50.0, gt=0, description="Gate 'cents': |measured / target| limit in cents.")
    min_voiced_seconds: float = Field(1.0, ge=0, description="Of the original clip; rejects whispered speech.")
    min_voiced_fraction: float = Field(0.15, ge=0, le=1, description="Of the original clip.")
    max_formant_change: float = Field(
        0.05, gt=0, le=1, description="Largest relative change of F1 or F2 (Praat, frame by frame) the shift may cause."
    )


class Params(BaseModel):
    """The whole params.yaml. Every section is optional here; a stage asks for the one it needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runner: RunnerParams = RunnerParams()
    demo: DemoParams = DemoParams()
    ingest: IngestParams | None = None
    separate: SeparateParams = SeparateParams()
    measure: MeasureParams = MeasureParams()
    shift: ShiftParams = ShiftParams()
    tones: TonesParams = TonesParams()
    select: SelectParams = SelectParams()

    def require(self, section: str) -> Any:
        value = getattr(self, section)
        if value is None:
            raise ParamsError(f"params.yaml: section '{section}' is missing")
        return value


def _format_error(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if err["type"] == "missing":
        return f"{key}: required key is missing"
    got = err.get("input")
    if isinstance(got, (dict, list)) or got is None:
        return f"{key}: {msg}"
    return f"{key}: {msg} (got {got!r})"


def parse_params(data: Any, origin: str = "params.yaml") -> Params:
    """Validate already-parsed YAML. Raises ParamsError with one line per problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"{origin}: the top level must be a mapping of sections, got {type(data).__name__}")
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        lines = [f"{origin}: {_format_error(e)}" for e in exc.errors()]
        raise ParamsError("\n".join(lines)) from None


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_params(data, origin=str(path))
