"""Stage ``caption``: every kept clip's caption in its recipe's format, and the dataset folder the
LTX trainers read.

Templates (``caption.template``), after the seeds:

- ``constant`` (helium): one pitch-free caption for every pair, e.g. ``a person speaking``.
- ``register`` (whisper / soft-spoken): ``a [scene], ([gender], [manner]): "[transcript]", intimate ASMR``
  with gender and manner from the user's label table, never guessed.
- ``talking_head``: ``[VISUAL] TRIGGER, [visual]. [SPEECH] TRIGGER speaks in a [voice]: "[transcript]"``
  with the visual and voice descriptions from the label table and a non-empty trigger word.

Transcripts come from a source's sidecar text only when the clip holds all of that source's speech
(the sidecar describes the whole source); otherwise from ASR (:mod:`ltxvoice.models.asr`). Every
caption is parsed back with the template's own parser before it is written, so a caption that would
not read back (e.g. a transcript breaking the quoting) is caught here, not by a trainer.

The dataset folder holds a copy of each clip's video and audio named by clip id, a ``.txt`` caption
beside each (the convention of most LoRA trainers), ``dataset.json`` with the official LTX-2 trainer's
columns (``video``, ``audio``, ``caption``, ``reference_audio``; paths relative to the file) and, for
the talking-head recipe, ``CAPTIONS.json`` in the seed's format.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ltxvoice.config import CaptionParams
from ltxvoice.media import MediaError, read_wav, resample
from ltxvoice.models.asr import RATE, Transcriber

STAGE = "caption"

MISSING_LABEL = "missing_label"
EMPTY_TRIGGER = "empty_trigger"
NO_TRANSCRIPT = "no_transcript"
EMPTY_TRANSCRIPT = "empty_transcript"
ASR_FAILED = "asr_failed"
BAD_CAPTION = "bad_caption"

# A sidecar transcript describes the whole source; it fits a clip only if the clip holds all of the
# source's speech, give or take this much at either end.
_COVER_SLACK_S = 0.05


class LabelsError(ValueError):
    """The label table is unusable as a whole (missing columns, duplicates, values outside the
    vocabulary). One line per problem, with file and line."""


class ItemError(MediaError):
    """One clip cannot be captioned; ``reason`` becomes its quarantine reason."""


# --- label table ---------------------------------------------------------------------------------

REQUIRED_COLUMNS = {"constant": (), "register": ("gender", "manner"), "talking_head": ("visual", "voice")}


def _rows_from_file(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs from a CSV or YAML label table; values as stripped strings."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "file" not in reader.fieldnames:
                raise LabelsError(f"{path}: needs a header row with a 'file' column")
            return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, Mapping):  # {file: {column: value}}
        data = [{"file": k, **(v or {})} for k, v in data.items()]
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise LabelsError(f"{path}: a YAML label table is a list of mappings or a mapping of file -> mapping")
    return [(i + 1, {str(k): "" if v is None else str(v).strip() for k, v in r.items()}) for i, r in enumerate(data)]


def load_labels(path: Path, params: CaptionParams) -> dict[Path, dict[str, str]]:
    """The label table as {resolved source path: row}, validated against the template's needs.

    Whole-table problems raise LabelsError (every problem listed). A source without a row, or with an
    empty cell the template needs, is not an error here: that clip is quarantined as missing_label."""
    if not path.is_file():
        raise LabelsError(f"caption.labels: {path} not found")
    try:
        rows = _rows_from_file(path)
    except (yaml.YAMLError, UnicodeDecodeError, csv.Error) as exc:
        raise LabelsError(f"{path}: cannot parse: {exc}") from None
    problems: list[str] = []
    columns = set().union(*(r.keys() for _, r in rows)) if rows else set()
    for column in REQUIRED_COLUMNS[params.template]:
        if column not in columns:
            problems.append(f"{path}: template {params.template} needs a '{column}' column")
    table: dict[Path, dict[str, str]] = {}
    for line, row in rows:
        name = row.get("file", "")
        if not name:
            problems.append(f"{path}:{line}: empty 'file'")
            continue
        key = (path.parent / name).resolve()
        if key in table:
            problems.append(f"{path}:{line}: '{name}' is listed more than once")
        for column, allowed in (("gender", params.genders), ("manner", params.manners)):
            value = row.get(column, "")
            if params.template == "register" and value and value not in allowed:
                problems.append(f"{path}:{line}: {column} '{value}' is not one of {allowed} (caption.{column}s)")
        table[key] = row
    if problems:
        raise LabelsError("\n".join(problems))
    return table


def label_for(source_path: str, table: Mapping[Path, dict[str, str]], params: CaptionParams) -> dict[str, str]:
    """The source's row with every column the template needs filled, or ItemError(missing_label)."""
    row = table.get(Path(source_path).resolve())
    if row is None:
        raise ItemError(MISSING_LABEL, f"{source_path} has no row in {params.labels}")
    empty = [c for c in REQUIRED_COLUMNS[params.template] if not row.get(c)]
    if empty:
        raise ItemError(MISSING_LABEL, f"{source_path}: empty {', '.join(empty)} in {params.labels}")
    return row


# --- templates -----------------------------------------------------------------------------------

_REGISTER = re.compile(
    r'^(?P<scene>.+?), \((?P<gender>[^,()]+), (?P<manner>[^()]+)\): "(?P<transcript>[^"]+)"'
    r'(?:, (?P<suffix>[^"]+))?$'
)
_TALKING_HEAD = re.compile(
    r"^\[VISUAL\] (?P<trigger>\S+), (?P<visual>.+?)\. \[SPEECH\] (?P=trigger) speaks in an? "
    r'(?P<voice>.+?): "(?P<transcript>[^"]+)"$'
)


def clean_transcript(text: str) -> str:
    """One line, single spaces, double quotes turned into single ones (the caption quotes it), and no
    U+FFFD debris (a byte-level decoder can stop inside a multi-byte character)."""
    text = text.replace('"', "'").replace("\u201c", "'").replace("\u201d", "'").replace("\ufffd", "")
    return " ".join(text.split())


def _with_article(text: str) -> str:
    return text if re.match(r"^(a|an|the)\s", text, re.IGNORECASE) else f"a {text}"


def _without_article(text: str) -> str:
    return re.sub(r"^(a|an)\s+", "", text.strip(), flags=re.IGNORECASE)


def register_caption(scene: str, gender: str, manner: str, transcript: str, suffix: str) -> str:
    """``a [scene], ([gender], [manner]): "[transcript]", [suffix]`` (the whisper/soft-spoken seed)."""
    caption = f'{_with_article(scene.strip().rstrip(",."))}, ({gender}, {manner}): "{clean_transcript(transcript)}"'
    return f"{caption}, {suffix}" if suffix else caption


def talking_head_caption(trigger: str, visual: str, voice: str, transcript: str) -> str:
    """``[VISUAL] TRIGGER, [visual]. [SPEECH] TRIGGER speaks in a [voice]: "[transcript]"`` (the AV seed)."""
    voice = _without_article(voice)
    article = "an" if voice[:1].lower() in "aeiou" else "a"
    return (
        f"[VISUAL] {trigger}, {visual.strip().rstrip('.')}. [SPEECH] {trigger} speaks in {article} {voice}: "
        f'"{clean_transcript(transcript)}"'
    )


def parse_register(caption: str) -> dict[str, str]:
    """The parts of a register caption; ValueError if it is not in the format."""
    match = _REGISTER.match(caption)
    if not match:
        raise ValueError(f"not a register caption: {caption!r}")
    return {k: v for k, v in match.groupdict().items() if v is not None}


def parse_talking_head(caption: str) -> dict[str, str]:
    """The parts of a talking-head caption; ValueError if it is not in the format."""
    match = _TALKING_HEAD.match(caption)
    if not match:
        raise ValueError(f"not a talking-head caption: {caption!r}")
    return match.groupdict()


# --- transcripts ---------------------------------------------------------------------------------


def sidecar_fits(row: Mapping[str, Any]) -> bool:
    """True when the source has a sidecar transcript and the clip holds all of the source's speech."""
    if not row.get("source_transcript"):
        return False
    first, last = row.get("source_speech_start_s"), row.get("source_speech_end_s")
    if first is None or last is None:
        return False
    start, end = row["start_s"], row["start_s"] + row["duration_s"]
    return start <= first + _COVER_SLACK_S and end >= last - _COVER_SLACK_S


@dataclass(frozen=True)
class TranscriptResult:
    text: str
    source: str  # sidecar | asr
    language: str | None
    language_probability: float | None
    words_json: str | None


def transcript_for(
    row: Mapping[str, Any], audio_path: Path, params: CaptionParams, transcriber: Transcriber | None
) -> TranscriptResult:
    """The clip's transcript by ``caption.transcript``: sidecar, ASR, or sidecar when it fits."""
    if params.transcript != "asr" and sidecar_fits(row):
        return TranscriptResult(clean_transcript(row["source_transcript"]), "sidecar", None, None, None)
    if params.transcript == "sidecar":
        why = (
            "has no sidecar transcript"
            if not row.get("source_transcript")
            else ("holds only part of its source's speech, so the source's sidecar transcript does not describe it")
        )
        raise ItemError(NO_TRANSCRIPT, f"the clip {why} (caption.transcript: sidecar)")
    if transcriber is None:
        raise ValueError("transcript_for needs a transcriber when ASR may be used")
    try:
        samples, rate = read_wav(audio_path)
        result = transcriber(resample(samples, rate, RATE).astype(np.float32))
    except Exception as exc:  # unreadable audio or the recogniser itself: this clip only
        raise ItemError(ASR_FAILED, f"{audio_path.name}: {type(exc).__name__}: {exc}") from None
    text = clean_transcript(result.text)
    if not text:
        raise ItemError(EMPTY_TRANSCRIPT, f"ASR heard no words (language {result.language})")
    return TranscriptResult(text, "asr", result.language, result.language_probability, result.words_json())


# --- one clip ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Captioned:
    """Columns the ``caption`` stage adds; the ``train_*`` paths point into the dataset folder."""

    recipe: str
    caption: str
    caption_path: str
    train_video_path: str | None
    train_audio_path: str
    reference_audio_path: str | None
    transcript: str | None
    transcript_source: str | None
    transcript_language: str | None
    transcript_language_probability: float | None
    transcript_words: str | None
    label_gender: str | None
    label_manner: str | None
    trigger: str | None


def media_of(row: Mapping[str, Any], recipe: str) -> tuple[str | None, str, str | None]:
    """(video, audio, reference audio) of a clip to train on, from the upstream table of its recipe."""
    if recipe == "helium":
        return row["target_video_path"], row["target_audio_path"], row["tone_path"]
    return row.get("prepared_video_path"), row["prepared_audio_path"], None


def caption_clip(
    row: Mapping[str, Any],
    params: CaptionParams,
    recipe: str,
    labels: Mapping[Path, dict[str, str]],
    dataset_dir: Path,
    transcriber: Transcriber | None,
) -> Captioned:
    """Caption one clip and copy its media, with a ``.txt`` caption, into ``dataset_dir``."""
    clip_id = row["clip_id"]
    video, audio, reference = media_of(row, recipe)
    label: dict[str, str] = {}
    transcript: TranscriptResult | None = None
    trigger: str | None = None
    if params.template == "constant":
        caption = params.text.strip()
    else:
        label = label_for(row["source_path"], labels, params)
        transcript = transcript_for(row, Path(audio), params, transcriber)
        if params.template == "register":
            caption = register_caption(
                label.get("scene") or params.scene, label["gender"], label["manner"], transcript.text, params.suffix
            )
            parse = parse_register
        else:
            trigger = (label.get("trigger") or params.trigger).strip()
            if not trigger:
                raise ItemError(EMPTY_TRIGGER, "no trigger word: set caption.trigger or the label table's trigger")
            if re.search(r"\s", trigger):
                raise ItemError(EMPTY_TRIGGER, f"trigger {trigger!r} must be one word")
            caption = talking_head_caption(trigger, label["visual"], label["voice"], transcript.text)
            parse = parse_talking_head
        try:
            parse(caption)
        except ValueError as exc:
            raise ItemError(BAD_CAPTION, str(exc)) from None

    copies = {}
    for kind, src, name in (
        ("video", video, f"{clip_id}.mp4"),
        ("audio", audio, f"{clip_id}.wav"),
        ("reference", reference, f"{clip_id}.reference.wav"),
    ):
        if src:
            copies[kind] = dataset_dir / name
            shutil.copyfile(src, copies[kind])
    caption_path = dataset_dir / f"{clip_id}.txt"
    caption_path.write_text(caption + "\n", encoding="utf-8")
    return Captioned(
        recipe=recipe,
        caption=caption,
        caption_path=str(caption_path),
        train_video_path=str(copies["video"]) if "video" in copies else None,
        train_audio_path=str(copies["audio"]),
        reference_audio_path=str(copies["reference"]) if "reference" in copies else None,
        transcript=transcript.text if transcript else None,
        transcript_source=transcript.source if transcript else None,
        transcript_language=transcript.language if transcript else None,
        transcript_language_probability=transcript.language_probability if transcript else None,
        transcript_words=transcript.words_json if transcript else None,
        label_gender=label.get("gender") or None,
        label_manner=label.get("manner") or None,
        trigger=trigger,
    )


# --- dataset files -------------------------------------------------------------------------------


def write_dataset_files(captioned: list[Captioned], dataset_dir: Path, template: str) -> list[Path]:
    """``dataset.json`` (official LTX-2 trainer columns) and, for talking_head, ``CAPTIONS.json``."""

    def rel(p: str | None) -> str | None:
        return Path(p).name if p else None

    entries = []
    for c in captioned:
        entry = {
            "caption": c.caption,
            "video": rel(c.train_video_path),
            "audio": rel(c.train_audio_path),
            "reference_audio": rel(c.reference_audio_path),
        }
        entries.append({k: v for k, v in entry.items() if v is not None})
    written = [dataset_dir / "dataset.json"]
    written[0].write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if template == "talking_head":
        captions = {"captions": [{"file": rel(c.train_video_path), "caption": c.caption} for c in captioned]}
        written.append(dataset_dir / "CAPTIONS.json")
        written[1].write_text(json.dumps(captions, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return written
