"""Exact-match scoring on the gold tokens."""

import pytest
import spacy
from bilstm_ner.corpus import gold_tokens_doc
from conlleval import score_on_gold_tokens
from spacy.tokens import Doc, Span


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
