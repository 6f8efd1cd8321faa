"""What the Viterbi decoder (decoding.py) and the forward-backward lattice
(lattice.py) share: the BILUO rules as log-potentials, the grouping of
documents by length, and sums of scores along a decoded path.

Both run a recursion over positions in Python, so documents of similar
length are padded into one array and stepped together: the loop runs once
per position of a group's longest document, not once per token.
"""

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy

from .tag_scheme import transition_masks

# Log-score for a forbidden move: finite so that sums never become NaN.
FORBIDDEN = -1e9
# Documents of similar length are processed together, at most this many at a time.
DECODE_GROUP = 64

Result = TypeVar("Result")


def log_potentials(tag_names: Sequence[str]) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """The BILUO rules as additive log-scores, 0 where allowed and FORBIDDEN
    elsewhere: (transitions[prev, next], first[tag], last[tag]), float32."""
    masks = transition_masks(list(tag_names))
    transitions, first, last = (numpy.where(mask, 0.0, FORBIDDEN).astype("float32") for mask in masks)
    return transitions, first, last


def map_length_groups(
    scores: Sequence[numpy.ndarray],
    run_group: Callable[[list[numpy.ndarray]], list[Result]],
    empty: Result,
) -> list[Result]:
    """run_group's result for each document, in the documents' order.

    Documents go to `run_group` sorted by length, DECODE_GROUP at a time, so a
    group's padding stays short; `run_group` returns one result per document
    it is given, in its order. Empty documents are never passed: they get `empty`.
    """
    results = [empty] * len(scores)
    order = [i for i in sorted(range(len(scores)), key=lambda i: len(scores[i])) if len(scores[i])]
    for start in range(0, len(order), DECODE_GROUP):
        group = order[start : start + DECODE_GROUP]
        for i, result in zip(group, run_group([scores[i] for i in group]), strict=True):
            results[i] = result
    return results


def pad_by_length(
    scores: Sequence[numpy.ndarray], dtype: str
) -> tuple[numpy.ndarray, list[int], numpy.ndarray, numpy.ndarray]:
    """A group of documents' (n_tokens, n_tags) scores in one zero-padded array
    whose rows are sorted by length, shortest first, so that at position t the
    documents still running are the rows from running_from[t] on: each step of
    a recursion touches only those.

    Returns (emissions, order, lengths, running_from): row r holds document
    order[r], which has lengths[r] tokens.
    """
    lengths = numpy.array([len(s) for s in scores])
    order = numpy.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    max_len = int(sorted_lengths[-1])
    running_from = numpy.searchsorted(sorted_lengths, numpy.arange(max_len), side="right")
    emissions = numpy.zeros((len(scores), max_len, scores[0].shape[1]), dtype=dtype)
    for row, i in enumerate(order.tolist()):
        emissions[row, : sorted_lengths[row]] = scores[i]
    return emissions, order.tolist(), sorted_lengths, running_from


def path_sums(
    scores: numpy.ndarray, path: numpy.ndarray, spans: Sequence[tuple[int, int, str]]
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """(cumulative, starts, ends) for summing the scores of the path's tags over
    any stretch of tokens: the sum over tokens s..e-1 is cumulative[e] - cumulative[s].
    cumulative is float64, so long documents lose no precision; starts and ends
    are the spans' token offsets."""
    chosen = scores[numpy.arange(len(path)), path].astype("float64")
    cumulative = numpy.concatenate([[0.0], numpy.cumsum(chosen)])
    starts = numpy.array([s for s, _, _ in spans], dtype="int64")
    ends = numpy.array([e for _, e, _ in spans], dtype="int64")
    return cumulative, starts, ends
