"""Token-level precision, recall and F1 per IOB tag, as sklearn's classification_report prints them.

    python scripts/token_report.py training/fast/model-best corpus/test.spacy \
        --output metrics/test_tokens.md --json metrics/test_tokens.json

The entity-level scores (metrics/scores.md) are what CoNLL papers report; many
notebooks and older systems print a per-tag report over tokens instead (B-PER,
I-PER, ... and O), so this gives that too, for comparing with them. The
pipeline reads the gold tokens, so every gold token has one predicted tag.
Tags are IOB2 (B- on an entity's first token, I- on the rest). The averages:
micro over the entity tags (O left out: it would dominate), macro (unweighted
mean of the entity tags) and weighted (by support), as sklearn's report does
with `labels` set to the entity tags; accuracy counts every token, O included.
The figures are scikit-learn's own (`precision_recall_fscore_support`,
`accuracy_score`), so they are the ones those notebooks print. Not seqeval:
its report is over entities, which bilstm_ner.evaluation already gives.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import spacy
import srsly
import typer
from bilstm_ner.corpora.conll import OUTSIDE, iob_tags
from bilstm_ner.evaluation import predict_on_gold_tokens
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from spacy.tokens import DocBin


@dataclass(frozen=True)
class TagScores:
    """Precision, recall, F1 and support (gold count) of one tag or average."""

    p: float
    r: float
    f: float
    support: int


def _scores(gold: Sequence[str], predicted: Sequence[str], labels: list[str], average: str | None) -> list:
    """sklearn's P/R/F/support over `labels`, 0.0 where a ratio has no denominator."""
    return precision_recall_fscore_support(gold, predicted, labels=labels, average=average, zero_division=0.0)


def classification_report(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, TagScores]:
    """Per tag (sorted by entity type, then B before I, O last) and the averages
    "micro avg", "macro avg", "weighted avg" over the entity tags, and "accuracy"
    (its p, r and f are all the share of tokens tagged right)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold tags but {len(predicted)} predicted")
    tags = {*gold, *predicted}
    entity_tags = sorted(tags - {OUTSIDE}, key=lambda tag: (tag[2:], tag[:1]))
    rows = [*entity_tags, *([OUTSIDE] if OUTSIDE in tags else [])]
    report = {}
    if rows:
        per_tag = zip(*_scores(gold, predicted, rows, None), strict=True)
        for tag, (p, r, f, n) in zip(rows, per_tag, strict=True):
            report[tag] = TagScores(float(p), float(r), float(f), int(n))
    support = sum(report[t].support for t in entity_tags)
    for average in ("micro", "macro", "weighted"):
        # sklearn needs at least one label; with no entity tag every average is 0
        p, r, f, _ = _scores(gold, predicted, entity_tags, average) if entity_tags else (0.0, 0.0, 0.0, None)
        report[f"{average} avg"] = TagScores(float(p), float(r), float(f), support)
    accuracy = float(accuracy_score(gold, predicted)) if gold else 0.0
    report["accuracy"] = TagScores(accuracy, accuracy, accuracy, support=len(gold))
    return report


def format_report(report: dict[str, TagScores], title: str) -> str:
    """Markdown table, one row per tag then the averages."""
    lines = [
        f"# {title}",
        "",
        "Token level, IOB2 tags; averages over the entity tags (O left out), accuracy over all tokens.",
        "",
        "| tag | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for tag, s in report.items():
        name = f"**{tag}**" if " " in tag or tag == "accuracy" else tag
        lines.append(f"| {name} | {100 * s.p:.2f} | {100 * s.r:.2f} | {100 * s.f:.2f} | {s.support} |")
    return "\n".join(lines) + "\n"


def main(
    model: str = typer.Argument(..., help="Pipeline folder or package name"),
    corpus: Path = typer.Argument(..., help="DocBin with the gold documents (e.g. corpus/test.spacy)"),
    output: Path = typer.Option(Path("metrics/test_tokens.md"), help="Markdown table to write"),
    json_output: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON here"),
) -> None:
    """Print and write the token-level per-tag report of the pipeline on the corpus."""
    nlp = spacy.load(model)
    gold_docs = list(DocBin().from_disk(corpus).get_docs(nlp.vocab))
    gold_tags = [tag for doc in gold_docs for tag in iob_tags(doc)]
    predicted_tags = [tag for doc in predict_on_gold_tokens(nlp, gold_docs) for tag in iob_tags(doc)]
    report = classification_report(gold_tags, predicted_tags)
    table = format_report(report, f"Per-tag token scores of {Path(model).name} on {corpus.name}")
    print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table, encoding="utf8")
    if json_output is not None:
        srsly.write_json(json_output, {tag: vars(s) for tag, s in report.items()})


if __name__ == "__main__":
    typer.run(main)
