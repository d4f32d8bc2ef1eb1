"""Stage ``caption``: every kept clip's caption in its recipe's format, and the dataset folder the
LTX trainers read.

Templates (``caption.template``), after the seeds:

- ``constant`` (helium): one pitch-free caption for every pair, e.g. ``a person speaking``.
- ``register`` (whisper / soft-spoken): ``a [scene], ([gender], [manner]): "[transcript]", intimate ASMR``
  with gender and manner from the user's label table, never guessed.
- ``talking_head``: ``[VISUAL] TRIGGER, [visual]. [SPEECH] TRIGGER speaks in a [voice]: "[transcript]"``
  with the visual and voice descriptions from the label table and a non-empty trigger word.

Transcripts a user already has win: a source's sidecar text is the clip's transcript when the clip
holds all of that source's speech (the sidecar describes the whole source); otherwise ASR
(:mod:`ltxvoice.models.asr`) writes it. Every clip records where its transcript came from
(``transcript_source``). Where both exist, ASR still runs and its word error rate against the sidecar is
a column (``transcript_wer``) and a metric (per language); past ``caption.max_wer`` the clip is
quarantined as ``transcript_mismatch``. An English-only model never transcribes a clip the label table
gives another ``language`` (``unsupported_language``, or the sidecar with ``asr_note`` saying so), an ASR
transcript that loops (Whisper repeating a phrase: a high compression ratio or a long back-to-back repeat)
is ``repetition``, and one with a low mean log-probability or a high no-speech probability is
``low_confidence``. Every caption is parsed back with the template's own parser before it is written, so
a caption that would not read back (e.g. a transcript breaking the quoting) is caught here, not by a
trainer.

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
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from ltxvoice.config import CaptionParams
from ltxvoice.media import MediaError, read_wav, resample
from ltxvoice.models.asr import RATE, Transcriber, Transcript
from ltxvoice.wer import span_wer, wer

STAGE = "caption"

MISSING_LABEL = "missing_label"
EMPTY_TRIGGER = "empty_trigger"
NO_TRANSCRIPT = "no_transcript"
EMPTY_TRANSCRIPT = "empty_transcript"
ASR_FAILED = "asr_failed"
BAD_CAPTION = "bad_caption"
UNSUPPORTED_LANGUAGE = "unsupported_language"
LOW_CONFIDENCE = "low_confidence"
TRANSCRIPT_MISMATCH = "transcript_mismatch"
REPETITION = "repetition"

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


def compression_ratio(text: str) -> float:
    """UTF-8 length over zlib-compressed length: Whisper's measure of a decoding loop (its own rule
    treats a segment above 2.4 as a failed decode). 0.0 for empty text."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def loop_chars(text: str, min_repeats: int = 3, max_unit: int = 100) -> int:
    """The length in characters of the longest stretch of ``text`` made of one unit (of at most
    ``max_unit`` characters, which keeps this linear in the text) repeated back to back at least
    ``min_repeats`` times, 0 when there is none. Counted on the lower-cased words joined by single
    spaces, each followed by one (punctuation dropped), so "Non, non, non, non." is the unit "non "
    four times over: 16. Catches the loops of short clips that the compression ratio misses."""
    words = re.findall(r"[^\W_]+(?:['\u2019][^\W_]+)*", text.lower())
    flat = "".join(f"{w} " for w in words)
    n = len(flat)
    best = 0
    for unit in range(1, min(n // min_repeats, max_unit) + 1):
        run = 0  # how many characters in a row equal the one ``unit`` further on
        for i in range(n - unit):
            run = run + 1 if flat[i] == flat[i + unit] else 0
            span = run + unit
            if span >= min_repeats * unit and span > best:
                best = span
    return best


def repetition(text: str, params: CaptionParams) -> str | None:
    """Why ``text`` is a decoding loop by ``caption.max_compression_ratio`` / ``caption.max_loop_chars``,
    or None."""
    why = []
    ratio = compression_ratio(text)
    if ratio > params.max_compression_ratio:
        why.append(f"compression ratio {ratio:.2f} > caption.max_compression_ratio {params.max_compression_ratio}")
    looped = loop_chars(text)
    if looped > params.max_loop_chars:
        why.append(
            f"{looped} characters of one unit repeated back to back > caption.max_loop_chars {params.max_loop_chars}"
        )
    return "; ".join(why) or None


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
    asr_text: str | None = None  # what ASR heard, also where the sidecar won
    wer: float | None = None  # ASR against the sidecar, where both exist
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    asr_note: str | None = None  # why ASR did not run or was not used for a clip with a sidecar
    span_wer: float | None = None  # ASR caption against the part of a longer sidecar it matches best


def _heard(text: str, source: str, result: Transcript, asr_text: str, error: float | None) -> TranscriptResult:
    return TranscriptResult(
        text,
        source,
        result.language,
        result.language_probability,
        result.words_json(),
        asr_text=asr_text,
        wer=error,
        avg_logprob=result.avg_logprob,
        no_speech_prob=result.no_speech_prob,
    )


def label_language(label: Mapping[str, str]) -> str | None:
    """The clip's language from the label table's optional ``language`` column as a Whisper code
    (``en-us`` -> ``en``), or None when the table does not say."""
    value = (label.get("language") or "").strip().lower()
    return value.split("-")[0].split("_")[0] or None


def transcript_for(
    row: Mapping[str, Any],
    audio_path: Path,
    params: CaptionParams,
    transcriber: Transcriber | None,
    *,
    language: str | None = None,
    english_only: bool = False,
) -> TranscriptResult:
    """The clip's transcript by ``caption.transcript``. A fitting sidecar (the user's own text) wins over
    ASR; where both exist, ASR still runs and its word error rate against the sidecar is recorded, and a
    disagreement past ``caption.max_wer`` quarantines the clip (transcript_mismatch). An English-only
    model never transcribes a clip labelled with another language (``language``): the sidecar is used
    if it fits, else unsupported_language. A labelled language is also the one the model decodes in
    (not detected), so a clip is never transcribed in a language it is not in. An ASR transcript used
    as the caption must not loop (:func:`repetition`) and must be confident (``caption.min_avg_logprob``,
    ``caption.max_no_speech_prob``), or the clip is repetition / low_confidence."""
    sidecar = clean_transcript(row["source_transcript"]) if params.transcript != "asr" and sidecar_fits(row) else None
    if sidecar is None and params.transcript == "sidecar":
        why = (
            "has no sidecar transcript"
            if not row.get("source_transcript")
            else ("holds only part of its source's speech, so the source's sidecar transcript does not describe it")
        )
        raise ItemError(NO_TRANSCRIPT, f"the clip {why} (caption.transcript: sidecar)")
    if english_only and language not in (None, "en"):
        if sidecar is not None:
            return TranscriptResult(sidecar, "sidecar", language, None, None, asr_note=UNSUPPORTED_LANGUAGE)
        raise ItemError(UNSUPPORTED_LANGUAGE, f"the clip is labelled {language!r} and the ASR model is English-only")
    if transcriber is None:
        if sidecar is not None:
            return TranscriptResult(sidecar, "sidecar", language, None, None)
        raise ValueError("transcript_for needs a transcriber when ASR may be used")
    try:
        samples, rate = read_wav(audio_path)
        result = transcriber(resample(samples, rate, RATE).astype(np.float32), language=language)
    except Exception as exc:  # unreadable audio or the recogniser itself: this clip only
        if sidecar is not None:
            return TranscriptResult(sidecar, "sidecar", language, None, None, asr_note=ASR_FAILED)
        raise ItemError(ASR_FAILED, f"{audio_path.name}: {type(exc).__name__}: {exc}") from None
    text = clean_transcript(result.text)
    if sidecar is not None:
        error = wer(sidecar, text)
        if error > params.max_wer:
            raise ItemError(
                TRANSCRIPT_MISMATCH,
                f"ASR heard {text!r}, the sidecar says {sidecar!r}: WER {error:.2f} > caption.max_wer {params.max_wer}",
            )
        return _heard(sidecar, "sidecar", result, text, error)
    if not text:
        raise ItemError(EMPTY_TRANSCRIPT, f"ASR heard no words (language {result.language})")
    looped = repetition(text, params)
    if looped:
        raise ItemError(REPETITION, f"{looped}: {text!r}")
    low = []
    if result.avg_logprob is not None and result.avg_logprob < params.min_avg_logprob:
        low.append(f"avg log-prob {result.avg_logprob:.2f} < caption.min_avg_logprob {params.min_avg_logprob}")
    if result.no_speech_prob is not None and result.no_speech_prob > params.max_no_speech_prob:
        low.append(
            f"no-speech probability {result.no_speech_prob:.2f} > caption.max_no_speech_prob "
            f"{params.max_no_speech_prob}"
        )
    if low:
        raise ItemError(LOW_CONFIDENCE, f"{'; '.join(low)}: {text!r}")
    heard = _heard(text, "asr", result, text, None)
    if row.get("source_transcript"):  # the clip holds part of a transcribed source: score against that part
        return replace(heard, span_wer=round(span_wer(clean_transcript(row["source_transcript"]), text)[0], 4))
    return heard


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
    transcript_asr: str | None
    transcript_wer: float | None
    transcript_span_wer: float | None
    asr_avg_logprob: float | None
    asr_no_speech_prob: float | None
    asr_note: str | None
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
    english_only: bool = False,
) -> Captioned:
    """Caption one clip and copy its media, with a ``.txt`` caption, into ``dataset_dir``.
    ``english_only``: the ASR model hears only English (see :func:`transcript_for`)."""
    clip_id = row["clip_id"]
    video, audio, reference = media_of(row, recipe)
    label: dict[str, str] = {}
    transcript: TranscriptResult | None = None
    trigger: str | None = None
    if params.template == "constant":
        caption = params.text.strip()
    else:
        label = label_for(row["source_path"], labels, params)
        transcript = transcript_for(
            row, Path(audio), params, transcriber, language=label_language(label), english_only=english_only
        )
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
        transcript_asr=transcript.asr_text if transcript else None,
        transcript_wer=transcript.wer if transcript else None,
        transcript_span_wer=transcript.span_wer if transcript else None,
        asr_avg_logprob=transcript.avg_logprob if transcript else None,
        asr_no_speech_prob=transcript.no_speech_prob if transcript else None,
        asr_note=transcript.asr_note if transcript else None,
        label_gender=label.get("gender") or None,
        label_manner=label.get("manner") or None,
        trigger=trigger,
    )


def wer_metrics(table: pl.DataFrame) -> dict[str, float | int]:
    """The ASR's word error rate against the sources' own text, over the kept clips that have both:
    ``wer_*`` against a sidecar that describes the whole clip (``transcript_wer``), ``span_wer_*`` of
    an ASR caption against the stretch of a longer sidecar it matches best (``transcript_span_wer``).
    Count, mean and median overall and per language (``transcript_language``, as heard or told)."""
    return _rates(table, "transcript_wer", "wer") | _rates(table, "transcript_span_wer", "span_wer")


def _rates(table: pl.DataFrame, column: str, name: str) -> dict[str, float | int]:
    if column not in table.columns:
        return {}
    scored = table.filter(pl.col(column).is_not_null())
    out: dict[str, float | int] = {f"{name}_clips": scored.height}
    if scored.is_empty():
        return out
    groups = [("", scored)] + [
        (f"_{language or 'unknown'}", group)
        for (language,), group in sorted(scored.group_by("transcript_language"), key=lambda g: str(g[0][0]))
    ]
    for suffix, group in groups:
        values = group[column]
        out |= {
            f"{name}_mean{suffix}": round(float(values.mean()), 4),  # type: ignore[arg-type]
            f"{name}_median{suffix}": round(float(values.median()), 4),  # type: ignore[arg-type]
        }
        if suffix:
            out[f"{name}_clips{suffix}"] = group.height
    return out


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
