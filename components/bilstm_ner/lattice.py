"""Forward-backward over the lattice of valid BILUO paths.

The tagger's scores are treated as the unary potentials of a linear-chain CRF
whose transitions are the BILUO rules (allowed: 0, forbidden: -inf). This gives
 - a sequence-level training objective: -log P(gold path), normalised over
   valid paths only, with unknown gold tags summed out;
 - exact marginals, so an entity's confidence is the probability, under the
   model, that this exact span carries this exact label.
Documents are processed in groups padded to the longest, like the decoder.
"""

from collections.abc import Sequence

import numpy

from .decoding import DECODE_GROUP, FORBIDDEN
from .tag_scheme import transition_masks


def _logsumexp(values: numpy.ndarray, axis: int) -> numpy.ndarray:
    peak = values.max(axis=axis, keepdims=True)
    summed = numpy.log(numpy.exp(values - peak).sum(axis=axis, keepdims=True)) + peak
    return summed.squeeze(axis)


class BILUOLattice:
    """Forward-backward over valid paths of one tag set."""

    def __init__(self, tag_names: Sequence[str]) -> None:
        allowed, first, last = transition_masks(list(tag_names))
        self.transitions = numpy.where(allowed, 0.0, FORBIDDEN).astype("float32")
        self.first = numpy.where(first, 0.0, FORBIDDEN).astype("float32")
        self.last = numpy.where(last, 0.0, FORBIDDEN).astype("float32")

    def forward_backward(
        self, scores: Sequence[numpy.ndarray]
    ) -> tuple[list[float], list[numpy.ndarray], list[numpy.ndarray], list[numpy.ndarray]]:
        """Per doc: log partition, log-alpha, log-beta and tag marginals.

        alpha[t, k]: log-sum of paths over tokens 0..t ending in tag k (scores up
        to t included); beta[t, k]: log-sum over continuations from tag k at t
        (scores after t only). marginal[t, k] = exp(alpha + beta - log_z).
        """
        n = len(scores)
        log_z: list[float] = [0.0] * n
        alphas: list[numpy.ndarray] = [numpy.zeros((0, self.first.shape[0]), "float32")] * n
        betas = list(alphas)
        marginals = list(alphas)
        order = [i for i in sorted(range(n), key=lambda i: len(scores[i])) if len(scores[i])]
        for start in range(0, len(order), DECODE_GROUP):
            group = order[start : start + DECODE_GROUP]
            results = self._group([scores[i] for i in group])
            for i, (z, alpha, beta, marginal) in zip(group, results):
                log_z[i], alphas[i], betas[i], marginals[i] = z, alpha, beta, marginal
        return log_z, alphas, betas, marginals

    def _group(self, scores: list[numpy.ndarray]):
        n_docs, n_tags = len(scores), self.first.shape[0]
        lengths = numpy.array([len(s) for s in scores])
        max_len = int(lengths.max())
        emissions = numpy.zeros((n_docs, max_len, n_tags), dtype="float64")
        for i, s in enumerate(scores):
            emissions[i, : len(s)] = s
        transitions = self.transitions.astype("float64")
        alpha = numpy.empty_like(emissions)
        alpha[:, 0] = emissions[:, 0] + self.first
        for t in range(1, max_len):
            stepped = _logsumexp(alpha[:, t - 1, :, None] + transitions[None], axis=1) + emissions[:, t]
            alpha[:, t] = numpy.where((t < lengths)[:, None], stepped, alpha[:, t - 1])
        beta = numpy.empty_like(emissions)
        beta[:, max_len - 1] = self.last
        for t in range(max_len - 2, -1, -1):
            following = emissions[:, t + 1] + beta[:, t + 1]
            stepped = _logsumexp(transitions[None] + following[:, None, :], axis=2)
            beta[:, t] = numpy.where((t + 1 < lengths)[:, None], stepped, self.last)
        log_z = _logsumexp(alpha[:, max_len - 1] + self.last, axis=1)
        results = []
        for i in range(n_docs):
            a, b = alpha[i, : lengths[i]], beta[i, : lengths[i]]
            marginal = numpy.exp(a + b - log_z[i])
            results.append((float(log_z[i]), a, b, marginal))
        return results

    def loss_and_gradient(
        self, scores: Sequence[numpy.ndarray], truths: Sequence[numpy.ndarray]
    ) -> tuple[float, list[numpy.ndarray]]:
        """Summed -log P(gold) and its gradient w.r.t. the scores, per doc.

        truths hold a tag index per token, or -1 where the gold tag is unknown:
        the gold side then sums over all valid paths through the known tags.
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
        loss = float(sum(z - g for z, g in zip(log_z, gold_z)))
        grads = [m - g for m, g in zip(marginals, gold_marginals)]
        return loss, grads


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
    chosen = scores[numpy.arange(len(path)), path].astype("float64")
    cumulative = numpy.concatenate([[0.0], numpy.cumsum(chosen)])
    starts = numpy.array([s for s, _, _ in spans])
    ends = numpy.array([e for _, e, _ in spans])
    inner = cumulative[ends] - cumulative[starts + 1]
    log_p = alpha[starts, path[starts]] + inner + beta[ends - 1, path[ends - 1]] - log_z
    return numpy.clip(numpy.exp(log_p), 0.0, 1.0).astype("float32")
