"""The CRF's torch forward-backward (crf.py) against the numpy code it replaced
(crf_numpy_reference.py, the oracle), and the pieces around it: grouping by
length, the rules as log-potentials, the step's neighbour groups, no documents."""

import crf_numpy_reference as reference
import numpy
import pytest
import torch
from bilstm_ner.layers import crf as crf_module
from bilstm_ner.layers.crf import (
    BILUOCRF,
    FORBIDDEN,
    biluo_tag_names,
    log_potentials,
    map_length_groups,
    neighbour_groups,
    path_to_spans,
    sentence_constraints,
    span_probabilities,
    transition_masks,
    within_sentences,
)

TAGS = biluo_tag_names(["LOC", "MISC", "ORG", "PER"])
LENGTHS = [1, 7, 0, 40, 3, 1, 120, 2]


def random_case(seed: int, scale: float) -> dict:
    """Documents of LENGTHS tokens: random scores, some of them forbidden
    (FORBIDDEN, as the gold clamping and the sentence rule make them), sentence
    starts, a valid gold path with some tags unknown, and a teacher's marginals
    (under the same rules) with a weight for every other document."""
    rng = numpy.random.default_rng(seed)
    crf = BILUOCRF(TAGS)
    scores, truths, starts, teachers = [], [], [], []
    for i, n in enumerate(LENGTHS):
        s = rng.normal(scale=scale, size=(n, len(TAGS)))
        sent_starts = rng.random(n) < 0.15
        [gold] = crf.decode([within_sentences(rng.normal(size=(n, len(TAGS))), sent_starts, TAGS)])
        # forbid some tags off the gold path: every document keeps a valid path
        off_gold = rng.random((n, len(TAGS))) < 0.1
        off_gold[numpy.arange(n), gold] = False
        s[off_gold] = FORBIDDEN
        truth = gold.astype("int64")
        truth[rng.random(n) < 0.2] = -1
        scores.append(s)
        truths.append(truth)
        starts.append(sent_starts)
        # the teacher saw the same rules: no mass where the student's scores forbid a tag
        teacher_scores = rng.normal(scale=2, size=(n, len(TAGS)))
        teacher_scores[off_gold] = FORBIDDEN
        teacher = crf.marginals([within_sentences(teacher_scores, sent_starts, TAGS)])
        teachers.append((teacher[0].astype("float32"), float(rng.uniform(0.1, 0.9))) if i % 2 else None)
    return {"scores": scores, "truths": truths, "starts": starts, "teachers": teachers}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [0.5, 5.0, 200.0])
@pytest.mark.parametrize("with_teacher", [False, True])
def test_loss_and_gradient_match_the_numpy_code(seed: int, scale: float, with_teacher: bool) -> None:
    """Loss and gradient to 1e-6, the sentence rule applied as a mask by the
    torch code and to the scores themselves by the numpy code, as get_loss did."""
    case = random_case(seed, scale)
    teachers = case["teachers"] if with_teacher else None
    # the model's scores are float32 tensors; the numpy code read them as float64
    scores = [torch.tensor(s, dtype=torch.float32) for s in case["scores"]]
    forbidden = [sentence_constraints(s, TAGS) for s in case["starts"]]
    constrained = [
        within_sentences(s.numpy().astype("float64"), st, TAGS)
        for s, st in zip(scores, case["starts"], strict=True)
    ]
    expected_loss, expected_grads = reference.BILUOLattice(TAGS).loss_and_gradient(
        constrained, case["truths"], teachers
    )
    loss, grads = BILUOCRF(TAGS).loss_and_gradient(scores, case["truths"], teachers, forbidden)
    assert loss == pytest.approx(expected_loss, abs=1e-6, rel=1e-12)
    for grad, expected, n in zip(grads, expected_grads, LENGTHS, strict=True):
        assert grad.dtype == torch.float64 and grad.shape == (n, len(TAGS))
        numpy.testing.assert_allclose(grad.numpy(), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale", [0.5, 5.0, 200.0])
def test_lattices_marginals_and_span_probabilities_match_the_numpy_code(scale: float) -> None:
    """Scale 200 underflows any rescaled recursion: the log-space one must hold.
    Span probabilities as the old inference path (rescaled, else log space) gave them."""
    case = random_case(3, scale)
    scores = case["scores"]
    crf, old = BILUOCRF(TAGS), reference.BILUOLattice(TAGS)
    log_z, alphas, betas = crf.lattices(scores)
    expected_z, expected_alphas, expected_betas, expected_marginals = old.forward_backward(scores)
    marginals = crf.marginals(scores)
    old_z, old_alphas, old_betas = old.alpha_beta(scores)
    for i, s in enumerate(scores):
        assert alphas[i].shape == betas[i].shape == marginals[i].shape == s.shape
        if not len(s):
            assert log_z[i] == 0.0
            continue
        assert log_z[i] == pytest.approx(expected_z[i], abs=1e-6, rel=1e-12)
        reachable = expected_alphas[i] > FORBIDDEN / 2
        numpy.testing.assert_allclose(
            alphas[i][reachable], expected_alphas[i][reachable], atol=1e-6, rtol=1e-12
        )
        assert (alphas[i][~reachable] < FORBIDDEN / 2).all()
        live = expected_betas[i] > FORBIDDEN / 2
        numpy.testing.assert_allclose(betas[i][live], expected_betas[i][live], atol=1e-6, rtol=1e-12)
        numpy.testing.assert_allclose(marginals[i], expected_marginals[i], atol=1e-9, rtol=0)
        [path] = crf.decode([s])
        spans = path_to_spans(TAGS, path)
        numpy.testing.assert_allclose(
            span_probabilities(s, alphas[i], betas[i], log_z[i], path, spans),
            reference.span_probabilities(s, old_alphas[i], old_betas[i], old_z[i], path, spans),
            atol=1e-6,
        )


def test_get_loss_matches_the_numpy_code(
    make_tiny_nlp, tiny_examples, train_data: list, entity_labels: tuple[str, ...]
) -> None:
    """The component's loss and gradient (float32, averaged over the known
    tokens) against get_loss as it was, on docs with sentence boundaries, an
    unknown gold tag and a teacher's marginals on one of them."""
    from bilstm_ner.training.distillation import SOFT_TARGETS
    from spacy.tokens import Doc
    from spacy.training import Example

    nlp = make_tiny_nlp()
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    ner = nlp.get_pipe("ner")
    bounded = []
    for eg in examples:
        words = [t.text for t in eg.predicted]
        starts = [j == 0 or j == len(words) // 2 for j in range(len(words))]
        bounded.append(Example(Doc(nlp.vocab, words=words, sent_starts=starts), eg.reference))
    bounded[0].predicted.user_data[SOFT_TARGETS] = (
        tuple(ner.tag_names),
        ner.tag_marginals([bounded[0].predicted], temperature=2.0)[0].astype("float32"),
        0.4,
    )
    scores = ner.model.predict([eg.predicted for eg in bounded])
    loss, grads = ner.get_loss(bounded, scores)
    expected_loss, expected_grads = reference.get_loss(ner, bounded, scores)
    assert loss == pytest.approx(expected_loss, abs=1e-6)
    for grad, expected in zip(grads, expected_grads, strict=True):
        assert isinstance(grad, numpy.ndarray) and grad.dtype == numpy.float32
        numpy.testing.assert_allclose(grad, expected, atol=1e-6, rtol=0)


def test_padding_changes_nothing() -> None:
    """A document's loss, gradient and lattice are the same alone and beside
    longer ones."""
    case = random_case(4, 3.0)
    crf = BILUOCRF(TAGS)
    loss, grads = crf.loss_and_gradient(case["scores"], case["truths"], case["teachers"])
    alone = [
        crf.loss_and_gradient([s], [t], [q])
        for s, t, q in zip(case["scores"], case["truths"], case["teachers"], strict=True)
    ]
    assert loss == pytest.approx(sum(single for single, _ in alone), abs=1e-9)
    for grad, (_, [single]) in zip(grads, alone, strict=True):
        numpy.testing.assert_allclose(grad.numpy(), single.numpy(), atol=1e-12)


def test_neighbour_groups_are_the_biluo_moves() -> None:
    """Rebuilt from the groups, each direction's moves are transition_masks'."""
    allowed = transition_masks(TAGS)[0]
    for moves in (allowed, allowed.T):
        members, group_of = neighbour_groups(moves)
        assert len(members) == 1 + 4  # the tags that open, and I-X/L-X per label
        rebuilt = numpy.zeros_like(moves)
        for tag, group in enumerate(group_of):
            rebuilt[members[group][members[group] >= 0], tag] = True
        numpy.testing.assert_array_equal(rebuilt, moves)


def test_groups_hold_similar_lengths_and_results_come_back_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crf_module, "GROUP_SIZE", 2)
    lengths = [5, 0, 2, 9, 3, 0, 1]
    scores = [numpy.full((n, 3), float(i)) for i, n in enumerate(lengths)]
    groups: list[list[int]] = []

    def run_group(group: list[numpy.ndarray]) -> list[tuple[int, int]]:
        groups.append([len(s) for s in group])
        return [(len(s), int(s[0, 0])) for s in group]

    results = map_length_groups(scores, run_group, empty=None)
    # each document's own result, empty documents never passed on
    assert results == [(5, 0), None, (2, 2), (9, 3), (3, 4), None, (1, 6)]
    assert groups == [[1, 2], [3, 5], [9]]


def test_log_potentials_are_the_masks_in_log_space() -> None:
    tags = biluo_tag_names(["creative-work", "PER"])
    for potentials, mask in zip(log_potentials(tags), transition_masks(tags), strict=True):
        assert potentials.dtype == numpy.float32
        numpy.testing.assert_array_equal(potentials == 0.0, mask)
        numpy.testing.assert_array_equal(potentials == numpy.float32(FORBIDDEN), ~mask)


def test_no_documents_and_empty_documents() -> None:
    crf = BILUOCRF(biluo_tag_names(["PER"]))
    assert crf.decode([]) == []
    assert crf.lattices([]) == ([], [], [])
    assert crf.marginals([]) == []
    assert crf.loss_and_gradient([], []) == (0.0, [])
    empty = numpy.zeros((0, 5))
    loss, [grad] = crf.loss_and_gradient([empty], [numpy.zeros(0, dtype="int64")])
    assert loss == 0.0 and grad.shape == (0, 5)
