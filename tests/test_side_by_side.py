"""The side-by-side table of the fast and accurate pipelines and spaCy's ner."""

from pathlib import Path

import pytest
import typer
from benchmarks.side_by_side import accuracy, parse_pairs, to_markdown
from spacy.tokens import DocBin


def test_pairs_are_name_equals_path():
    assert parse_pairs(["fast=training/model-best"], "pipelines") == {"fast": Path("training/model-best")}
    with pytest.raises(typer.BadParameter, match="NAME=PATH"):
        parse_pairs(["training/model-best"], "pipelines")


def test_the_table_has_a_column_per_pipeline_and_marks_what_is_missing():
    rows = {
        "fast": {"dev_f": 0.9172, "test_f": 0.8713, "words_per_second": 22256.0, "wheel_mb": 45.2},
        "accurate": {"dev_f": 0.94, "test_f": 0.905},
    }
    table = to_markdown(
        {"pipelines": rows, "rounds": 3, "machine": {"cpu": "x", "load_average": [1]}, "notes": []}
    )
    assert "| | fast | accurate |" in table
    assert "| test F1, CoNLL tokens | 87.13 | 90.50 |" in table
    assert "| words/s, test texts, 1 torch thread, median | 22,256 | – |" in table
    assert "| wheel, MB | 45 | – |" in table


def test_accuracy_is_scored_on_the_corpus_tokens(tmp_path, make_tiny_nlp, tiny_examples, train_tiny):
    nlp = make_tiny_nlp()
    examples = tiny_examples(nlp)
    train_tiny(nlp, examples, steps=40)
    corpus = tmp_path / "gold.spacy"
    DocBin(docs=[eg.reference for eg in examples]).to_disk(corpus)
    scores = accuracy(nlp, corpus, corpus, train=corpus)
    assert 0.0 < scores["test_f"] <= 1.0 and scores["dev_f"] == scores["test_f"]
    assert scores["n_unseen"] == 0 and scores["seen_r"] > 0
