"""Robustness of the bilstm_ner pipeline (issue 7).

- Any text: empty, whitespace, control and zero-width characters, emoji, CJK,
  right-to-left scripts, a 5,000-character token, a 100,000-token document,
  and batches mixing them never crash, and every entity is a valid,
  non-overlapping span whose token tags agree (also over random unicode).
- Entities already on a Doc are replaced (the documented choice).
- Models on disk: a missing, truncated or corrupt weights file, or weights
  that do not fit config.cfg or ner/cfg, fail with a ValueError/OSError that
  names the component; a save/load round trip predicts identically; the same
  seed trains the same model.

Pipelines are tiny (as in test_component.py) so the module runs in seconds,
apart from the 100,000-token document.
"""

from __future__ import annotations

import io
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
import torch
from bilstm_ner.errors import CorruptWeightsError, IncompatibleWeightsError
from bilstm_ner.layers.torch_converters import load_torch_weights, state_differences
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import Adam

# One text per kind of awkward input the brief lists, and a few more.
ODD_TEXTS = {
    "empty": "",
    "space": " ",
    "whitespace": "  \n\t \r\n\u3000\xa0 ",
    "newlines_only": "\n\n\n",
    "control": "\x00\x01\x07\x08\x1b[31mJohn\x1b[0m Smith\x7f\x9f in \x0bParis\x0c.",
    "zero_width": "Jo\u200bhn\u200c Smith\u200d met \u2060Mary\ufeff Jones \u200b\u200b in Paris .",
    "zero_width_only": "\u200b\u200c\u200d\u2060\ufeff",
    "emoji": "👩\u200d👩\u200d👧 John Smith 🇩🇪🇫🇷 loves Paris 😀😀😀 👍🏽 #blessed 🙃",
    "cjk": "北京是中国的首都。東京タワーは日本にあります。서울은 한국의 수도입니다。",
    "arabic": "ذهب محمد إلى باريس مع John Smith يوم الاثنين .",
    "hebrew": "שלום ירושלים ו-John Smith בתל אביב",
    "bidi_controls": "\u202eJohn Smith\u202c lives in \u2067Paris\u2069 \u200f\u200e.",
    "combining": "Zalgo: J\u0301\u0302\u0303o\u0336h\u0337n\u0338 S\u0301mith e\u0301\u0301\u0301 \u0301",
    "astral": "\U0001d400\U0001d401 \U00010000 \U0010fffd \ue000 \uffff \ufffd",
    "long_token": "x" * 5000,
    "long_token_in_sentence": "John " + "é" * 5000 + " Smith met Mary in Paris .",
    # spaCy's tokenizer splits a run of emoji one by one, in quadratic time
    # (5 s for 5,000): the model's side of a 5,000-emoji token is tested on a Doc.
    "emoji_run": "😀" * 300,
    "long_mixed_token": "Paris" + ("北" + "\u200b" + "ß" + "😀") * 1250,
    "punctuation": "... !!! ??? --- *** ((( ))) [[[ ]]] '' \"\" `` ,,, ;;; :::",
}


@pytest.fixture(scope="module")
def train(
    make_tiny_nlp: Callable[..., Language], tiny_examples: Callable[[Language], list[Example]]
) -> Callable[..., Language]:
    """A factory, ``train(seed=0, steps=25, drop=0.0)``: the tiny pipeline
    trained on the shared sentences (tests train several, seeds apart)."""

    def train(seed: int = 0, steps: int = 25, drop: float = 0.0) -> Language:
        nlp = make_tiny_nlp(seed)
        examples = tiny_examples(nlp)
        nlp.initialize(lambda: examples)
        optimizer = Adam(0.01, use_averages=False)
        for _ in range(steps):
            nlp.update(examples, sgd=optimizer, drop=drop)
        return nlp

    return train


@pytest.fixture(scope="module")
def trained_nlp(train: Callable[..., Language]) -> Language:
    return train()


def entities(doc: Doc) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.label_) for e in doc.ents]


def check_entities(doc: Doc, labels: tuple[str, ...]) -> None:
    """What `doc.set_ents` does not check itself: every entity has one of the
    component's labels and a finite float confidence (clipping to [0, 1]
    would keep a NaN)."""
    for ent in doc.ents:
        assert ent.label_ in labels
        confidence = ent._.confidence
        assert isinstance(confidence, float) and math.isfinite(confidence)


# --------------------------------------------------------------------------- odd input


@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_odd_text_never_crashes(trained_nlp: Language, entity_labels: tuple[str, ...], name: str) -> None:
    text = ODD_TEXTS[name]
    doc = trained_nlp(text)
    assert doc.text == text
    check_entities(doc, entity_labels)
    # every token, whatever its characters, gets finite scores for every tag
    scores = trained_nlp.get_pipe("ner").model_scores([doc])[0]
    assert scores.shape == (len(doc), 1 + 4 * len(entity_labels))
    assert numpy.isfinite(scores).all()


def test_model_sees_long_tokens_whole(trained_nlp: Language, entity_labels: tuple[str, ...]) -> None:
    """A 5,000-character token stays one token and gets a (valid) prediction."""
    nlp = trained_nlp
    words = ["John", "x" * 5000, "😀" * 5000, "北" * 5000, "Smith", "in", "Paris"]
    doc = nlp(Doc(nlp.vocab, words=words))
    assert [len(t) for t in doc] == [len(w) for w in words]
    scores = nlp.get_pipe("ner").model.predict([doc])[0]
    assert scores.shape == (len(words), 1 + 4 * len(entity_labels))
    assert numpy.isfinite(scores).all()
    check_entities(doc, entity_labels)


def test_mixed_batch_matches_docs_one_by_one(
    trained_nlp: Language, train_data: list, entity_labels: tuple[str, ...]
) -> None:
    """All the odd texts in one batch (with long and empty docs between them):
    same entities as one doc at a time, no crash whatever the batch size."""
    texts = list(ODD_TEXTS.values()) + [t for t, _ in train_data] + [" ".join(["Paris"] * 3000), ""]
    single = [trained_nlp(text) for text in texts]
    for batch_size in (3, 64):
        batched = list(trained_nlp.pipe(texts, batch_size=batch_size))
        assert [d.text for d in batched] == texts
        for doc, alone in zip(batched, single, strict=True):
            check_entities(doc, entity_labels)
            assert entities(doc) == entities(alone)
            confidences = [e._.confidence for e in doc.ents]
            assert confidences == pytest.approx([e._.confidence for e in alone.ents], abs=1e-4)


def test_document_of_100000_tokens(trained_nlp: Language, entity_labels: tuple[str, ...]) -> None:
    """One huge document (raw text, no sentence boundaries) in a batch with a short one."""
    sentence = "John Smith visited Paris yesterday ."
    text = " ".join([sentence] * 16_666 + ["Mary Jones met Acme"])
    docs = list(trained_nlp.pipe([text, "Peter Brown lives in London ."]))
    assert [len(d) for d in docs] == [100_000, 6]
    for doc in docs:
        check_entities(doc, entity_labels)
    # the model was trained on such sentences: it finds entities all along the doc
    assert len(docs[0].ents) > 10_000
    assert docs[0].ents[-1].end > 99_000


# --------------------------------------------------------------------------- property tests

# Any unicode except surrogates (spaCy's tokenizer cannot encode a lone one).
unicode_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
word = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(texts=st.lists(unicode_text, min_size=1, max_size=6))
def test_random_unicode_gives_valid_entities(
    trained_nlp: Language, entity_labels: tuple[str, ...], texts: list[str]
) -> None:
    """Random texts, each followed in the batch by a sentence the model knows: random
    text rarely gets an entity, so the known one shows the batch was still tagged."""
    known = "John Smith lives in New York ."
    batch = [t for text in texts for t in (text, known)]
    docs = list(trained_nlp.pipe(batch))
    assert [d.text for d in docs] == batch
    for doc in docs:
        check_entities(doc, entity_labels)
    for doc in docs[1::2]:
        assert entities(doc) == [(0, 2, "PER"), (4, 6, "LOC")]


@PROPERTY
@given(
    words=st.lists(word, min_size=1, max_size=60),
    sent_flags=st.lists(st.booleans(), min_size=60, max_size=60),
    preset=st.lists(st.tuples(st.integers(0, 59), st.integers(1, 5), st.sampled_from(["PER", "FOO"]))),
)
def test_random_docs_with_preset_entities(
    trained_nlp: Language,
    entity_labels: tuple[str, ...],
    words: list[str],
    sent_flags: list[bool],
    preset: list[tuple[int, int, str]],
) -> None:
    """Docs built from random words and sentence starts, carrying random
    entities: the output is valid and the same as for the bare doc."""
    starts = [True] + sent_flags[1 : len(words)]
    bare = trained_nlp(Doc(trained_nlp.vocab, words=words, sent_starts=starts))
    doc = Doc(trained_nlp.vocab, words=words, sent_starts=starts)
    spans = [Span(doc, s, min(s + n, len(doc)), label) for s, n, label in preset if s < len(doc)]
    doc.set_ents(spacy.util.filter_spans(spans), default="unmodified")
    doc = trained_nlp(doc)
    check_entities(doc, entity_labels)
    assert entities(doc) == entities(bare)


# --------------------------------------------------------------------------- preset entities


def test_existing_entities_are_replaced(trained_nlp: Language, entity_labels: tuple[str, ...]) -> None:
    """The documented choice: the component predicts all of doc.ents."""
    text = "John Smith lives in New York and works for Acme Corp ."
    expected = entities(trained_nlp(text))
    assert expected == [(0, 2, "PER"), (4, 6, "LOC"), (9, 11, "ORG")]
    doc = trained_nlp.make_doc(text)
    # a foreign label, a known label in the wrong place, an entity the model
    # does not predict, and tokens whose annotation is missing
    doc.set_ents(
        [Span(doc, 0, 1, "FOO"), Span(doc, 2, 4, "PER"), Span(doc, 7, 8, "ORG")], default="unmodified"
    )
    assert doc[10].ent_iob_ == ""
    doc = trained_nlp(doc)
    assert entities(doc) == expected
    check_entities(doc, entity_labels)


def test_existing_entities_removed_where_none_predicted(trained_nlp: Language) -> None:
    doc = trained_nlp.make_doc("")
    assert entities(trained_nlp(doc)) == []
    text = "the of and ."
    assert entities(trained_nlp(text)) == []
    doc = trained_nlp.make_doc(text)
    doc.ents = [Span(doc, 0, 3, "ORG")]
    doc = trained_nlp(doc)
    assert entities(doc) == []
    assert [t.ent_iob_ for t in doc] == ["O"] * 4


# --------------------------------------------------------------------------- models on disk


@pytest.fixture(scope="module")
def saved(trained_nlp: Language, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "model"
    trained_nlp.to_disk(path)
    return path


@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    """A fresh copy of the saved pipeline, free to damage."""
    return Path(shutil.copytree(saved, tmp_path / "model"))


def test_round_trip_predicts_identically(
    trained_nlp: Language, saved: Path, train_data: list, make_tiny_nlp: Callable[..., Language]
) -> None:
    texts = [t for t, _ in train_data] + list(ODD_TEXTS.values())
    loaded = spacy.load(saved)
    ner, loaded_ner = trained_nlp.get_pipe("ner"), loaded.get_pipe("ner")
    # the raw scores, bit for bit, then what the user sees
    docs = [trained_nlp.make_doc(t) for t in texts]
    for before, after in zip(ner.model.predict(docs), loaded_ner.model.predict(docs), strict=True):
        assert numpy.array_equal(before, after)
    for before, after in zip(trained_nlp.pipe(texts), loaded.pipe(texts), strict=True):
        assert entities(after) == entities(before)
        assert [e._.confidence for e in after.ents] == [e._.confidence for e in before.ents]
    # and saving again gives the same bytes
    assert loaded_ner.to_bytes() == ner.to_bytes()
    # the same through bytes, into a fresh pipeline
    fresh = make_tiny_nlp()
    fresh.get_pipe("ner").from_bytes(ner.to_bytes())
    assert [entities(d) for d in fresh.pipe(texts)] == [entities(d) for d in trained_nlp.pipe(texts)]


def test_missing_weights_file(copy: Path) -> None:
    (copy / "ner" / "model").unlink()
    with pytest.raises(OSError, match=r"\[ner\] cannot load the component from .*ner.*No such file") as info:
        spacy.load(copy)
    assert str(copy / "ner" / "model") in str(info.value)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: data[:-1],
        lambda data: b"",
        lambda data: b"not a model at all" * 10,
    ],
    ids=["half", "last_byte_missing", "empty", "garbage"],
)
def test_truncated_or_corrupt_weights_file(copy: Path, damage) -> None:
    weights = copy / "ner" / "model"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(CorruptWeightsError, match=r"\[ner\] cannot load .* truncated or corrupt") as info:
        spacy.load(copy)
    assert str(copy / "ner") in str(info.value)


def test_truncated_bytes(trained_nlp: Language, make_tiny_nlp: Callable[..., Language]) -> None:
    data = trained_nlp.get_pipe("ner").to_bytes()
    with pytest.raises(CorruptWeightsError, match=r"\[ner\] cannot load the component from bytes: .*corrupt"):
        make_tiny_nlp().get_pipe("ner").from_bytes(data[: len(data) - 100])


@pytest.mark.parametrize(
    ("setting", "changed"),
    [
        ("hidden_width = 24", "hidden_width = 32"),
        ("embed_width = 16", "embed_width = 8"),
        ("rows = [500, 100, 200, 50]", "rows = [500, 100, 200, 60]"),
        ("n_chars = 4", "n_chars = 6"),
        ("doc_memory = true", "doc_memory = false"),
        ("depth = 1", "depth = 2"),
    ],
)
def test_weights_from_another_config(copy: Path, setting: str, changed: str) -> None:
    config = (copy / "config.cfg").read_text()
    assert setting in config
    (copy / "config.cfg").write_text(config.replace(setting, changed))
    with pytest.raises(IncompatibleWeightsError, match=r"\[ner\] cannot load .*do not fit the model"):
        spacy.load(copy)


@pytest.mark.parametrize(
    "labels",
    [["LOC", "ORG", "PER", "MISC"], ["LOC", "ORG"], ["LOC", "ORG", "MISC"], ["PER", "ORG", "LOC"], []],
    ids=["one_more", "one_less", "renamed", "reordered", "none"],
)
def test_labels_in_cfg_differ_from_the_weights(copy: Path, labels: list[str]) -> None:
    (copy / "ner" / "cfg").write_text(srsly.json_dumps({"labels": labels}))
    with pytest.raises(ValueError, match=r"\[ner\] .*cfg and weights do not match"):
        spacy.load(copy)


def test_torch_weights_name_what_does_not_fit() -> None:
    """The torch part's own check names the parameters, before torch would
    load anything (a lazy, not yet sized parameter takes any shape)."""
    saved = torch.nn.LSTM(6, 4, bidirectional=True).state_dict()
    other = torch.nn.LSTM(8, 4, bidirectional=False)
    differences = state_differences(other.state_dict(), saved)
    assert "weight_ih_l0: saved (16, 6), model (16, 8)" in differences
    assert "unexpected weight_ih_l0_reverse" in differences
    assert "missing weight_ih_l0" not in differences
    lazy = {"w": torch.nn.parameter.UninitializedParameter()}
    assert state_differences(lazy, {"w": torch.ones(3, 2)}) == []
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    before = other.weight_ih_l0.detach().clone()
    with pytest.raises(IncompatibleWeightsError, match=r"weight_ih_l0: saved \(16, 6\)"):
        load_torch_weights(other, buffer.getvalue(), torch.device("cpu"))
    assert torch.equal(other.weight_ih_l0, before)
    with pytest.raises(CorruptWeightsError, match="cannot be read"):
        load_torch_weights(other, buffer.getvalue()[:100], torch.device("cpu"))


def test_intact_copy_loads(copy: Path, entity_labels: tuple[str, ...]) -> None:
    """The damage above, not the copying, is what the loads refuse."""
    assert spacy.load(copy).get_pipe("ner").labels == entity_labels


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_model(train: Callable[..., Language]) -> None:
    """Two CPU trainings with the same seed (dropout on) give the same weights,
    byte for byte; another seed does not."""
    first, second, other = (train(seed=seed, steps=4, drop=0.2) for seed in (0, 0, 1))
    weights = [nlp.get_pipe("ner").to_bytes() for nlp in (first, second, other)]
    assert weights[0] == weights[1]
    assert weights[0] != weights[2]
    text = "Mary Jones met Peter Brown in Berlin ."
    docs = [first.make_doc(text)]
    assert numpy.array_equal(
        first.get_pipe("ner").model.predict(docs)[0], second.get_pipe("ner").model.predict(docs)[0]
    )
