"""The linear-chain CRF over the BILUO tag scheme.

The model scores one BILUO tag per token; those scores are the unary
potentials of a CRF whose transitions are the BILUO rules (a move is allowed
or forbidden, nothing in between). This module is everything that follows
from that:
 - the tag scheme and its valid moves;
 - the constrained decoder: the best valid path (Viterbi, in numpy), so every
   prediction is a well-formed set of non-overlapping spans;
 - forward-backward over the valid paths (in torch, on the scores' device,
   batched over documents): the training loss -log P(gold path) and its
   gradient, and each entity's probability.

Both recursions loop over positions only: documents are padded into one
array and stepped together, so the Python loop runs once per position of the
longest document of a batch, not once per document or token.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy
import torch

OUTSIDE = "O"
PREFIXES = ("B", "I", "L", "U")
# Log-score for a forbidden move or tag: finite so that sums never become NaN.
FORBIDDEN = -1e9
# exp() of anything below this takes torch's slow path (denormals, underflow to
# 0: 10-100x slower per element), and exp(-700) ~ 1e-304 is nothing next to 1.
UNDERFLOW = -700.0
# Documents of similar length are decoded (and their forward-backward, outside
# training, computed) together, at most this many at a time.
GROUP_SIZE = 64

Result = TypeVar("Result")
Span = tuple[int, int, str]


# ------------------------------------------------------------------ the tag scheme


def biluo_tag_names(labels: Iterable[str]) -> list[str]:
    """Tag names in a fixed order: "O", then B/I/L/U for each label in the given order.

    The order decides the model's output rows, so it depends only on the labels
    stored in the component's cfg.
    """
    return [OUTSIDE] + [f"{prefix}-{label}" for label in labels for prefix in PREFIXES]


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '')."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, _, label = tag.partition("-")
    return prefix, label


def tag_index(tag_names: list[str]) -> dict[str, int]:
    """Map from tag name to its row in the model's output."""
    return {tag: i for i, tag in enumerate(tag_names)}


def transition_masks(
    tag_names: list[str],
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Boolean masks of the valid BILUO moves.

    Returns (allowed[prev, next], allowed_first[tag], allowed_last[tag]).
    B-X and I-X must be followed by I-X or L-X; everything else (O, L-*, U-*)
    must be followed by O, B-* or U-*.
    """
    n_tags = len(tag_names)
    parts = [split_tag(tag) for tag in tag_names]
    opens = numpy.array([prefix in ("O", "B", "U") for prefix, _ in parts])
    closes = numpy.array([prefix in ("O", "L", "U") for prefix, _ in parts])
    allowed = numpy.zeros((n_tags, n_tags), dtype=bool)
    for i, (prev_prefix, prev_label) in enumerate(parts):
        if prev_prefix in ("B", "I"):
            for j, (next_prefix, next_label) in enumerate(parts):
                allowed[i, j] = next_prefix in ("I", "L") and next_label == prev_label
        else:
            allowed[i] = opens
    return allowed, opens.copy(), closes


def log_potentials(tag_names: Sequence[str]) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """The BILUO rules as additive log-scores, 0 where allowed and FORBIDDEN
    elsewhere: (transitions[prev, next], first[tag], last[tag]), float32."""
    masks = transition_masks(list(tag_names))
    transitions, first, last = (numpy.where(mask, 0.0, FORBIDDEN).astype("float32") for mask in masks)
    return transitions, first, last


def sentence_constraints(sent_starts: numpy.ndarray, tag_names: list[str]) -> numpy.ndarray:
    """(n_tokens, n_tags) bool, True for the tags that would carry an entity
    across a sentence boundary: I-/L- on a token that starts a sentence, B-/I-
    on the token before it. sent_starts: (n_tokens,) bool; the first token's
    start constrains nothing.

    spaCy's own `ner` never lets an entity cross a sentence boundary. CoNLL's
    files are cut into sentences and conlleval scores within them, and some
    names are cut in two by a sentence break ("Ricky" / "Ponting"): gold has
    two entities there, and so does the decoder once it is told where
    sentences start.
    """
    forbidden = numpy.zeros((len(sent_starts), len(tag_names)), dtype=bool)
    starts = numpy.flatnonzero(sent_starts[1:]) + 1
    if len(starts):
        prefixes = [split_tag(tag)[0] for tag in tag_names]
        forbidden[numpy.ix_(starts, [p in ("I", "L") for p in prefixes])] = True
        forbidden[numpy.ix_(starts - 1, [p in ("B", "I") for p in prefixes])] = True
    return forbidden


def within_sentences(
    scores: numpy.ndarray, sent_starts: numpy.ndarray, tag_names: list[str]
) -> numpy.ndarray:
    """The scores with every path that carries an entity across a sentence
    boundary forbidden (see sentence_constraints). A Doc that comes without
    boundaries (the usual case: the pipeline has no parser or senter) gets its
    scores back unchanged."""
    forbidden = sentence_constraints(sent_starts, tag_names)
    if not forbidden.any():
        return scores
    constrained = scores.copy()
    constrained[forbidden] = FORBIDDEN
    return constrained


# ------------------------------------------------------------------ grouping documents


def map_length_groups(
    scores: Sequence[numpy.ndarray],
    run_group: Callable[[list[numpy.ndarray]], list[Result]],
    empty: Result,
) -> list[Result]:
    """run_group's result for each document, in the documents' order.

    Documents go to `run_group` sorted by length, GROUP_SIZE at a time, so a
    group's padding stays short; `run_group` returns one result per document
    it is given, in its order. Empty documents are never passed: they get `empty`.
    """
    results = [empty] * len(scores)
    order = [i for i in sorted(range(len(scores)), key=lambda i: len(scores[i])) if len(scores[i])]
    for start in range(0, len(order), GROUP_SIZE):
        group = order[start : start + GROUP_SIZE]
        for i, result in zip(group, run_group([scores[i] for i in group]), strict=True):
            results[i] = result
    return results


def pad(arrays: Sequence[numpy.ndarray | torch.Tensor], value: float = 0.0) -> torch.Tensor:
    """Documents' arrays, (n_tokens, ...) each, as one (n_docs, max n_tokens, ...)
    tensor, padded with `value`, on the arrays' device (numpy: the CPU). It is
    a view of a position-major tensor, the layout forward_backward walks."""
    padded = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(a) for a in arrays], padding_value=value)
    return padded.transpose(0, 1)


# ------------------------------------------------------------------ spans


def path_to_spans(tag_names: Sequence[str], path: numpy.ndarray) -> list[Span]:
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


def span_probabilities(
    scores: numpy.ndarray,
    alpha: numpy.ndarray,
    beta: numpy.ndarray,
    log_z: float,
    path: numpy.ndarray,
    spans: Sequence[Span],
) -> numpy.ndarray:
    """P(tokens start..end-1 carry exactly the decoded tags of the span): the
    probability, under the model, that this exact span carries this exact label.

    For a span whose tags are y_s..y_e-1 (B I* L, or U), that is
    exp(alpha[s, y_s] + sum of scores at s+1..e-1 for their tags + beta[e-1, y_e-1] - log_z):
    the transitions inside a valid span all score 0.
    """
    if not len(spans):
        return numpy.zeros((0,), dtype="float32")
    # cumulative[e] - cumulative[s]: the path's scores over tokens s..e-1, in float64
    chosen = scores[numpy.arange(len(path)), path].astype("float64")
    cumulative = numpy.concatenate([[0.0], numpy.cumsum(chosen)])
    starts = numpy.array([s for s, _, _ in spans], dtype="int64")
    ends = numpy.array([e for _, e, _ in spans], dtype="int64")
    inner = cumulative[ends] - cumulative[starts + 1]
    log_p = alpha[starts, path[starts]] + inner + beta[ends - 1, path[ends - 1]] - log_z
    return numpy.clip(numpy.exp(log_p), 0.0, 1.0).astype("float32")


# ------------------------------------------------------------------ the CRF


def probabilities(log_p: torch.Tensor) -> torch.Tensor:
    """exp(log_p), exactly 0 below exp(UNDERFLOW) (forbidden tags score about
    FORBIDDEN), on exp's fast path."""
    return log_p.clamp(min=UNDERFLOW).exp_().masked_fill_(log_p < UNDERFLOW, 0.0)


def neighbour_groups(allowed: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """How one step of the forward recursion reads the previous position under
    the moves `allowed[prev, next]` (the backward recursion: allowed.T).

    Tags whose allowed predecessors are the same set share that set's log-sum.
    Under BILUO there are 1 + n_labels such sets: the tags that close (O, L-*,
    U-*) may precede every tag that opens (O, B-*, U-*), and B-X or I-X may
    precede I-X and L-X. So a step takes 1 + n_labels log-sums, where the
    plain recursion takes one over every pair of tags.

    Returns (members[group, slot], -1 in unused slots; group_of[tag]).
    """
    sets, group_of = numpy.unique(allowed.T, axis=0, return_inverse=True)
    members = numpy.full((len(sets), int(sets.sum(axis=1).max())), -1)
    for group, row in enumerate(sets):
        found = numpy.flatnonzero(row)
        members[group, : len(found)] = found
    return members, group_of.reshape(-1)


@dataclass
class GroupWalk:
    """One direction of the recursion, on the log-sums of the neighbour groups
    (neighbour_groups) rather than on the tags: g[t + 1, i] = log-sum over the
    tags k of group i of alpha[t, k], and alpha[t, k] = g[t, group_of[k]] +
    scores[t, k], so g[t + 1, i] = log-sum over j of g[t, j] + transfer[t, i, j],
    where transfer[t, i, j] is the log-sum of the scores at t of the tags of
    group i that read group j. Under BILUO that is 1 + n_labels values a
    position rather than n_tags.

    group_of: (n_tags,) the group each tag reads; start: (n_groups,) the
    group values before the first token (each group's tags share the rule for
    the first token); single: (source tags, flat destinations i * n_groups + j)
    of the transfer entries that are one tag's score; summed: (destination,
    tags) of those that sum several.
    """

    group_of: numpy.ndarray
    start: numpy.ndarray
    single: tuple[numpy.ndarray, numpy.ndarray]
    summed: list[tuple[int, numpy.ndarray]]


def group_walk(allowed: numpy.ndarray, start: numpy.ndarray) -> GroupWalk:
    """The GroupWalk of the moves allowed[prev, next] with log-potentials
    `start` for the first token."""
    members, group_of = neighbour_groups(allowed)
    n_groups = len(members)
    starts = numpy.full(n_groups, FORBIDDEN)
    for group in range(n_groups):
        values = set(start[group_of == group].tolist())
        if len(values) > 1:
            raise ValueError("forward-backward needs one first-token rule for the tags of a group")
        starts[group] = values.pop() if values else FORBIDDEN
    sources, destinations, summed = [], [], []
    for i in range(n_groups):
        tags = members[i][members[i] >= 0]
        for j in range(n_groups):
            found = tags[group_of[tags] == j]
            if len(found) == 1:
                sources.append(int(found[0]))
                destinations.append(i * n_groups + j)
            elif len(found) > 1:
                summed.append((i * n_groups + j, found))
    return GroupWalk(group_of, starts, (numpy.array(sources), numpy.array(destinations)), summed)


def _logsumexp(values: torch.Tensor, dim: int) -> torch.Tensor:
    """torch.logsumexp of finite values, on exp's fast path (see UNDERFLOW)."""
    peak = values.amax(dim=dim, keepdim=True)
    return (values - peak).clamp_min_(UNDERFLOW).exp_().sum(dim=dim).log_().add_(peak.squeeze(dim))


class BILUOCRF:
    """The CRF of one tag set: Viterbi decoding, forward-backward, the loss."""

    def __init__(self, tag_names: Sequence[str]) -> None:
        self.tag_names = list(tag_names)
        self.transitions, self.first, self.last = log_potentials(self.tag_names)
        allowed = transition_masks(self.tag_names)[0]
        # The backward recursion is the forward one over the reversed documents,
        # each tag's successors in place of its predecessors, the last token's
        # rule in place of the first's.
        self._walks = [
            group_walk(allowed, self.first),
            group_walk(allowed.T, self.last),
        ]
        if len({len(walk.start) for walk in self._walks}) != 1:
            raise ValueError("forward-backward needs as many groups of neighbours each way")
        self._on_device: dict[torch.device, list[tuple[torch.Tensor, ...]]] = {}

    # --- decoding

    def decode(self, scores: Sequence[numpy.ndarray]) -> list[numpy.ndarray]:
        """Best valid tag path (tag indices) for each document's (n_tokens, n_tags) scores."""
        return map_length_groups(scores, self._decode_group, numpy.zeros((0,), dtype="int32"))

    def _decode_group(self, scores: list[numpy.ndarray]) -> list[numpy.ndarray]:
        lengths = numpy.array([len(s) for s in scores])
        order = numpy.argsort(lengths, kind="stable")
        lengths = lengths[order]
        n_docs, max_len, n_tags = len(scores), int(lengths[-1]), len(self.tag_names)
        # Rows sorted by length, so at position t the documents still running are
        # the rows from running_from[t] on: each step touches only those.
        running_from = numpy.searchsorted(lengths, numpy.arange(max_len), side="right")
        emissions = numpy.zeros((n_docs, max_len, n_tags), dtype="float32")
        for row, i in enumerate(order.tolist()):
            emissions[row, : lengths[row]] = scores[i]
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
        for row, i in enumerate(order.tolist()):
            paths[i] = tags[row, : lengths[row]]
        return paths

    # --- forward-backward

    def forward_backward(
        self, scores: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """log Z (n_docs,), log-alpha and log-beta (n_docs, n_steps, n_tags) of
        padded scores (n_docs, n_steps, n_tags) whose document i has lengths[i]
        tokens; float64, on the scores' device. Scores must be finite (FORBIDDEN
        for a forbidden tag).

        alpha[t, k]: log-sum of the valid paths over tokens 0..t ending in tag k
        (scores up to t included); beta[t, k]: log-sum over the continuations
        from tag k at t (scores after t only). marginal = exp(alpha + beta - log Z).
        Values past a document's end are meaningless.
        """
        n_docs, n_steps, n_tags = scores.shape
        device = scores.device
        if n_steps == 0:
            return torch.zeros(n_docs, dtype=torch.float64, device=device), scores.double(), scores.double()
        walks = self._tensors(device)
        forwards = torch.empty((n_steps, n_docs, n_tags), dtype=torch.float64, device=device)
        forwards.copy_(scores.transpose(0, 1))
        # Past its end a document walks on through O at score 0: no path's score
        # changes, and only the paths that may end there go on. So every document
        # is n_steps long and the recursion needs no masks.
        past_end = torch.arange(n_steps, device=device)[:, None] >= lengths.to(device)[None, :]
        forwards.masked_fill_(past_end[:, :, None], FORBIDDEN)
        forwards[:, :, self.tag_names.index(OUTSIDE)].masked_fill_(past_end, 0.0)
        # One recursion for both directions, position-major: rows 0..n_docs-1
        # walk the documents forwards, the next n_docs walk them reversed.
        n_groups = len(walks[0][1])
        transfer = torch.empty((2, n_steps, n_docs, n_groups * n_groups), dtype=torch.float64, device=device)
        walked = torch.empty((n_steps, 2, n_docs, n_groups), dtype=torch.float64, device=device)
        for direction, (emissions, (_, start, pick, empty, summed)) in enumerate(
            zip((forwards, forwards.flip(0)), walks, strict=True)
        ):
            # the entries that are one tag's score, by a product with a 0/1 matrix
            # (exact: the scores are finite), -inf where no tag is
            flat = transfer[direction].view(-1, n_groups * n_groups)
            torch.addmm(empty, emissions.view(-1, n_tags), pick, out=flat)
            for destination, tags in summed:
                transfer[direction, :, :, destination] = _logsumexp(emissions[:, :, tags], dim=2)
            walked[0, direction] = start
        # The steps read and write through views made once: a small tensor op
        # costs about as much as the arithmetic.
        shape = (2, n_docs, n_groups, n_groups)
        transfer_at = transfer.view(2, n_steps, *shape[1:]).transpose(0, 1).unbind(0)
        reads = walked.view(n_steps, 2, n_docs, 1, n_groups).unbind(0)
        writes = walked.view(n_steps, 2, n_docs, n_groups, 1).unbind(0)
        terms = torch.empty(shape, dtype=torch.float64, device=device)
        sums = torch.empty((2, n_docs, n_groups, 1), dtype=torch.float64, device=device)
        for t in range(n_steps - 1):
            torch.add(reads[t], transfer_at[t], out=terms)
            peak = terms.amax(dim=3, keepdim=True)
            # exact: next to the peak's own term of 1, a term below exp(UNDERFLOW) is lost anyway
            terms.sub_(peak).clamp_min_(UNDERFLOW).exp_()
            torch.sum(terms, dim=3, keepdim=True, out=sums)
            torch.add(sums.log_(), peak, out=writes[t + 1])
        # each tag's value from its group's, by a product with a 0/1 matrix
        # (exact: the group values are finite)
        alpha = (walked[:, 0] @ walks[0][0]).add_(forwards)
        # the reversed walk reads the scores up to t, beta those after t
        beta = walked[:, 1].flip(0) @ walks[1][0]
        log_z = torch.logsumexp(alpha[-1] + self._last_on(device), dim=1)
        alpha, beta = alpha.transpose(0, 1), beta.transpose(0, 1)
        return log_z, alpha, beta

    def _tensors(self, device: torch.device) -> list[tuple]:
        """Each direction's GroupWalk on `device`, as 0/1 matrices where a
        product can stand for indexing: (reads[group, tag]: which group each
        tag reads, start, pick[tag, entry]: the transfer entries that are one
        tag's score, empty[entry]: -inf where no tag is, 0 elsewhere, summed)."""
        if device not in self._on_device:
            n_tags, n_groups = len(self.tag_names), len(self._walks[0].start)
            on_device = []
            for walk in self._walks:
                reads = numpy.zeros((n_groups, n_tags))
                reads[walk.group_of, numpy.arange(n_tags)] = 1.0
                pick = numpy.zeros((n_tags, n_groups * n_groups))
                pick[walk.single[0], walk.single[1]] = 1.0
                empty = numpy.where(pick.any(axis=0), 0.0, -numpy.inf)
                for destination, _ in walk.summed:
                    empty[destination] = 0.0
                on_device.append(
                    (
                        torch.tensor(reads, device=device),
                        torch.tensor(walk.start, dtype=torch.float64, device=device),
                        torch.tensor(pick, device=device),
                        torch.tensor(empty, device=device),
                        [(d, torch.tensor(tags, device=device)) for d, tags in walk.summed],
                    )
                )
            self._on_device[device] = on_device
        return self._on_device[device]

    def _last_on(self, device: torch.device) -> torch.Tensor:
        return torch.tensor(self.last, dtype=torch.float64, device=device)

    def lattices(
        self, scores: Sequence[numpy.ndarray]
    ) -> tuple[list[float], list[numpy.ndarray], list[numpy.ndarray]]:
        """Per document: log Z, log-alpha and log-beta (n_tokens, n_tags) of its
        (n_tokens, n_tags) scores, as `forward_backward` gives them, in numpy."""
        none = numpy.zeros((0, len(self.tag_names)), "float64")
        results = map_length_groups(scores, self._lattice_group, (0.0, none, none))
        return [r[0] for r in results], [r[1] for r in results], [r[2] for r in results]

    def _lattice_group(self, scores: list[numpy.ndarray]) -> list[tuple[float, numpy.ndarray, numpy.ndarray]]:
        lengths = [len(s) for s in scores]
        log_z, alpha, beta = self.forward_backward(pad(scores), torch.tensor(lengths))
        log_z, alpha, beta = log_z.tolist(), alpha.cpu().numpy(), beta.cpu().numpy()
        return [(log_z[i], alpha[i, :n], beta[i, :n]) for i, n in enumerate(lengths)]

    # --- the loss

    def loss_and_gradient(
        self,
        scores: Sequence[numpy.ndarray | torch.Tensor],
        truths: Sequence[numpy.ndarray],
        forbidden: Sequence[numpy.ndarray] | None = None,
    ) -> tuple[float, list[torch.Tensor]]:
        """Summed -log P(gold) and its gradient w.r.t. the scores, per document
        (float64 tensors on the scores' device).

        scores: (n_tokens, n_tags) per document, numpy arrays or tensors (all on one
        device); truths: a tag index per token, or -1 where the gold tag is
        unknown: the gold side then sums over all valid paths through the known tags.
        forbidden: per document None or an (n_tokens, n_tags) bool mask of scores
        replaced by FORBIDDEN first (sentence_constraints).
        """
        if not len(scores):
            return 0.0, []
        lengths = torch.tensor([len(s) for s in scores])
        emissions = pad(scores).to(torch.float64)
        device = emissions.device
        n_docs, n_steps, n_tags = emissions.shape
        if n_steps == 0:
            return 0.0, [emissions[i, :0] for i in range(n_docs)]
        if forbidden is not None:
            emissions = emissions.masked_fill(pad(forbidden, False).to(device), FORBIDDEN)
        truth = pad(truths, -1).to(device)
        wrong = (truth[:, :, None] >= 0) & (torch.arange(n_tags, device=device) != truth[:, :, None])
        gold = emissions + wrong.to(torch.float64) * FORBIDDEN
        log_z, alpha, beta = self.forward_backward(
            torch.cat([emissions, gold]), torch.cat([lengths, lengths])
        )
        marginals = probabilities(alpha + beta - log_z[:, None, None])
        free_z, gold_z = log_z[:n_docs], log_z[n_docs:]
        model, targets = marginals[:n_docs], marginals[n_docs:]
        loss = free_z - gold_z
        grad = model - targets
        return float(loss.sum()), [grad[i, :n] for i, n in enumerate(lengths.tolist())]
