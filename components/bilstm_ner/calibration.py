"""Calibration of entity confidences: a temperature fitted on held-out data,
and the measures that show whether a confidence means what it says.

An entity's confidence is the probability, under the model, that this exact
span carries this exact label (see layers/crf.py). A tagger trained to fit its
training set is usually too sure of itself on new text: its scores are too
far apart. Dividing the scores by one number, the temperature, before the
span probabilities are computed spreads them out without changing which path
the decoder picks; the temperature that minimises the log-loss of "this
entity is right" on dev is stored in the component's cfg
(`scripts/calibrate.py fit`).

numpy only, so the measures can be tested on synthetic data.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy

DEFAULT_TEMPERATURE = 1.0
# Search range of the temperature; beyond it the model is useless or already sure.
MIN_TEMPERATURE = 0.1
MAX_TEMPERATURE = 10.0
# Keeps log(0) out of the log-loss.
_EPSILON = 1e-7
_GOLDEN = (numpy.sqrt(5.0) - 1.0) / 2.0


@dataclass
class ReliabilityBin:
    """Entities whose confidence falls in [low, high): how many, how sure, how often right."""

    low: float
    high: float
    count: int
    mean_confidence: float
    precision: float


@dataclass
class ThresholdPoint:
    """Scores when only entities with confidence >= threshold are kept."""

    threshold: float
    kept: int
    precision: float
    recall: float
    f_score: float


def log_loss(confidences: numpy.ndarray, correct: numpy.ndarray) -> float:
    """Mean binary cross-entropy of the confidences against right (1) / wrong (0)."""
    p = numpy.clip(numpy.asarray(confidences, dtype="float64"), _EPSILON, 1.0 - _EPSILON)
    y = numpy.asarray(correct, dtype="float64")
    if not len(p):
        return 0.0
    return float(-numpy.mean(y * numpy.log(p) + (1.0 - y) * numpy.log(1.0 - p)))


def fit_temperature(
    confidences_at: Callable[[float], numpy.ndarray],
    correct: numpy.ndarray,
    *,
    low: float = MIN_TEMPERATURE,
    high: float = MAX_TEMPERATURE,
    tolerance: float = 0.005,
) -> float:
    """The temperature in [low, high] that minimises the log-loss.

    confidences_at(t) returns the confidences of a fixed list of entities when
    the scores are divided by t; correct says which of them are right. Golden
    section search on log(t): the loss of a one-parameter scaling is unimodal
    in practice, and each evaluation is a forward-backward pass, so few are used.
    """
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    if not len(correct):
        return DEFAULT_TEMPERATURE

    def loss(log_t: float) -> float:
        return log_loss(confidences_at(float(numpy.exp(log_t))), correct)

    a, b = numpy.log(low), numpy.log(high)
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    loss_c, loss_d = loss(c), loss(d)
    while b - a > tolerance:
        if loss_c <= loss_d:
            b, d, loss_d = d, c, loss_c
            c = b - _GOLDEN * (b - a)
            loss_c = loss(c)
        else:
            a, c, loss_c = c, d, loss_d
            d = a + _GOLDEN * (b - a)
            loss_d = loss(d)
    return float(numpy.exp((a + b) / 2.0))


def reliability_bins(
    confidences: numpy.ndarray, correct: numpy.ndarray, n_bins: int = 10
) -> list[ReliabilityBin]:
    """Equal-width confidence bins over [0, 1] (the last one includes 1.0), empty ones included."""
    conf = numpy.asarray(confidences, dtype="float64")
    right = numpy.asarray(correct, dtype="float64")
    if conf.shape != right.shape:
        raise ValueError(f"{conf.shape[0]} confidences but {right.shape[0]} correctness flags")
    if len(conf) and (conf.min() < 0.0 or conf.max() > 1.0):
        raise ValueError("confidences must lie in [0, 1]")
    index = numpy.minimum((conf * n_bins).astype("int64"), n_bins - 1)
    bins = []
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        bins.append(
            ReliabilityBin(
                low=b / n_bins,
                high=(b + 1) / n_bins,
                count=count,
                mean_confidence=float(conf[members].mean()) if count else float("nan"),
                precision=float(right[members].mean()) if count else float("nan"),
            )
        )
    return bins


def expected_calibration_error(confidences: numpy.ndarray, correct: numpy.ndarray, n_bins: int = 10) -> float:
    """Sum over bins of (share of entities) * |observed precision - mean confidence|."""
    bins = reliability_bins(confidences, correct, n_bins)
    total = sum(b.count for b in bins)
    if not total:
        return 0.0
    return float(sum(b.count / total * abs(b.precision - b.mean_confidence) for b in bins if b.count))


def threshold_curve(
    confidences: numpy.ndarray, correct: numpy.ndarray, n_gold: int, thresholds: Sequence[float]
) -> list[ThresholdPoint]:
    """Precision, recall and F1 of the entities kept at each confidence threshold.

    n_gold is the number of gold entities (recall's denominator): dropping an
    entity can only lower recall, and raises precision when the confidences are
    informative.
    """
    conf = numpy.asarray(confidences, dtype="float64")
    right = numpy.asarray(correct, dtype=bool)
    points = []
    for threshold in thresholds:
        kept = conf >= threshold
        n_kept = int(kept.sum())
        n_right = int(right[kept].sum())
        precision = n_right / n_kept if n_kept else 0.0
        recall = n_right / n_gold if n_gold else 0.0
        f_score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        points.append(ThresholdPoint(float(threshold), n_kept, precision, recall, f_score))
    return points
