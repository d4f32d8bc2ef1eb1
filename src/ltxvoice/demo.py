"""Stage ``demo``: a reproducible set of talking clips made from nothing.

Each clip is espeak-ng speech (several languages, male/female/whisper voices, a spread of pitches)
muxed with a rendered face whose mouth opening follows the speech envelope, so lip-sync related
checks downstream have something real to measure. The spoken text is saved beside each clip as
``<name>.txt``. ``labels.csv`` is the per-source label table the caption stage reads (the columns a
user provides for a real set: ``gender``, ``manner``, ``scene``, ``visual``, ``voice``), filled in from
what the demo knows: the gender of the espeak voice, the manner from its whisper variant, the voice
description from its pitch setting and language; plus the espeak facts themselves.

With ``bad_files`` the set also holds one deliberately broken file of each kind ``ingest`` must
quarantine (empty, not media, no audio, too short, silent, truncated, unsupported extension).
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from ltxvoice.config import DemoParams
from ltxvoice.media import read_wav

STAGE = "demo"

# Sentences written for this project; each language's bank is sampled (seeded) until the clip
# length lands in [min_seconds, max_seconds].
SENTENCES: dict[str, list[str]] = {
    "en": [
        "The morning train was late again, so I walked along the river instead.",
        "Please put the blue folder on the second shelf before you leave.",
        "We counted eleven boats in the harbour and one of them had a red sail.",
        "My grandmother kept a small garden full of mint, beans and tall sunflowers.",
        "If the wind picks up tonight, the old window in the attic will rattle.",
        "He said the concert starts at eight, but nobody believes him anymore.",
        "The library closes early on Fridays, which is a little inconvenient.",
        "A warm cup of tea and a quiet room is all I need this evening.",
    ],
    "en-us": [
        "I parked the car two blocks away because the lot was completely full.",
        "The recipe calls for three eggs, a cup of flour and a pinch of salt.",
        "Our neighbor painted his fence bright yellow over the long weekend.",
        "Could you send me the schedule for next week when you get a chance?",
        "The coffee shop on the corner finally started selling fresh bagels.",
        "She practiced the piano every afternoon until the song felt easy.",
        "We drove through the desert at night and the stars were incredible.",
        "The package should arrive on Tuesday, unless the storm delays it.",
    ],
    "de": [
        "Der Zug nach Hamburg hat heute leider zwanzig Minuten Verspätung.",
        "Im Garten blühen schon die ersten Tulpen und die Vögel singen laut.",
        "Kannst du bitte das Fenster schließen, es wird langsam kalt hier drinnen.",
        "Wir haben am Wochenende einen langen Spaziergang durch den Wald gemacht.",
        "Die Bäckerei an der Ecke verkauft das beste Brot in der ganzen Stadt.",
        "Morgen früh treffen wir uns um neun Uhr vor dem alten Rathaus.",
        "Meine Schwester lernt seit einem Jahr Geige und übt jeden Abend.",
    ],
    "fr": [
        "Le marché du samedi est plein de fruits frais et de fleurs colorées.",
        "Nous avons pris le bateau pour traverser le lac au coucher du soleil.",
        "Mon voisin joue de la guitare tous les soirs après le dîner.",
        "Il faut arroser les tomates avant que le soleil ne devienne trop fort.",
        "La bibliothèque municipale ouvre une nouvelle salle pour les enfants.",
        "Elle a oublié son parapluie dans le train ce matin, encore une fois.",
        "Le café est trop chaud, attendons quelques minutes avant de le boire.",
    ],
    "es": [
        "El autobús de la mañana siempre llega tarde cuando llueve mucho.",
        "Mi abuelo cultiva tomates, pimientos y hierbas en su pequeño huerto.",
        "Vamos a la playa el domingo si el tiempo sigue tan bueno como hoy.",
        "La biblioteca del barrio tiene una colección enorme de libros antiguos.",
        "Por favor, cierra la puerta con llave cuando salgas de la casa.",
        "Ayer cenamos en un restaurante pequeño cerca de la plaza mayor.",
        "Los niños jugaron en el parque hasta que empezó a oscurecer.",
    ],
}

MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")
# espeak-ng pitch setting (-p, 0..99) ranges that give roughly 75-140 Hz (male) and 150-280 Hz (female).
PITCH_RANGE = {"male": (15, 85), "female": (15, 85)}


# The caption vocabulary (register recipe): the seed's "(woman, whispering)", "(man, whispering
# quietly)" -- a male whisper needs "quietly" -- and "(woman|man, speaking softly)" for voiced speech.
GENDER_WORD = {"female": "woman", "male": "man"}
ACCENT = {"en": "British English", "en-us": "American English", "de": "German", "fr": "French", "es": "Spanish"}
SCENE = "a flat cartoon face in front of a plain wall"
VISUAL = (
    "a flat cartoon face centred in the frame, facing the camera, dark oval eyes that blink now and then, "
    "a plain shaded background, the mouth opening and closing with the speech"
)


def manner_label(gender: str, whisper: bool) -> str:
    if not whisper:
        return "speaking softly"
    return "whispering" if gender == "female" else "whispering quietly"


def voice_label(gender: str, whisper: bool, espeak_pitch: int, language: str) -> str:
    """e.g. 'low-pitched male synthetic voice with a German accent' (fits 'speaks in a ...')."""
    height = (
        "whispered"
        if whisper
        else ("low-pitched" if espeak_pitch < 40 else "mid-pitched" if espeak_pitch < 65 else "high-pitched")
    )
    accent = ACCENT.get(language) or ACCENT.get(language.split("-")[0], language)
    article = "an" if accent[:1].upper() in "AEIOU" else "a"
    return f"{height} {gender} synthetic voice with {article} {accent} accent"


@dataclass(frozen=True)
class DemoClip:
    """One demo source as written to labels.csv (a label table the caption stage reads)."""

    file: str
    gender: str
    manner: str
    scene: str
    visual: str
    voice: str
    language: str
    espeak_voice: str
    espeak_pitch: int
    espeak_speed: int
    seconds: float
    text: str


def plan(params: DemoParams) -> list[dict]:
    """Decide every clip's voice, language, pitch and text (seeded, no synthesis yet)."""
    rng = np.random.default_rng(params.seed)
    n_whisper = round(params.count * params.whisper_share)
    whispered = set(np.linspace(0, params.count - 1, n_whisper).round().astype(int).tolist()) if n_whisper else set()
    items = []
    for i in range(params.count):
        whisper = i in whispered
        gender = "female" if i % 2 else "male"
        if whisper:
            variant = "whisperf" if gender == "female" else "whisper"
        else:
            bank = FEMALE_VARIANTS if gender == "female" else MALE_VARIANTS
            variant = bank[int(rng.integers(len(bank)))]
        language = params.languages[int(rng.integers(len(params.languages)))]
        lo, hi = PITCH_RANGE[gender]
        items.append(
            {
                "index": i,
                "language": language,
                "voice": f"{language}+{variant}",
                "gender": gender,
                "manner": "whispering" if whisper else "speaking",
                "pitch": int(rng.integers(lo, hi + 1)),
                "order": [int(k) for k in rng.permutation(len(SENTENCES[_bank_key(language)]))],
            }
        )
    return items


def _bank_key(language: str) -> str:
    if language in SENTENCES:
        return language
    base = language.split("-")[0]
    if base in SENTENCES:
        return base
    raise ValueError(f"demo.languages: no sentences for language {language!r} (have {sorted(SENTENCES)})")


def speak(text: str, voice: str, pitch: int, speed: int, wav: Path) -> None:
    """espeak-ng to a WAV file."""
    cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(wav), text]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not wav.is_file() or wav.stat().st_size <= 44:
        raise RuntimeError(f"espeak-ng failed for voice {voice}: {done.stderr.strip() or 'no output'}")


def synthesize(item: dict, params: DemoParams, wav: Path) -> tuple[str, int, float]:
    """Speak sentences from the item's bank until the length is inside the window.

    Returns (text, speed, seconds). Deterministic: sentence order and speed follow the plan."""
    bank = SENTENCES[_bank_key(item["language"])]
    target = 0.5 * (params.min_seconds + params.max_seconds)
    speed = 165
    count = 1
    seconds = 0.0
    text = ""
    for _ in range(12):
        text = " ".join(bank[k] for k in item["order"][:count])
        speak(text, item["voice"], item["pitch"], speed, wav)
        samples, rate = read_wav(wav)
        seconds = samples.size / rate
        if params.min_seconds <= seconds <= params.max_seconds:
            return text, speed, seconds
        if seconds < params.min_seconds and count < len(item["order"]):
            # More text; if one more sentence would overshoot, it is fixed by speed on the next pass.
            count += 1
            continue
        speed = int(np.clip(round(speed * seconds / target), 80, 450))
    raise RuntimeError(
        f"could not fit demo clip {item['index']} into {params.min_seconds}-{params.max_seconds} s "
        f"(last try {seconds:.2f} s at {speed} wpm)"
    )


def mouth_envelope(samples: np.ndarray, rate: int, fps: float, frames: int) -> np.ndarray:
    """Per-frame mouth opening in [0, 1] from the speech RMS envelope (smoothed, peak-normalised)."""
    hop = rate / fps
    win = int(round(hop * 1.5))
    out = np.zeros(frames)
    for f in range(frames):
        center = int(round((f + 0.5) * hop))
        seg = samples[max(0, center - win // 2) : center + win // 2]
        out[f] = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if seg.size else 0.0
    ref = np.percentile(out, 95) if np.any(out > 0) else 1.0
    env = np.clip(out / max(ref, 1e-9), 0.0, 1.0)
    kernel = np.array([0.25, 0.5, 0.25])
    return np.convolve(np.pad(env, 1, mode="edge"), kernel, mode="valid")


def render_face(envelope: np.ndarray, width: int, height: int, seed: int) -> np.ndarray:
    """Frames (N, H, W, 3) uint8 of a simple face whose mouth opens with ``envelope``."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(30, 120, size=3)
    skin = rng.integers(150, 235, size=3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width / 2 + rng.uniform(-0.08, 0.08) * width, height / 2
    face_a, face_b = 0.20 * width * rng.uniform(0.85, 1.1), 0.40 * height * rng.uniform(0.9, 1.05)
    base = np.empty((height, width, 3), np.uint8)
    base[:] = bg.astype(np.uint8)
    shade = (0.85 + 0.15 * yy / height)[..., None]
    base = (base * shade).astype(np.uint8)
    frames = np.empty((len(envelope), height, width, 3), np.uint8)
    blink_every = int(rng.integers(60, 110))
    for f, opening in enumerate(envelope):
        bob = 2.0 * np.sin(2 * np.pi * f / 50.0)
        img = base.copy()
        face = ((xx - cx) / face_a) ** 2 + ((yy - cy - bob) / face_b) ** 2 <= 1.0
        img[face] = skin
        eye_h = 1.5 if f % blink_every < 3 else 0.045 * face_b
        for side in (-1, 1):
            eye = ((xx - (cx + side * 0.38 * face_a)) / (0.12 * face_a)) ** 2 + (
                (yy - (cy - 0.25 * face_b + bob)) / eye_h
            ) ** 2 <= 1.0
            img[eye] = (25, 25, 30)
        mouth_w = 0.42 * face_a
        mouth_h = 1.5 + opening * 0.16 * face_b
        mouth = ((xx - cx) / mouth_w) ** 2 + ((yy - (cy + 0.45 * face_b + bob)) / mouth_h) ** 2 <= 1.0
        img[mouth] = (90, 20, 30)
        frames[f] = img
    return frames


def mux(frames: np.ndarray, fps: float, wav: Path, dst: Path, seconds: float | None = None) -> None:
    """Encode frames (H.264) with the WAV (AAC) into an mp4 (moov atom at the front)."""
    n, h, w, _ = frames.shape
    video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
    audio = ffmpeg.input(str(wav))
    extra = {"t": f"{seconds:.6f}"} if seconds else {}
    out = ffmpeg.output(
        video,
        audio,
        str(dst),
        vcodec="libx264",
        pix_fmt="yuv420p",
        crf=20,
        preset="veryfast",
        threads=2,
        acodec="aac",
        audio_bitrate="128k",
        movflags="+faststart",
        map_metadata=-1,
        **{"fflags": "+bitexact", "flags:v": "+bitexact", "flags:a": "+bitexact"},
        **extra,
    )
    out.global_args("-nostdin", "-hide_banner", "-loglevel", "error").run(
        input=frames.tobytes(), capture_stdout=True, capture_stderr=True, overwrite_output=True
    )


def make_clip(item: dict, params: DemoParams, out_dir: Path) -> DemoClip:
    """Synthesize, render and mux one demo clip; write its transcript sidecar."""
    name = f"demo_{item['index']:03d}_{item['language']}_{item['gender']}_{item['manner']}"
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        text, speed, seconds = synthesize(item, params, wav)
        samples, rate = read_wav(wav)
        n_frames = int(round(seconds * params.fps))
        env = mouth_envelope(samples, rate, params.fps, n_frames)
        frames = render_face(env, params.width, params.height, seed=params.seed + item["index"])
        mux(frames, params.fps, wav, out_dir / f"{name}.mp4", seconds=n_frames / params.fps)
    (out_dir / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    whisper = item["manner"] == "whispering"
    return DemoClip(
        file=f"{name}.mp4",
        gender=GENDER_WORD[item["gender"]],
        manner=manner_label(item["gender"], whisper),
        scene=SCENE,
        visual=VISUAL,
        voice=voice_label(item["gender"], whisper, item["pitch"], item["language"]),
        language=item["language"],
        espeak_voice=item["voice"],
        espeak_pitch=item["pitch"],
        espeak_speed=speed,
        seconds=round(seconds, 4),
        text=text,
    )


def write_labels(clips: list[DemoClip], path: Path) -> Path:
    rows = sorted((asdict(c) for c in clips), key=lambda r: r["file"])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else [f for f in DemoClip.__annotations__])
        writer.writeheader()
        writer.writerows(rows)
    return path


BAD_FILES = {
    "bad_empty.mp4": "empty_file",
    "bad_not_media.mp4": "unreadable",
    "bad_no_audio.mp4": "no_audio_stream",
    "bad_too_short.mp4": "too_short",
    "bad_silent.mp4": "silent",
    "bad_truncated.mp4": "truncated",
    "bad_unsupported.xyz": "unsupported_extension",
}


def write_bad_files(params: DemoParams, out_dir: Path, good_example: Path) -> dict[str, str]:
    """One broken file per quarantine reason; returns {file name: reason ingest should give}."""
    w, h, fps = params.width, params.height, params.fps
    (out_dir / "bad_empty.mp4").write_bytes(b"")
    (out_dir / "bad_not_media.mp4").write_text("this is a text file with a video extension\n")
    (out_dir / "bad_unsupported.xyz").write_bytes(b"\x00\x01 not a format anyone reads")
    lavfi = {"format": "lavfi"}
    quiet = ("-nostdin", "-hide_banner", "-loglevel", "error")
    vid_args = {
        "vcodec": "libx264",
        "pix_fmt": "yuv420p",
        "preset": "veryfast",
        "threads": 2,
        "movflags": "+faststart",
        "map_metadata": -1,
        "fflags": "+bitexact",
        "flags:v": "+bitexact",
    }
    testsrc = ffmpeg.input(f"testsrc2=size={w}x{h}:rate={fps:g}:duration=6", **lavfi)
    ffmpeg.output(testsrc, str(out_dir / "bad_no_audio.mp4"), **vid_args).global_args(*quiet).run(
        overwrite_output=True, capture_stderr=True
    )
    short_v = ffmpeg.input(f"testsrc2=size={w}x{h}:rate={fps:g}:duration=2", **lavfi)
    short_a = ffmpeg.input("sine=frequency=220:sample_rate=22050:duration=2", **lavfi)
    ffmpeg.output(short_v, short_a, str(out_dir / "bad_too_short.mp4"), acodec="aac", **vid_args).global_args(
        *quiet
    ).run(overwrite_output=True, capture_stderr=True)
    silent_v = ffmpeg.input(f"testsrc2=size={w}x{h}:rate={fps:g}:duration=6", **lavfi)
    silent_a = ffmpeg.input("anullsrc=channel_layout=mono:sample_rate=22050", **lavfi)
    ffmpeg.output(silent_v, silent_a, str(out_dir / "bad_silent.mp4"), acodec="aac", t=6, **vid_args).global_args(
        *quiet
    ).run(overwrite_output=True, capture_stderr=True)
    data = good_example.read_bytes()
    (out_dir / "bad_truncated.mp4").write_bytes(data[: int(len(data) * 0.4)])
    return dict(BAD_FILES)


def espeak_version() -> str:
    done = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True)
    return done.stdout.strip().split("  ")[0] if done.returncode == 0 else "unknown"
