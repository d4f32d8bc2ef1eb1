"""Word error rate: the word-level Levenshtein distance between a reference and a hypothesis, over the
number of reference words, after a light normalisation (lowercase, punctuation removed, numbers kept as
written: "5" and "five" are different words)."""

from __future__ import annotations

import re
import unicodedata

_PUNCTUATION = re.compile(r"[^\w\s']|_")


def normalise(text: str) -> list[str]:
    """Lowercased words with punctuation removed; apostrophes inside words stay (``don't``)."""
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    words = _PUNCTUATION.sub(" ", text).split()
    return [w.strip("'") for w in words if w.strip("'")]


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Fewest substitutions, insertions and deletions turning ``reference`` into ``hypothesis``."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` (0 is perfect; can exceed 1). An empty
    reference gives 0 for an empty hypothesis and 1 otherwise."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)
