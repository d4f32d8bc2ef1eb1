"""ltxvoice.caption: the seeds' caption formats (built and parsed back), the label table, transcripts
from sidecars only when they fit the clip, and per-clip quarantine reasons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ltxvoice import caption
from ltxvoice.config import CaptionParams
from ltxvoice.media import write_wav
from ltxvoice.models.asr import Transcript


def test_register_caption_matches_the_seed_and_parses_back() -> None:
    text = caption.register_caption(
        "woman sitting close to a microphone in warm dim lighting",
        "woman",
        "whispering",
        'close your  "eyes"\n and listen',
        "intimate ASMR",
    )
    assert text == (
        "a woman sitting close to a microphone in warm dim lighting, (woman, whispering): "
        "\"close your 'eyes' and listen\", intimate ASMR"
    )
    assert caption.parse_register(text) == {
        "scene": "a woman sitting close to a microphone in warm dim lighting",
        "gender": "woman",
        "manner": "whispering",
        "transcript": "close your 'eyes' and listen",
        "suffix": "intimate ASMR",
    }
    # the seed's own examples (no suffix) parse too
    seed = 'a man at a desk late at night, (man, speaking softly): "I\'ve been thinking about this all day"'
    assert caption.parse_register(seed)["manner"] == "speaking softly"
    with pytest.raises(ValueError):
        caption.parse_register('a man, speaking softly: "hi"')


def test_talking_head_caption_matches_the_seed_and_parses_back() -> None:
    text = caption.talking_head_caption(
        "OHWXPERSON", "a man in a grey shirt, dark background.", "a calm, low voice", "we leave at dawn"
    )
    assert text == (
        "[VISUAL] OHWXPERSON, a man in a grey shirt, dark background. [SPEECH] OHWXPERSON speaks in a "
        'calm, low voice: "we leave at dawn"'
    )
    assert caption.parse_talking_head(text) == {
        "trigger": "OHWXPERSON",
        "visual": "a man in a grey shirt, dark background",
        "voice": "calm, low voice",
        "transcript": "we leave at dawn",
    }
    assert " speaks in an energetic" in caption.talking_head_caption("T", "v", "energetic voice", "x")
    with pytest.raises(ValueError):  # the trigger must be the same word in both places
        caption.parse_talking_head('[VISUAL] A, v. [SPEECH] B speaks in a x: "y"')


def _table(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


REGISTER = CaptionParams(template="register", labels=Path("labels.csv"))


def test_label_table_csv_and_yaml(tmp_path: Path) -> None:
    csv_path = _table(tmp_path, "file,gender,manner,scene\na.mp4,woman,whispering,\nsub/b.mp4,man,speaking softly,x\n")
    table = caption.load_labels(csv_path, REGISTER)
    assert table[(tmp_path / "sub/b.mp4").resolve()]["scene"] == "x"
    yaml_path = _table(tmp_path, "a.mp4: {gender: woman, manner: whispering quietly}\n", "labels.yaml")
    assert caption.load_labels(yaml_path, REGISTER)[(tmp_path / "a.mp4").resolve()]["manner"] == "whispering quietly"


def test_label_table_problems_are_listed_with_lines(tmp_path: Path) -> None:
    path = _table(tmp_path, "file,gender,manner\na.mp4,woman,yelling\na.mp4,robot,whispering\n,man,whispering\n")
    with pytest.raises(caption.LabelsError) as err:
        caption.load_labels(path, REGISTER)
    lines = str(err.value).splitlines()
    assert any(":2: manner 'yelling' is not one of" in x for x in lines)
    assert any(":3: gender 'robot'" in x for x in lines) and any(
        ":3: 'a.mp4' is listed more than once" in x for x in lines
    )
    assert any(":4: empty 'file'" in x for x in lines)
    with pytest.raises(caption.LabelsError, match="needs a 'visual' column"):
        caption.load_labels(
            _table(tmp_path, "file,voice\na.mp4,x\n", "th.csv"),
            CaptionParams(template="talking_head", labels=Path("th.csv"), trigger="T"),
        )


@pytest.mark.parametrize(
    ("start", "duration", "fits"),
    [(0.0, 8.0, True), (0.9, 6.0, True), (1.2, 6.0, False), (0.5, 4.0, False)],
)
def test_sidecar_fits_only_a_clip_holding_all_the_speech(start: float, duration: float, fits: bool) -> None:
    row = {
        "source_transcript": "hello",
        "source_speech_start_s": 1.0,
        "source_speech_end_s": 6.9,
        "start_s": start,
        "duration_s": duration,
    }
    assert caption.sidecar_fits(row) is fits
    assert caption.sidecar_fits({**row, "source_transcript": None}) is False


@pytest.fixture
def clip(tmp_path: Path) -> dict:
    audio = write_wav(tmp_path / "in.wav", 0.1 * np.sin(np.arange(16000 * 4) / 16000 * 2 * np.pi * 200), 16000)
    video = tmp_path / "in.mp4"
    video.write_bytes(b"not really a video: caption only copies it")
    (tmp_path / "src").mkdir()
    return {
        "clip_id": "c1",
        "source_path": str(tmp_path / "src" / "talk.mp4"),
        "source_transcript": "from the sidecar",
        "source_speech_start_s": 0.5,
        "source_speech_end_s": 7.5,
        "start_s": 0.4,
        "duration_s": 4.0,
        "prepared_video_path": str(video),
        "prepared_audio_path": str(audio),
    }


def _asr(text: str = " hello   there ") -> caption.Transcriber:  # type: ignore[name-defined]
    return lambda audio, language=None: Transcript(
        text, language or "en", 0.9, ((0.1, 0.4, "hello"), (0.5, 0.9, "there"))
    )


def test_register_clip_uses_asr_when_the_sidecar_does_not_fit(clip: dict, tmp_path: Path) -> None:
    labels = caption.load_labels(
        _table(tmp_path / "src", "file,gender,manner\ntalk.mp4,man,whispering quietly\n"), REGISTER
    )
    out_dir = tmp_path / "ds"
    out_dir.mkdir()
    done = caption.caption_clip(clip, REGISTER, "register", labels, out_dir, _asr())
    assert done.transcript_source == "asr" and done.transcript == "hello there"
    assert (
        done.caption
        == 'a person speaking close to a microphone, (man, whispering quietly): "hello there", intimate ASMR'
    )
    assert Path(done.caption_path).read_text() == done.caption + "\n"
    assert json.loads(done.transcript_words or "")[0] == [0.1, 0.4, "hello"]
    assert Path(done.train_video_path or "").read_bytes() == Path(clip["prepared_video_path"]).read_bytes()
    caption.write_dataset_files([done], out_dir, "register")
    assert json.loads((out_dir / "dataset.json").read_text()) == [
        {"caption": done.caption, "video": "c1.mp4", "audio": "c1.wav"}
    ]


def test_per_clip_reasons(clip: dict, tmp_path: Path) -> None:
    out_dir = tmp_path / "ds"
    out_dir.mkdir()
    table = _table(tmp_path / "src", "file,gender,manner,visual,voice\nother.mp4,man,whispering,v,w\n")

    def reason(params: CaptionParams, row: dict, transcriber: object = _asr()) -> str:
        with pytest.raises(caption.ItemError) as err:
            caption.caption_clip(row, params, "register", caption.load_labels(table, params), out_dir, transcriber)
        return err.value.reason

    assert reason(REGISTER, clip) == "missing_label"
    table.write_text("file,gender,manner,visual,voice\ntalk.mp4,,whispering,v,w\n")
    assert reason(REGISTER, clip) == "missing_label"  # an empty cell the template needs
    table.write_text("file,gender,manner,visual,voice\ntalk.mp4,man,whispering,v,w\n")

    def broken(audio: np.ndarray, language: str | None = None) -> Transcript:
        raise RuntimeError("decoder exploded")

    assert reason(REGISTER, clip, broken) == "asr_failed"
    assert reason(REGISTER, clip, _asr("   ")) == "empty_transcript"
    sidecar_only = REGISTER.model_copy(update={"transcript": "sidecar"})
    assert reason(sidecar_only, clip) == "no_transcript"
    head = CaptionParams(template="talking_head", labels=Path("labels.csv"), trigger="")
    assert reason(head, clip) == "empty_trigger"
    # with the sidecar fitting the clip and a trigger, the talking-head caption is built from the sidecar
    fitting = {**clip, "start_s": 0.4, "duration_s": 7.2}
    done = caption.caption_clip(
        fitting,
        head.model_copy(update={"trigger": "OHWX"}),
        "talking_head",
        caption.load_labels(table, head),
        out_dir,
        None,
    )
    assert done.transcript_source == "sidecar"
    assert caption.parse_talking_head(done.caption)["transcript"] == "from the sidecar"
    caption.write_dataset_files([done], out_dir, "talking_head")
    captions = json.loads((out_dir / "CAPTIONS.json").read_text())["captions"]
    assert captions == [{"file": "c1.mp4", "caption": done.caption}]


def _labelled(tmp_path: Path, language: str = "en-us") -> dict:
    table = _table(tmp_path / "src", f"file,gender,manner,language\ntalk.mp4,man,whispering,{language}\n")
    return caption.load_labels(table, REGISTER)


def test_a_fitting_sidecar_wins_and_the_asr_is_scored_against_it(clip: dict, tmp_path: Path) -> None:
    fitting = {**clip, "duration_s": 7.2, "source_transcript": "hello there, friend"}
    out_dir = tmp_path / "ds"
    out_dir.mkdir()
    done = caption.caption_clip(fitting, REGISTER, "register", _labelled(tmp_path), out_dir, _asr())
    assert done.transcript_source == "sidecar" and done.transcript == "hello there, friend"
    assert done.transcript_asr == "hello there" and done.transcript_wer == pytest.approx(1 / 3)
    with pytest.raises(caption.ItemError) as err:  # ASR and sidecar disagree past caption.max_wer
        caption.caption_clip(fitting, REGISTER, "register", _labelled(tmp_path), out_dir, _asr("something else"))
    assert err.value.reason == "transcript_mismatch"


def test_an_english_only_model_never_captions_another_language(clip: dict, tmp_path: Path) -> None:
    out_dir = tmp_path / "ds"
    out_dir.mkdir()
    german = _labelled(tmp_path, "de")
    with pytest.raises(caption.ItemError) as err:
        caption.caption_clip(clip, REGISTER, "register", german, out_dir, _asr(), english_only=True)
    assert err.value.reason == "unsupported_language"
    fitting = {**clip, "duration_s": 7.2}  # its own sidecar: captioned from that, and the skip recorded
    done = caption.caption_clip(fitting, REGISTER, "register", german, out_dir, _asr(), english_only=True)
    assert (done.transcript_source, done.asr_note, done.transcript_language) == (
        "sidecar",
        "unsupported_language",
        "de",
    )
    # a multilingual model transcribes it, told the labelled language
    done = caption.caption_clip(clip, REGISTER, "register", german, out_dir, _asr())
    assert (done.transcript_source, done.transcript_language) == ("asr", "de")


def test_a_low_confidence_asr_transcript_is_quarantined(clip: dict, tmp_path: Path) -> None:
    out_dir = tmp_path / "ds"
    out_dir.mkdir()

    def unsure(logprob: float, no_speech: float) -> caption.Transcriber:  # type: ignore[name-defined]
        return lambda audio, language=None: Transcript("hello there", "en", 0.9, (), logprob, no_speech)

    for transcriber in (unsure(-1.5, 0.1), unsure(-0.2, 0.9)):
        with pytest.raises(caption.ItemError) as err:
            caption.caption_clip(clip, REGISTER, "register", _labelled(tmp_path), out_dir, transcriber)
        assert err.value.reason == "low_confidence"
    done = caption.caption_clip(clip, REGISTER, "register", _labelled(tmp_path), out_dir, unsure(-0.2, 0.1))
    assert done.transcript_source == "asr" and done.asr_avg_logprob == pytest.approx(-0.2)


# Transcripts the real Whisper base wrote for the register demo's French clips (espeak voices).
LOOPS = [
    "et l'anglié s'ouvre à ma plie, " + "non, " * 30 + "non.",  # compression ratio ~11
    "N'oublions pas que tu m'emmences et n'oublions pas que tu s'ennuies, n'oublions pas que tu s'ennuies, "
    "n'oublions pas que tu s'ennuies.",  # compression ratio 2.23: under Whisper's 2.4, still a loop
    "La bibliothèque n'est pas l'une ou même sans bouler ma fa. Moude-ouen-ouen-ouen-ouen-ouen-ouen !",
]
NOT_LOOPS = [
    "The package should arrive on Tuesday unless the storm delays it.",
    "No, no, no, that is not what I said.",  # a short natural repeat
    "Der Zug nach Hamburg hat heute 1.20 Minuten Verstätzung, die begeeintet...",
    "Los niños jugaron en el parque hasta que empezó los Q&B, el autonú...",
]


def test_compression_ratio_and_loop_chars() -> None:
    assert caption.compression_ratio("") == 0.0
    assert caption.compression_ratio(LOOPS[0]) > 2.4 > caption.compression_ratio(LOOPS[1])
    assert caption.loop_chars("Non, non, non, non.") == len("non ") * 4
    assert caption.loop_chars("no, no, no") == len("no ") * 3
    assert caption.loop_chars("no, no") == 0  # twice is not a loop
    assert caption.loop_chars(LOOPS[1]) >= len("n'oublions pas que tu s'ennuies ") * 3
    assert caption.loop_chars(NOT_LOOPS[0]) == 0


@pytest.mark.parametrize("text", LOOPS)
def test_a_looping_asr_transcript_is_quarantined_as_repetition(text: str, clip: dict, tmp_path: Path) -> None:
    out_dir = tmp_path / "ds"
    out_dir.mkdir()
    assert caption.repetition(text, REGISTER)
    with pytest.raises(caption.ItemError) as err:
        caption.caption_clip(clip, REGISTER, "register", _labelled(tmp_path), out_dir, _asr(text))
    assert err.value.reason == "repetition"
    # the thresholds are params: loosened past this transcript's measures, it is captioned
    loose = REGISTER.model_copy(update={"max_compression_ratio": 20.0, "max_loop_chars": 1000})
    assert caption.repetition(text, loose) is None
    done = caption.caption_clip(clip, loose, "register", _labelled(tmp_path), out_dir, _asr(text))
    assert done.transcript_source == "asr"


@pytest.mark.parametrize("text", NOT_LOOPS)
def test_a_normal_asr_transcript_is_not_repetition(text: str, clip: dict, tmp_path: Path) -> None:
    out_dir = tmp_path / "ds"
    out_dir.mkdir()
    assert caption.repetition(text, REGISTER) is None
    done = caption.caption_clip(clip, REGISTER, "register", _labelled(tmp_path), out_dir, _asr(text))
    assert done.transcript == caption.clean_transcript(text)


def test_an_asr_caption_of_part_of_a_transcribed_source_is_scored_against_that_part(clip: dict, tmp_path: Path) -> None:
    out_dir = tmp_path / "ds"
    out_dir.mkdir()
    partial = {**clip, "source_transcript": "well, hello there my friend, how are you"}  # the clip: part of it
    done = caption.caption_clip(partial, REGISTER, "register", _labelled(tmp_path), out_dir, _asr("hello there"))
    assert (done.transcript_source, done.transcript_wer, done.transcript_span_wer) == ("asr", None, 0.0)
    done = caption.caption_clip(partial, REGISTER, "register", _labelled(tmp_path), out_dir, _asr("yellow there"))
    assert done.transcript_span_wer == 0.5
    alone = {**clip, "source_transcript": None}  # no text of the user's: nothing to score against
    assert (
        caption.caption_clip(alone, REGISTER, "register", _labelled(tmp_path), out_dir, _asr()).transcript_span_wer
        is None
    )


def test_wer_metrics_overall_and_per_language() -> None:
    import polars as pl

    table = pl.DataFrame(
        {"transcript_wer": [0.0, 0.5, 0.2, None], "transcript_language": ["en", "en", "de", "en"]},
        schema={"transcript_wer": pl.Float64, "transcript_language": pl.String},
    )
    assert caption.wer_metrics(table) == {
        "wer_clips": 3,
        "wer_mean": pytest.approx(0.2333, abs=1e-4),
        "wer_median": 0.2,
        "wer_mean_de": 0.2,
        "wer_median_de": 0.2,
        "wer_clips_de": 1,
        "wer_mean_en": 0.25,
        "wer_median_en": 0.25,
        "wer_clips_en": 2,
    }
    spans = table.rename({"transcript_wer": "transcript_span_wer"})
    assert caption.wer_metrics(spans)["span_wer_clips"] == 3 and "wer_clips" not in caption.wer_metrics(spans)
