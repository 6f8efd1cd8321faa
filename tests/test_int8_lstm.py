"""The BiLSTM with int8 weights at inference (int8_lstm.py, `int8_lstm` setting):
close to the float scores, never used in training, rebuilt whenever the float
weights change, and off means the float path exactly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy
import spacy
import torch
from bilstm_ner.architectures import ENCODER
from bilstm_ner.layers.int8_lstm import int8_copy
from spacy.language import Language
from spacy.training import Example
from thinc.api import Adam
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

TEXTS = ["John Smith lives in Paris .", "Shares of Acme Corp rose in London and New York ."]


def encoder_of(nlp: Language) -> nn.Module:
    return nlp.get_pipe("ner").model.get_ref(ENCODER).shims[0]._model


def scores(nlp: Language) -> list[numpy.ndarray]:
    return nlp.get_pipe("ner").model.predict([nlp.make_doc(text) for text in TEXTS])


def test_the_int8_copy_computes_what_the_float_lstm_does_on_packed_windows() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(24, 16, bidirectional=True, batch_first=True).eval()
    inputs = torch.randn(3, 7, 24)
    lengths = torch.tensor([7, 5, 1])
    packed = pack_padded_sequence(inputs, lengths, batch_first=True)
    with torch.no_grad():
        expected, _ = pad_packed_sequence(lstm(packed)[0], batch_first=True)
        got, _ = pad_packed_sequence(int8_copy(lstm)(packed)[0], batch_first=True)
    assert got.shape == expected.shape
    # int8 weights: close, not equal (the outputs are tanh-bounded, in (-1, 1))
    assert 0 < (got - expected).abs().max() < 0.05
    assert torch.equal(got[2, 1:], torch.zeros_like(got[2, 1:]))  # padding stays padding


def test_int8_scores_are_close_to_the_float_ones_and_off_is_the_float_path(
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[[Language], list[Example]],
    train_tiny: Callable[..., Language],
    small_model: dict,
) -> None:
    nlp = make_tiny_nlp(model={**small_model, "int8_lstm": True})
    train_tiny(nlp, tiny_examples(nlp), steps=30)
    encoder = encoder_of(nlp)
    int8 = scores(nlp)
    assert encoder.int8_cache._copy is not None  # inference went through the copy
    encoder.int8_lstm = False
    exact = scores(nlp)
    for a, b in zip(int8, exact, strict=True):
        assert a.shape == b.shape
        assert 0 < numpy.abs(a - b).max() < 0.5
    # off: the float LSTM, as a model built without the setting computes
    assert encoder.inference_lstm() is encoder.lstm


def test_an_update_makes_the_next_prediction_use_the_new_weights(
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[[Language], list[Example]],
    train_tiny: Callable[..., Language],
    small_model: dict,
) -> None:
    nlp = make_tiny_nlp(model={**small_model, "int8_lstm": True})
    examples = tiny_examples(nlp)
    train_tiny(nlp, examples, steps=5)
    encoder = encoder_of(nlp)
    scores(nlp)
    first_copy = encoder.int8_cache._copy
    optimizer = Adam(0.01, use_averages=False)
    for _ in range(20):
        nlp.update(examples, sgd=optimizer)
    assert encoder.int8_cache._copy is None  # the training passes dropped it
    after = scores(nlp)
    assert encoder.int8_cache._copy is not first_copy
    encoder.int8_lstm = False
    exact_after = scores(nlp)
    # the new copy follows the new weights: as close to them as int8 gets
    assert max(numpy.abs(a - b).max() for a, b in zip(after, exact_after, strict=True)) < 0.5


def test_loading_weights_drops_the_copy_and_a_loaded_pipeline_predicts_as_saved(
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[[Language], list[Example]],
    train_tiny: Callable[..., Language],
    small_model: dict,
    tmp_path: Path,
) -> None:
    nlp = make_tiny_nlp(model={**small_model, "int8_lstm": True})
    train_tiny(nlp, tiny_examples(nlp), steps=20)
    before = scores(nlp)
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    for a, b in zip(before, scores(loaded), strict=True):
        numpy.testing.assert_allclose(a, b, atol=1e-5)
    # other weights loaded into the same object: its copy is dropped, not reused
    other = make_tiny_nlp(seed=1, model={**small_model, "int8_lstm": True})
    train_tiny(other, tiny_examples(other), steps=20)
    encoder = encoder_of(loaded)
    assert encoder.int8_cache._copy is not None
    loaded.get_pipe("ner").from_bytes(other.get_pipe("ner").to_bytes())
    assert encoder_of(loaded).int8_cache._copy is None
    for a, b in zip(scores(other), scores(loaded), strict=True):
        numpy.testing.assert_allclose(a, b, atol=1e-5)
