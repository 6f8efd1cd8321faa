"""Fit and report the calibration of the entity confidences (`span._.confidence`).

    python scripts/calibrate.py fit training/fast/model-best corpus/dev.spacy
    python scripts/calibrate.py report training/fast/model-best corpus/dev.spacy \
        --test corpus/test.spacy --output metrics/calibration.md

`fit` finds the temperature that makes the confidences on dev honest (see
components/bilstm_ner/calibration.py) and writes it into the component's saved
cfg, so it travels with the pipeline (to_disk, packaging). `report` writes a
reliability table (confidence bins vs observed precision), the expected
calibration error and a precision/recall table per confidence threshold.

An entity counts as right as `spacy evaluate` counts it: same label and same
tokens as a gold entity, after aligning spaCy's tokens to the corpus's.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy
import spacy
import srsly
import typer
from bilstm_ner.calibration import (
    expected_calibration_error,
    fit_temperature,
    log_loss,
    reliability_bins,
    threshold_curve,
)
from bilstm_ner.pipeline import FACTORY, BiLSTMEntityRecognizer
from spacy.language import Language
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.util import minibatch

BATCH_SIZE = 32
N_BINS = 10
THRESHOLDS = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]
# Precision targets for which the report names the lowest threshold that reaches them.
PRECISION_TARGETS = [0.95, 0.97]
# Below this many entities, or without both right and wrong ones, a fit means nothing.
MIN_ENTITIES_TO_FIT = 50

app = typer.Typer(add_completion=False, no_args_is_help=True)


@dataclass
class Scored:
    """A corpus run through the tagger: raw scores per doc, and what it takes
    to judge the entities decoded from them."""

    scores: list[numpy.ndarray]
    examples: list[Example]
    n_gold: int


def entity_recognizer(nlp: Language) -> tuple[str, BiLSTMEntityRecognizer]:
    """The pipeline's bilstm_ner component and its name."""
    for name, pipe in nlp.pipeline:
        if isinstance(pipe, BiLSTMEntityRecognizer):
            return name, pipe
    raise SystemExit(f"no '{FACTORY}' component in the pipeline {nlp.pipe_names}")


def score_corpus(nlp: Language, ner: BiLSTMEntityRecognizer, corpus: Path) -> Scored:
    """Tokenize each reference text as the pipeline would, and keep the tagger's raw scores."""
    references = list(DocBin().from_disk(corpus).get_docs(nlp.vocab))
    examples = [Example(nlp.make_doc(ref.text), ref) for ref in references]
    scores: list[numpy.ndarray] = []
    for batch in minibatch(examples, BATCH_SIZE):
        docs = [eg.predicted for eg in batch]
        if any(len(doc) for doc in docs):
            scores.extend(ner.model.ops.to_numpy(s) for s in ner.model.predict(docs))
        else:
            scores.extend(numpy.zeros((0, len(ner.tag_names)), dtype="float32") for _ in docs)
    n_gold = sum(len(eg.reference.ents) for eg in examples if eg.reference.has_annotation("ENT_IOB"))
    return Scored(scores, examples, n_gold)


def entity_outcomes(example: Example, spans: list[tuple[int, int, str]]) -> list[bool | None]:
    """For each predicted (start, end, label): True if a gold entity has the same
    tokens and label, False if not, None where the gold annotation is missing
    (spacy's scorer ignores those too)."""
    if not example.reference.has_annotation("ENT_IOB"):
        return [None] * len(spans)
    gold = {(e.label_, e.start, e.end) for e in example.reference.ents}
    x2y = example.alignment.x2y
    outcomes: list[bool | None] = []
    for start, end, label in spans:
        indices = x2y[start:end]
        if not len(indices):
            outcomes.append(False)
            continue
        gold_span = example.reference[int(indices[0]) : int(indices[-1]) + 1]
        if not all(token.ent_iob != 0 for token in gold_span):
            outcomes.append(None)
            continue
        outcomes.append((label, int(indices[0]), int(indices[-1]) + 1) in gold)
    return outcomes


def judge(
    ner: BiLSTMEntityRecognizer, scored: Scored, temperature: float | None = None
) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Confidences of the decoded entities and whether each is right (unjudgeable ones dropped)."""
    predictions = ner.decode_scores(scored.scores, temperature)
    confidences, correct = [], []
    for example, prediction in zip(scored.examples, predictions, strict=True):
        for outcome, confidence in zip(
            entity_outcomes(example, prediction.spans), prediction.confidences.tolist(), strict=True
        ):
            if outcome is not None:
                confidences.append(confidence)
                correct.append(outcome)
    return numpy.asarray(confidences, dtype="float64"), numpy.asarray(correct, dtype=bool)


def fitted_temperature(ner: BiLSTMEntityRecognizer, scored: Scored) -> float | None:
    """The temperature that minimises the log-loss on these entities, or None
    when they are too few (or all right, or all wrong) for a fit to mean anything."""
    _, correct = judge(ner, scored, 1.0)
    if len(correct) < MIN_ENTITIES_TO_FIT or correct.all() or not correct.any():
        return None
    return fit_temperature(lambda t: judge(ner, scored, t)[0], correct)


def cross_fitted(ner: BiLSTMEntityRecognizer, scored: Scored) -> tuple[float, list[float]] | None:
    """ECE of confidences whose temperature never saw their documents.

    The dev documents are split in two (alternate documents); the temperature
    fitted on each half judges the other half, and the two halves' entities are
    pooled. The in-sample ECE on dev flatters the fit; this one does not.
    Returns (ECE, the two temperatures), or None when a half is too small.
    """
    halves = [Scored(scored.scores[k::2], scored.examples[k::2], 0) for k in (0, 1)]
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


@app.command()
def fit(
    model: Path = typer.Argument(..., help="Pipeline folder; its component's cfg is updated in place"),
    dev: Path = typer.Argument(..., help="DocBin with gold entities (dev)"),
    output: Path | None = typer.Option(None, help="Also write the fit's figures to this JSON file"),
    into: Path | None = typer.Option(
        None, help="Copy the pipeline here and calibrate the copy, leaving MODEL as it is"
    ),
) -> None:
    """Fit the confidence temperature on dev and save it in the component's cfg.

    With --into, MODEL stays untouched: the workflow's train step keeps its
    own outputs, so a second run finds them unchanged and skips it."""
    if into is not None:
        if into.exists():
            shutil.rmtree(into)
        shutil.copytree(model, into)
        model = into
    nlp = spacy.load(model)
    name, ner = entity_recognizer(nlp)
    scored = score_corpus(nlp, ner, dev)
    before, correct = judge(ner, scored, 1.0)
    fitted = fitted_temperature(ner, scored)
    if fitted is None:
        temperature = ner.temperature
        print(
            f"Only {len(correct)} entities ({int(correct.sum())} right) on {dev}: too few to fit, "
            f"the temperature stays {temperature:g}"
        )
    else:
        temperature = fitted
    after, _ = judge(ner, scored, temperature)
    figures = {
        "temperature": temperature,
        "entities": len(correct),
        "log_loss_before": log_loss(before, correct),
        "log_loss_after": log_loss(after, correct),
        "ece_before": expected_calibration_error(before, correct, N_BINS),
        "ece_after": expected_calibration_error(after, correct, N_BINS),
    }
    cfg_path = model / name / "cfg"
    cfg = srsly.read_json(cfg_path)
    cfg["temperature"] = temperature
    srsly.write_json(cfg_path, cfg)
    print(
        f"temperature {temperature:.3f} written to {cfg_path}; on {dev} ({len(correct)} entities): "
        f"ECE {figures['ece_before']:.4f} -> {figures['ece_after']:.4f}, "
        f"log-loss {figures['log_loss_before']:.4f} -> {figures['log_loss_after']:.4f}"
    )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, figures)


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


def split_section(
    title: str, ner: BiLSTMEntityRecognizer, scored: Scored
) -> tuple[list[str], numpy.ndarray, numpy.ndarray]:
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


@app.command()
def report(
    model: Path = typer.Argument(..., help="Pipeline folder"),
    dev: Path = typer.Argument(..., help="DocBin with gold entities (dev)"),
    test: Path | None = typer.Option(None, help="A held-out DocBin to report as well (test)"),
    output: Path = typer.Option(Path("metrics/calibration.md"), help="Markdown file to write"),
) -> None:
    """Write the reliability table, ECE and threshold table of the pipeline's confidences."""
    nlp = spacy.load(model)
    _, ner = entity_recognizer(nlp)
    dev_scored = score_corpus(nlp, ner, dev)
    lines = [
        "# Calibration of `span._.confidence`",
        "",
        f"Pipeline `{model}`; confidence temperature {ner.temperature:.3f}, from the component's "
        "cfg (`scripts/calibrate.py fit` fits it on dev). An entity is right when a gold entity "
        "has the same tokens and label, as `spacy evaluate` counts. In a well-calibrated model the observed "
        "precision in each bin matches the mean confidence; the expected calibration error is "
        "the entity-weighted mean of |precision − confidence| over the bins.",
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
        section, _, _ = split_section(
            f"test (`{test}`), held out: the temperature never saw it", ner, score_corpus(nlp, ner, test)
        )
        lines += section
    points = threshold_curve(dev_conf, dev_correct, dev_scored.n_gold, THRESHOLDS)
    lines += [
        "## Choosing a threshold (dev)",
        "",
        "Keep only the entities whose confidence is at least the threshold:",
        "",
        "| threshold | entities kept | P | R | F |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p.threshold:.2f} | {p.kept} | {100 * p.precision:.2f} | {100 * p.recall:.2f} "
            f"| {100 * p.f_score:.2f} |"
        )
    lines.append("")
    fine = threshold_curve(dev_conf, dev_correct, dev_scored.n_gold, numpy.linspace(0, 0.99, 100))
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
    lines += [
        "",
        "```python",
        "kept = [ent for ent in doc.ents if ent._.confidence >= 0.9]",
        "```",
        "",
    ]
    text = "\n".join(lines)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf8")
    print(text)


if __name__ == "__main__":
    app()
