"""scripts/error_report.py: each entity sorted into exactly one kind, counts that add up, the tables."""

import pytest
import spacy
from bilstm_ner.evaluation import recall_by_novelty
from scripts import error_report as er
from spacy.tokens import Doc, Span

WORDS = "John Smith met Acme Corp staff in New York and Paris on Monday with Mary .".split()
#         0    1     2   3    4    5     6  7   8    9   10    11 12     13   14  15
GOLD = [(0, 2, "PER"), (3, 5, "ORG"), (7, 9, "LOC"), (10, 11, "LOC"), (14, 15, "PER")]
# John Smith: correct; Acme Corp: wrong type; New York -> York: boundary, right type;
# Paris -> Paris on: boundary, other type; Mary: missed; Monday: spurious
PREDICTED = [(0, 2, "PER"), (3, 5, "LOC"), (8, 9, "LOC"), (10, 12, "MISC"), (12, 13, "MISC")]


def make_doc(vocab, spans: list[tuple[int, int, str]], confidence: float | None = None) -> Doc:
    doc = Doc(vocab, words=WORDS)
    doc.ents = [Span(doc, s, e, label) for s, e, label in spans]
    if confidence is not None:
        for ent in doc.ents:
            ent._.confidence = confidence
    return doc


@pytest.fixture
def docs() -> tuple[list[Doc], list[Doc]]:
    import bilstm_ner.pipeline  # noqa: F401  (registers span._.confidence)

    vocab = spacy.blank("en").vocab
    return [make_doc(vocab, GOLD)], [make_doc(vocab, PREDICTED, confidence=0.75)]


def test_every_entity_gets_the_kind_it_should(docs) -> None:
    judgements = er.judge(*docs)
    kinds = {(j.side, j.text): j.kind for j in judgements}
    assert kinds == {
        ("gold", "John Smith"): er.CORRECT,
        ("gold", "Acme Corp"): er.WRONG_TYPE,
        ("gold", "New York"): er.BOUNDARY_SAME_TYPE,
        ("gold", "Paris"): er.BOUNDARY_OTHER_TYPE,
        ("gold", "Mary"): er.MISSED,
        ("predicted", "John Smith"): er.CORRECT,
        ("predicted", "Acme Corp"): er.WRONG_TYPE,
        ("predicted", "York"): er.BOUNDARY_SAME_TYPE,
        ("predicted", "Paris on"): er.BOUNDARY_OTHER_TYPE,
        ("predicted", "Monday"): er.SPURIOUS,
    }
    missed = next(j for j in judgements if j.kind == er.MISSED)
    assert missed.confidence is None
    wrong = next(j for j in judgements if j.side == "gold" and j.kind == er.WRONG_TYPE)
    assert (wrong.other_label, wrong.confidence) == ("LOC", 0.75)


def test_counts_add_up_to_the_gold_and_predicted_totals(docs) -> None:
    gold_docs, predicted_docs = docs
    # a second document where one prediction overlaps two gold entities: the two
    # sides' boundary counts differ, and each side must still add up
    vocab = gold_docs[0].vocab
    gold_docs = [*gold_docs, make_doc(vocab, [(7, 8, "LOC"), (8, 9, "LOC")])]
    predicted_docs = [*predicted_docs, make_doc(vocab, [(7, 9, "LOC")], confidence=0.5)]
    counts = er.count_kinds(er.judge(gold_docs, predicted_docs))
    n_gold = sum(len(d.ents) for d in gold_docs)
    n_predicted = sum(len(d.ents) for d in predicted_docs)
    assert sum(counts["gold"]["all"].values()) == n_gold == 7
    assert sum(counts["predicted"]["all"].values()) == n_predicted == 6
    assert counts["gold"]["all"][er.BOUNDARY_SAME_TYPE] == 3
    assert counts["predicted"]["all"][er.BOUNDARY_SAME_TYPE] == 2
    for side in ("gold", "predicted"):
        per_type = sum(sum(c.values()) for label, c in counts[side].items() if label != "all")
        assert per_type == (n_gold if side == "gold" else n_predicted)


def test_confusion_rows_sum_to_gold_counts_and_the_none_row_is_spurious(docs) -> None:
    judgements = er.judge(*docs)
    matrix = er.confusion(judgements)
    assert matrix == {
        "PER": {"PER": 1, er.NONE: 1},
        "ORG": {"LOC": 1},
        "LOC": {"LOC": 1, "MISC": 1},
        er.NONE: {"MISC": 1},
    }


def test_recall_of_seen_and_unseen_names_is_the_correct_kind(docs) -> None:
    """The evaluation's recall of seen and unseen names counts what this report calls correct."""
    judgements = er.judge(*docs)
    novelty = recall_by_novelty(*docs, seen={"John Smith", "Mary", "Paris"})
    assert novelty["all"]["seen"] == {"r": pytest.approx(1 / 3), "n": 3}
    assert novelty["all"]["unseen"] == {"r": 0.0, "n": 2}
    assert novelty["PER"]["seen"]["n"] == 2
    correct = sum(j.kind == er.CORRECT for j in judgements if j.side == "gold")
    assert correct == sum(round(g["r"] * g["n"]) for g in novelty["all"].values())


def test_report_shows_totals_confusion_and_an_example_of_each_kind(docs) -> None:
    judgements = er.judge(*docs)
    report = er.format_report(judgements, docs[0], "Errors", novelty=recall_by_novelty(*docs, seen={"Mary"}))
    assert "| **total** | 5 |  | 5 |  |" in report
    assert "## Label confusion" in report and "## Names seen and unseen in training" in report
    for kind in er.ERROR_KINDS:
        assert f"### {kind}" in report
    assert "in **New [York]** and Paris on Monday with Mary . (gold LOC, predicted LOC 0.75)" in report
    assert "and [**Paris** on] Monday" in report
    assert "**Mary** . (gold PER, predicted none)" in report
    assert "**[Acme Corp]**" in report


def test_html_page_draws_each_kind_predicted_beside_gold(docs) -> None:
    page = er.format_html(er.judge(*docs), docs[0], "Errors", n_examples=5)
    for kind in er.ERROR_KINDS:
        assert f"<h2>{kind}</h2>" in page
    # the wrong prediction in red with its confidence, the gold entity in its type's colour
    assert f"background: {er.ERROR_COLOR}" in page and "LOC 0.75" in page
    assert f"background: {er.LABEL_COLORS['ORG']}" in page
    assert page.count('<tr class="error">') == 5


def test_documents_with_different_tokens_are_refused(docs) -> None:
    gold_docs, _ = docs
    other = Doc(gold_docs[0].vocab, words=["John"])
    with pytest.raises(ValueError, match="tokens"):
        er.judge(gold_docs, [other])
