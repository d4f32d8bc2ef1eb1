"""ltxvoice.wer: normalisation and word-level edit distance."""

from __future__ import annotations

import pytest

from ltxvoice.wer import edit_distance, normalise, span_wer, wer


def test_normalise_lowercases_and_strips_punctuation_but_keeps_numbers_and_apostrophes() -> None:
    assert normalise("Hello, World! Don\u2019t stop: 5 times.") == ["hello", "world", "don't", "stop", "5", "times"]


def test_edit_distance_counts_substitutions_insertions_and_deletions() -> None:
    assert edit_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert edit_distance(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert edit_distance(["a", "b", "c"], ["a", "c"]) == 1
    assert edit_distance(["a", "b"], ["a", "b", "c", "d"]) == 2
    assert edit_distance([], ["a"]) == 1


def test_wer() -> None:
    assert wer("Front center.", "front, center") == 0.0
    assert wer("the cat sat on the mat", "the cat sat on a mat") == pytest.approx(1 / 6)
    assert wer("five apples", "5 apples") == 0.5  # numbers as written
    assert wer("", "") == 0.0
    assert wer("", "words") == 1.0
    assert wer("one", "one two three") == 2.0


def test_span_wer_scores_against_the_stretch_the_hypothesis_matches() -> None:
    text = "the quick brown fox jumps over the lazy dog"
    assert span_wer(text, "Quick brown fox!") == (0.0, 3)  # a clip holding the middle of a recording
    assert span_wer(text, "the quick brown cat") == (0.25, 4)  # one substitution in four words
    assert span_wer(text, "jumps over lazy dog") == (0.2, 5)  # "the" missed inside the stretch
    assert span_wer(text, "hello world") == (1.0, 2)  # nothing matches: every word wrong
    assert span_wer(text, "") == (1.0, 0)
    assert span_wer("", "") == (0.0, 0)
    # never better than the whole-reference rate where the hypothesis covers the whole reference
    assert span_wer("a b c", "a b c") == (0.0, 3) and wer("a b c", "a x c") == span_wer("a b c", "a x c")[0]
