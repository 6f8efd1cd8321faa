"""Calibration of the entity confidences: a temperature fitted on held-out data, and
the measures that show whether a confidence means what it says.

    python -m bilstm_ner.calibration fit MODEL DEV --into CALIBRATED [--output fit.json]
    python -m bilstm_ner.calibration report MODEL DEV [--test TEST] [--output calibration.md]
    python -m en_conll03_bilstm_ner.calibration fit en_conll03_bilstm_ner dev.txt --into mine

DEV and TEST are CoNLL-style files or DocBins. From Python:

    from bilstm_ner.calibration import recalibrate
    nlp = spacy.load(MODEL)
    recalibrate(nlp, "dev.txt")   # sets the component's temperature; spans do not change
    nlp.to_disk("calibrated")

An entity's confidence is the probability, under the model, that this exact span
carries this exact label (see layers/crf.py). A tagger trained to fit its training
set is usually too sure of itself on new text: its scores are too far apart.
Dividing the scores by one number, the temperature, before the span probabilities
are computed spreads them out without changing which path the decoder picks; the
temperature that minimises the log-loss of "this entity is right" on held-out data
is stored in the component's cfg, so it travels with the pipeline (to_disk,
packaging). An entity is right as the evaluation counts it (evaluation.py): the
same tokens and label as a gold entity, on the corpus's own tokens.

`report` writes a reliability table (confidence bins against observed precision),
the expected calibration error (in-sample, and cross-fitted on two halves of dev)
and a precision/recall table per confidence threshold.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy
import srsly
import typer
from scipy.optimize import minimize_scalar
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from .code_identity import FACTORY
from .corpora.corpus import gold_tokens_doc
from .evaluation import Corpus, entity_outcome, gold_docs_of
from .torch_threads import limited_torch_threads

# Search range of the temperature; beyond it the model is useless or already sure.
MIN_TEMPERATURE = 0.1
MAX_TEMPERATURE = 10.0
# Below this many entities, or without both right and wrong ones, a fit means nothing.
MIN_ENTITIES_TO_FIT = 50
BATCH_SIZE = 32
N_BINS = 10
THRESHOLDS = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]
# Precision targets for which the report names the lowest threshold that reaches them.
PRECISION_TARGETS = [0.95, 0.97]
# Keeps log(0) out of the log-loss.
_EPSILON = 1e-7


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


def fit_temperature(
    confidences_at: Callable[[float], numpy.ndarray],
    correct: numpy.ndarray,
    *,
    low: float = MIN_TEMPERATURE,
    high: float = MAX_TEMPERATURE,
    tolerance: float = 0.005,
) -> float:
    """The temperature in [low, high] that minimises the log-loss.

    confidences_at(t) returns the confidences of a fixed list of entities when the
    scores are divided by t; correct says which of them are right. scipy's bounded
    scalar minimiser on log(t), to `tolerance` in log(t): the loss of a one-parameter
    scaling is unimodal in practice, and each evaluation is a forward-backward pass.
    """
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    if not len(correct):
        raise ValueError("no entities to fit a temperature on")
    result = minimize_scalar(
        lambda log_t: log_loss(confidences_at(float(numpy.exp(log_t))), correct),
        bounds=(numpy.log(low), numpy.log(high)),
        method="bounded",
        options={"xatol": tolerance},
    )
    return float(numpy.exp(result.x))


# ---------------------------------------------------------------- a pipeline's entities


@dataclass
class Scored:
    """A corpus run through the tagger on its own tokens: the tag scores of each
    document (entities kept within sentences, as `predict` keeps them) and the gold
    documents that judge the entities decoded from them."""

    scores: list[numpy.ndarray]
    gold_docs: list[Doc]

    @property
    def n_gold(self) -> int:
        return sum(len(doc.ents) for doc in self.gold_docs if doc.has_annotation("ENT_IOB"))

    def halves(self) -> tuple[Scored, Scored]:
        """Alternate documents: the two halves of a cross-fit."""
        return Scored(self.scores[0::2], self.gold_docs[0::2]), Scored(self.scores[1::2], self.gold_docs[1::2])


def entity_recognizer(nlp: Language) -> tuple[str, Any]:
    """The pipeline's bilstm_ner component and its name (found by its factory, so this
    module need not import the component's class)."""
    for name, pipe in nlp.pipeline:
        if nlp.get_pipe_meta(name).factory == FACTORY:
            return name, pipe
    raise ValueError(f"no '{FACTORY}' component in the pipeline {nlp.pipe_names}")


def score_corpus(ner: Any, gold_docs: Sequence[Doc]) -> Scored:
    """The tagger's scores on each gold document's own words and sentence boundaries."""
    scores: list[numpy.ndarray] = []
    with limited_torch_threads(ner.torch_threads):
        for batch in minibatch(list(gold_docs), BATCH_SIZE):
            scores.extend(ner.sentence_scores([gold_tokens_doc(doc) for doc in batch]))
    return Scored(scores, list(gold_docs))


def judge(ner: Any, scored: Scored, temperature: float | None = None) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Confidences of the decoded entities (scores divided by `temperature`, default the
    component's) and whether each is right (those without gold annotation dropped)."""
    confidences, correct = [], []
    for gold, prediction in zip(scored.gold_docs, ner.decode_scores(scored.scores, temperature), strict=True):
        for span, confidence in zip(prediction.spans, prediction.confidences.tolist(), strict=True):
            outcome = entity_outcome(span, gold)
            if outcome is not None:
                confidences.append(confidence)
                correct.append(outcome)
    return numpy.asarray(confidences, dtype="float64"), numpy.asarray(correct, dtype=bool)


def fitted_temperature(ner: Any, scored: Scored) -> float | None:
    """The temperature that minimises the log-loss on these entities, or None when
    they are too few (or all right, or all wrong) for a fit to mean anything."""
    _, correct = judge(ner, scored, 1.0)
    if len(correct) < MIN_ENTITIES_TO_FIT or correct.all() or not correct.any():
        return None
    return fit_temperature(lambda t: judge(ner, scored, t)[0], correct)


def cross_fitted(ner: Any, scored: Scored) -> tuple[float, list[float]] | None:
    """ECE of confidences whose temperature never saw their documents.

    The documents are split in two (alternate documents); the temperature fitted on
    each half judges the other half, and the two halves' entities are pooled. The
    in-sample ECE flatters the fit; this one does not. Returns (ECE, the two
    temperatures), or None when a half is too small.
    """
    halves = scored.halves()
    confidences, correct, temperatures = [], [], []
    for fit_half, judged_half in (halves, halves[::-1]):
        temperature = fitted_temperature(ner, fit_half)
        if temperature is None:
            return None
        c, ok = judge(ner, judged_half, temperature)
        confidences.append(c)
        correct.append(ok)
        temperatures.append(temperature)
    ece = expected_calibration_error(numpy.concatenate(confidences), numpy.concatenate(correct), N_BINS)
    return ece, temperatures


def recalibrate(nlp: Language, corpus: Corpus) -> dict[str, Any]:
    """Fit the temperature of the pipeline's entity confidences on `corpus` (held-out
    gold data: a CoNLL file, a DocBin or Docs) and set it in the component's cfg, where
    `to_disk` saves it. Returns the fit's figures: "temperature", "entities", "fitted"
    (False when the entities are too few to fit, and the temperature stays), log-loss
    and ECE before and after."""
    _, ner = entity_recognizer(nlp)
    scored = score_corpus(ner, gold_docs_of(nlp, corpus))
    before, correct = judge(ner, scored, 1.0)
    fitted = fitted_temperature(ner, scored)
    if fitted is not None:
        ner.cfg["temperature"] = fitted
    after, _ = judge(ner, scored)
    return {
        "temperature": ner.temperature,
        "fitted": fitted is not None,
        "entities": len(correct),
        "right": int(correct.sum()),
        "log_loss_before": log_loss(before, correct),
        "log_loss_after": log_loss(after, correct),
        "ece_before": expected_calibration_error(before, correct, N_BINS),
        "ece_after": expected_calibration_error(after, correct, N_BINS),
    }


# ---------------------------------------------------------------- the report


def reliability_markdown(confidences: numpy.ndarray, correct: numpy.ndarray) -> list[str]:
    lines = [
        "| confidence | entities | mean confidence | observed precision | gap |",
        "|---|---:|---:|---:|---:|",
    ]
    for b in reliability_bins(confidences, correct, N_BINS):
        interval = f"[{b.low:.1f}, {b.high:.1f}{']' if b.high >= 1.0 else ')'}"
        if b.count:
            gap = b.precision - b.mean_confidence
            lines.append(
                f"| {interval} | {b.count} | {b.mean_confidence:.3f} | {b.precision:.3f} | {gap:+.3f} |"
            )
        else:
            lines.append(f"| {interval} | 0 | – | – | – |")
    return lines


def split_section(title: str, ner: Any, scored: Scored) -> tuple[list[str], numpy.ndarray, numpy.ndarray]:
    confidences, correct = judge(ner, scored)
    raw, _ = judge(ner, scored, 1.0)
    ece = expected_calibration_error(confidences, correct, N_BINS)
    precision = correct.mean() if len(correct) else 0.0
    lines = [
        f"## {title}",
        "",
        f"{len(correct)} predicted entities, {scored.n_gold} gold; precision {100 * precision:.2f}.",
        f"**Expected calibration error: {ece:.4f}** ({N_BINS} equal-width bins; "
        f"{expected_calibration_error(raw, correct, N_BINS):.4f} without the temperature).",
        "",
        *reliability_markdown(confidences, correct),
        "",
    ]
    return lines, confidences, correct


def threshold_markdown(confidences: numpy.ndarray, correct: numpy.ndarray, n_gold: int) -> list[str]:
    lines = [
        "## Choosing a threshold (dev)",
        "",
        "Keep only the entities whose confidence is at least the threshold:",
        "",
        "| threshold | entities kept | P | R | F |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in threshold_curve(confidences, correct, n_gold, THRESHOLDS):
        lines.append(
            f"| {p.threshold:.2f} | {p.kept} | {100 * p.precision:.2f} | {100 * p.recall:.2f} "
            f"| {100 * p.f_score:.2f} |"
        )
    lines.append("")
    fine = threshold_curve(confidences, correct, n_gold, numpy.linspace(0, 0.99, 100))
    best = max(fine, key=lambda p: p.f_score)
    lines.append(
        f"- Best F on dev: threshold {best.threshold:.2f} (P {100 * best.precision:.2f}, "
        f"R {100 * best.recall:.2f}, F {100 * best.f_score:.2f})."
    )
    for target in PRECISION_TARGETS:
        reaching = [p for p in fine if p.kept and p.precision >= target]
        if reaching:
            p = reaching[0]
            lines.append(
                f"- Precision ≥ {100 * target:.0f} on dev: threshold {p.threshold:.2f} "
                f"(P {100 * p.precision:.2f}, R {100 * p.recall:.2f})."
            )
        else:
            lines.append(f"- No threshold reaches precision {100 * target:.0f} on dev.")
    return lines + ["", "```python", "kept = [ent for ent in doc.ents if ent._.confidence >= 0.9]", "```", ""]


def calibration_report(nlp: Language, dev: Corpus, test: Corpus | None = None, name: str = "") -> str:
    """The Markdown report: reliability and ECE on dev (in-sample and cross-fitted), on
    test when given, and the threshold table on dev."""
    _, ner = entity_recognizer(nlp)
    dev_scored = score_corpus(ner, gold_docs_of(nlp, dev))
    lines = [
        "# Calibration of `span._.confidence`",
        "",
        f"Pipeline `{name}`; confidence temperature {ner.temperature:.3f}, from the component's cfg "
        "(`fit` fits it on dev). An entity is right when a gold entity has the same tokens and "
        "label, on the corpus's own tokens. In a well-calibrated model the observed precision in "
        "each bin matches the mean confidence; the expected calibration error is the "
        "entity-weighted mean of |precision − confidence| over the bins.",
        "",
    ]
    section, dev_conf, dev_correct = split_section(f"dev (`{dev}`)", ner, dev_scored)
    lines += section
    crossed = cross_fitted(ner, dev_scored)
    if crossed is not None:
        ece, (t_a, t_b) = crossed
        lines += [
            f"The temperature was fitted on these same entities, so the figure above is in-sample. "
            f"Cross-fitted (fit on one half of the dev documents, measured on the other, both ways, "
            f"pooled): **expected calibration error {ece:.4f}** (temperatures {t_a:.3f} and {t_b:.3f}).",
            "",
        ]
    if test is not None:
        test_scored = score_corpus(ner, gold_docs_of(nlp, test))
        lines += split_section(f"test (`{test}`), held out: the temperature never saw it", ner, test_scored)[0]
    return "\n".join(lines + threshold_markdown(dev_conf, dev_correct, dev_scored.n_gold))


# ---------------------------------------------------------------- command line

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.command()
def fit(
    model: str = typer.Argument(..., help="Pipeline folder or package name"),
    dev: Path = typer.Argument(..., help="Held-out gold data: a CoNLL-style file or a DocBin"),
    into: Path | None = typer.Option(
        None, help="Write the calibrated pipeline here, leaving MODEL as it is [MODEL itself, a folder]"
    ),
    output: Path | None = typer.Option(None, help="Also write the fit's figures to this JSON file"),
) -> None:
    """Fit the confidence temperature on DEV and save it in the component's cfg.

    With --into, MODEL stays untouched (the workflow's train step keeps its own
    outputs, so a second run finds them unchanged and skips it); only the
    component's cfg of the copy differs from MODEL."""
    import spacy

    if into is None and not Path(model).is_dir():
        raise typer.BadParameter(f"{model} is not a pipeline folder: name one to write with --into")
    nlp = spacy.load(model)
    figures = recalibrate(nlp, dev)
    name, ner = entity_recognizer(nlp)
    target = Path(model) if into is None else into
    if into is not None:
        if into.exists():
            shutil.rmtree(into)
        if Path(model).is_dir():
            shutil.copytree(model, into)
        else:
            nlp.to_disk(into)
    cfg = srsly.read_json(target / name / "cfg")
    srsly.write_json(target / name / "cfg", {**cfg, "temperature": ner.temperature})
    if not figures["fitted"]:
        print(
            f"Only {figures['entities']} entities ({figures['right']} right) on {dev}: too few to fit, "
            f"the temperature stays {ner.temperature:g}"
        )
    print(
        f"temperature {ner.temperature:.3f} written to {target / name / 'cfg'}; on {dev} "
        f"({figures['entities']} entities): ECE {figures['ece_before']:.4f} -> {figures['ece_after']:.4f}, "
        f"log-loss {figures['log_loss_before']:.4f} -> {figures['log_loss_after']:.4f}"
    )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, figures)


@app.command()
def report(
    model: str = typer.Argument(..., help="Pipeline folder or package name"),
    dev: Path = typer.Argument(..., help="Gold data the temperature was fitted on (dev)"),
    test: Path | None = typer.Option(None, help="Held-out gold data to report as well (test)"),
    output: Path = typer.Option(Path("calibration.md"), help="Markdown file to write"),
) -> None:
    """Write the reliability table, ECE and threshold table of the pipeline's confidences."""
    import spacy

    text = calibration_report(spacy.load(model), dev, test, name=model)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf8")
    print(text)


def main() -> None:
    """The command line: `python -m bilstm_ner.calibration fit|report`."""
    app()


if __name__ == "__main__":
    main()
