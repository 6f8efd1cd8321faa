"""Constrained Viterbi decoding of per-token tag scores into valid BILUO paths.

Argmax over each token's tags can produce "B-PER O" or "I-ORG" out of nowhere;
the decoder here finds the best path among the valid ones only, so the spans
it yields never need repairing. Documents are decoded together, padded to the
longest one in a group, so the Python loop runs once per position of the
longest document rather than once per token.
"""

from collections.abc import Sequence

import numpy

from .biluo_paths import FORBIDDEN, log_potentials, map_length_groups, pad_by_length, path_sums
from .tag_scheme import split_tag


def log_softmax(scores: numpy.ndarray) -> numpy.ndarray:
    """Row-wise log-softmax, numerically stable."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - numpy.log(numpy.exp(shifted).sum(axis=-1, keepdims=True))


def within_sentences(
    scores: numpy.ndarray, sent_starts: numpy.ndarray, tag_names: list[str]
) -> numpy.ndarray:
    """The scores with every path that carries an entity across a sentence
    boundary forbidden: no I-/L- tag on a token that starts a sentence, no
    B-/I- tag on the token before it. sent_starts: (n_tokens,) bool.

    spaCy's own `ner` never lets an entity cross a sentence boundary; a Doc
    that comes without boundaries (the usual case here: the pipeline has no
    parser or senter) gets its scores back unchanged. CoNLL's files are cut
    into sentences and conlleval scores within them, and some names are cut
    in two by a sentence break ("Ricky" / "Ponting"): gold has two entities
    there, and so does the decoder once it is told where sentences start.
    """
    starts = numpy.flatnonzero(sent_starts[1:]) + 1
    if not len(starts):
        return scores
    prefixes = [split_tag(tag)[0] for tag in tag_names]
    continuing = [i for i, prefix in enumerate(prefixes) if prefix in ("I", "L")]
    opening = [i for i, prefix in enumerate(prefixes) if prefix in ("B", "I")]
    constrained = scores.copy()
    constrained[numpy.ix_(starts, continuing)] = FORBIDDEN
    constrained[numpy.ix_(starts - 1, opening)] = FORBIDDEN
    return constrained


class ConstrainedDecoder:
    """Viterbi decoder over the BILUO scheme of one label set."""

    def __init__(self, tag_names: Sequence[str]) -> None:
        self.tag_names = list(tag_names)
        self.transitions, self.first, self.last = log_potentials(self.tag_names)

    def decode(self, log_probs: Sequence[numpy.ndarray]) -> list[numpy.ndarray]:
        """Best valid tag path (tag indices) for each document's (n_tokens, n_tags) log-probabilities."""
        return map_length_groups(log_probs, self._decode_group, numpy.zeros((0,), dtype="int32"))

    def _decode_group(self, log_probs: list[numpy.ndarray]) -> list[numpy.ndarray]:
        emissions, order, lengths, running_from = pad_by_length(log_probs, "float32")
        n_docs, max_len, n_tags = emissions.shape
        # Past a document's end its tag is carried over unchanged (identity pointers).
        backpointers = numpy.empty((n_docs, max_len, n_tags), dtype="int16")
        backpointers[:] = numpy.arange(n_tags, dtype="int16")
        score = emissions[:, 0] + self.first
        for t in range(1, max_len):
            k = running_from[t]
            candidates = score[k:, :, None] + self.transitions
            backpointers[k:, t] = candidates.argmax(axis=1)
            score[k:] = candidates.max(axis=1) + emissions[k:, t]
        score = score + self.last
        tags = numpy.zeros((n_docs, max_len), dtype="int32")
        tags[:, max_len - 1] = score.argmax(axis=1)
        rows = numpy.arange(n_docs)
        for t in range(max_len - 1, 0, -1):
            tags[:, t - 1] = backpointers[rows, t, tags[:, t]]
        paths: list[numpy.ndarray] = [numpy.zeros((0,), dtype="int32")] * n_docs
        for row, i in enumerate(order):
            paths[i] = tags[row, : lengths[row]]
        return paths


def path_to_spans(tag_names: Sequence[str], path: numpy.ndarray) -> list[tuple[int, int, str]]:
    """(start, end, label) token spans of a valid BILUO path.

    A valid path opens a span exactly where it closes the previous one, so the
    i-th opening (B or U) pairs with the i-th closing (L or U).
    """
    parts = [split_tag(tag) for tag in tag_names]
    opens = numpy.array([prefix in ("B", "U") for prefix, _ in parts])
    closes = numpy.array([prefix in ("L", "U") for prefix, _ in parts])
    starts = numpy.flatnonzero(opens[path])
    ends = numpy.flatnonzero(closes[path]) + 1
    labels = [parts[tag][1] for tag in path[starts].tolist()]
    return list(zip(starts.tolist(), ends.tolist(), labels, strict=False))


def span_confidences(
    log_probs: numpy.ndarray, path: numpy.ndarray, spans: Sequence[tuple[int, int, str]]
) -> numpy.ndarray:
    """Probability of each span's tags under the token distributions: the product
    over its tokens of the probability of the tag the decoder chose."""
    if not len(spans):
        return numpy.zeros((0,), dtype="float32")
    cumulative, starts, ends = path_sums(log_probs, path, spans)
    return numpy.exp(cumulative[ends] - cumulative[starts]).astype("float32")
