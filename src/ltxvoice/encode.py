"""Stage ``encode``: a recipe's captioned clips -> the tensors LTX-2.3 LoRA training reads.

For every clip of the caption stage's manifest (``clips.parquet``, see the caption -> encode
contract) this writes, in the official LTX-2 trainer's precomputed layout (:mod:`ltxvoice.latents`):

* ``latents/<id>.pt`` - the training video through the LTX-2.3 video VAE encoder
  ([128, (F-1)/8+1, H/32, W/32]), after fitting it to its bucket (trainer rule: nearest aspect
  ratio with at most the clip's frames, then most frames, then largest; scale to cover, center
  crop, first F frames);
* ``audio_latents/<id>.pt`` - the training audio, cut/padded to the bucket's duration (F / fps),
  mono duplicated to stereo, through ltx-core's 16 kHz log-mel front end (n_fft 1024, hop 160,
  64 mel) and the audio VAE encoder ([8, ~25 per second, 16]);
* ``reference_audio_latents/<id>.pt`` - the reference tone (helium), whole, the same way;
* ``conditions/<id>.pt`` - the caption through Gemma and the checkpoint's text projection.

Models are loaded once through :mod:`ltxvoice.models.ltx` / :mod:`ltxvoice.models.gemma` (ltx-core's
builders). Clips of one bucket are encoded in batches on a GPU and one at a time on a CPU (where
batching was measured slower). An item whose media cannot be read, that fits no bucket, or whose
tensors hold NaN/Inf is quarantined with its reason; its files are not left behind.

:func:`verify` decodes a sample of written latents back to WAV/MP4 (audio VAE decoder + vocoder,
video VAE decoder) and measures them: pitch of the decoded speech against the target pitch, level,
NaN/Inf, and the video's PSNR against its input frames.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ltxvoice import latents as lat
from ltxvoice.config import EncodeParams
from ltxvoice.media import MediaError, read_frames, read_wav, rms_dbfs, write_frames, write_wav

STAGE = "encode"

# The caption -> encode contract: columns the manifest must have (and their types).
REQUIRED_COLUMNS: dict[str, pl.DataType] = {
    "clip_id": pl.String(),
    "train_video_path": pl.String(),
    "train_audio_path": pl.String(),
    "caption": pl.String(),
    "reference_audio_path": pl.String(),
    "frames": pl.Int64(),
    "fps": pl.Float64(),
    "width": pl.Int64(),
    "height": pl.Int64(),
    "recipe": pl.String(),
}

NO_BUCKET = "no_bucket"
TOO_SHORT = "too_short"
NON_FINITE = "non_finite"
MISSING_FILE = "missing_file"


class ItemError(MediaError):
    """One item cannot be encoded; ``reason`` is its quarantine code."""


@dataclass(frozen=True)
class Bucket:
    """A training shape: frames x height x width (named WxHxF like the LTX trainer's buckets)."""

    frames: int
    height: int
    width: int

    @property
    def name(self) -> str:
        return f"{self.width}x{self.height}x{self.frames}"

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        return (lat.VIDEO_LATENT_CHANNELS, (self.frames - 1) // 8 + 1, self.height // 32, self.width // 32)


def choose_bucket(frames: int, height: int, width: int, buckets: Sequence[Bucket]) -> Bucket | None:
    """The LTX trainer's bucket rule: among buckets with at most ``frames`` frames, the nearest aspect
    ratio (in log scale), then the most frames, then the largest area; ``None`` if none fits."""
    fitting = [b for b in buckets if b.frames <= frames]
    if not fitting or height <= 0 or width <= 0:
        return None
    return min(
        fitting,
        key=lambda b: (abs(math.log(width / height) - math.log(b.width / b.height)), -b.frames, -(b.height * b.width)),
    )


def buckets_of(params: EncodeParams) -> list[Bucket]:
    return [Bucket(*shape) for shape in params.bucket_shapes]


def check_manifest(frame: pl.DataFrame, origin: str) -> None:
    """The manifest has the contract's columns with their types, and unique clip ids; ValueError
    naming every problem otherwise."""
    problems = []
    for name, dtype in REQUIRED_COLUMNS.items():
        if name not in frame.columns:
            problems.append(f"missing column {name!r}")
        elif frame.schema[name] != dtype and not (frame.schema[name] == pl.Null and name == "reference_audio_path"):
            problems.append(f"column {name!r} is {frame.schema[name]}, expected {dtype}")
    if not problems and frame["clip_id"].n_unique() != frame.height:
        dupes = frame.filter(pl.col("clip_id").is_duplicated())["clip_id"].unique().sort().to_list()
        problems.append(f"clip_id not unique: {dupes[:3]}")
    if problems:
        raise ValueError(f"{origin}: " + "; ".join(problems))


@dataclass(frozen=True)
class Encoded:
    """Columns ``encode`` adds to a clip (``items.parquet``). Paths are where the files were written
    (under the stage's output folder, the trainer's ``preprocessed_data_root``); shapes are of the
    stored tensors."""

    bucket: str
    latents_path: str
    audio_latents_path: str
    conditions_path: str
    reference_audio_latents_path: str | None
    video_latent_shape: list[int]
    audio_latent_shape: list[int]
    reference_audio_latent_shape: list[int] | None
    audio_seconds: float
    text_tokens: int
    caption_sha256: str


def caption_sha256(caption: str) -> str:
    return hashlib.sha256(caption.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------------
# Inputs


@dataclass
class MediaInputs:
    """One item's decoded media, fitted to its bucket."""

    clip_id: str
    bucket: Bucket
    fps: float
    frames: np.ndarray  # uint8 [F, H, W, 3]
    audio: np.ndarray  # float32 mono, exactly F / fps seconds
    audio_rate: int
    reference: np.ndarray | None
    reference_rate: int | None


def _existing(path: str | None, what: str) -> Path:
    if not path:
        raise ItemError(MISSING_FILE, f"no {what} path")
    p = Path(path)
    if not p.is_file():
        raise ItemError(MISSING_FILE, f"{what} {p} does not exist")
    return p


def read_media(row: dict[str, Any], bucket: Bucket) -> MediaInputs:
    """Decode one manifest row's video (fitted to ``bucket``), audio (cut or zero-padded to the
    bucket's duration at the row's fps, as the trainer does) and reference audio (whole)."""
    video_path = _existing(row["train_video_path"], "training video")
    audio_path = _existing(row["train_audio_path"], "training audio")
    frames = read_frames(video_path, frames=bucket.frames, width=bucket.width, height=bucket.height)
    if frames.shape[0] < bucket.frames:
        raise ItemError(
            TOO_SHORT, f"{video_path} has {frames.shape[0]} frames, bucket {bucket.name} needs {bucket.frames}"
        )
    audio, rate = read_wav(audio_path)
    length = round(bucket.frames * rate / row["fps"])
    audio = audio[:length] if audio.size >= length else np.pad(audio, (0, length - audio.size))
    reference, reference_rate = None, None
    if row.get("reference_audio_path"):
        reference, reference_rate = read_wav(_existing(row["reference_audio_path"], "reference audio"))
        if reference.size == 0:
            raise ItemError("empty_file", f"{row['reference_audio_path']} has no samples")
    return MediaInputs(
        clip_id=row["clip_id"],
        bucket=bucket,
        fps=float(row["fps"]),
        frames=frames,
        audio=audio.astype(np.float32),
        audio_rate=rate,
        reference=reference,
        reference_rate=reference_rate,
    )


# ------------------------------------------------------------------------------------------------
# Models


def _dtype(name: str) -> Any:
    import torch

    return {"bfloat16": torch.bfloat16, "float32": torch.float32}[name]


def compute_dtype(params: EncodeParams, stored: str, device: str) -> Any:
    """The dtype a model whose outputs are stored as ``stored`` runs in (``params.compute_dtype``;
    ``auto``: ``stored`` on cuda, float32 on cpu, where bf16 kernels are slow without native support)."""
    name: str = params.compute_dtype
    if name == "auto":
        name = stored if device == "cuda" else "float32"
    return _dtype(name)


def setup_torch(params: EncodeParams, device: str) -> None:
    """Fixed threads and deterministic kernels, so the same inputs give the same tensors."""
    import torch

    torch.set_num_threads(params.torch_threads)
    if device == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def check_models(params: EncodeParams) -> dict[str, str]:
    """Check both model paths before any work (layout, sections, tokenizer) and fingerprint them:
    {checkpoint_sha256, text_encoder_sha256}. Raises FileNotFoundError / ValueError naming the file."""
    from ltxvoice.models.gemma import gemma_folder
    from ltxvoice.models.ltx import checkpoint_config
    from ltxvoice.records import sha256_file

    checkpoint_config(params.checkpoint, ("video_encoder", "audio_encoder", "embeddings_processor"))
    folder = gemma_folder(params.text_encoder)
    return {"checkpoint_sha256": sha256_file(params.checkpoint), "text_encoder_sha256": folder.fingerprint()}


class TextEncoders:
    """Gemma + the checkpoint's text projection/connectors, loaded once."""

    def __init__(self, params: EncodeParams, device: str) -> None:
        from ltxvoice.models.gemma import load_text_encoder
        from ltxvoice.models.ltx import load_ltx_components

        self.stored = _dtype(params.text_dtype)
        dtype = compute_dtype(params, params.text_dtype, device)
        self.text_encoder = load_text_encoder(params.text_encoder, device=device, dtype=dtype)
        self.embeddings_processor = load_ltx_components(
            params.checkpoint,
            device=device,
            components=("embeddings_processor",),
            dtype=dtype,
            gemma_root=params.text_encoder,
        )["embeddings_processor"]

    def __call__(self, caption: str) -> lat.TextConditions:
        from ltxvoice.models.gemma import caption_features

        video, audio, mask = caption_features(caption, self.text_encoder, self.embeddings_processor)
        return lat.TextConditions(video.to(self.stored).cpu(), audio.to(self.stored).cpu(), mask.cpu())


class MediaEncoders:
    """The video VAE encoder and the audio VAE encoder (+ ltx-core's mel front end), loaded once."""

    def __init__(self, params: EncodeParams, device: str) -> None:
        from ltx_core.model.audio_vae import AudioProcessor

        from ltxvoice.models.ltx import load_ltx_components

        self.device = device
        self.video_stored, self.audio_stored = _dtype(params.video_dtype), _dtype(params.audio_dtype)
        self.video_dtype = compute_dtype(params, params.video_dtype, device)
        self.audio_dtype = compute_dtype(params, params.audio_dtype, device)
        video = load_ltx_components(
            params.checkpoint, device=device, components=("video_encoder",), dtype=self.video_dtype
        )
        audio = load_ltx_components(
            params.checkpoint, device=device, components=("audio_encoder",), dtype=self.audio_dtype
        )
        self.video_encoder, self.audio_encoder = video["video_encoder"], audio["audio_encoder"]
        enc = self.audio_encoder
        self.audio_processor = AudioProcessor(
            target_sample_rate=enc.sample_rate,
            mel_bins=enc.mel_bins,
            mel_hop_length=enc.mel_hop_length,
            n_fft=enc.n_fft,
        ).to(device)

    def video(self, clips: Sequence[np.ndarray]) -> list[Any]:
        """uint8 [F, H, W, 3] clips of one shape -> latents [128, F', H', W'] (stored video dtype, CPU)."""
        import torch

        x = torch.from_numpy(np.stack(clips)).to(self.device)  # [B, F, H, W, 3]
        # [0, 255] -> [-1, 1] in float32 (as the trainer's transforms do), then the dtype the VAE runs in
        x = x.permute(0, 4, 1, 2, 3).float().div(255.0).sub(0.5).div(0.5).to(self.video_dtype)
        with torch.inference_mode():
            out = self.video_encoder(x)
        return [t.to(self.video_stored).cpu() for t in out.unbind(0)]

    def audio(self, waves: Sequence[np.ndarray], rate: int) -> list[Any]:
        """Mono float32 waves of one length at ``rate`` -> latents [8, T, 16] (stored audio dtype, CPU).
        Mono is duplicated to the VAE's two channels; ltx-core resamples to 16 kHz and takes the mel."""
        import torch
        from ltx_core.types import Audio

        w = torch.from_numpy(np.stack(waves)).to(self.device, self.audio_dtype)[:, None, :].repeat(1, 2, 1)
        with torch.inference_mode():
            mel = self.audio_processor.waveform_to_mel(Audio(waveform=w, sampling_rate=rate))
            out = self.audio_encoder(mel.to(self.audio_dtype))
        return [t.to(self.audio_stored).cpu() for t in out.unbind(0)]


# ------------------------------------------------------------------------------------------------
# Encoding


def _batched(fn: Callable[[list[Any]], list[Any]], items: list[Any], batch: bool) -> list[Any]:
    """``fn`` over ``items`` in one call when ``batch``, else one at a time; a failing batch is
    retried item by item so that one bad item fails alone. Returns results or exceptions."""
    if batch and len(items) > 1:
        try:
            return fn(items)
        except Exception:  # noqa: BLE001 - isolate the item that breaks the batch
            pass
    out: list[Any] = []
    for item in items:
        try:
            out.append(fn([item])[0])
        except Exception as exc:  # noqa: BLE001 - becomes this item's quarantine row
            out.append(exc)
    return out


@dataclass
class MediaResult:
    """What :func:`encode_media` wrote for one item (or why it failed)."""

    clip_id: str
    video_shape: list[int] = field(default_factory=list)
    audio_shape: list[int] = field(default_factory=list)
    reference_shape: list[int] | None = None
    audio_seconds: float = 0.0
    error: BaseException | None = None


def encode_media(inputs: Sequence[MediaInputs], encoders: MediaEncoders, root: Path, batch: bool) -> list[MediaResult]:
    """Encode items of one bucket (video, audio, reference audio) and write their files under
    ``root``. Items whose audio lengths or reference lengths differ are encoded separately. An item
    with NaN/Inf anywhere gets an ``ItemError(non_finite)`` and none of its files stay."""
    results = [MediaResult(clip_id=i.clip_id) for i in inputs]
    videos = _batched(encoders.video, [i.frames for i in inputs], batch)
    audios: list[Any] = [None] * len(inputs)
    refs: list[Any] = [None] * len(inputs)
    for key in sorted({(i.audio_rate, i.audio.size) for i in inputs}):
        idx = [n for n, i in enumerate(inputs) if (i.audio_rate, i.audio.size) == key]
        for n, r in zip(idx, _batched(partial(encoders.audio, rate=key[0]), [inputs[n].audio for n in idx], batch)):
            audios[n] = r
    ref_keys = sorted({(i.reference_rate, i.reference.size) for i in inputs if i.reference is not None})
    for ref_key in ref_keys:
        idx = [
            n
            for n, i in enumerate(inputs)
            if i.reference is not None and (i.reference_rate, i.reference.size) == ref_key
        ]
        assert ref_key[0] is not None  # a reference always comes with its rate
        encoded = _batched(partial(encoders.audio, rate=ref_key[0]), [inputs[n].reference for n in idx], batch)
        for n, r in zip(idx, encoded):
            refs[n] = r
    for item, res, video, audio, ref in zip(inputs, results, videos, audios, refs):
        paths = lat.item_paths(root, item.clip_id)
        try:
            for r in (video, audio, ref):
                if isinstance(r, BaseException):
                    raise r
            records: list[tuple[lat.Record, Path]] = [
                (lat.VideoLatents(video, item.fps), paths.video),
                (lat.AudioLatents(audio, item.audio.size / item.audio_rate), paths.audio),
            ]
            if ref is not None and item.reference is not None and item.reference_rate:
                records.append(
                    (lat.AudioLatents(ref, item.reference.size / item.reference_rate), paths.reference_audio)
                )
            for record, _ in records:  # check all before writing any
                for field_name, value in record.to_dict().items():
                    if hasattr(value, "is_floating_point"):
                        lat.check_finite(value, field_name)
            for record, path in records:
                lat.save(record, path)
            res.video_shape, res.audio_shape = list(video.shape), list(audio.shape)
            res.reference_shape = list(ref.shape) if ref is not None else None
            res.audio_seconds = item.audio.size / item.audio_rate
        except lat.NonFiniteError as exc:
            res.error = ItemError(NON_FINITE, str(exc))
        except Exception as exc:  # noqa: BLE001
            res.error = exc
        if res.error is not None:
            remove_item(root, item.clip_id)
    return results


def encode_caption(caption: str, encoders: TextEncoders, path: Path) -> lat.TextConditions:
    """One caption's conditions, written to ``path``; ItemError(non_finite) if any value is NaN/Inf."""
    if not caption or not caption.strip():
        raise ItemError("empty_caption", "the caption is empty")
    conditions = encoders(caption)
    try:
        lat.save(conditions, path)
    except lat.NonFiniteError as exc:
        raise ItemError(NON_FINITE, str(exc)) from None
    return conditions


def remove_item(root: Path, clip_id: str) -> None:
    """Delete whatever was written for one item (a quarantined item leaves no files)."""
    paths = lat.item_paths(root, clip_id)
    for p in (paths.video, paths.audio, paths.conditions, paths.reference_audio):
        p.unlink(missing_ok=True)


def encoded_record(row: dict[str, Any], bucket: Bucket, media: MediaResult, text_tokens: int, root: Path) -> Encoded:
    paths = lat.item_paths(root, row["clip_id"])
    return Encoded(
        bucket=bucket.name,
        latents_path=str(paths.video),
        audio_latents_path=str(paths.audio),
        conditions_path=str(paths.conditions),
        reference_audio_latents_path=str(paths.reference_audio) if media.reference_shape else None,
        video_latent_shape=media.video_shape,
        audio_latent_shape=media.audio_shape,
        reference_audio_latent_shape=media.reference_shape,
        audio_seconds=round(media.audio_seconds, 6),
        text_tokens=text_tokens,
        caption_sha256=caption_sha256(row["caption"]),
    )


def summary_numbers(table: pl.DataFrame) -> dict[str, float | int]:
    """Deterministic numbers for the stage's metrics: items per bucket, latent steps per second."""
    out: dict[str, float | int] = {}
    if table.height == 0:
        return out
    for bucket, n in sorted(table.group_by("bucket").len().iter_rows()):
        out[f"bucket_{bucket}"] = n
    steps = table["audio_latent_shape"].list.get(1).cast(pl.Float64) / table["audio_seconds"]
    out["audio_latent_steps_per_second"] = round(float(steps.mean()), 3)  # type: ignore[arg-type]  # floats
    out["with_reference"] = int(table["reference_audio_latents_path"].is_not_null().sum())
    out["text_tokens_max"] = int(table["text_tokens"].max())  # type: ignore[arg-type]  # an integer column
    return out


# ------------------------------------------------------------------------------------------------
# Verification: decode latents back and measure them


@dataclass(frozen=True)
class Verified:
    """Measurements of one decoded item."""

    clip_id: str
    audio_wav: str
    video_mp4: str
    reference_wav: str | None
    target_hz: float | None
    input_pitch_hz: float
    decoded_pitch_hz: float
    decoded_vs_target_cents: float
    decoded_vs_input_cents: float
    reference_decoded_pitch_hz: float | None
    input_dbfs: float
    decoded_dbfs: float
    reference_decoded_dbfs: float | None
    video_psnr_db: float
    non_finite_values: int


class Decoders:
    """Audio VAE decoder + vocoder and video VAE decoder from the checkpoint, loaded once, to run in
    ``video_dtype`` / ``audio_dtype`` (:func:`decoders` picks them as the encoders do)."""

    def __init__(self, checkpoint: Path, device: str, video_dtype: Any, audio_dtype: Any) -> None:
        from ltxvoice.models.ltx import load_ltx_components

        self.device = device
        audio = load_ltx_components(
            checkpoint, device=device, components=("audio_decoder", "vocoder"), dtype=audio_dtype
        )
        self.audio_decoder, self.vocoder = audio["audio_decoder"], audio["vocoder"]
        self.video_decoder = load_ltx_components(
            checkpoint, device=device, components=("video_decoder",), dtype=video_dtype
        )["video_decoder"]
        self.video_dtype, self.audio_dtype = video_dtype, audio_dtype

    def audio(self, latents: Any) -> tuple[np.ndarray, int]:
        """[8, T, 16] -> (float32 [channels, samples], rate) through ltx-core's ``decode_audio``."""
        import torch
        from ltx_core.model.audio_vae import decode_audio

        with torch.inference_mode():
            out = decode_audio(latents[None].to(self.device, self.audio_dtype), self.audio_decoder, self.vocoder)
        wave = out.waveform.float().cpu().numpy()
        return wave.reshape(-1, wave.shape[-1]), int(out.sampling_rate)

    def video(self, latents: Any) -> np.ndarray:
        """[128, F', H', W'] -> float32 [F, H, W, 3] in [-1, 1] (may hold NaN: measured, not hidden)."""
        import torch

        with torch.inference_mode():
            out = self.video_decoder(latents[None].to(self.device, self.video_dtype))
        return out[0].float().permute(1, 2, 3, 0).cpu().numpy()


def decoders(params: EncodeParams, device: str) -> Decoders:
    """The decoders of ``params.checkpoint``, running in the dtypes the encoders run in."""
    return Decoders(
        params.checkpoint,
        device,
        compute_dtype(params, params.video_dtype, device),
        compute_dtype(params, params.audio_dtype, device),
    )


def _pitch(samples: np.ndarray, rate: int, target: float | None) -> float:
    from ltxvoice.dsp.pitch import adapted_range, praat_track
    from ltxvoice.media import resample

    if samples.size == 0 or not np.isfinite(samples).all():
        return float("nan")
    floor, ceiling = adapted_range(target, 60.0, 600.0) if target and target > 0 else (60.0, 600.0)
    x = resample(samples, rate, 16000)
    return praat_track(x, 16000, floor, ceiling).median()


def _cents(a: float, b: float | None) -> float:
    from ltxvoice.dsp.pitch import cents

    return cents(a, b) if b else float("nan")


def _psnr(decoded: np.ndarray, frames: np.ndarray) -> float:
    """PSNR (dB, peak 2 in [-1, 1] units) of decoded frames against the encoded input frames."""
    n = min(decoded.shape[0], frames.shape[0])
    x = frames[:n].astype(np.float64) / 127.5 - 1.0
    y = np.nan_to_num(decoded[:n].astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0).clip(-1, 1)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(4.0 / mse)


def verify_item(row: dict[str, Any], decoders: Decoders, out_dir: Path) -> Verified:
    """Decode one written item (audio, reference audio, video), write ``<id>.audio.wav``,
    ``<id>.reference.wav``, ``<id>.video.mp4`` to ``out_dir`` and measure them against the inputs."""
    clip_id = row["clip_id"]
    audio = lat.load_audio_latents(Path(row["audio_latents_path"]))
    video = lat.load_video_latents(Path(row["latents_path"]))
    wave, rate = decoders.audio(audio.latents)
    bad = int((~np.isfinite(wave)).sum())
    mono = np.nan_to_num(wave.mean(axis=0))
    audio_wav = write_wav(out_dir / f"{clip_id}.audio.wav", mono, rate)
    source, source_rate = read_wav(Path(row["train_audio_path"]))
    source = source[: round(audio.duration * source_rate)]
    target = row.get("target_hz")
    target = float(target) if target is not None and math.isfinite(float(target)) else None
    input_pitch = _pitch(source, source_rate, target)
    decoded_pitch = _pitch(mono, rate, target or (input_pitch if math.isfinite(input_pitch) else None))
    ref_wav, ref_pitch, ref_db = None, None, None
    if row.get("reference_audio_latents_path"):
        ref = lat.load_audio_latents(Path(row["reference_audio_latents_path"]))
        ref_wave, ref_rate = decoders.audio(ref.latents)
        bad += int((~np.isfinite(ref_wave)).sum())
        ref_mono = np.nan_to_num(ref_wave.mean(axis=0))
        ref_wav = str(write_wav(out_dir / f"{clip_id}.reference.wav", ref_mono, ref_rate))
        ref_pitch, ref_db = _pitch(ref_mono, ref_rate, target), rms_dbfs(ref_mono)
    decoded_frames = decoders.video(video.latents)
    bad += int((~np.isfinite(decoded_frames)).sum())
    frames = read_frames(
        Path(row["train_video_path"]),
        frames=decoded_frames.shape[0],
        width=decoded_frames.shape[2],
        height=decoded_frames.shape[1],
    )
    pixels = ((np.nan_to_num(decoded_frames).clip(-1, 1) + 1.0) * 127.5).round().astype(np.uint8)
    video_mp4 = write_frames(out_dir / f"{clip_id}.video.mp4", pixels, video.fps)
    return Verified(
        clip_id=clip_id,
        audio_wav=str(audio_wav),
        video_mp4=str(video_mp4),
        reference_wav=ref_wav,
        target_hz=target,
        input_pitch_hz=round(input_pitch, 3),
        decoded_pitch_hz=round(decoded_pitch, 3),
        decoded_vs_target_cents=round(_cents(decoded_pitch, target), 2),
        decoded_vs_input_cents=round(_cents(decoded_pitch, input_pitch if math.isfinite(input_pitch) else None), 2),
        reference_decoded_pitch_hz=None if ref_pitch is None else round(ref_pitch, 3),
        input_dbfs=round(rms_dbfs(source), 2),
        decoded_dbfs=round(rms_dbfs(mono), 2),
        reference_decoded_dbfs=None if ref_db is None else round(ref_db, 2),
        video_psnr_db=round(_psnr(decoded_frames, frames), 3),
        non_finite_values=bad,
    )


def verification_report(rows: Sequence[Verified], out_dir: Path, checkpoint: Path) -> dict[str, Any]:
    """``report.json`` + ``report.md`` in ``out_dir``: per item and summary numbers."""
    from ltxvoice.stage import write_json

    def median(values: list[float | None]) -> float | None:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        return round(float(np.median(finite)), 3) if finite else None

    summary = {
        "items": len(rows),
        "non_finite_values": sum(r.non_finite_values for r in rows),
        "median_abs_cents_decoded_vs_target": median([abs(r.decoded_vs_target_cents) for r in rows]),
        "median_abs_cents_decoded_vs_input": median([abs(r.decoded_vs_input_cents) for r in rows]),
        "median_decoded_dbfs": median([r.decoded_dbfs for r in rows]),
        "median_input_dbfs": median([r.input_dbfs for r in rows]),
        "median_video_psnr_db": median([r.video_psnr_db for r in rows]),
        "unpitched_decoded": sum(1 for r in rows if not math.isfinite(r.decoded_pitch_hz)),
    }
    items = [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.__dict__.items()} for r in rows
    ]
    write_json(out_dir / "report.json", {"checkpoint": str(checkpoint), "summary": summary, "items": items})
    lines = [
        "# Decoded-latent check",
        "",
        f"Latents decoded back through the audio VAE decoder + vocoder and the video VAE decoder of `{checkpoint}`.",
        "Listen to the WAVs and watch the MP4s beside this file. Pitch: Praat median F0 of the decoded speech;",
        "target: the pair's target pitch (input pitch when the recipe has none). A random-weight test checkpoint",
        "decodes noise: its numbers only show that the path runs.",
        "",
        "| what | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in summary.items()],
        "",
        "| clip | target Hz | input Hz | decoded Hz | cents vs target | input dBFS | decoded dBFS | ref Hz | PSNR dB "
        "| NaN/Inf |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.clip_id} | {r.target_hz} | {_fmt(r.input_pitch_hz)} | {_fmt(r.decoded_pitch_hz)} | "
            f"{_fmt(r.decoded_vs_target_cents)} | {r.input_dbfs} | {r.decoded_dbfs} | "
            f"{_fmt(r.reference_decoded_pitch_hz)} | {r.video_psnr_db} | {r.non_finite_values} |"
        )
    (out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return summary


def _fmt(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:g}"


def verify(items: pl.DataFrame, decoders: Decoders, out_dir: Path, samples: int, checkpoint: Path) -> dict[str, Any]:
    """Decode the first ``samples`` items (by clip id) and write their files and the report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = items.sort("clip_id").head(samples).to_dicts()
    verified = [verify_item(row, decoders, out_dir) for row in rows]
    return verification_report(verified, out_dir, checkpoint)
