"""The GloVe word table (layers/word_table.py): int8 storage within its bound, lookup
by the lowercased word with a missing-word column, a pipeline that trains on it,
and a saved pipeline that carries the table with nothing else to read."""

from pathlib import Path

import numpy
import pytest
import spacy
from bilstm_ner.layers.word_table import MISSING_MESSAGE, lookup, make_table, quantize, save_table
from spacy.strings import hash_string

WORDS = ["paris", "london", "acme", "corp", "the", "met", "in", "."]


def table_folder(tmp_path: Path, width: int = 6) -> tuple[Path, numpy.ndarray]:
    rng = numpy.random.default_rng(0)
    vectors = rng.normal(size=(len(WORDS), width)).astype("float32")
    folder = tmp_path / "glove"
    save_table(make_table(WORDS, vectors), folder)
    return folder, vectors


def test_int8_rows_stay_within_half_a_step_of_the_float_vectors() -> None:
    vectors = numpy.random.default_rng(1).normal(scale=3.0, size=(500, 50)).astype("float32")
    rows, scales = quantize(vectors)
    assert rows.dtype == numpy.int8 and scales.dtype == numpy.float16
    restored = rows.astype("float32") * scales.astype("float32")[:, None]
    step = numpy.abs(vectors).max(axis=1, keepdims=True) / 127
    # half a step from rounding, plus float16's relative error on the scale
    assert numpy.all(numpy.abs(restored - vectors) <= 0.5 * step + 1e-3 * numpy.abs(vectors) + 1e-6)
    assert numpy.all(rows[numpy.arange(500), numpy.abs(vectors).argmax(axis=1)] != 0)


def test_lookup_is_by_the_lowercased_word_and_marks_missing_words() -> None:
    vectors = numpy.arange(len(WORDS) * 3, dtype="float32").reshape(len(WORDS), 3) + 1
    table = make_table(["Paris" if w == "paris" else w for w in WORDS], vectors)
    keys = numpy.array([hash_string("paris"), hash_string("unknownword"), hash_string("acme")], dtype="uint64")
    features = lookup(table, keys)
    assert features.shape == (3, 4)
    numpy.testing.assert_allclose(features[0, :3], vectors[0], rtol=0.02)
    numpy.testing.assert_allclose(features[2, :3], vectors[2], rtol=0.02)
    assert features[:, 3].tolist() == [0.0, 1.0, 0.0]
    assert not features[1, :3].any()


def word_table_model(small_model: dict, folder: Path | None) -> dict:
    return {
        **small_model,
        "include_static_vectors": False,
        "word_table": {"@architectures": "bilstm_ner.WordTable.v1", "path": None if folder is None else str(folder)},
    }


def test_a_pipeline_trains_on_the_table_and_carries_it_when_saved(
    tmp_path: Path, small_model: dict, make_tiny_nlp, tiny_examples, train_tiny, entity_labels
) -> None:
    folder, _ = table_folder(tmp_path)
    nlp = make_tiny_nlp(model=word_table_model(small_model, folder))
    train_tiny(nlp, tiny_examples(nlp), steps=40)
    text = "Acme Corp met in PARIS ."
    expected = [(e.text, e.label_) for e in nlp(text).ents]
    assert expected and {label for _, label in expected} <= set(entity_labels)
    nlp.to_disk(tmp_path / "pipeline")
    (folder / "table.npz").unlink()  # the saved pipeline must not need the folder
    loaded = spacy.load(tmp_path / "pipeline")
    assert [(e.text, e.label_) for e in loaded(text).ents] == expected
    table = loaded.get_pipe("ner").model.get_ref("featurizer").get_ref("word_table")
    assert table.attrs["vectors"].dtype == numpy.int8 and table.attrs["vectors"].shape == (len(WORDS), 6)
    restored = spacy.load(tmp_path / "pipeline")
    restored.get_pipe("ner").from_bytes(loaded.get_pipe("ner").to_bytes())
    assert [(e.text, e.label_) for e in restored(text).ents] == expected


def test_the_word_table_changes_what_the_model_computes(
    tmp_path: Path, small_model: dict, make_tiny_nlp, tiny_examples, train_tiny
) -> None:
    folder, _ = table_folder(tmp_path)
    nlp = make_tiny_nlp(model=word_table_model(small_model, folder))
    train_tiny(nlp, tiny_examples(nlp), steps=5)
    table = nlp.get_pipe("ner").model.get_ref("featurizer").get_ref("word_table")
    doc = nlp.make_doc("Acme Corp met in Paris .")
    before = nlp.get_pipe("ner").model.predict([doc])[0].copy()
    table.attrs["vectors"] = (table.attrs["vectors"] // 2).astype("int8")
    after = nlp.get_pipe("ner").model.predict([doc])[0]
    assert not numpy.allclose(before, after)


def test_initialize_without_a_table_says_how_to_make_one(tmp_path: Path, small_model: dict, make_tiny_nlp, tiny_examples) -> None:
    nlp = make_tiny_nlp(model=word_table_model(small_model, tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="spacy project run inputs"):
        nlp.initialize(lambda: tiny_examples(nlp))
    assert "GLOVE_DIR" in MISSING_MESSAGE
