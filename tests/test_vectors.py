"""Static word vectors (the fast config, configs/bilstm_ner.cfg): `spacy init vectors`
output read at featurization time, trained through `spacy train`, saved and
loaded with the pipeline, and a clear error when the vectors are missing."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy
import pytest
import spacy
from bilstm_ner.layers import torch_encoder
from bilstm_ner.layers.featurize import NO_VECTORS_MESSAGE, featurize_docs, token_vectors
from bilstm_ner.layers.word_table import make_table, save_table
from scripts.assets import training_config
from spacy.cli.train import train
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config
from thinc.api import Adam, fix_random_seed

REPO = Path(__file__).resolve().parent.parent
VECTORS_CONFIG = REPO / "configs" / "bilstm_ner.cfg"
WIDTH = 5
# A few words of the training texts, and one that never occurs in them.
VECTOR_WORDS = ["Paris", "London", "Berlin", "France", "John", "Smith", "Acme", "the", "zebra"]

SMALL_MODEL = {
    "@architectures": "bilstm_ner.BiLSTMTagger.v1",
    "attrs": ["NORM", "SHAPE"],
    "rows": [200, 20],
    "embed_width": 8,
    "n_chars": 4,
    "char_width": 4,
    "hidden_width": 12,
    "depth": 1,
    "dropout": 0.1,
    "word_dropout": 0.1,
    "window": 16,
    "doc_memory": False,
}
# The same model as dotted overrides of the vectors config.
SMALL_OVERRIDES = {f"components.ner.model.{k}": v for k, v in SMALL_MODEL.items() if k != "@architectures"}

TRAIN_DATA = [
    ("John Smith lives in Paris .", [(0, 2, "PER"), (4, 5, "LOC")]),
    ("Acme opened an office in London .", [(0, 1, "ORG"), (5, 6, "LOC")]),
    ("Mary Jones flew from Berlin to France .", [(0, 2, "PER"), (4, 5, "LOC"), (6, 7, "LOC")]),
    ("the zebra ran .", []),
]


def vector_of(word: str) -> numpy.ndarray:
    """A distinct, deterministic vector per word."""
    return numpy.linspace(-1.0, 1.0, WIDTH, dtype="float32") * (1 + VECTOR_WORDS.index(word))


def make_doc(nlp: Language, text: str, spans: list[tuple[int, int, str]]) -> Doc:
    doc = nlp.make_doc(text)
    doc.ents = [Span(doc, start, end, label) for start, end, label in spans]
    return doc


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny vectors table made by the documented command, `spacy init vectors`."""
    root = tmp_path_factory.mktemp("vectors")
    text_file = root / "tiny.txt"
    lines = [" ".join([word, *(f"{x:.4f}" for x in vector_of(word))]) for word in VECTOR_WORDS]
    text_file.write_text("\n".join(lines) + "\n", encoding="utf8")
    output = root / "tiny_vectors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "spacy", "init", "vectors", "en", str(text_file), str(output)]
    subprocess.run(command, check=True, capture_output=True, env=env)
    return output


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    nlp = spacy.blank("en")
    DocBin(docs=[make_doc(nlp, text, spans) for text, spans in TRAIN_DATA]).to_disk(root / "train.spacy")
    return root / "train.spacy"


@pytest.fixture(scope="module")
def trained_dir(vectors_dir: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/bilstm_ner.cfg trained for a few steps by `spacy train`, with the tiny
    vectors and a tiny GloVe word table."""
    output = tmp_path_factory.mktemp("training")
    glove = output / "glove"
    save_table(make_table(VECTOR_WORDS, numpy.stack([vector_of(w) for w in VECTOR_WORDS])), glove)
    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "paths.vectors": str(vectors_dir),
        "paths.glove": str(glove),
        "training.max_steps": 4,
        "training.eval_frequency": 2,
        "training.logger.progress_bar": None,
        **SMALL_OVERRIDES,
    }
    train(VECTORS_CONFIG, output, overrides=overrides)
    return output / "model-last"


def test_vectors_config_differs_from_default_only_by_vectors_and_casing() -> None:
    """The fast config is the from-scratch one plus the vectors and the word table (and
    their projection's width), the case augmenter on the training corpus and a higher word
    dropout (chosen on dev with the vectors: they know the words the hashed embeddings
    blank out): nothing else drifts apart."""
    default = training_config("fast", with_vectors=False, configs_dir=REPO / "configs")
    vectors = load_config(VECTORS_CONFIG, interpolate=False)
    model = vectors["components"]["ner"]["model"]
    assert model.pop("include_static_vectors") is True and default["components"]["ner"]["model"].pop(
        "include_static_vectors"
    ) is False
    assert isinstance(model.pop("static_vectors_width"), int)
    assert default["components"]["ner"]["model"].pop("static_vectors_width") is None
    assert model.pop("word_table")["@architectures"] == "bilstm_ner.WordTable.v1"
    assert default["components"]["ner"]["model"].pop("word_table") is None
    assert model["word_dropout"] > default["components"]["ner"]["model"]["word_dropout"]
    model["word_dropout"] = default["components"]["ner"]["model"]["word_dropout"]
    augmenter = vectors["corpora"]["train"]["augmenter"]
    assert augmenter["@augmenters"] == "bilstm_ner.case_augmenter.v1"
    assert default["corpora"]["train"]["augmenter"] is None
    vectors["corpora"]["train"]["augmenter"] = None
    assert vectors["paths"].pop("glove") == "corpus/glove" and default["paths"].pop("glove") is None
    assert vectors == default
    assert vectors["paths"]["vectors"] is None
    assert vectors["initialize"]["vectors"] == "${paths.vectors}"


def test_token_vectors_by_orth_then_lowercase_with_zeros_for_unknown_words(vectors_dir: Path) -> None:
    nlp = spacy.load(vectors_dir)
    docs = [nlp.make_doc("Paris and ZEBRA"), nlp.make_doc(""), nlp.make_doc("paris The London")]
    rows = token_vectors(docs)
    assert rows.dtype == numpy.float32 and rows.shape == (6, WIDTH)
    # "paris" has no vector (the table has "Paris" only); "ZEBRA" and "The" fall back to "zebra", "the".
    zero = numpy.zeros(WIDTH, dtype="float32")
    expected = [vector_of("Paris"), zero, vector_of("zebra"), zero, vector_of("the"), vector_of("London")]
    numpy.testing.assert_allclose(rows, numpy.stack(expected), atol=1e-4)
    batch = featurize_docs(docs, ["NORM"], [100], n_chars=4, window=2, include_static_vectors=True)
    assert batch.vectors is not None and batch.vectors.shape == (*batch.ids.shape[:2], WIDTH)
    numpy.testing.assert_array_equal(batch.vectors[batch.rows, batch.cols], rows)
    padding = numpy.ones(batch.ids.shape[:2], dtype=bool)
    padding[batch.rows, batch.cols] = False
    assert not batch.vectors[padding].any()
    assert featurize_docs(docs, ["NORM"], [100], n_chars=4, window=2).vectors is None


def test_trained_pipeline_keeps_its_vectors(trained_dir: Path, vectors_dir: Path) -> None:
    nlp = spacy.load(trained_dir)
    assert nlp.config["components"]["ner"]["model"]["include_static_vectors"] is True
    assert nlp.vocab.vectors.shape == (len(VECTOR_WORDS), WIDTH)
    numpy.testing.assert_allclose(nlp.vocab["Berlin"].vector, vector_of("Berlin"), atol=1e-4)


def test_trained_pipeline_predicts_valid_entities(trained_dir: Path) -> None:
    nlp = spacy.load(trained_dir)
    ner = nlp.get_pipe("ner")
    assert set(ner.labels) == {"LOC", "ORG", "PER"}
    docs = list(nlp.pipe([text for text, _ in TRAIN_DATA] + ["", "An unknown zebra in Paris ."]))
    for doc in docs:
        for ent in doc.ents:
            assert ent.label_ in ner.labels
    assert any(doc.ents for doc in docs[: len(TRAIN_DATA)]), "it learnt some of its training entities"


def test_vectors_change_the_scores(trained_dir: Path) -> None:
    nlp = spacy.load(trained_dir)
    model = nlp.get_pipe("ner").model
    docs = [nlp.make_doc(text) for text, _ in TRAIN_DATA]
    with_vectors = numpy.concatenate(model.predict(docs))
    numpy.testing.assert_array_equal(numpy.concatenate(model.predict(docs)), with_vectors)
    nlp.vocab.vectors.data[:] = 0.0
    without_vectors = numpy.concatenate(model.predict(docs))
    assert numpy.abs(with_vectors - without_vectors).max() > 1e-4


def test_long_doc_streamed_with_vectors_matches_plain(
    trained_dir: Path, plain_scores: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """model.predict slices the static vectors with the windows. On the float LSTM:
    the int8 copy's scores depend on which windows share its batch."""
    nlp = spacy.load(trained_dir, config={"components": {"ner": {"model": {"int8_lstm": False}}}})
    model = nlp.get_pipe("ner").model
    doc = nlp.make_doc(" ".join(text for text, _ in TRAIN_DATA * 20))
    plain = plain_scores(model, [doc])[0]
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 2)
    numpy.testing.assert_allclose(model.predict([doc])[0], plain, rtol=1e-5, atol=1e-5)


def test_vectors_of_another_width_are_refused(trained_dir: Path) -> None:
    nlp = spacy.load(trained_dir)
    nlp.vocab.reset_vectors(width=WIDTH + 2)
    nlp.vocab.set_vector("Paris", numpy.ones(WIDTH + 2, dtype="float32"))
    # the vocab's vectors, the word table's (WIDTH too) and its missing-word column
    with pytest.raises(ValueError, match=f"width {2 * WIDTH + 1}"):
        nlp("John lives in Paris .")


def test_round_trip_with_vectors_keeps_predictions(vectors_dir: Path, tmp_path: Path) -> None:
    fix_random_seed(0)
    nlp = spacy.load(vectors_dir)
    nlp.add_pipe("bilstm_ner", name="ner", config={"model": {**SMALL_MODEL, "include_static_vectors": True}})
    examples = [Example(nlp.make_doc(text), make_doc(nlp, text, spans)) for text, spans in TRAIN_DATA]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01, use_averages=False)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    docs = [nlp.make_doc(text) for text, _ in TRAIN_DATA]
    before = numpy.concatenate(nlp.get_pipe("ner").model.predict(docs))
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    after = numpy.concatenate(loaded.get_pipe("ner").model.predict([loaded.make_doc(d.text) for d in docs]))
    numpy.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)


def test_component_without_vectors_fails_clearly() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_ner", name="ner", config={"model": {**SMALL_MODEL, "include_static_vectors": True}})
    examples = [Example(nlp.make_doc(text), make_doc(nlp, text, spans)) for text, spans in TRAIN_DATA]
    with pytest.raises(ValueError, match="paths.vectors") as error:
        nlp.initialize(lambda: examples)
    assert str(error.value) == NO_VECTORS_MESSAGE


def test_vectors_config_without_vectors_fails_clearly(corpus: Path) -> None:
    overrides = {"paths.train": str(corpus), "paths.dev": str(corpus), **SMALL_OVERRIDES}
    config = load_config(VECTORS_CONFIG, overrides=overrides, interpolate=False)
    with pytest.raises(ValueError, match=r"\[initialize\] vectors"):
        init_nlp(config)


def test_default_model_has_no_vectors_projection() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_ner", name="ner", config={"model": SMALL_MODEL})
    assert nlp.config["components"]["ner"]["model"]["include_static_vectors"] is False
    encoder = nlp.get_pipe("ner").model.layers[1].shims[0]._model
    assert encoder.vectors_projection is None
    assert not any("vectors" in name for name in encoder.state_dict())


def test_pipeline_saved_before_the_option_loads_unchanged(tmp_path: Path) -> None:
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_ner", name="ner", config={"model": SMALL_MODEL})
    examples = [Example(nlp.make_doc(text), make_doc(nlp, text, spans)) for text, spans in TRAIN_DATA]
    nlp.initialize(lambda: examples)
    docs = [nlp.make_doc(text) for text, _ in TRAIN_DATA]
    before = numpy.concatenate(nlp.get_pipe("ner").model.predict(docs))
    nlp.to_disk(tmp_path / "pipeline")
    # An older pipeline's config has no include_static_vectors line.
    config_file = tmp_path / "pipeline" / "config.cfg"
    lines = config_file.read_text(encoding="utf8").splitlines(keepends=True)
    config_file.write_text("".join(x for x in lines if "include_static_vectors" not in x), encoding="utf8")
    loaded = spacy.load(tmp_path / "pipeline")
    after = numpy.concatenate(loaded.get_pipe("ner").model.predict([loaded.make_doc(d.text) for d in docs]))
    numpy.testing.assert_array_equal(after, before)
