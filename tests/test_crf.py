"""The CRF's batched torch forward-backward (crf.py) against the plain recursion it
stands for (a dense log-space forward algorithm, its gradients by autograd: the
oracle), and the pieces around it: grouping by length, the rules as
log-potentials, the step's neighbour groups, no documents."""

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
    starts, and a valid gold path with some tags unknown."""
    rng = numpy.random.default_rng(seed)
    crf = BILUOCRF(TAGS)
    scores, truths, starts = [], [], []
    for n in LENGTHS:
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
    return {"scores": scores, "truths": truths, "starts": starts}


def dense_lattice(scores, tags: list[str] = TAGS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log Z, log-alpha and log-beta of one document by the textbook recursion over
    every pair of tags (float64, no grouping, no padding): what crf.py computes."""
    transitions, first, last = (torch.tensor(p, dtype=torch.float64) for p in log_potentials(tags))
    emissions = torch.as_tensor(scores, dtype=torch.float64)
    alphas = [first + emissions[0]]
    for t in range(1, len(emissions)):
        alphas.append(torch.logsumexp(alphas[-1][:, None] + transitions, dim=0) + emissions[t])
    betas = [last]
    for t in range(len(emissions) - 1, 0, -1):
        betas.insert(0, torch.logsumexp(transitions + emissions[t] + betas[0], dim=1))
    alpha, beta = torch.stack(alphas), torch.stack(betas)
    return torch.logsumexp(alpha[-1] + last, dim=0), alpha, beta


def dense_loss_and_gradient(
    scores: numpy.ndarray, truth: numpy.ndarray, tags: list[str] = TAGS
) -> tuple[float, numpy.ndarray]:
    """-log P(gold) = log Z(all paths) - log Z(paths through the known gold tags), its
    gradient by autograd: the oracle of BILUOCRF.loss_and_gradient for one document."""
    emissions = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    wrong = torch.zeros(emissions.shape, dtype=torch.bool)
    known = torch.as_tensor(truth) >= 0
    wrong[known] = True
    wrong[known.nonzero()[:, 0], torch.as_tensor(truth)[known]] = False
    loss = dense_lattice(emissions, tags)[0] - dense_lattice(emissions.masked_fill(wrong, FORBIDDEN), tags)[0]
    loss.backward()
    return float(loss.detach()), emissions.grad.numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [0.5, 5.0, 200.0])
def test_loss_and_gradient_match_the_dense_recursion(seed: int, scale: float) -> None:
    """Loss and gradient to 1e-6, the sentence rule applied as a mask by crf.py
    and to the scores themselves by the oracle. Scale 200 underflows any rescaled
    recursion: the log-space one must hold."""
    case = random_case(seed, scale)
    # the model's scores are float32 tensors
    scores = [torch.tensor(s, dtype=torch.float32) for s in case["scores"]]
    forbidden = [sentence_constraints(s, TAGS) for s in case["starts"]]
    loss, grads = BILUOCRF(TAGS).loss_and_gradient(scores, case["truths"], forbidden)
    expected_loss = 0.0
    for score, sent_starts, truth, grad, n in zip(
        scores, case["starts"], case["truths"], grads, LENGTHS, strict=True
    ):
        assert grad.dtype == torch.float64 and grad.shape == (n, len(TAGS))
        if not n:
            continue
        constrained = within_sentences(score.numpy().astype("float64"), sent_starts, TAGS)
        single_loss, expected = dense_loss_and_gradient(constrained, truth)
        expected_loss += single_loss
        # the oracle's gradient w.r.t. a constrained score is the mask's: nothing flows there
        expected[sentence_constraints(sent_starts, TAGS)] = 0.0
        numpy.testing.assert_allclose(grad.numpy(), expected, atol=1e-6, rtol=0)
    assert loss == pytest.approx(expected_loss, abs=1e-6, rel=1e-12)


@pytest.mark.parametrize("scale", [0.5, 5.0, 200.0])
def test_lattices_and_span_probabilities_match_the_dense_recursion(scale: float) -> None:
    """alpha, beta and log Z as the plain recursion gives them; a span's probability
    is Z over the paths that carry its tags on its tokens, over Z."""
    case = random_case(3, scale)
    scores = case["scores"]
    crf = BILUOCRF(TAGS)
    log_z, alphas, betas = crf.lattices(scores)
    for i, s in enumerate(scores):
        assert alphas[i].shape == betas[i].shape == s.shape
        if not len(s):
            assert log_z[i] == 0.0
            continue
        expected_z, expected_alpha, expected_beta = (x.numpy() for x in dense_lattice(s))
        assert log_z[i] == pytest.approx(float(expected_z), abs=1e-6, rel=1e-12)
        reachable = expected_alpha > FORBIDDEN / 2
        numpy.testing.assert_allclose(alphas[i][reachable], expected_alpha[reachable], atol=1e-6, rtol=1e-12)
        assert (alphas[i][~reachable] < FORBIDDEN / 2).all()
        live = expected_beta > FORBIDDEN / 2
        numpy.testing.assert_allclose(betas[i][live], expected_beta[live], atol=1e-6, rtol=1e-12)
        [path] = crf.decode([s])
        spans = path_to_spans(TAGS, path)
        expected = []
        for start, end, _ in spans:
            # every tag but the path's own on the span's tokens forbidden
            only_span = s.copy()
            keep = numpy.zeros(s.shape, dtype=bool)
            keep[numpy.arange(start, end), path[start:end]] = True
            only_span[numpy.arange(start, end)] = numpy.where(keep[start:end], s[start:end], FORBIDDEN)
            expected.append(numpy.exp(float(dense_lattice(only_span)[0]) - float(expected_z)))
        numpy.testing.assert_allclose(
            span_probabilities(s, alphas[i], betas[i], log_z[i], path, spans),
            numpy.clip(expected, 0.0, 1.0),
            atol=1e-6,
        )


def test_get_loss_matches_the_dense_recursion(make_tiny_nlp, tiny_examples) -> None:
    """The component's loss and gradient (float32, averaged over the tokens whose gold
    tag is known) against the oracle, on docs with sentence boundaries inside and an
    unknown gold tag."""
    from spacy.tokens import Doc
    from spacy.training import Example

    nlp = make_tiny_nlp()
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    ner = nlp.get_pipe("ner")
    bounded = []
    for i, eg in enumerate(examples):
        words = [t.text for t in eg.predicted]
        # a sentence break inside, where no gold entity runs across it
        inside = next(j for j in range(len(words) // 2, len(words)) if eg.reference[j].ent_iob_ != "I")
        starts = [j in (0, inside) for j in range(len(words))]
        tags = [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_type_ else t.ent_iob_ for t in eg.reference]
        if i == 0:
            tags[0] = ""  # an unknown gold tag: left free
        reference = Doc(nlp.vocab, words=[t.text for t in eg.reference], ents=tags)
        bounded.append(Example(Doc(nlp.vocab, words=words, sent_starts=starts), reference))
    tag_names = ner.tag_names
    truths = [
        numpy.array([tag_names.index(t) if t else -1 for t in eg.get_aligned_ner()]) for eg in bounded
    ]
    n_known = sum(int((t >= 0).sum()) for t in truths)
    assert n_known == sum(len(eg.reference) for eg in bounded) - 1
    scores = ner.model.predict([eg.predicted for eg in bounded])
    loss, grads = ner.get_loss(bounded, scores)
    expected_loss = 0.0
    for eg, truth, score, grad in zip(bounded, truths, scores, grads, strict=True):
        starts = eg.predicted.to_array("SENT_START") == 1
        single, expected = dense_loss_and_gradient(
            within_sentences(numpy.asarray(score, dtype="float64"), starts, tag_names), truth, tag_names
        )
        expected[sentence_constraints(starts, tag_names)] = 0.0
        expected_loss += single
        assert isinstance(grad, numpy.ndarray) and grad.dtype == numpy.float32
        numpy.testing.assert_allclose(grad, expected / n_known, atol=1e-6, rtol=0)
    assert loss == pytest.approx(expected_loss / n_known, abs=1e-6)


def test_padding_changes_nothing() -> None:
    """A document's loss, gradient and lattice are the same alone and beside
    longer ones."""
    case = random_case(4, 3.0)
    crf = BILUOCRF(TAGS)
    loss, grads = crf.loss_and_gradient(case["scores"], case["truths"])
    alone = [crf.loss_and_gradient([s], [t]) for s, t in zip(case["scores"], case["truths"], strict=True)]
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
    assert crf.loss_and_gradient([], []) == (0.0, [])
    empty = numpy.zeros((0, 5))
    loss, [grad] = crf.loss_and_gradient([empty], [numpy.zeros(0, dtype="int64")])
    assert loss == 0.0 and grad.shape == (0, 5)
