"""scripts/token_report.py: per-tag token scores as sklearn's classification_report computes them."""

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
