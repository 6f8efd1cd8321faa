"""scripts/token_report.py: per-tag token scores, scikit-learn's, as its classification_report gives them."""

import pytest
import spacy
import token_report as tr
from spacy.tokens import Doc, Span


def test_iob2_tags_of_a_doc() -> None:
    doc = Doc(spacy.blank("en").vocab, words="New York and Paris .".split())
    doc.ents = [Span(doc, 0, 2, "LOC"), Span(doc, 3, 4, "LOC")]
    assert tr.iob2_tags(doc) == ["B-LOC", "I-LOC", "O", "B-LOC", "O"]


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
