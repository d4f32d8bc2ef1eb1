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


def span_wer(reference: str, hypothesis: str) -> tuple[float, int]:
    """Word error rate of ``hypothesis`` against the stretch of ``reference`` it matches best, and that
    stretch's length in words: the alignment may start and end anywhere in the reference for free (a
    clip cut from a longer recording holds only part of its transcript), every hypothesis word counts.
    The rate is over the matched stretch (at least one word). An empty hypothesis gives 1.0."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not hyp:
        return (1.0, 0) if ref else (0.0, 0)
    if not ref:
        return 1.0, 0
    # cost[i]: fewest edits aligning hyp[:j] so that it ends at ref[:i]; start[i]: where that stretch begins
    cost = [0] * (len(ref) + 1)
    start = list(range(len(ref) + 1))
    for j, word in enumerate(hyp, 1):
        new_cost, new_start = [j], [0]
        for i, r in enumerate(ref, 1):
            options = (
                (cost[i - 1] + (r != word), start[i - 1]),  # match / substitution
                (cost[i] + 1, start[i]),  # hypothesis word inserted
                (new_cost[i - 1] + 1, new_start[i - 1]),  # reference word deleted inside the stretch
            )
            best = min(options, key=lambda o: (o[0], o[1]))
            new_cost.append(best[0])
            new_start.append(best[1])
        cost, start = new_cost, new_start
    end = min(range(1, len(ref) + 1), key=lambda i: (cost[i], -(i - start[i])))
    length = max(end - start[end], 1)
    return cost[end] / length, length
