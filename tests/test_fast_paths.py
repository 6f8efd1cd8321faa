"""The inference shortcuts give what the plain computations give.

Each fast path (cached byte rows, token slices, LSTM slices of windows, long
documents scored in a stream) is compared with
the straightforward computation it replaces, so a speed-up can never change a
prediction unnoticed.
"""

import random
from collections.abc import Callable

import numpy
import pytest
import spacy
from bilstm_ner import pipeline, torch_encoder
from bilstm_ner.featurize import utf8_rows
from bilstm_ner.pipeline import token_slices
from bilstm_ner.streaming import can_stream, stream_scores
from spacy.attrs import ORTH
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Adam, fix_random_seed


@pytest.mark.parametrize("n_chars", [1, 4, 8, 16])
def test_utf8_rows_match_spacy(n_chars: int) -> None:
    nlp = spacy.blank("en")
    words = ["a", "Ab", "Zürich", "東京都", "😀x", "", "x" * 5000, "naïve-ly", "Ab", "\u200b", "عربي"]
    doc = Doc(nlp.vocab, words=[w or " " for w in words])
    expected = doc.to_utf8_array(nr_char=n_chars)
    got = utf8_rows(doc.to_array(ORTH), nlp.vocab.strings, n_chars)
    assert got.shape == expected.shape
    assert (got == expected).all()
    # a second call reads the cache and must give the same
    assert (utf8_rows(doc.to_array(ORTH), nlp.vocab.strings, n_chars) == expected).all()


def test_token_slices_keep_order_and_bound_size() -> None:
    nlp = spacy.blank("en")
    docs = [Doc(nlp.vocab, words=["w"] * n) if n else Doc(nlp.vocab) for n in [3, 5, 0, 9, 2, 2, 20, 1]]
    slices = list(token_slices(docs, 8))
    assert [d for chunk in slices for d in chunk] == docs
    for chunk in slices:
        assert sum(len(d) for d in chunk) <= 8 or len(chunk) == 1


def test_lstm_slices_give_the_same_predictions(
    monkeypatch: pytest.MonkeyPatch,
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[[Language], list[Example]],
) -> None:
    """A document of many windows, read at once or a few windows at a time."""
    nlp = make_tiny_nlp()
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    text = " ".join(eg.reference.text for eg in examples) * 20
    ner = nlp.get_pipe("ner")
    doc = nlp.make_doc(text)
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 10**6)
    whole = ner.model_scores([doc])[0]
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 2)
    sliced = ner.model_scores([doc])[0]
    assert numpy.allclose(whole, sliced, atol=1e-5)


@pytest.fixture(scope="module", params=[True, False], ids=["doc_memory", "no_doc_memory"])
def memory_nlp(
    request: pytest.FixtureRequest, small_model: dict, tiny_examples: Callable[[Language], list[Example]]
) -> Language:
    """The robustness tests' tiny pipeline, trained, with and without the word memory."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    model = {**small_model, "doc_memory": request.param}
    nlp.add_pipe("bilstm_ner", name="ner", config={"model": model})
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(25):
        nlp.update(examples, sgd=optimizer)
    return nlp


def long_text(train_data: list, copies: int = 30) -> str:
    """Many windows (the tiny model's are 8 tokens), each word many times over
    in varied contexts: the training sentences in a shuffled order."""
    sentences = [text for text, _ in train_data * copies]
    random.Random(0).shuffle(sentences)
    return " ".join(sentences)


def test_streamed_scores_match_plain(
    memory_nlp: Language, train_data: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stream_scores, a few windows at a time, against model.predict on a batch
    of a long doc, short docs and an empty one."""
    nlp = memory_nlp
    model = nlp.get_pipe("ner").model
    assert can_stream(model)
    texts = [
        long_text(train_data),
        "Paris is the capital of France .",
        "",
        "John Smith met Mary Jones in Paris .",
    ]
    docs = [nlp.make_doc(text) for text in texts]
    plain = model.predict(docs)
    # slices of 3 windows, of different widths, and the forward path is never taken
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 3)

    def no_forward(*args, **kwargs):
        raise AssertionError("stream_scores must not build the whole batch's vectors")

    monkeypatch.setattr(torch_encoder.BiLSTMEncoder, "forward", no_forward)
    streamed = stream_scores(model, docs)
    assert len(streamed) == len(plain)
    for doc, expected, got in zip(docs, plain, streamed, strict=True):
        assert got.shape == expected.shape == (len(doc), len(nlp.get_pipe("ner").tag_names))
        numpy.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_inference_streams_every_slice_with_the_plain_paths_entities(
    memory_nlp: Language, train_data: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the component: every slice of PREDICT_TOKENS (a long doc alone,
    short docs together) is scored by stream_scores, and the entities and
    confidences are those of the plain path (model.predict)."""
    nlp = memory_nlp
    docs = [nlp.make_doc(long_text(train_data)), nlp.make_doc("Acme Corp hired Peter Brown .")]
    docs.append(nlp.make_doc("Mary Jones met Peter Brown in Berlin ."))
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 4)
    monkeypatch.setattr(pipeline, "PREDICT_TOKENS", 50)
    monkeypatch.setattr(pipeline, "can_stream", lambda model: False)
    plain = list(nlp.pipe([doc.copy() for doc in docs]))
    monkeypatch.undo()
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 4)
    monkeypatch.setattr(pipeline, "PREDICT_TOKENS", 50)
    streamed_sizes = []

    def spy(model, chunk):
        streamed_sizes.append(sum(len(doc) for doc in chunk))
        return stream_scores(model, chunk)

    monkeypatch.setattr(pipeline, "stream_scores", spy)
    streamed = list(nlp.pipe([doc.copy() for doc in docs]))
    # the long doc makes a slice of its own; the two short ones share one
    assert streamed_sizes == [len(docs[0]), len(docs[1]) + len(docs[2])]
    assert any(len(doc.ents) for doc in plain)
    for before, after in zip(plain, streamed, strict=True):
        assert [(e.start, e.end, e.label_) for e in after.ents] == [
            (e.start, e.end, e.label_) for e in before.ents
        ]
        numpy.testing.assert_allclose(
            [e._.confidence for e in after.ents], [e._.confidence for e in before.ents], atol=1e-4
        )
