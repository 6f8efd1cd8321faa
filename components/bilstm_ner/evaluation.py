"""Scores of a pipeline on a corpus's own tokens, as conlleval counts them.

    python -m bilstm_ner.evaluation MODEL CORPUS [--train TRAIN] [--casings] [--output scores.json]
    python -m en_conll03_bilstm_ner.evaluation en_conll03_bilstm_ner test.txt   # in a packaged pipeline

CORPUS (and TRAIN) is a CoNLL-style file (word first, NER tag last; IOB1, IOB2 or
BILUO; see corpora/conll.py) or a DocBin. From Python:

    from bilstm_ner.evaluation import evaluate
    scores = evaluate(spacy.load(MODEL), "test.txt", train="train.txt", casings=True)

`spacy evaluate` re-tokenizes each document's text with the pipeline's tokenizer
and aligns the result to the gold tokens. Here the pipeline gets the gold tokens
themselves, as whole documents with their sentence boundaries (conlleval's input
is cut into sentences, and no entity crosses one), so precision, recall and F1 are
exact (start, end, label) matches over the corpus's tokens: the figure papers
report, computed by spaCy's own scorer. Beside it: the scores per type, the recall
of gold entities whose text training has seen and of those it has not, and the
scores with every word lowercased or uppercased.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import srsly
import typer
from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc
from spacy.training import Alignment, Example

from .corpora.conll import DEFAULT_N_SENTS, read_docs
from .corpora.corpus import gold_tokens_doc

# How the words can be cased for scoring: as written, all lowercase, all uppercase.
CASINGS: dict[str, Callable[[str], str] | None] = {"cased": None, "lower": str.lower, "upper": str.upper}
# Below this share of test entities unseen in training, the test set says little about
# names the model has not seen (a corpus cut at random from one source often is so).
MIN_UNSEEN_SHARE = 0.10
# An entity as scored: (first token, end token, label).
EntityKey = tuple[int, int, str]
Corpus = str | Path | Sequence[Doc]


def entity_outcome(entity: EntityKey, gold: Doc) -> bool | None:
    """Whether an entity over the gold doc's own tokens is right: the gold doc has an
    entity with exactly its tokens and label (conlleval's exact match). None where the
    gold annotation of one of its tokens is missing: nothing to judge it by (spaCy's
    scorer leaves such tokens out too)."""
    start, end, label = entity
    if any(token.ent_iob == 0 for token in gold[start:end]):
        return None
    return any((e.start, e.end, e.label_) == (start, end, label) for e in gold.ents)


def predict_on_gold_tokens(
    nlp: Language, gold_docs: Sequence[Doc], batch_size: int = 32, casing: str = "cased"
) -> list[Doc]:
    """The pipeline's predictions on the gold documents' own tokens and sentence
    boundaries, cased as `casing` says (a key of CASINGS), so predicted and gold
    entities are spans over the same tokens."""
    inputs = [gold_tokens_doc(doc, CASINGS[casing]) for doc in gold_docs]
    return list(nlp.pipe(inputs, batch_size=batch_size))


def from_spacy(scores: dict[str, Any]) -> dict[str, Any]:
    """spaCy's entity scores (ents_p, ents_r, ents_f, ents_per_type: what `spacy evaluate`
    writes) as this module's {"p", "r", "f", "per_type"}; None stays None."""
    return {**{key: scores.get(f"ents_{key}") for key in "prf"}, "per_type": scores.get("ents_per_type") or {}}


def exact_match(gold_docs: Sequence[Doc], predicted_docs: Sequence[Doc]) -> dict[str, Any]:
    """P/R/F of exact (start, end, label) matches, micro and per type (sorted).

    spaCy's own scorer (`get_ner_prf`), on Examples whose tokens are the gold tokens:
    the alignment is the identity, given rather than computed, since recased words
    ("STRASSE" for "Straße") would not align as text. As in spaCy, a gold doc without
    entity annotation is not scored. Nothing to score gives 0.0 everywhere.
    """
    examples = []
    for gold, predicted in zip(gold_docs, predicted_docs, strict=True):
        if len(gold) != len(predicted):
            raise ValueError(f"a predicted doc has {len(predicted)} tokens, its gold doc {len(gold)}")
        identity = [[i] for i in range(len(gold))]
        examples.append(Example(predicted, gold, alignment=Alignment.from_indices(identity, identity)))
    scores = from_spacy(get_ner_prf(examples))
    return {
        **{key: scores[key] or 0.0 for key in "prf"},
        "per_type": {label: scores["per_type"][label] for label in sorted(scores["per_type"])},
    }


def entity_texts(docs: Sequence[Doc]) -> set[str]:
    """The texts of the docs' entities, e.g. the names training has seen."""
    return {ent.text for doc in docs for ent in doc.ents}


def recall_by_novelty(
    gold_docs: Sequence[Doc], predicted_docs: Sequence[Doc], seen: set[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """{"all" or a label: {"seen" | "unseen": {"r", "n"}}}: the recall of gold entities
    whose text is in `seen` (entity texts of the training data) and of the others. A
    model that only remembers names does well on the first and badly on the second."""
    found: dict[str, dict[str, Counter]] = {}
    for gold, predicted in zip(gold_docs, predicted_docs, strict=True):
        for ent in gold.ents:
            group = "seen" if ent.text in seen else "unseen"
            right = bool(entity_outcome((ent.start, ent.end, ent.label_), predicted))
            for label in ("all", ent.label_):
                counter = found.setdefault(label, {"seen": Counter(), "unseen": Counter()})[group]
                counter["n"] += 1
                counter["found"] += right
    found.setdefault("all", {"seen": Counter(), "unseen": Counter()})
    return {
        label: {g: {"r": c["found"] / c["n"] if c["n"] else 0.0, "n": c["n"]} for g, c in groups.items()}
        for label, groups in sorted(found.items(), key=lambda item: (item[0] != "all", item[0]))
    }


def novelty_warning(scores: dict[str, Any], min_share: float = MIN_UNSEEN_SHARE) -> str | None:
    """A warning when fewer than `min_share` of the gold entities are unseen in training
    (scores with "seen" and "unseen" from `evaluate`), else None.

    A test set whose names all occur in training scores what the model remembers: it
    can read 100 and say nothing about new names, the case a recognizer is for.
    """
    if "seen" not in scores or "unseen" not in scores:
        return None
    unseen, total = scores["unseen"]["n"], scores["seen"]["n"] + scores["unseen"]["n"]
    if total == 0 or unseen >= min_share * total:
        return None
    return (
        f"only {100 * unseen / total:.1f}% of the test entities ({unseen} of {total}) are unseen in "
        f"training, under {100 * min_share:.0f}%: the test scores measure mostly names the model saw "
        "in training, not how it does on new ones; hold out test documents whose names training lacks "
        "(e.g. later documents, another source) to measure that"
    )


def gold_docs_of(nlp: Language, corpus: Corpus, n_sents: int = DEFAULT_N_SENTS) -> list[Doc]:
    """The corpus's gold documents: Docs as given, or read from a CoNLL file or DocBin."""
    if isinstance(corpus, str | Path):
        return read_docs(corpus, nlp.vocab, n_sents)
    return list(corpus)


def evaluate(
    nlp: Language,
    corpus: Corpus,
    *,
    train: Corpus | None = None,
    casings: bool = False,
    batch_size: int = 32,
    min_unseen: float = MIN_UNSEEN_SHARE,
    n_sents: int = DEFAULT_N_SENTS,
) -> dict[str, Any]:
    """Exact-match entity scores of `nlp` on the corpus's own tokens (a CoNLL file, a
    DocBin or Docs): "p", "r", "f" and "per_type". With `train` (the training data):
    also "seen" and "unseen", each {"r", "n"}, their split by type under "novelty", and
    under "warnings" the `novelty_warning`. With `casings`: "lower" and "upper", the
    scores with every word lowercased and uppercased. `n_sents` cuts a CoNLL file
    without -DOCSTART- lines into documents."""
    gold_docs = gold_docs_of(nlp, corpus, n_sents)
    predicted = predict_on_gold_tokens(nlp, gold_docs, batch_size)
    scores = exact_match(gold_docs, predicted)
    scores["warnings"] = []
    if train is not None:
        novelty = recall_by_novelty(gold_docs, predicted, entity_texts(gold_docs_of(nlp, train, n_sents)))
        scores.update(novelty["all"], novelty=novelty)
        warning = novelty_warning(scores, min_unseen)
        scores["warnings"] = [warning] if warning else []
    if casings:
        for casing in ("lower", "upper"):
            scores[casing] = exact_match(gold_docs, predict_on_gold_tokens(nlp, gold_docs, batch_size, casing))
    return scores


def cells(prf: dict[str, float] | None) -> str:
    """'91.02 | 90.11 | 90.56' (percentages, P R F), or dashes for a row without figures."""
    if not prf or prf.get("f") is None:
        return " – | – | – "
    return " | ".join(f"{100 * prf[key]:.2f}" for key in "prf")


def prf_table(columns: dict[str, dict[str, Any]]) -> str:
    """Markdown: a row per entity type and the micro average, a P | R | F group of
    columns per named scores ({"p", "r", "f", "per_type"}, as `evaluate` gives them)."""
    types = sorted({label for scores in columns.values() for label in scores.get("per_type") or {}})
    lines = [
        "| type | " + " | ".join(f"{name} P | {name} R | {name} F" for name in columns) + " |",
        "|---|" + "---:|---:|---:|" * len(columns),
    ]
    for label in types:
        row = [cells((scores.get("per_type") or {}).get(label)) for scores in columns.values()]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    lines.append("| **all (micro)** | " + " | ".join(cells(scores) for scores in columns.values()) + " |")
    return "\n".join(lines) + "\n"


def cli(
    model: str = typer.Argument(..., help="Pipeline folder or package name"),
    corpus: Path = typer.Argument(..., help="Gold documents: a CoNLL-style file or a DocBin (.spacy)"),
    output: Path | None = typer.Option(None, help="Write the scores as JSON here"),
    casings: bool = typer.Option(
        False, "--casings", help="Also score the words lowercased and uppercased (keys lower, upper)"
    ),
    train: Path | None = typer.Option(None, help="Training data: also the recall of names seen / unseen in it"),
    min_unseen: float = typer.Option(
        MIN_UNSEEN_SHARE, help="With --train: warn when fewer than this share of the entities are unseen"
    ),
    n_sents: int = typer.Option(DEFAULT_N_SENTS, help="Sentences per document of a file without -DOCSTART-"),
) -> None:
    """Print exact-match entity P/R/F, overall and per type, on the corpus's own tokens."""
    import spacy

    nlp = spacy.load(model)
    scores = evaluate(nlp, corpus, train=train, casings=casings, min_unseen=min_unseen, n_sents=n_sents)
    columns = {"as written": scores}
    if casings:
        columns.update(lowercased=scores["lower"], uppercased=scores["upper"])
    print(f"{corpus}, exact matches on its own tokens:\n\n{prf_table(columns)}")
    for name in ("seen", "unseen") if train is not None else ():
        print(f"recall of names {name} in training: {100 * scores[name]['r']:.2f} ({scores[name]['n']} entities)")
    for warning in scores["warnings"]:
        print(f"warning: {corpus}: {warning}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, scores)


def main() -> None:
    """The command line: `python -m bilstm_ner.evaluation`."""
    typer.run(cli)


if __name__ == "__main__":
    main()
