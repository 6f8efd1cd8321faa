"""The corpus reader `bilstm_ner.Corpus.v1`: whole documents with the gold
tokens, the tokenizer's, or both."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
from bilstm_ner.corpora.corpus import create_corpus_reader
from spacy.tokens import Doc, DocBin, Span
from spacy.util import registry

WORDS = ["LONDON", "1996-08-30", "Anglo-Dutch", "group", "Unilever", "said", ".", "It", "rose", "."]
SPACES = [True] * (len(WORDS) - 1) + [False]
ENTS = [(0, 1, "LOC"), (2, 3, "MISC"), (4, 5, "ORG")]


@pytest.fixture
def docbin_path(tmp_path: Path) -> Path:
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=WORDS, spaces=SPACES, sent_starts=[i in (0, 7) for i in range(len(WORDS))])
    doc.ents = [Span(doc, start, end, label=label) for start, end, label in ENTS]
    path = tmp_path / "tiny.spacy"
    DocBin(docs=[doc, doc]).to_disk(path)
    return path


def read(path: Path, tokens: str) -> list:
    reader = registry.resolve(
        {"corpus": {"@readers": "bilstm_ner.Corpus.v1", "path": str(path), "tokens": tokens}}
    )
    return list(reader["corpus"](spacy.blank("en")))


def test_gold_tokens_keep_whole_documents(docbin_path: Path) -> None:
    examples = read(docbin_path, "gold")
    assert len(examples) == 2  # not one per sentence, as gold_preproc would give
    for example in examples:
        assert [t.text for t in example.predicted] == WORDS
        assert example.predicted.text == example.reference.text
        # the sentences stay as the gold has them (the model keeps entities inside them)
        assert [t.is_sent_start for t in example.predicted] == [t.is_sent_start for t in example.reference]
        assert example.predicted.has_annotation("SENT_START")
        assert example.get_aligned_ner() == ["U-LOC", "O", "U-MISC", "O", "U-ORG", "O", "O", "O", "O", "O"]


def test_tokenizer_tokens_are_spacy_corpus_examples(docbin_path: Path) -> None:
    ours = read(docbin_path, "tokenizer")
    theirs = list(spacy.training.Corpus(docbin_path)(spacy.blank("en")))
    assert [[t.text for t in eg.predicted] for eg in ours] == [
        [t.text for t in eg.predicted] for eg in theirs
    ]
    # spaCy's tokenizer splits CoNLL's hyphenated tokens: that is why "gold" exists
    assert len(ours[0].predicted) > len(WORDS)


def test_both_gives_each_document_with_each_tokenization(docbin_path: Path) -> None:
    examples = read(docbin_path, "both")
    lengths = [len(eg.predicted) for eg in examples]
    assert len(examples) == 4
    assert lengths[0] == lengths[2] == len(WORDS)
    assert lengths[1] == lengths[3] > len(WORDS)


@pytest.mark.parametrize("tokens", ["spacy", "", "GOLD"])
def test_unknown_tokens_setting_is_refused(docbin_path: Path, tokens: str) -> None:
    # by the config's validation (from the type hint) and by the function itself
    with pytest.raises(ValueError, match="tokens"):
        read(docbin_path, tokens)
    with pytest.raises(ValueError, match="tokens must be"):
        create_corpus_reader(docbin_path, tokens)
