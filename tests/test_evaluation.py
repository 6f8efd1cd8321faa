"""bilstm_ner.evaluation: exact-match scoring on the gold tokens, by type, by casing, on names
seen and unseen in training; the one judge of "is this entity right"."""

import random
from pathlib import Path

import pytest
import spacy
import srsly
import typer
from bilstm_ner.corpora.conll import docs_to_conll, parse_conll
from bilstm_ner.corpora.corpus import gold_tokens_doc
from bilstm_ner.evaluation import (
    cells,
    cli,
    entity_outcome,
    evaluate,
    exact_match,
    from_spacy,
    novelty_warning,
    predict_on_gold_tokens,
    prf_table,
    recall_by_novelty,
)
from scripts.report import format_casings
from spacy.tokens import Doc, DocBin, Span
from typer.testing import CliRunner


def score_on_gold_tokens(nlp, gold_docs: list[Doc], casing: str = "cased") -> dict:
    return exact_match(gold_docs, predict_on_gold_tokens(nlp, gold_docs, casing=casing))


def test_exact_match_counts_per_type() -> None:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "LOC", "pattern": "Paris"}, {"label": "PER", "pattern": "Smith"}])
    gold = Doc(nlp.vocab, words=["John", "Smith", "visited", "Paris", "and", "Rome", "."])
    gold.ents = [Span(gold, 0, 2, "PER"), Span(gold, 3, 4, "LOC"), Span(gold, 5, 6, "LOC")]
    scores = score_on_gold_tokens(nlp, [gold])
    # predicted: "Smith" PER (wrong boundary: fp and fn), "Paris" LOC (tp); "Rome" missed (fn)
    assert scores["per_type"]["LOC"] == pytest.approx({"p": 1.0, "r": 0.5, "f": 2 / 3})
    assert scores["per_type"]["PER"] == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert scores["p"] == pytest.approx(0.5) and scores["r"] == pytest.approx(1 / 3)


def test_gold_tokens_input_keeps_sentence_boundaries_only() -> None:
    nlp = spacy.blank("en")
    words = ["Ricky", "Ponting", "batted", "."]
    gold = Doc(
        nlp.vocab, words=words, sent_starts=[True, True, False, False], ents=["B-PER", "B-PER", "O", "O"]
    )
    given = gold_tokens_doc(gold)
    assert [t.text for t in given] == words and not given.ents
    assert [t.is_sent_start for t in given] == [True, True, False, False]
    assert not gold_tokens_doc(Doc(nlp.vocab, words=words)).has_annotation("SENT_START")


def test_casings_recase_the_words_the_pipeline_gets() -> None:
    """casing="lower"/"upper" must hand the pipeline recased words while the
    gold spans, on the original words, still count: a ruler matching exact
    lowercase and uppercase forms under two labels shows which words it got."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "LOC", "pattern": [{"ORTH": "paris"}]},
            {"label": "MISC", "pattern": [{"ORTH": "PARIS"}]},
        ]
    )
    words = ["Flights", "to", "Paris", "and", "Rome", "."]
    gold = Doc(nlp.vocab, words=words, ents=["O", "O", "B-LOC", "O", "B-LOC", "O"])

    cased = score_on_gold_tokens(nlp, [gold])
    assert cased["p"] == 0.0 and cased["r"] == 0.0
    assert set(cased["per_type"]) == {"LOC"}  # nothing predicted: the two gold LOCs are missed

    lower = score_on_gold_tokens(nlp, [gold], casing="lower")
    # "paris" found as LOC on the gold span (tp), "Rome" missed (fn)
    assert lower["per_type"] == {"LOC": pytest.approx({"p": 1.0, "r": 0.5, "f": 2 / 3})}
    assert lower["p"] == pytest.approx(1.0) and lower["r"] == pytest.approx(0.5)

    upper = score_on_gold_tokens(nlp, [gold], casing="upper")
    # "PARIS" found as MISC: a false positive, and both gold LOCs missed
    assert upper["per_type"] == {
        "LOC": {"p": 0.0, "r": 0.0, "f": 0.0},
        "MISC": {"p": 0.0, "r": 0.0, "f": 0.0},
    }
    assert upper["p"] == 0.0 and upper["r"] == 0.0

    # the gold documents themselves are left as they were
    assert [t.text for t in gold] == words


def test_casing_upper_keeps_spans_when_words_grow() -> None:
    """ "Straße".upper() is longer; the words are recased one by one, so the
    gold's token spans still line up with the pipeline's."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "LOC", "pattern": [{"ORTH": "HAUPTSTRASSE"}, {"ORTH": "BERLIN"}]}]
    )
    gold = Doc(nlp.vocab, words=["In", "Hauptstraße", "Berlin", "."], ents=["O", "B-LOC", "I-LOC", "O"])
    scores = score_on_gold_tokens(nlp, [gold], casing="upper")
    assert scores["per_type"] == {"LOC": {"p": 1.0, "r": 1.0, "f": 1.0}}


def test_recall_of_seen_and_unseen_names() -> None:
    """Gold entities split by whether their text is an entity of the training data."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "LOC", "pattern": "Paris"}, {"label": "PER", "pattern": "Smith"}])
    gold = Doc(nlp.vocab, words=["John", "Smith", "visited", "Paris", "and", "Rome", "."])
    gold.ents = [Span(gold, 0, 2, "PER"), Span(gold, 3, 4, "LOC"), Span(gold, 5, 6, "LOC")]
    train = Doc(nlp.vocab, words=["Paris", "and", "John", "Smith"])
    train.ents = [Span(train, 0, 1, "LOC"), Span(train, 2, 4, "PER")]
    scores = evaluate(nlp, [gold], train=[train])
    # seen: "John Smith" (missed: the ruler finds "Smith" alone) and "Paris" (found); unseen: "Rome" (missed)
    assert scores["seen"] == {"r": 0.5, "n": 2}
    assert scores["unseen"] == {"r": 0.0, "n": 1}
    assert scores["novelty"]["PER"] == {"seen": {"r": 0.0, "n": 1}, "unseen": {"r": 0.0, "n": 0}}
    assert scores["novelty"]["LOC"] == {"seen": {"r": 1.0, "n": 1}, "unseen": {"r": 0.0, "n": 1}}
    assert "seen" not in evaluate(nlp, [gold])


@pytest.mark.parametrize(
    ("seen", "unseen", "warned"),
    [(24, 0, True), (22, 2, True), (27, 3, False), (0, 5, False), (0, 0, False)],
)
def test_novelty_warning_below_a_tenth_unseen(seen: int, unseen: int, warned: bool) -> None:
    scores = {"seen": {"r": 1.0, "n": seen}, "unseen": {"r": 0.0, "n": unseen}}
    warning = novelty_warning(scores)
    assert (warning is not None) == warned
    if warned:
        share = f"{100 * unseen / (seen + unseen):.1f}%"
        assert f"only {share} of the test entities ({unseen} of {seen + unseen}) are unseen" in warning
        assert "under 10%" in warning
    assert novelty_warning({"p": 1.0}) is None  # scored without --train: nothing to say


def test_evaluate_output_and_metrics_carry_the_warning(tmp_path: Path) -> None:
    """The evaluation's command prints it and writes it under "warnings"; scripts/report.py
    puts it into metrics/scores.md."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "LOC", "pattern": "Paris"}])
    model = tmp_path / "model"
    nlp.to_disk(model)
    test_doc = Doc(nlp.vocab, words=["Paris", "and", "Paris", "."], ents=["B-LOC", "O", "B-LOC", "O"])
    DocBin(docs=[test_doc]).to_disk(tmp_path / "test.spacy")
    DocBin(docs=[test_doc]).to_disk(tmp_path / "train.spacy")  # every test name is a training name
    output = tmp_path / "metrics" / "test_conlleval.json"
    app = typer.Typer(add_completion=False)
    app.command()(cli)
    args = [str(model), str(tmp_path / "test.spacy"), "--train", str(tmp_path / "train.spacy")]
    result = CliRunner().invoke(app, [*args, "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "warning: " in result.stdout and "only 0.0% of the test entities (0 of 2)" in result.stdout
    scores = srsly.read_json(output)
    assert len(scores["warnings"]) == 1 and "(0 of 2)" in scores["warnings"][0]
    assert "**Warning:** only 0.0% of the test entities" in format_casings(scores)
    # with a training set that lacks the name, no warning
    other = Doc(nlp.vocab, words=["Rome", "."], ents=["B-LOC", "O"])
    DocBin(docs=[other]).to_disk(tmp_path / "train.spacy")
    result = CliRunner().invoke(app, [*args, "--output", str(output)])
    assert result.exit_code == 0 and "warning" not in result.stdout
    assert srsly.read_json(output)["warnings"] == []
    assert "Warning" not in format_casings(srsly.read_json(output))


def _counted(gold_docs: list[Doc], predicted_docs: list[Doc]) -> dict:
    """The exact-match count this module had before spaCy's scorer did it: sets of
    (start, end, label) per doc, tp / fp / fn per type, 0.0 for an empty ratio."""

    def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0}

    counts: dict[str, dict[str, int]] = {}
    for gold, predicted in zip(gold_docs, predicted_docs, strict=True):
        gold_spans = {(e.start, e.end, e.label_) for e in gold.ents}
        predicted_spans = {(e.start, e.end, e.label_) for e in predicted.ents}
        for span in gold_spans | predicted_spans:
            kind = "tp" if span in gold_spans & predicted_spans else "fn" if span in gold_spans else "fp"
            c = counts.setdefault(span[2], {"tp": 0, "fp": 0, "fn": 0})
            c[kind] += 1
    total = {k: sum(c[k] for c in counts.values()) for k in ("tp", "fp", "fn")}
    return {**prf(**total), "per_type": {label: prf(**c) for label, c in sorted(counts.items())}}


def _perturbed(gold: Doc, rng: random.Random) -> Doc:
    """The gold tokens with the mistakes a tagger makes: a missed entity, a wrong
    type, a boundary one token off, a spurious one-token entity."""
    doc = gold_tokens_doc(gold)
    spans = []
    for ent in gold.ents:
        roll = rng.random()
        if roll < 0.1:
            continue
        label = rng.choice(["PER", "LOC", "ORG", "MISC"]) if roll < 0.2 else ent.label_
        end = min(len(doc), ent.end + 1) if roll > 0.9 else ent.end
        spans.append(Span(doc, ent.start, end, label))
    if len(doc) and rng.random() < 0.3:
        spans.append(Span(doc, start := rng.randrange(len(doc)), start + 1, "MISC"))
    doc.ents = spacy.util.filter_spans(spans)
    return doc


def test_spacy_scorer_gives_the_old_counts_on_conll_dev(conll_dir: Path) -> None:
    """On CoNLL-2003's dev documents, with predictions carrying a tagger's kinds of
    mistakes, spaCy's get_ner_prf (what exact_match uses) gives the figures of the
    hand-written count it replaced, micro and per type."""
    gold_docs = parse_conll((conll_dir / "eng.testa").read_text(encoding="utf8"), "eng.testa")
    rng = random.Random(0)
    predicted_docs = [_perturbed(doc, rng) for doc in gold_docs]
    old = _counted(gold_docs, predicted_docs)
    assert 0.7 < old["f"] < 0.95  # the mistakes are there, and not everywhere
    new = exact_match(gold_docs, predicted_docs)
    assert list(new["per_type"]) == list(old["per_type"]) == ["LOC", "MISC", "ORG", "PER"]
    assert [new[k] for k in "prf"] == pytest.approx([old[k] for k in "prf"], rel=1e-12)
    for label, scores in old["per_type"].items():
        assert new["per_type"][label] == pytest.approx(scores, rel=1e-12)
    # and the other way round: perfect predictions score 1.0, none score 0.0
    assert exact_match(gold_docs, gold_docs)["f"] == pytest.approx(1.0)
    empty = exact_match(gold_docs, [gold_tokens_doc(d) for d in gold_docs])
    assert (empty["p"], empty["r"]) == (0.0, 0.0)


def test_entity_outcome_is_an_exact_match_and_none_without_annotation() -> None:
    nlp = spacy.blank("en")
    gold = Doc(nlp.vocab, words=["Anna", "Berg", "met", "Bob", "in", "Oslo", "."])
    gold.ents = [Span(gold, 0, 2, "PER"), Span(gold, 3, 4, "PER"), Span(gold, 5, 6, "LOC")]
    assert entity_outcome((0, 2, "PER"), gold) is True
    assert entity_outcome((3, 4, "ORG"), gold) is False  # the type
    assert entity_outcome((5, 7, "LOC"), gold) is False  # the boundary
    assert entity_outcome((1, 2, "PER"), gold) is False  # part of one
    unannotated = Doc(nlp.vocab, words=["Anna", "Berg", "met", "Bob"], ents=["B-PER", "I-PER", "", ""])
    assert entity_outcome((0, 2, "PER"), unannotated) is True
    assert entity_outcome((3, 4, "PER"), unannotated) is None  # no gold to judge it by


def test_recall_by_novelty_splits_by_type_and_all() -> None:
    nlp = spacy.blank("en")
    words = ["John", "Smith", "met", "Mary", "in", "Paris", "."]
    gold = Doc(nlp.vocab, words=words, ents=["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O"])
    predicted = Doc(nlp.vocab, words=words, ents=["B-PER", "I-PER", "O", "O", "O", "B-ORG", "O"])
    novelty = recall_by_novelty([gold], [predicted], seen={"John Smith", "Paris"})
    assert list(novelty) == ["all", "LOC", "PER"]
    assert novelty["all"] == {"seen": {"r": 0.5, "n": 2}, "unseen": {"r": 0.0, "n": 1}}
    assert novelty["PER"] == {"seen": {"r": 1.0, "n": 1}, "unseen": {"r": 0.0, "n": 1}}
    assert novelty["LOC"]["seen"] == {"r": 0.0, "n": 1}


def test_evaluate_reads_a_conll_file_as_a_user_of_the_wheel_has_one(tmp_path: Path) -> None:
    """A CoNLL file (IOB1, no -DOCSTART-) scores as the same documents given as Docs."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "LOC", "pattern": "Paris"}])
    gold = Doc(nlp.vocab, words=["Paris", "and", "Rome", "."], ents=["B-LOC", "O", "B-LOC", "O"])
    conll = tmp_path / "test.txt"
    conll.write_text("Paris NNP I-NP I-LOC\nand CC O O\nRome NNP I-NP I-LOC\n. . O O\n", encoding="utf8")
    from_file = evaluate(nlp, conll, casings=True)
    assert from_file == evaluate(nlp, [gold], casings=True)
    assert (from_file["p"], from_file["r"]) == (1.0, 0.5)
    assert from_file["lower"]["r"] == 0.0  # the ruler matches "Paris", not "paris"
    written = tmp_path / "written.conll"  # -DOCSTART-, IOB2, CRLF line ends
    written.write_bytes(docs_to_conll([gold]).replace("\n", "\r\n").encode("utf8"))
    assert evaluate(nlp, written, casings=True) == from_file


def test_from_spacy_and_the_table_read_spacys_scores() -> None:
    scores = {"ents_p": 0.5, "ents_r": 0.25, "ents_f": 1 / 3, "ents_per_type": {"LOC": {"p": 1, "r": 0.5, "f": 0.6}}}
    assert from_spacy(scores) == {"p": 0.5, "r": 0.25, "f": 1 / 3, "per_type": scores["ents_per_type"]}
    # nothing to score: spaCy says None, and so does this
    assert from_spacy({"ents_p": None, "ents_r": None, "ents_f": None, "ents_per_type": None})["f"] is None
    assert cells({"f": 0.9056, "r": 0.9011, "p": 0.9102}) == "91.02 | 90.11 | 90.56"
    assert cells(None) == cells({}) == " – | – | – "
    table = prf_table({"dev": from_spacy(scores), "test": {"p": 1.0, "r": 1.0, "f": 1.0, "per_type": {}}})
    assert table.splitlines() == [
        "| type | dev P | dev R | dev F | test P | test R | test F |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| LOC | 100.00 | 50.00 | 60.00 |  – | – | –  |",
        "| **all (micro)** | 50.00 | 25.00 | 33.33 | 100.00 | 100.00 | 100.00 |",
    ]
