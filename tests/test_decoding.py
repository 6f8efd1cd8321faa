"""The CRF's decoder and lattice (crf.py) against brute force: valid paths
only, the best of them, and exact probabilities over them."""

import itertools

import numpy
import pytest
from bilstm_ner.layers.crf import (
    BILUOCRF,
    biluo_tag_names,
    path_to_spans,
    span_probabilities,
    transition_masks,
    within_sentences,
)
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


def log_softmax(scores: numpy.ndarray) -> numpy.ndarray:
    """Row-wise log-probabilities: the decoder's input in some tests (any
    per-token shift leaves the best path unchanged)."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - numpy.log(numpy.exp(shifted).sum(axis=-1, keepdims=True))


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
    [path] = BILUOCRF(TAGS).decode([log_softmax(scores)])
    assert is_valid(path)


@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_decoder_finds_best_valid_path(length: int) -> None:
    rng = numpy.random.default_rng(length)
    log_probs = log_softmax(rng.normal(size=(length, len(TAGS))).astype("float32"))
    [path] = BILUOCRF(TAGS).decode([log_probs])
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
    crf = BILUOCRF(TAGS)
    together = crf.decode(docs)
    log_z, alphas, betas = crf.lattices(docs)
    for i, (doc, path) in enumerate(zip(docs, together, strict=False)):
        assert len(path) == len(doc)
        assert is_valid(path)
        [alone] = crf.decode([doc])
        assert numpy.array_equal(alone, path)
        spans = path_to_spans(TAGS, path)
        assert all(0 <= s < e <= len(doc) for s, e, _ in spans)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
        confidences = span_probabilities(doc, alphas[i], betas[i], log_z[i], path, spans)
        assert numpy.all((confidences >= 0) & (confidences <= 1))


def test_path_to_spans() -> None:
    names = ["O", "B-PER", "L-PER", "U-LOC"]
    index = {t: TAGS.index(t) for t in names}
    path = numpy.array([index[t] for t in ["U-LOC", "O", "B-PER", "L-PER", "U-LOC"]])
    assert path_to_spans(TAGS, path) == [(0, 1, "LOC"), (2, 4, "PER"), (4, 5, "LOC")]


def valid_paths(length: int):
    return [p for p in itertools.product(range(len(TAGS)), repeat=length) if is_valid(numpy.array(p))]


@pytest.mark.parametrize("length", [1, 2, 3])
def test_lattice_matches_brute_force(length: int) -> None:
    rng = numpy.random.default_rng(10 + length)
    scores = rng.normal(scale=2, size=(length, len(TAGS)))
    crf = BILUOCRF(TAGS)
    [log_z], [alpha], [beta] = crf.lattices([scores])
    # each tag's probability at each token, from the lattices
    marginal = numpy.exp(alpha + beta - log_z)
    paths = valid_paths(length)
    path_scores = numpy.array([path_score(scores, p) for p in paths])
    assert log_z == pytest.approx(numpy.logaddexp.reduce(path_scores))
    probs = numpy.exp(path_scores - log_z)
    expected = numpy.zeros_like(scores)
    for p, prob in zip(paths, probs):
        expected[numpy.arange(length), p] += prob
    assert numpy.allclose(marginal, expected, atol=1e-6)
    # span probability: the share of valid paths whose tags on the span match
    [path] = crf.decode([scores])
    spans = path_to_spans(TAGS, path)
    got = span_probabilities(scores, alpha, beta, log_z, path, spans)
    for (start, end, _), p_span in zip(spans, got):
        want = sum(prob for p, prob in zip(paths, probs) if list(p[start:end]) == list(path[start:end]))
        assert p_span == pytest.approx(want, abs=1e-5)


def test_lattice_loss_gradient_matches_finite_differences() -> None:
    rng = numpy.random.default_rng(7)
    scores = rng.normal(size=(4, len(TAGS)))
    truth = numpy.array([TAGS.index(t) for t in ["B-PER", "L-PER", "O", "U-LOC"]])
    truth[2] = -1  # unknown gold tag: summed out
    crf = BILUOCRF(TAGS)
    loss, [grad] = crf.loss_and_gradient([scores], [truth])
    grad = grad.numpy()
    assert loss > 0
    eps = 1e-5
    for t, k in [(0, TAGS.index("B-PER")), (2, 0), (3, TAGS.index("U-PER"))]:
        bumped = scores.copy()
        bumped[t, k] += eps
        numeric = (crf.loss_and_gradient([bumped], [truth])[0] - loss) / eps
        assert grad[t, k] == pytest.approx(numeric, abs=1e-3)


def test_within_sentences_splits_an_entity_at_a_sentence_start() -> None:
    # "Ricky | Ponting": the scores want one PER over tokens 1-2, but token 2 starts a sentence.
    scores = numpy.full((4, len(TAGS)), -5.0, dtype="float32")
    scores[[0, 3], TAGS.index("O")] = 5.0
    scores[1, TAGS.index("B-PER")] = 5.0
    scores[2, TAGS.index("L-PER")] = 5.0
    decoder = BILUOCRF(TAGS)
    [free] = decoder.decode([scores])
    assert path_to_spans(TAGS, free) == [(1, 3, "PER")]
    starts = numpy.array([True, False, True, False])
    [split] = decoder.decode([within_sentences(scores, starts, TAGS)])
    spans = path_to_spans(TAGS, split)
    assert all(not (start < 2 < end) for start, end, _ in spans)
    # the sentence start at token 0 constrains nothing
    unchanged = within_sentences(scores, numpy.array([True, False, False, False]), TAGS)
    assert numpy.array_equal(unchanged, scores)


@given(st.integers(2, 12), st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_within_sentences_never_crosses_a_boundary(length: int, seed: int) -> None:
    rng = numpy.random.default_rng(seed)
    scores = rng.normal(size=(length, len(TAGS))).astype("float32") * 3
    starts = rng.random(length) < 0.4
    [path] = BILUOCRF(TAGS).decode([within_sentences(scores, starts, TAGS)])
    assert is_valid(path)
    boundaries = set(numpy.flatnonzero(starts[1:]) + 1)
    for start, end, _ in path_to_spans(TAGS, path):
        assert not any(start < b < end for b in boundaries)
