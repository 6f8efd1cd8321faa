"""Score a pipeline on the corpus's own tokens, as conlleval does.

Any corpus the project converts works: CoNLL-2003's files, or your own
(`--vars.test_file`), whose tokens and sentence breaks the DocBin keeps.

`spacy evaluate` re-tokenizes each document's text with the pipeline's
tokenizer and aligns the result to the gold tokens. Here the pipeline gets the
gold tokens themselves, as whole documents with CoNLL's sentence boundaries
(conlleval's input is cut into sentences, and no entity crosses one), so
precision, recall and F1 are exact (start, end, label) matches over CoNLL's
tokens: the figure papers report. Printed beside `spacy evaluate`'s in the
project.
"""

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import spacy
import srsly
import typer
from bilstm_ner.corpora.corpus import gold_tokens_doc
from prf import from_spacy
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, DocBin
from spacy.training import Alignment, Example

# How the words can be cased for scoring: as written, all lowercase, all uppercase.
CASINGS: dict[str, Callable[[str], str] | None] = {"cased": None, "lower": str.lower, "upper": str.upper}


def score_on_gold_tokens(
    nlp, gold_docs: list[Doc], batch_size: int = 32, casing: str = "cased", seen: set[str] | None = None
) -> dict:
    """Exact-match entity P/R/F (micro and per type) with the gold tokenization,
    its words cased as `casing` says (a key of CASINGS). With `seen` (entity
    texts of the training data), also the recall of gold entities whose text is
    in it and of those whose text is not (keys "seen", "unseen")."""
    predicted_docs = predict_on_gold_tokens(nlp, gold_docs, batch_size, casing)
    scores = exact_match(gold_docs, predicted_docs)
    if seen is not None:
        scores.update(recall_by_novelty(gold_docs, predicted_docs, seen))
    return scores


def predict_on_gold_tokens(
    nlp, gold_docs: list[Doc], batch_size: int = 32, casing: str = "cased"
) -> list[Doc]:
    """The pipeline's predictions on the gold documents' own tokens and sentence
    boundaries, cased as `casing` says, so predicted and gold entities are spans
    over the same tokens."""
    inputs = [gold_tokens_doc(d, CASINGS[casing]) for d in gold_docs]
    return list(nlp.pipe(inputs, batch_size=batch_size))


def entity_texts(docs: list[Doc]) -> set[str]:
    """The texts of the docs' entities, e.g. the names training has seen."""
    return {ent.text for doc in docs for ent in doc.ents}


def recall_by_novelty(gold_docs: list[Doc], predicted_docs: list[Doc], seen: set[str]) -> dict:
    """Recall of gold entities whose text occurs as an entity in `seen`, and of the others:
    a model that only remembers names does well on the first and badly on the second."""
    found: dict[str, Counter] = {"seen": Counter(), "unseen": Counter()}
    for gold, predicted in zip(gold_docs, predicted_docs, strict=True):
        predicted_spans = {(e.start, e.end, e.label_) for e in predicted.ents}
        for ent in gold.ents:
            group = found["seen" if ent.text in seen else "unseen"]
            group["total"] += 1
            group["found"] += (ent.start, ent.end, ent.label_) in predicted_spans
    return {
        name: {"r": c["found"] / c["total"] if c["total"] else 0.0, "n": c["total"]}
        for name, c in found.items()
    }


# Below this share of test entities unseen in training, the test set says little about
# names the model has not seen (a corpus cut at random from one source often is so).
MIN_UNSEEN_SHARE = 0.10


def novelty_warning(scores: dict, min_share: float = MIN_UNSEEN_SHARE) -> str | None:
    """A warning when fewer than `min_share` of the gold entities are unseen in training
    (scores with "seen" and "unseen" from `recall_by_novelty`), else None.

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


def exact_match(gold_docs: list[Doc], predicted_docs: list[Doc]) -> dict:
    """P/R/F of exact (start, end, label) matches, micro and per type (sorted).

    spaCy's own scorer (`get_ner_prf`, what `spacy evaluate` reports as ents_p/r/f),
    on Examples whose tokens are the gold tokens: the alignment is the identity, given
    rather than computed, since recased words ("STRASSE" for "Straße") would not
    align as text. As in spaCy, a gold doc without entity annotation is not scored;
    converted corpora annotate every token. Nothing to score gives 0.0 everywhere.
    """
    examples = []
    for gold, predicted in zip(gold_docs, predicted_docs, strict=True):
        if len(gold) != len(predicted):
            raise ValueError(f"a predicted doc has {len(predicted)} tokens, its gold doc {len(gold)}")
        identity = [[i] for i in range(len(gold))]
        examples.append(Example(predicted, gold, alignment=Alignment.from_indices(identity, identity)))
    scores = get_ner_prf(examples)
    per_type = scores["ents_per_type"] or {}
    return {
        **{key: value or 0.0 for key, value in from_spacy(scores).items()},
        "per_type": {label: per_type[label] for label in sorted(per_type)},
    }


def main(
    model: str = typer.Argument(..., help="Pipeline name or path"),
    corpus: Path = typer.Argument(..., help="DocBin with the gold documents"),
    output: Path = typer.Option(None, help="Write the scores as JSON here"),
    casings: bool = typer.Option(
        False, "--casings", help="Also score the words lowercased and uppercased (keys lower, upper)"
    ),
    train: Path | None = typer.Option(
        None, help="Training DocBin: also give the recall of entities seen / unseen in it"
    ),
    min_unseen: float = typer.Option(
        MIN_UNSEEN_SHARE,
        help="With --train: warn (printed, and under 'warnings' in --output) when fewer than this "
        "share of the test entities are unseen in training",
    ),
) -> None:
    """Print exact-match entity P/R/F on the corpus's own tokens."""
    nlp = spacy.load(model)
    gold_docs = list(DocBin().from_disk(corpus).get_docs(nlp.vocab))
    seen = None if train is None else entity_texts(list(DocBin().from_disk(train).get_docs(nlp.vocab)))
    scores = score_on_gold_tokens(nlp, gold_docs, seen=seen)
    print(f"{corpus}: P {100 * scores['p']:.2f}  R {100 * scores['r']:.2f}  F {100 * scores['f']:.2f}")
    for name in ("seen", "unseen") if seen is not None else ():
        print(f"  recall of {name} names: {100 * scores[name]['r']:.2f} ({scores[name]['n']} entities)")
    warning = novelty_warning(scores, min_unseen)
    scores["warnings"] = [warning] if warning else []
    if warning:
        print(f"warning: {corpus}: {warning}")
    for label, s in scores["per_type"].items():
        print(f"  {label:5} P {100 * s['p']:.2f}  R {100 * s['r']:.2f}  F {100 * s['f']:.2f}")
    if casings:
        for casing in ("lower", "upper"):
            scores[casing] = recased = score_on_gold_tokens(nlp, gold_docs, casing=casing)
            p, r, f = (100 * recased[m] for m in ("p", "r", "f"))
            print(f"  {casing}cased words: P {p:.2f}  R {r:.2f}  F {f:.2f}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, scores)


if __name__ == "__main__":
    typer.run(main)
