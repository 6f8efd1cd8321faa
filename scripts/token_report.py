"""Token-level precision, recall and F1 per IOB tag, as sklearn's classification_report prints them.

    python scripts/token_report.py training/model-best corpus/test.spacy \
        --output metrics/test_tokens.md --json metrics/test_tokens.json

The entity-level scores (metrics/scores.md) are what CoNLL papers report; many
notebooks and older systems print a per-tag report over tokens instead (B-PER,
I-PER, ... and O), so this gives that too, for comparing with them. The
pipeline reads the gold tokens, so every gold token has one predicted tag.
Tags are IOB2 (B- on an entity's first token, I- on the rest). The averages:
micro over the entity tags (O left out: it would dominate), macro (unweighted
mean of the entity tags) and weighted (by support), as sklearn's report does
with `labels` set to the entity tags; accuracy counts every token, O included.
A small function rather than sklearn: the whole computation is a few counters.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import spacy
import srsly
import typer
from bilstm_ner.corpus import gold_tokens_doc
from spacy.tokens import Doc, DocBin

OUTSIDE = "O"


@dataclass(frozen=True)
class TagScores:
    """Precision, recall, F1 and support (gold count) of one tag or average."""

    p: float
    r: float
    f: float
    support: int


def iob2_tags(doc: Doc) -> list[str]:
    """The doc's entities as one IOB2 tag per token ("B-PER", "I-PER", "O")."""
    return [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_iob_ in ("B", "I") else OUTSIDE for t in doc]


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def classification_report(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, TagScores]:
    """Per tag (sorted by entity type, then B before I, O last) and the averages
    "micro avg", "macro avg", "weighted avg" over the entity tags, and "accuracy"
    (its p, r and f are all the share of tokens tagged right)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold tags but {len(predicted)} predicted")
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for g, p in zip(gold, predicted, strict=True):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    tags = {*gold, *predicted}
    entity_tags = sorted(tags - {OUTSIDE}, key=lambda tag: (tag[2:], tag[:1]))
    report = {}
    for tag in [*entity_tags, *([OUTSIDE] if OUTSIDE in tags else [])]:
        report[tag] = TagScores(*_prf(tp[tag], fp[tag], fn[tag]), support=tp[tag] + fn[tag])
    support = sum(report[t].support for t in entity_tags)
    report["micro avg"] = TagScores(
        *_prf(*(sum(c[t] for t in entity_tags) for c in (tp, fp, fn))), support=support
    )
    n = len(entity_tags)
    report["macro avg"] = TagScores(
        *(sum(getattr(report[t], k) for t in entity_tags) / n if n else 0.0 for k in "prf"), support=support
    )
    report["weighted avg"] = TagScores(
        *(
            sum(getattr(report[t], k) * report[t].support for t in entity_tags) / support if support else 0.0
            for k in "prf"
        ),
        support=support,
    )
    accuracy = sum(tp.values()) / len(gold) if gold else 0.0
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
    predicted_docs = nlp.pipe(gold_tokens_doc(doc) for doc in gold_docs)
    gold_tags: list[str] = []
    predicted_tags: list[str] = []
    for gold, predicted in zip(gold_docs, predicted_docs, strict=True):
        gold_tags += iob2_tags(gold)
        predicted_tags += iob2_tags(predicted)
    report = classification_report(gold_tags, predicted_tags)
    table = format_report(report, f"Per-tag token scores of {Path(model).name} on {corpus.name}")
    print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table, encoding="utf8")
    if json_output is not None:
        srsly.write_json(json_output, {tag: vars(s) for tag, s in report.items()})


if __name__ == "__main__":
    typer.run(main)
