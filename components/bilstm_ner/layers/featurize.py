"""Turn a batch of Docs into the padded integer arrays the torch encoder reads.

Everything here is numpy, vectorised over tokens: lexical attributes come from
`Doc.to_array` (hashes spaCy already computed), characters as
`Doc.to_utf8_array` lays them out (built once per distinct word). Long
documents are cut into windows of at most `window` tokens, on sentence
boundaries where the Doc has them, so the LSTM sees cross-sentence context
while memory and the length of its sequential loop stay bounded whatever the
document's size. Optional static word vectors are read from the Doc's vocab
(`spacy init vectors` output) at featurization time, so they are never copied
into the model's weights. The component names its own vocab and vectors
(`reading_lexicon`): in a pipeline it was sourced into, whose vocab has other
vectors (or none) and may normalize words otherwise (en_core_web_sm's
`lexeme_norm` table maps "colour" to "color"), the model still reads the
vectors and word attributes it was trained with.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

import numpy
from spacy.attrs import IDS, LOWER, ORTH, SENT_START
from spacy.strings import StringStore
from spacy.tokens import Doc
from spacy.vectors import Vectors
from spacy.vocab import Vocab
from thinc.api import Model
from thinc.util import to_numpy

# Two independent buckets per attribute (low and high 32 bits of spaCy's
# 64-bit string hash): a collision in one bucket rarely repeats in the other.
_HIGH_BITS = numpy.uint64(32)
# Odd 64-bit constant that spreads document numbers over the hash space.
_DOC_SALT = 0x9E3779B97F4A7C15
_MASK_64 = (1 << 64) - 1
_SENTENCE_FINAL = (".", "!", "?")
# the featurizer's frozen children, when the config gives them
CONTEXT_REF = "context"
WORD_TABLE_REF = "word_table"
# The arrays of a PaddedBatch: numpy arrays from the featurizer, torch tensors
# once on the encoder's device (torch_converters.batch_to_torch).
Array = TypeVar("Array")
Converted = TypeVar("Converted")


@dataclass
class PaddedBatch(Generic[Array]):
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
    vectors: (n_windows, max_len, vectors_width) float32 static word vectors,
        zeros for padding and for words without a vector; None unless the
        model reads static vectors.
    context: (n_windows, max_len, layers, width) transformer layers per token
        (transformer_context.py), float16 as that layer gives them, zeros for
        padding; None unless the model reads them.
    context_grad: whether the context's gradient is wanted (a training call
        whose transformer's top layers learn: encoder_tuning.py).
    """

    ids: Array
    chars: Array
    lengths: Array
    rows: Array
    cols: Array
    doc_lengths: Array
    groups: Array
    n_groups: int
    vectors: Array | None = None
    context: Array | None = None
    context_grad: bool = False

    def with_arrays(self, convert: Callable[[Any], Converted]) -> "PaddedBatch[Converted]":
        """The same batch with each array passed through `convert` (n_groups and
        context_grad and the missing optional arrays as they are)."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        converted = {
            name: value if value is None or name in ("n_groups", "context_grad") else convert(value)
            for name, value in values.items()
        }
        return PaddedBatch(**converted)


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


# Byte rows of the words seen so far, per n_chars (cleared when it gets large).
_UTF8_ROWS: dict[int, dict[int, bytes]] = {}
_UTF8_CACHE_SIZE = 200_000


def utf8_rows(orths: numpy.ndarray, strings: StringStore, n_chars: int) -> numpy.ndarray:
    """What `Doc.to_utf8_array(nr_char=n_chars)` gives for tokens with these ORTH
    hashes: each one's UTF-8 bytes in the order first, last, second, second
    last..., 255 for padding.

    Built once per distinct word and cached, where `Doc.to_utf8_array` makes a
    Token object and a bytes object for every token.
    """
    distinct, inverse = numpy.unique(orths, return_inverse=True)
    cache = _UTF8_ROWS.setdefault(n_chars, {})
    if len(cache) > _UTF8_CACHE_SIZE:
        cache.clear()
    rows = []
    for orth in distinct.tolist():
        row = cache.get(orth)
        if row is None:
            row = cache[orth] = _outside_in(strings[orth].encode("utf8"), n_chars)
        rows.append(row)
    table = numpy.frombuffer(b"".join(rows), dtype="uint8").reshape(len(rows), n_chars)
    return table[inverse.reshape(-1)]


def _outside_in(data: bytes, n_chars: int) -> bytes:
    """Bytes 0, -1, 1, -2... of data, each byte once, cut or padded with 255 to n_chars."""
    picked = bytearray()
    start, end = 0, len(data) - 1
    while len(picked) < n_chars and start <= end:
        picked.append(data[start])
        start += 1
        if len(picked) < n_chars and start <= end:
            picked.append(data[end])
            end -= 1
    return bytes(picked) + b"\xff" * (n_chars - len(picked))


NO_VECTORS_MESSAGE = (
    "include_static_vectors = true, but the pipeline's vocab has no word vectors. Make them "
    "with `python -m spacy init vectors en VECTORS_FILE OUTPUT_DIR` and point [initialize] "
    "vectors at OUTPUT_DIR (with configs/bilstm_ner.cfg: --paths.vectors OUTPUT_DIR), "
    "or set include_static_vectors = false."
)


# The vocab the featurizer reads while a component says so (pipeline.py): the one of the
# pipeline the component was made in, with its vectors and its word normalization. A
# component handed to another pipeline by spaCy's `add_pipe(source=...)` keeps that
# vocab, while the docs come with the new pipeline's. Unset: the docs' own vocab.
_LEXICON: ContextVar[Vocab | None] = ContextVar("bilstm_ner_lexicon", default=None)


@contextmanager
def reading_lexicon(vocab: Vocab) -> Iterator[None]:
    """Within the block (in this thread), the featurizer takes word attributes and static
    vectors as `vocab` gives them, whatever the docs' vocab holds."""
    token = _LEXICON.set(vocab)
    try:
        yield
    finally:
        _LEXICON.reset(token)


def static_vectors_of(docs: Sequence[Doc]) -> Vectors:
    """The table the featurizer reads for these docs (see `reading_lexicon`)."""
    vocab = _LEXICON.get()
    return (docs[0].vocab if vocab is None else vocab).vectors


# Word attributes whose value comes from the vocab's lexeme (NORM also from the token, when
# the tokenizer set one, e.g. "n't" -> "not").
_LEXICAL = {IDS[name]: name.lower() for name in ("NORM", "LOWER", "PREFIX", "SUFFIX", "SHAPE")}


def own_lexical_values(doc: Doc, attr_ids: Sequence[int], values: numpy.ndarray) -> numpy.ndarray:
    """`values` (doc.to_array(attr_ids)) with each lexical attribute as the component's
    vocab (see `reading_lexicon`) gives it, where the doc's vocab is another: the value
    the doc's lexeme gives is replaced by the component's lexeme's, one the token carries
    itself is kept. Unchanged outside a component's block or for its own docs."""
    vocab = _LEXICON.get()
    columns = [i for i, attr in enumerate(attr_ids) if attr in _LEXICAL]
    if vocab is None or vocab is doc.vocab or not columns:
        return values
    distinct, inverse = numpy.unique(doc.to_array(ORTH), return_inverse=True)
    words = [doc.vocab.strings[orth] for orth in distinct.tolist()]
    values = values.copy()
    for i in columns:
        name = _LEXICAL[attr_ids[i]]
        theirs = numpy.array([getattr(doc.vocab[w], name) for w in words], dtype="uint64")[inverse]
        ours = numpy.array([getattr(vocab[w], name) for w in words], dtype="uint64")[inverse]
        values[:, i] = numpy.where(values[:, i] == theirs, ours, values[:, i])
    return values


def vectors_width(vectors: Vectors) -> int:
    """Width of the static vectors; ValueError saying how to add them if there are none."""
    n_rows, width = vectors.shape
    if n_rows == 0 or width == 0:
        raise ValueError(NO_VECTORS_MESSAGE)
    return int(width)


def token_vectors(docs: Sequence[Doc]) -> numpy.ndarray:
    """(n_tokens, width) float32 static vectors of all tokens of the docs, in order.

    Looked up as spaCy's StaticVectors does, by the table's key attribute
    (ORTH unless the table says otherwise), with zeros for words without a
    vector; floret tables build a vector for any word. One addition: a word
    missing from an ORTH-keyed table takes the vector of its lowercase form.
    Uncased tables (GloVe 6B) hold only lowercase words, so "Paris" would
    otherwise get nothing, and `spacy init vectors --attr LOWER` does not
    survive saving for default-mode tables (spaCy 3.8 keeps `attr` for floret
    only).
    """
    vectors = static_vectors_of(docs)
    width = vectors_width(vectors)
    key_attr = getattr(vectors, "attr", ORTH)
    key_arrays = [doc.to_array([key_attr, LOWER]) for doc in docs if len(doc)]
    if not key_arrays:
        return numpy.zeros((0, width), dtype="float32")
    keys = numpy.concatenate(key_arrays).astype("uint64")
    if vectors.mode == "floret":
        return numpy.asarray(to_numpy(vectors.get_batch(keys[:, 0])), dtype="float32")
    found = numpy.asarray(to_numpy(vectors.find(keys=keys[:, 0])))
    if key_attr == ORTH:
        missing = numpy.flatnonzero(found < 0)
        if len(missing):
            found[missing] = to_numpy(vectors.find(keys=keys[missing, 1]))
    # Index first, then cast: the whole table is never copied.
    rows = numpy.asarray(to_numpy(vectors.data))[found].astype("float32", copy=False)
    rows[found < 0] = 0.0
    return rows


def featurize_docs(
    docs: Sequence[Doc],
    attrs: Sequence[str],
    rows: Sequence[int],
    n_chars: int,
    window: int,
    include_static_vectors: bool = False,
    context_features: Sequence[numpy.ndarray] | None = None,
    table_features: Sequence[numpy.ndarray] | None = None,
) -> PaddedBatch:
    """Build the padded, hashed, windowed input arrays of a batch (see PaddedBatch);
    `context_features`: per doc (n_tokens, layers, width), padded the same way;
    `table_features`: per doc (n_tokens, width) from a word table (word_table.py),
    joined after the vocab's vectors in `vectors`."""
    attr_ids = [IDS[attr.upper()] for attr in attrs]
    n_rows = numpy.asarray(rows, dtype="uint64")
    doc_lengths = numpy.array([len(doc) for doc in docs], dtype="int64")
    hashed, orth_arrays, windows, word_keys = [], [], [], []
    offset = 0
    for doc_index, doc in enumerate(docs):
        if len(doc) == 0:
            continue
        values = doc.to_array(attr_ids).astype("uint64").reshape(len(doc), len(attr_ids))
        values = own_lexical_values(doc, attr_ids, values)
        # the first attribute (the word) salted by the document's position
        salt = numpy.uint64(((doc_index + 1) * _DOC_SALT) & _MASK_64)
        word_keys.append(values[:, 0] ^ salt)
        hashed.append(numpy.stack([values % n_rows, (values >> _HIGH_BITS) % n_rows], axis=-1))
        orth_arrays.append(doc.to_array(ORTH))
        for start, end in window_bounds(len(doc), sentence_starts(doc), window):
            windows.append((offset + start, end - start))
        offset += len(doc)
    n_attrs = len(attr_ids)
    # Read (and checked) even for an empty batch, so a missing table fails at once.
    all_vectors = token_vectors(docs) if include_static_vectors and docs else None
    if table_features is not None:
        table_width = table_features[0].shape[1] if len(table_features) else 0
        nonempty = [t for t in table_features if len(t)]
        all_table = numpy.concatenate(nonempty) if nonempty else numpy.zeros((0, table_width), "float32")
        all_vectors = (
            all_table if all_vectors is None else numpy.concatenate([all_vectors, all_table], axis=1)
        )
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
            vectors=None if all_vectors is None else all_vectors.reshape(0, 0, all_vectors.shape[1]),
            context=None if context_features is None else numpy.zeros((0, 0, 0, 0), dtype="float16"),
        )
    all_ids = numpy.concatenate(hashed).astype("int64")
    all_chars = utf8_rows(numpy.concatenate(orth_arrays), docs[0].vocab.strings, n_chars).astype("int64")
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
    vectors = None
    if all_vectors is not None:
        vectors = numpy.zeros((len(windows), max_len, all_vectors.shape[1]), dtype="float32")
        vectors[win_rows, win_cols] = all_vectors[source]
    context = None
    if context_features is not None:
        all_context = numpy.concatenate([c for c in context_features if len(c)])
        # kept in its own precision (float16 from transformer_context): the encoder's mix
        # of the layers computes in float32 (torch_encoder.BiLSTMEncoder.encode_windows)
        context = numpy.zeros((len(windows), max_len, *all_context.shape[1:]), dtype=all_context.dtype)
        context[win_rows, win_cols] = all_context[source]
    return PaddedBatch(ids, chars, lengths, rows, cols, doc_lengths, groups, n_groups, vectors, context)


def DocFeaturizer(
    attrs: Sequence[str],
    rows: Sequence[int],
    n_chars: int,
    window: int,
    include_static_vectors: bool = False,
    context: Model | None = None,
    word_table: Model | None = None,
) -> Model[list[Doc], PaddedBatch]:
    """Thinc layer wrapping `featurize_docs`; it has no weights of its own and
    passes no gradient. `context` (transformer_context.py), a frozen layer
    whose weights it holds as a child, adds the transformer's features;
    `word_table` (word_table.py), a frozen table held the same way, adds its
    vectors after the vocab's."""
    if len(attrs) != len(rows):
        raise ValueError(f"attrs ({len(attrs)}) and rows ({len(rows)}) must have the same length")
    children = {CONTEXT_REF: context, WORD_TABLE_REF: word_table}
    return Model(
        "doc_featurizer",
        _featurizer_forward,
        init=_featurizer_init,
        layers=[layer for layer in children.values() if layer is not None],
        refs={name: layer for name, layer in children.items() if layer is not None},
        attrs={
            "attrs": list(attrs),
            "rows": list(rows),
            "n_chars": n_chars,
            "window": window,
            "include_static_vectors": include_static_vectors,
        },
    )


def _featurizer_init(model: Model, X: list[Doc] | None = None, Y: None = None) -> None:
    # Fail at `nlp.initialize`, before any training, when the vectors are missing.
    if model.attrs["include_static_vectors"] and X:
        vectors_width(static_vectors_of(X))
    for layer in model.layers:
        layer.initialize(X=X)


def _featurizer_forward(model: Model, docs: list[Doc], is_train: bool) -> tuple[PaddedBatch, Callable]:
    context_layer = model.get_ref(CONTEXT_REF) if model.has_ref(CONTEXT_REF) else None
    context_features, context_backprop = context_layer(docs, is_train) if context_layer is not None else (None, None)
    table = model.get_ref(WORD_TABLE_REF) if model.has_ref(WORD_TABLE_REF) else None
    table_features = table(docs, is_train)[0] if table is not None and docs else None
    batch = featurize_docs(
        docs,
        model.attrs["attrs"],
        model.attrs["rows"],
        model.attrs["n_chars"],
        model.attrs["window"],
        include_static_vectors=model.attrs["include_static_vectors"],
        context_features=context_features,
        table_features=table_features,
    )
    tuned = is_train and context_layer is not None and bool(context_layer.attrs.get("tune_layers"))
    batch.context_grad = tuned and batch.context is not None

    def backprop(d_context: numpy.ndarray | None) -> list:
        """Only a tuned context has a gradient: (n_windows, max_len, layers, width),
        as the batch holds it, handed back per doc in its tokens' order."""
        if batch.context_grad and d_context is not None:
            d_tokens = d_context[batch.rows, batch.cols]
            context_backprop(numpy.split(d_tokens, numpy.cumsum(batch.doc_lengths)[:-1]))
        return []

    return batch, backprop
