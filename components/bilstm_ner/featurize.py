"""Turn a batch of Docs into the padded integer arrays the torch encoder reads.

Everything here is numpy, vectorised over tokens: lexical attributes come from
`Doc.to_array` (hashes spaCy already computed), characters from
`Doc.to_utf8_array`. Long documents are cut into windows of at most `window`
tokens, on sentence boundaries where the Doc has them, so the LSTM sees
cross-sentence context while memory and the length of its sequential loop stay
bounded whatever the document's size.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy
from spacy.attrs import IDS, ORTH, SENT_START
from spacy.tokens import Doc
from thinc.api import Model

# Two independent buckets per attribute (low and high 32 bits of spaCy's
# 64-bit string hash): a collision in one bucket rarely repeats in the other.
_HIGH_BITS = numpy.uint64(32)
# Odd 64-bit constant that spreads document numbers over the hash space.
_DOC_SALT = 0x9E3779B97F4A7C15
_MASK_64 = (1 << 64) - 1
_SENTENCE_FINAL = (".", "!", "?")


@dataclass
class PaddedBatch:
    """Windows of a batch of docs, sorted longest first and padded.

    ids: (n_windows, max_len, n_attrs, 2) embedding rows per attribute and bucket.
    chars: (n_windows, max_len, n_chars) UTF-8 bytes, 255 = padding.
    lengths: (n_windows,) tokens per window, non-increasing.
    rows, cols: (n_tokens,) where each token of the batch, in document order, sits.
    doc_lengths: (n_docs,) tokens per doc.
    groups: (n_windows, max_len) for each position, the id of its (document,
        word) pair, so occurrences of one word in one document can share what
        the model learnt about them; padding positions get the id n_groups.
    n_groups: number of distinct (document, word) pairs in the batch.
    """

    ids: numpy.ndarray
    chars: numpy.ndarray
    lengths: numpy.ndarray
    rows: numpy.ndarray
    cols: numpy.ndarray
    doc_lengths: numpy.ndarray
    groups: numpy.ndarray
    n_groups: int


def window_bounds(n_tokens: int, sent_starts: numpy.ndarray, window: int) -> list[tuple[int, int]]:
    """Cut [0, n_tokens) into pieces of at most `window` tokens.

    Whole sentences are packed greedily into a window; a sentence longer than
    `window` is cut at fixed intervals. `sent_starts` lists the indices where
    sentences begin (empty when the Doc has no sentence boundaries).
    """
    if n_tokens == 0:
        return []
    starts = sent_starts.tolist()
    if not starts or starts[0] != 0:
        starts = [0] + starts
    bounds: list[tuple[int, int]] = []
    begin = 0
    for sent_start, sent_end in zip(starts, starts[1:] + [n_tokens], strict=False):
        if sent_end - begin <= window:
            continue
        if sent_start > begin:
            bounds.append((begin, sent_start))
            begin = sent_start
        while sent_end - begin > window:
            bounds.append((begin, begin + window))
            begin += window
    bounds.append((begin, n_tokens))
    return bounds


def sentence_starts(doc: Doc) -> numpy.ndarray:
    """Token indices that start a sentence.

    Without sentence annotation (raw text through a pipeline with no parser or
    sentencizer), a token after ".", "!" or "?" starts one: windows then rarely
    cut a sentence, and never depend on what else is in the batch.
    """
    if doc.has_annotation("SENT_START"):
        return numpy.flatnonzero(doc.to_array([SENT_START]).reshape(-1) == 1)
    orths = doc.to_array([ORTH]).reshape(-1)
    ends = numpy.isin(orths, _sentence_final_hashes(doc))
    return numpy.flatnonzero(ends[:-1]) + 1


def _sentence_final_hashes(doc: Doc) -> numpy.ndarray:
    strings = doc.vocab.strings
    return numpy.array([strings.add(p) for p in _SENTENCE_FINAL], dtype="uint64")


def featurize_docs(
    docs: Sequence[Doc], attrs: Sequence[str], rows: Sequence[int], n_chars: int, window: int
) -> PaddedBatch:
    """Build the padded, hashed, windowed input arrays of a batch (see PaddedBatch)."""
    attr_ids = [IDS[attr.upper()] for attr in attrs]
    n_rows = numpy.asarray(rows, dtype="uint64")
    doc_lengths = numpy.array([len(doc) for doc in docs], dtype="int64")
    hashed, char_arrays, windows, word_keys = [], [], [], []
    offset = 0
    for doc_index, doc in enumerate(docs):
        if len(doc) == 0:
            continue
        values = doc.to_array(attr_ids).astype("uint64").reshape(len(doc), len(attr_ids))
        # the first attribute (the word) salted by the document's position
        salt = numpy.uint64(((doc_index + 1) * _DOC_SALT) & _MASK_64)
        word_keys.append(values[:, 0] ^ salt)
        hashed.append(numpy.stack([values % n_rows, (values >> _HIGH_BITS) % n_rows], axis=-1))
        char_arrays.append(doc.to_utf8_array(nr_char=n_chars))
        for start, end in window_bounds(len(doc), sentence_starts(doc), window):
            windows.append((offset + start, end - start))
        offset += len(doc)
    n_attrs = len(attr_ids)
    if not windows:
        return PaddedBatch(
            ids=numpy.zeros((0, 0, n_attrs, 2), dtype="int64"),
            chars=numpy.zeros((0, 0, n_chars), dtype="int64"),
            lengths=numpy.zeros((0,), dtype="int64"),
            rows=numpy.zeros((0,), dtype="int64"),
            cols=numpy.zeros((0,), dtype="int64"),
            doc_lengths=doc_lengths,
            groups=numpy.zeros((0, 0), dtype="int64"),
            n_groups=0,
        )
    all_ids = numpy.concatenate(hashed).astype("int64")
    all_chars = numpy.concatenate(char_arrays).astype("int64")
    windows.sort(key=lambda w: -w[1])
    starts = numpy.array([w[0] for w in windows], dtype="int64")
    lengths = numpy.array([w[1] for w in windows], dtype="int64")
    # For every token, in window order: its window (row), position (col) and
    # index in the concatenated batch (source).
    win_rows = numpy.repeat(numpy.arange(len(windows)), lengths)
    win_first = numpy.repeat(numpy.cumsum(lengths) - lengths, lengths)
    win_cols = numpy.arange(len(win_rows)) - win_first
    source = numpy.repeat(starts, lengths) + win_cols
    max_len = int(lengths[0])
    ids = numpy.zeros((len(windows), max_len, n_attrs, 2), dtype="int64")
    chars = numpy.full((len(windows), max_len, n_chars), 255, dtype="int64")
    ids[win_rows, win_cols] = all_ids[source]
    chars[win_rows, win_cols] = all_chars[source]
    rows = numpy.empty_like(win_rows)
    cols = numpy.empty_like(win_cols)
    rows[source] = win_rows
    cols[source] = win_cols
    _, word_groups = numpy.unique(numpy.concatenate(word_keys), return_inverse=True)
    n_groups = int(word_groups.max()) + 1
    groups = numpy.full((len(windows), max_len), n_groups, dtype="int64")
    groups[win_rows, win_cols] = word_groups[source]
    return PaddedBatch(ids, chars, lengths, rows, cols, doc_lengths, groups, n_groups)


def DocFeaturizer(
    attrs: Sequence[str], rows: Sequence[int], n_chars: int, window: int
) -> Model[list[Doc], PaddedBatch]:
    """Thinc layer wrapping `featurize_docs`; it has no weights and passes no gradient."""
    if len(attrs) != len(rows):
        raise ValueError(f"attrs ({len(attrs)}) and rows ({len(rows)}) must have the same length")
    return Model(
        "doc_featurizer",
        _featurizer_forward,
        attrs={"attrs": list(attrs), "rows": list(rows), "n_chars": n_chars, "window": window},
    )


def _featurizer_forward(model: Model, docs: list[Doc], is_train: bool) -> tuple[PaddedBatch, Callable]:
    batch = featurize_docs(
        docs, model.attrs["attrs"], model.attrs["rows"], model.attrs["n_chars"], model.attrs["window"]
    )
    return batch, lambda d_batch: []
