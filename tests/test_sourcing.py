"""The component in a pipeline of your own: `add_pipe("ner", source=...)` (issue 35).

spaCy hands a sourced component over with the vocab it was made with; the docs come with
the new pipeline's vocab, whose vectors are other ones or none and whose `lexeme_norm`
table may normalize words otherwise. The component reads its own vocab's, so it predicts
as in its own pipeline; saved there, it carries that vocab in its folder.
The real pair, en_core_web_sm's tagger and parser beside our `ner`, is tested on the
package's wheel, fetched as the project's other assets are (conftest.py, `sm_pipeline`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy
import pytest
import spacy
from bilstm_ner.errors import ComponentLoadError
from spacy.language import Language
from spacy.vectors import Vectors

TEXTS = [
    "John Smith lives in New York and works for Acme Corp .",
    "Mary Jones met Peter Brown in Berlin yesterday .",
    "The colour of the Labour Centre in London is red .",
    "",
]


def table(words: list[str], width: int, seed: int) -> Vectors:
    rng = numpy.random.default_rng(seed)
    return Vectors(data=rng.normal(size=(len(words), width)).astype("float32"), keys=words)


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
    make_tiny_nlp: Callable[..., Language],
    small_model: dict,
    tiny_examples: Callable,
    train_tiny: Callable,
    train_data: list,
) -> Path:
    """A tiny pipeline that reads static vectors, trained and saved: what `spacy.load` of
    a trained pipeline gives."""
    nlp = make_tiny_nlp(model={**small_model, "include_static_vectors": True})
    words = sorted(
        {w for text, _ in train_data for w in text.split()} | {w.lower() for w in TEXTS[2].split()}
    )
    nlp.vocab.vectors = table(words, 6, seed=1)
    train_tiny(nlp, tiny_examples(nlp))
    path = tmp_path_factory.mktemp("sourcing") / "ours"
    nlp.to_disk(path)
    return path


def entities(nlp: Language) -> list:
    return [[(e.start, e.end, e.label_, e._.confidence) for e in doc.ents] for doc in nlp.pipe(TEXTS)]


def sourced_into(target: Language, ours: Language, **where) -> Language:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\[W113\]")  # spaCy's note that the vectors differ
        target.add_pipe("ner", source=ours, **where)
    return target


def test_sourced_into_a_blank_pipeline_predicts_as_in_its_own(trained: Path) -> None:
    ours = spacy.load(trained)
    expected = entities(ours)
    assert any(expected)
    nlp = sourced_into(spacy.blank("en"), ours)
    assert nlp.vocab.vectors.shape[0] == 0
    assert entities(nlp) == expected


def test_sourced_into_a_pipeline_with_vectors_of_its_own_leaves_them(trained: Path) -> None:
    ours = spacy.load(trained)
    target = spacy.blank("en")
    target.vocab.vectors = table(["the", "colour", "London"], 9, seed=2)
    before = target.vocab.vectors.to_bytes(exclude=["strings"])
    nlp = sourced_into(target, ours)
    assert entities(nlp) == entities(ours)
    assert nlp.vocab.vectors.to_bytes(exclude=["strings"]) == before


def test_a_pipeline_that_sourced_it_saves_and_loads_with_the_components_vocab(
    trained: Path, tmp_path: Path
) -> None:
    ours = spacy.load(trained)
    nlp = sourced_into(spacy.blank("en"), ours)
    expected = entities(nlp)
    nlp.to_disk(tmp_path / "combined")
    assert (tmp_path / "combined" / "ner" / "carried_vocab" / "vectors").is_file()
    loaded = spacy.load(tmp_path / "combined")
    assert loaded.vocab.vectors.shape[0] == 0
    assert entities(loaded) == expected
    again = spacy.util.load_model_from_config(loaded.config).from_bytes(loaded.to_bytes())
    assert entities(again) == expected


def test_its_own_pipeline_does_not_carry_a_second_copy(trained: Path, tmp_path: Path) -> None:
    ours = spacy.load(trained)
    entities(ours)
    ours.to_disk(tmp_path / "again")
    assert not (tmp_path / "again" / "ner" / "carried_vocab").exists()


def test_saved_before_it_annotated_a_text_the_pipeline_says_what_to_do(trained: Path, tmp_path: Path) -> None:
    nlp = sourced_into(spacy.blank("en"), spacy.load(trained))
    nlp.to_disk(tmp_path / "combined")
    with pytest.raises(ComponentLoadError) as info:
        spacy.load(tmp_path / "combined")
    message = str(info.value)
    assert "holds no vectors" in message
    assert 'nlp.add_pipe("ner", source=spacy.load(TRAINED_PIPELINE))' in message
    assert "nlp.vocab.vectors = spacy.load(TRAINED_PIPELINE).vocab.vectors" in message


def test_beside_en_core_web_sm_tagger_and_parser(trained: Path, sm_pipeline: Path) -> None:
    """The real pair: en_core_web_sm 3.8.0 without its own ner, our ner added. Its
    vocab has no vectors and a lexeme_norm table ("colour" -> "color"); the tagger's and
    parser's annotations stay theirs, the entities are ours."""
    ours = spacy.load(trained)
    sm = spacy.load(sm_pipeline, exclude=["ner"])
    alone = [[(t.tag_, t.dep_, t.head.i) for t in doc] for doc in sm.pipe(TEXTS)]
    assert sm.vocab["colour"].norm_ == "color" and ours.vocab["colour"].norm_ == "colour"
    nlp = sourced_into(spacy.load(sm_pipeline, exclude=["ner"]), ours, first=True)
    assert nlp.pipe_names[0] == "ner" and {"tagger", "parser"} <= set(nlp.pipe_names)
    assert entities(nlp) == entities(ours)
    assert [[(t.tag_, t.dep_, t.head.i) for t in doc] for doc in nlp.pipe(TEXTS)] == alone


def test_word_attributes_are_read_as_the_components_vocab_gives_them(
    trained: Path, sm_pipeline: Path
) -> None:
    """en_core_web_sm normalizes "colour" to "color" (its lexeme_norm table); within the
    component's block the features of its docs are those of the component's own vocab."""
    from bilstm_ner.layers.featurize import featurize_docs, reading_lexicon

    ours, sm = spacy.load(trained), spacy.load(sm_pipeline, exclude=["ner"])
    text = "The colour of the Labour Centre , and it isn't red ."
    settings = (["NORM", "PREFIX", "SUFFIX", "SHAPE"], [1000, 100, 100, 50], 4, 8)
    own = featurize_docs([ours.make_doc(text)], *settings).ids
    theirs = featurize_docs([sm.make_doc(text)], *settings).ids
    assert not numpy.array_equal(own, theirs)
    with reading_lexicon(ours.get_pipe("ner").own_vocab):
        numpy.testing.assert_array_equal(featurize_docs([sm.make_doc(text)], *settings).ids, own)
