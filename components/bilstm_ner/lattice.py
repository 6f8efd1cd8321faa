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

from .biluo_paths import FORBIDDEN, log_potentials, map_length_groups, pad_by_length, path_sums


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
