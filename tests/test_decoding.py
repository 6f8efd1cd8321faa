"""The constrained BILUO decoder: valid paths only, and the best of them."""

import itertools

import numpy
import pytest
from bilstm_ner.decoding import ConstrainedDecoder, log_softmax, path_to_spans, span_confidences
from bilstm_ner.tag_scheme import biluo_tag_names, transition_masks
from hypothesis import given, settings
from hypothesis import strategies as st

TAGS = biluo_tag_names(["LOC", "PER"])


def is_valid(path: numpy.ndarray) -> bool:
    allowed, first, last = transition_masks(TAGS)
    if len(path) == 0:
        return True
    if not first[path[0]] or not last[path[-1]]:
        return False
    return all(allowed[a, b] for a, b in zip(path[:-1], path[1:], strict=False))


def path_score(log_probs: numpy.ndarray, path) -> float:
    return float(sum(log_probs[i, t] for i, t in enumerate(path)))


def test_transition_rules() -> None:
    allowed, first, last = transition_masks(TAGS)
    index = {t: i for i, t in enumerate(TAGS)}
    assert allowed[index["B-PER"], index["L-PER"]]
    assert not allowed[index["B-PER"], index["L-LOC"]]
    assert not allowed[index["O"], index["I-PER"]]
    assert allowed[index["U-LOC"], index["B-PER"]]
    assert not first[index["I-LOC"]] and not last[index["B-LOC"]]


def test_argmax_invalid_path_is_repaired() -> None:
    # argmax would give "I-PER O": invalid; the decoder must not.
    scores = numpy.full((2, len(TAGS)), -5.0, dtype="float32")
    scores[0, TAGS.index("I-PER")] = 5.0
    scores[1, TAGS.index("O")] = 5.0
    [path] = ConstrainedDecoder(TAGS).decode([log_softmax(scores)])
    assert is_valid(path)


@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_decoder_finds_best_valid_path(length: int) -> None:
    rng = numpy.random.default_rng(length)
    log_probs = log_softmax(rng.normal(size=(length, len(TAGS))).astype("float32"))
    [path] = ConstrainedDecoder(TAGS).decode([log_probs])
    best = max(
        (p for p in itertools.product(range(len(TAGS)), repeat=length) if is_valid(numpy.array(p))),
        key=lambda p: path_score(log_probs, p),
    )
    assert path_score(log_probs, path) == pytest.approx(path_score(log_probs, best), abs=1e-4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12), st.integers(0, 2**31))
def test_batched_decoding_is_valid_and_independent(lengths, seed) -> None:
    rng = numpy.random.default_rng(seed)
    docs = [log_softmax(rng.normal(scale=3, size=(n, len(TAGS))).astype("float32")) for n in lengths]
    decoder = ConstrainedDecoder(TAGS)
    together = decoder.decode(docs)
    for doc, path in zip(docs, together, strict=False):
        assert len(path) == len(doc)
        assert is_valid(path)
        [alone] = decoder.decode([doc])
        assert numpy.array_equal(alone, path)
        spans = path_to_spans(TAGS, path)
        assert all(0 <= s < e <= len(doc) for s, e, _ in spans)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
        confidences = span_confidences(doc, path, spans)
        assert numpy.all((confidences >= 0) & (confidences <= 1))


def test_path_to_spans() -> None:
    names = ["O", "B-PER", "L-PER", "U-LOC"]
    index = {t: TAGS.index(t) for t in names}
    path = numpy.array([index[t] for t in ["U-LOC", "O", "B-PER", "L-PER", "U-LOC"]])
    assert path_to_spans(TAGS, path) == [(0, 1, "LOC"), (2, 4, "PER"), (4, 5, "LOC")]
