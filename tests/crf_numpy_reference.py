"""The numpy CRF that the component ran on before crf.py (lattice.py,
biluo_paths.py, decoding.within_sentences and BiLSTMEntityRecognizer.get_loss
as they were), kept as the oracle the torch code is tested against
(tests/test_crf.py) and timed against (scripts/benchmark_crf.py). Not part of
the package: forward-backward in float64 numpy, a Python loop per position,
twice per loss (all paths, gold paths), and a rescaled second version for
inference.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy
from bilstm_ner.layers.crf import split_tag, tag_index, transition_masks
from bilstm_ner.training.distillation import soft_targets
from spacy.attrs import SENT_START
from spacy.training import Example
from thinc.api import get_array_module

MISSING = -1

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


def _logsumexp(values: numpy.ndarray, axis: int) -> numpy.ndarray:
    peak = values.max(axis=axis, keepdims=True)
    summed = numpy.log(numpy.exp(values - peak).sum(axis=axis, keepdims=True)) + peak
    return summed.squeeze(axis)


def _log(values: numpy.ndarray) -> numpy.ndarray:
    """Natural log, with FORBIDDEN for zeros (states no valid path reaches)."""
    return numpy.log(values, out=numpy.full_like(values, FORBIDDEN), where=values > 0)


class BILUOLattice:
    """Forward-backward over valid paths of one tag set."""

    def __init__(self, tag_names: Sequence[str]) -> None:
        self.tag_names = list(tag_names)
        self.transitions, self.first, self.last = log_potentials(self.tag_names)

    def forward_backward(
        self, scores: Sequence[numpy.ndarray]
    ) -> tuple[list[float], list[numpy.ndarray], list[numpy.ndarray], list[numpy.ndarray]]:
        """Per doc: log partition, log-alpha, log-beta and tag marginals.

        alpha[t, k]: log-sum of paths over tokens 0..t ending in tag k (scores up
        to t included); beta[t, k]: log-sum over continuations from tag k at t
        (scores after t only). marginal[t, k] = exp(alpha + beta - log_z).
        """
        none = numpy.zeros((0, self.first.shape[0]), "float32")
        results = map_length_groups(scores, self._group, (0.0, none, none, none))
        if not results:
            return [], [], [], []
        log_z, alphas, betas, marginals = (list(column) for column in zip(*results, strict=True))
        return log_z, alphas, betas, marginals

    def alpha_beta(
        self, scores: Sequence[numpy.ndarray]
    ) -> tuple[list[float], list[numpy.ndarray], list[numpy.ndarray]]:
        """Per doc: log partition, log-alpha and log-beta, as `forward_backward`
        gives them (to about 1e-9), for inference.

        The same recursions run on probabilities rescaled at every position: a
        step is a product with the 0/1 matrix of allowed moves where the log
        space needs a logsumexp over all pairs of tags, and the exponentials are
        taken once for all positions (about 5x faster on a batch of documents,
        2x on one long document). A group whose probabilities underflow is
        computed in the log space instead.
        """
        none = numpy.zeros((0, self.first.shape[0]), "float32")
        results = map_length_groups(scores, self._scaled_or_log_group, (0.0, none, none))
        if not results:
            return [], [], []
        log_z, alphas, betas = (list(column) for column in zip(*results, strict=True))
        return log_z, alphas, betas

    def _scaled_or_log_group(self, scores: list[numpy.ndarray]) -> list[tuple]:
        results = self._scaled_group(scores)
        if results is None:
            results = [(z, a, b) for z, a, b, _ in self._group(scores)]
        return results

    def _scaled_group(self, scores: list[numpy.ndarray]) -> list[tuple] | None:
        emissions, order, sorted_lengths, running_from = pad_by_length(scores, "float64")
        n_docs, max_len, _ = emissions.shape
        # Each position's best tag gets probability 1; the shifts are added back in logs.
        shift = emissions.max(axis=2)
        probs = numpy.exp(emissions - shift[:, :, None])
        allowed = numpy.exp(self.transitions.astype("float64"))  # exactly 0 or 1
        first = numpy.exp(self.first.astype("float64"))
        last = numpy.exp(self.last.astype("float64"))
        alpha = numpy.empty_like(probs)
        alpha_scale = numpy.ones((n_docs, max_len))
        step = probs[:, 0] * first
        alpha_scale[:, 0] = step.sum(axis=1)
        alpha[:, 0] = step / alpha_scale[:, 0, None]
        for t in range(1, max_len):
            k = running_from[t]
            step = (alpha[k:, t - 1] @ allowed) * probs[k:, t]
            alpha_scale[k:, t] = total = step.sum(axis=1)
            alpha[k:, t] = step / total[:, None]
        beta = numpy.empty_like(probs)
        beta_scale = numpy.ones((n_docs, max_len))
        beta[numpy.arange(n_docs), sorted_lengths - 1] = last
        allowed_t = allowed.T.copy()
        for t in range(max_len - 2, -1, -1):
            k = running_from[t + 1]
            step = (probs[k:, t + 1] * beta[k:, t + 1]) @ allowed_t
            beta_scale[k:, t] = total = step.sum(axis=1)
            beta[k:, t] = step / total[:, None]
        results: list = [None] * n_docs
        for row, i in enumerate(order):
            n = sorted_lengths[row]
            # Every tag is reachable after the first position and can be continued
            # before the last: a zero there is an underflow, not a forbidden state.
            if not (alpha[row, 1:n].all() and beta[row, : n - 1].all()):
                return None
            alpha_logs = numpy.cumsum(numpy.log(alpha_scale[row, :n]) + shift[row, :n])
            # beta[t] was rescaled by the steps t..n-2, which read the scores at t+1..n-1
            beta_logs = numpy.zeros(n)
            beta_logs[:-1] = numpy.cumsum((numpy.log(beta_scale[row, : n - 1]) + shift[row, 1:n])[::-1])[::-1]
            z = float(numpy.log(alpha[row, n - 1] @ last) + alpha_logs[-1])
            alpha_row = _log(alpha[row, :n]) + alpha_logs[:, None]
            results[i] = (z, alpha_row, _log(beta[row, :n]) + beta_logs[:, None])
        return results

    def _group(self, scores: list[numpy.ndarray]):
        emissions, order, sorted_lengths, running_from = pad_by_length(scores, "float64")
        n_docs, max_len, _ = emissions.shape
        transitions = self.transitions.astype("float64")
        last_rows = numpy.arange(n_docs), sorted_lengths - 1
        # Positions past a document's end are never written nor read.
        alpha = numpy.empty_like(emissions)
        alpha[:, 0] = emissions[:, 0] + self.first
        for t in range(1, max_len):
            k = running_from[t]
            alpha[k:, t] = _logsumexp(alpha[k:, t - 1, :, None] + transitions, axis=1) + emissions[k:, t]
        beta = numpy.empty_like(emissions)
        beta[last_rows] = self.last
        for t in range(max_len - 2, -1, -1):
            k = running_from[t + 1]
            following = emissions[k:, t + 1] + beta[k:, t + 1]
            beta[k:, t] = _logsumexp(transitions + following[:, None, :], axis=2)
        log_z = _logsumexp(alpha[last_rows] + self.last, axis=1)
        results: list = [None] * n_docs
        for row, i in enumerate(order):
            a, b = alpha[row, : sorted_lengths[row]], beta[row, : sorted_lengths[row]]
            marginal = numpy.exp(a + b - log_z[row])
            results[i] = (float(log_z[row]), a, b, marginal)
        return results

    def loss_and_gradient(
        self,
        scores: Sequence[numpy.ndarray],
        truths: Sequence[numpy.ndarray],
        soft_targets: Sequence[tuple[numpy.ndarray, float] | None] | None = None,
    ) -> tuple[float, list[numpy.ndarray]]:
        """Summed -log P(gold) and its gradient w.r.t. the scores, per doc.

        truths hold a tag index per token, or -1 where the gold tag is unknown:
        the gold side then sums over all valid paths through the known tags.

        soft_targets (distillation.py): per doc None, or a teacher's tag
        marginals q and a weight w. The loss is then (1 - w) -log P(gold) +
        w H(teacher, model), the cross-entropy between the teacher's and the
        model's path distributions, log Z - sum_t q_t . s_t, whose gradient is
        the model's marginals minus q: the targets are a mix of both marginals.
        """
        clamped = []
        for s, truth in zip(scores, truths):
            known = truth >= 0
            penalty = numpy.zeros(s.shape, dtype="float64")
            penalty[known] = FORBIDDEN
            penalty[numpy.flatnonzero(known), truth[known]] = 0.0
            clamped.append(s + penalty)
        log_z, _, _, marginals = self.forward_backward(scores)
        gold_z, _, _, gold_marginals = self.forward_backward(clamped)
        loss, grads = 0.0, []
        for i, (z, g, m, gold) in enumerate(zip(log_z, gold_z, marginals, gold_marginals)):
            target = None if soft_targets is None else soft_targets[i]
            if target is None:
                loss += z - g
                grads.append(m - gold)
                continue
            teacher, weight = target
            teacher = teacher.astype("float64")
            # where the scores forbid a tag (FORBIDDEN, finite) the teacher's mass is 0 too
            loss += (1 - weight) * (z - g) + weight * (z - float((teacher * scores[i]).sum()))
            grads.append(m - ((1 - weight) * gold + weight * teacher))
        return float(loss), grads


def span_probabilities(
    scores: numpy.ndarray,
    alpha: numpy.ndarray,
    beta: numpy.ndarray,
    log_z: float,
    path: numpy.ndarray,
    spans: Sequence[tuple[int, int, str]],
) -> numpy.ndarray:
    """P(tokens start..end-1 carry exactly the decoded tags of the span).

    For a span whose tags are y_s..y_e-1 (B I* L, or U), that is
    exp(alpha[s, y_s] + sum of scores at s+1..e-1 for their tags + beta[e-1, y_e-1] - log_z):
    the transitions inside a valid span all score 0.
    """
    if not len(spans):
        return numpy.zeros((0,), dtype="float32")
    cumulative, starts, ends = path_sums(scores, path, spans)
    inner = cumulative[ends] - cumulative[starts + 1]
    log_p = alpha[starts, path[starts]] + inner + beta[ends - 1, path[ends - 1]] - log_z
    return numpy.clip(numpy.exp(log_p), 0.0, 1.0).astype("float32")


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


def get_loss(
    ner, examples: Iterable[Example], scores: list, lattice: BILUOLattice | None = None
) -> tuple[float, list]:
    """BiLSTMEntityRecognizer.get_loss as it was, with the "crf" objective: the
    scores copied to the host as float64, the loss and gradient from
    BILUOLattice.loss_and_gradient (`lattice`, or one built for ner's tags)."""
    examples = list(examples)
    tag_names = ner.tag_names
    lattice = BILUOLattice(tag_names) if lattice is None else lattice
    index = tag_index(tag_names)
    truths = [
        numpy.array([index.get(tag or "", MISSING) for tag in eg.get_aligned_ner()], dtype="int64")
        for eg in examples
    ]
    xp = get_array_module(scores[0]) if scores else numpy
    n_known = max(1, sum(int((t != MISSING).sum()) for t in truths))
    host_scores = [
        within_sentences(
            ner.model.ops.to_numpy(s).astype("float64"),
            eg.predicted.to_array(SENT_START) == 1,
            tag_names,
        )
        for eg, s in zip(examples, scores, strict=True)
    ]
    targets = [soft_targets(eg.predicted, tag_names) for eg in examples]
    total, grads = lattice.loss_and_gradient(
        host_scores, truths, targets if any(t is not None for t in targets) else None
    )
    d_scores = [xp.asarray(grad / n_known, dtype="float32") for grad in grads]
    return total / n_known, d_scores
