"""The inference shortcuts give what the plain computations give.

Each fast path (cached byte rows, token slices, LSTM slices of windows, long
documents scored in a stream) is compared with
the straightforward computation it replaces, so a speed-up can never change a
prediction unnoticed.
"""

import contextlib
import random
from collections.abc import Callable, Iterator

import numpy
import pytest
import spacy
from bilstm_ner import architectures, pipeline
from bilstm_ner.layers import torch_encoder
from bilstm_ner.layers.featurize import utf8_rows
from bilstm_ner.pipeline import token_slices
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
    """A document of many windows, its LSTM slices all at once or a few windows at a time."""
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
    optimizer = Adam(0.01, use_averages=False)
    for _ in range(25):
        nlp.update(examples, sgd=optimizer)
    return nlp


def long_text(train_data: list, copies: int = 30) -> str:
    """Many windows (the tiny model's are 8 tokens), each word many times over
    in varied contexts: the training sentences in a shuffled order."""
    sentences = [text for text, _ in train_data * copies]
    random.Random(0).shuffle(sentences)
    return " ".join(sentences)


@contextlib.contextmanager
def lstm_calls(nlp: Language) -> Iterator[list[int]]:
    """Windows read by each LSTM call of the pipeline's encoder, inside the block."""
    windows: list[int] = []
    lstm = nlp.get_pipe("ner").model.get_ref("encoder").shims[0]._model.lstm
    hook = lstm.register_forward_hook(
        lambda module, args, output: windows.append(int(args[0].batch_sizes[0]))
    )
    try:
        yield windows
    finally:
        hook.remove()


def test_predict_streams_and_matches_plain(
    memory_nlp: Language,
    train_data: list,
    plain_scores: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """model.predict, a few windows at a time, against the layers run in turn on a
    batch of a long doc, short docs and an empty one; the whole batch's vectors
    (and their word memory) are never built."""
    nlp = memory_nlp
    model = nlp.get_pipe("ner").model
    texts = [
        long_text(train_data),
        "Paris is the capital of France .",
        "",
        "John Smith met Mary Jones in Paris .",
    ]
    docs = [nlp.make_doc(text) for text in texts]
    plain = plain_scores(model, docs)
    # slices of 3 windows, of different widths
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 3)

    def no_whole_batch(*args, **kwargs):
        raise AssertionError("model.predict must not build the whole batch's word memory")

    monkeypatch.setattr(torch_encoder, "word_memory", no_whole_batch)
    with lstm_calls(nlp) as windows:
        streamed = model.predict(docs)
    assert len(windows) > 10 and max(windows) == 3
    assert len(streamed) == len(plain)
    for doc, expected, got in zip(docs, plain, streamed, strict=True):
        assert got.shape == expected.shape == (len(doc), len(nlp.get_pipe("ner").tag_names))
        numpy.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_inference_streams_every_slice_with_the_plain_paths_entities(
    memory_nlp: Language,
    train_data: list,
    plain_scores: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the component: every slice of PREDICT_TOKENS (a long doc alone,
    short docs together) is scored by the model's streaming inference, and the
    entities and confidences are those of the plain path (the layers in turn)."""
    nlp = memory_nlp
    docs = [nlp.make_doc(long_text(train_data)), nlp.make_doc("Acme Corp hired Peter Brown .")]
    docs.append(nlp.make_doc("Mary Jones met Peter Brown in Berlin ."))
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 4)
    monkeypatch.setattr(pipeline, "PREDICT_TOKENS", 50)
    streaming = architectures.predict_scores
    monkeypatch.setattr(architectures, "predict_scores", plain_scores)
    plain = list(nlp.pipe([doc.copy() for doc in docs]))
    streamed_sizes = []

    def spy(model, chunk):
        streamed_sizes.append(sum(len(doc) for doc in chunk))
        return streaming(model, chunk)

    monkeypatch.setattr(architectures, "predict_scores", spy)
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
