"""ltxvoice.wer: normalisation and word-level edit distance."""

from __future__ import annotations

import pytest

from ltxvoice.wer import edit_distance, normalise, wer


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
