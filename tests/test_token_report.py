"""scripts/token_report.py: per-tag token scores, scikit-learn's, as its classification_report gives them."""

import pytest
import spacy
from bilstm_ner.corpora.conll import iob_tags
from scripts import token_report as tr
from spacy.tokens import Doc, Span


def test_iob2_tags_of_a_doc() -> None:
    doc = Doc(spacy.blank("en").vocab, words="New York and Paris .".split())
    doc.ents = [Span(doc, 0, 2, "LOC"), Span(doc, 3, 4, "LOC")]
    assert iob_tags(doc) == ["B-LOC", "I-LOC", "O", "B-LOC", "O"]
    # a token whose annotation is unknown: O by default, or what the caller says
    partial = Doc(doc.vocab, words=["New", "York", "and"], ents=["B-LOC", "I-LOC", ""])
    assert iob_tags(partial) == ["B-LOC", "I-LOC", "O"]
    assert iob_tags(partial, missing="") == ["B-LOC", "I-LOC", ""]


def test_scores_per_tag_and_averages_match_hand_counts() -> None:
    gold = ["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC"]
    pred = ["B-PER", "O", "O", "B-PER", "O", "B-LOC"]
    report = tr.classification_report(gold, pred)
    assert list(report) == [
        "B-LOC",
        "B-PER",
        "I-PER",
        "O",
        "micro avg",
        "macro avg",
        "weighted avg",
        "accuracy",
    ]
    # B-LOC: 1 right of 2 gold, 1 predicted; B-PER: 1 right, 2 predicted; I-PER: none found
    assert report["B-LOC"] == tr.TagScores(1.0, 0.5, pytest.approx(2 / 3), 2)
    assert report["B-PER"] == tr.TagScores(0.5, 1.0, pytest.approx(2 / 3), 1)
    assert report["I-PER"] == tr.TagScores(0.0, 0.0, 0.0, 1)
    assert report["O"] == tr.TagScores(pytest.approx(2 / 3), 1.0, 0.8, 2)
    # micro over entity tags: tp 2, fp 1, fn 2
    micro = report["micro avg"]
    assert (micro.p, micro.r, micro.support) == (pytest.approx(2 / 3), 0.5, 4)
    assert report["macro avg"].p == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert report["weighted avg"].r == pytest.approx((0.5 * 2 + 1.0 * 1 + 0.0 * 1) / 4)
    assert report["accuracy"].p == pytest.approx(4 / 6)


def test_markdown_table_has_a_row_per_tag() -> None:
    table = tr.format_report(tr.classification_report(["B-PER", "O"], ["B-PER", "O"]), "Tokens")
    assert "| B-PER | 100.00 | 100.00 | 100.00 | 1 |" in table
    assert "| **accuracy** | 100.00 | 100.00 | 100.00 | 2 |" in table


def test_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        tr.classification_report(["O"], [])


# What the hand-written counter this module used to have (before scikit-learn did the
# counting) gave on a case with every kind of row: a tag predicted but never gold
# (I-MISC), one gold but never predicted right (I-PER), B- and I- of several types.
OLD_GOLD = "B-PER I-PER O B-LOC O B-LOC B-ORG I-ORG I-ORG O B-MISC O O B-PER".split()
OLD_PREDICTED = "B-PER O O B-PER O B-LOC B-ORG I-ORG O O B-MISC I-MISC O B-LOC".split()
OLD_FIGURES = {
    "B-LOC": (0.5, 0.5, 0.5, 2),
    "B-MISC": (1.0, 1.0, 1.0, 1),
    "I-MISC": (0.0, 0.0, 0.0, 0),
    "B-ORG": (1.0, 1.0, 1.0, 1),
    "I-ORG": (1.0, 0.5, 0.6666666666666666, 2),
    "B-PER": (0.5, 0.5, 0.5, 2),
    "I-PER": (0.0, 0.0, 0.0, 1),
    "O": (0.6666666666666666, 0.8, 0.7272727272727272, 5),
    "micro avg": (0.625, 0.5555555555555556, 0.5882352941176471, 9),
    "macro avg": (0.5714285714285714, 0.5, 0.5238095238095238, 9),
    "weighted avg": (0.6666666666666666, 0.5555555555555556, 0.5925925925925926, 9),
    "accuracy": (0.6428571428571429, 0.6428571428571429, 0.6428571428571429, 14),
}


def test_scikit_learn_gives_the_figures_of_the_old_counter() -> None:
    report = tr.classification_report(OLD_GOLD, OLD_PREDICTED)
    assert list(report) == list(OLD_FIGURES)
    for tag, (p, r, f, support) in OLD_FIGURES.items():
        assert report[tag] == tr.TagScores(pytest.approx(p), pytest.approx(r), pytest.approx(f), support)


def test_scikit_learn_report_agrees_on_the_averages() -> None:
    """sklearn's own classification_report, as the notebooks call it, over the entity tags."""
    from sklearn.metrics import classification_report

    report = tr.classification_report(OLD_GOLD, OLD_PREDICTED)
    entity_tags = [t for t in OLD_FIGURES if "-" in t]
    theirs = classification_report(
        OLD_GOLD, OLD_PREDICTED, labels=entity_tags, output_dict=True, zero_division=0
    )
    for name in ("micro avg", "macro avg", "weighted avg", *entity_tags):
        ours = report[name]
        expected = theirs[name]
        assert (ours.p, ours.r, ours.f, ours.support) == pytest.approx(
            (expected["precision"], expected["recall"], expected["f1-score"], expected["support"])
        )


def test_no_entity_tags_gives_zero_averages() -> None:
    report = tr.classification_report(["O", "O"], ["O", "O"])
    assert report["O"] == tr.TagScores(1.0, 1.0, 1.0, 2)
    assert report["micro avg"] == tr.TagScores(0.0, 0.0, 0.0, 0)
    assert report["accuracy"].p == 1.0


def _counted(gold: list[str], predicted: list[str]) -> dict[str, tuple[float, float, float, int]]:
    """The count sklearn's figures replaced, per tag: tp / fp / fn over tokens, 0.0 for an
    empty ratio; micro over the entity tags, macro their mean, weighted by support."""

    def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return p, r, 2 * p * r / (p + r) if p + r else 0.0

    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, predicted, strict=True):
        for tag in {g, p}:
            counts.setdefault(tag, [0, 0, 0])
        if g == p:
            counts[g][0] += 1
        else:
            counts[p][1] += 1
            counts[g][2] += 1
    rows = {tag: (*prf(*c), c[0] + c[2]) for tag, c in counts.items()}
    entity = [tag for tag in rows if tag != "O"]
    support = sum(rows[t][3] for t in entity)
    micro = prf(*(sum(counts[t][i] for t in entity) for i in range(3)))
    macro = tuple(sum(rows[t][i] for t in entity) / len(entity) for i in range(3))
    weighted = tuple(sum(rows[t][i] * rows[t][3] for t in entity) / support for i in range(3))
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    return {
        **rows,
        "micro avg": (*micro, support),
        "macro avg": (*macro, support),
        "weighted avg": (*weighted, support),
        "accuracy": (accuracy, accuracy, accuracy, len(gold)),
    }


def test_the_figures_on_conll_dev_are_the_counted_ones_and_sklearns(conll_dir) -> None:
    """On CoNLL-2003's dev tokens, with predicted tags a tagger might give (a tenth of the
    entity tokens and a few O tokens given another tag), the report's figures are those
    of a plain count and of sklearn's own classification_report, row by row."""
    import random

    from bilstm_ner.corpora.conll import parse_conll
    from sklearn.metrics import classification_report

    docs = parse_conll((conll_dir / "eng.testa").read_text(encoding="utf8"), "eng.testa")
    gold = [tag for doc in docs for tag in iob_tags(doc)]
    tags = sorted(set(gold))
    rng = random.Random(0)
    predicted = [rng.choice(tags) if rng.random() < (0.1 if tag != "O" else 0.01) else tag for tag in gold]
    report = tr.classification_report(gold, predicted)
    counted = _counted(gold, predicted)
    assert len(gold) > 50_000 and 0.9 < report["accuracy"].p < 0.99
    assert set(report) == set(counted) and len(report) == len(tags) + 4
    for name, (p, r, f, support) in counted.items():
        assert report[name] == tr.TagScores(
            pytest.approx(p, rel=1e-12), pytest.approx(r, rel=1e-12), pytest.approx(f, rel=1e-12), support
        ), name
    entity_tags = [t for t in tags if t != "O"]
    theirs = classification_report(gold, predicted, labels=entity_tags, output_dict=True, zero_division=0)
    for name in ("micro avg", "macro avg", "weighted avg", *entity_tags):
        expected = theirs[name]
        assert (report[name].p, report[name].r, report[name].f, report[name].support) == pytest.approx(
            (expected["precision"], expected["recall"], expected["f1-score"], expected["support"]), rel=1e-12
        ), name
