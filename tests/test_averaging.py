"""Parameter averaging (`use_averages = true` in [training.optimizer]).

spacy train evaluates and saves a pipeline inside `nlp.use_params(optimizer.averages)`.
thinc keeps the torch parameters' averages under `(shim.id, name)` keys, which
its own PyTorchShim.use_params does not look up; the component's shim does.
These tests fail if the averages are ignored again, or if the raw weights are
not restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy
import pytest
import spacy
import torch
from spacy.language import Language
from spacy.training import Example
from thinc.api import Adam


def torch_shim(nlp):
    return next(node for node in nlp.get_pipe("ner").model.walk() if node.shims).shims[0]


def torch_state(nlp) -> dict[str, torch.Tensor]:
    encoder = torch_shim(nlp)._model
    return {name: value.detach().clone() for name, value in encoder.state_dict().items()}


@pytest.fixture
def averaged(make_tiny_nlp: Callable[..., Language], tiny_examples: Callable[[Language], list[Example]]):
    """The tiny pipeline after 6 updates with an averaging optimizer: (nlp, optimizer,
    examples), trained afresh for each test."""
    nlp = make_tiny_nlp(seed=0)
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01, use_averages=True)
    for _ in range(6):
        nlp.update(examples, sgd=optimizer, drop=0.1)
    return nlp, optimizer, examples


def test_use_params_swaps_in_the_torch_averages_and_restores_the_weights(averaged) -> None:
    nlp, optimizer, _ = averaged
    shim = torch_shim(nlp)
    raw = torch_state(nlp)
    # thinc layers and shims number their ids apart: (id, "W") may be a Linear's
    averaged_keys = [key for key in optimizer.averages if key[0] == shim.id and key[1] in raw]
    assert averaged_keys, "the optimizer kept no averages of the torch parameters"
    with nlp.use_params(optimizer.averages):
        inside = torch_state(nlp)
    after = torch_state(nlp)
    for _, name in averaged_keys:
        numpy.testing.assert_allclose(inside[name].numpy(), optimizer.averages[(shim.id, name)], rtol=1e-6)
        assert not torch.equal(inside[name], raw[name]), name
        assert torch.equal(after[name], raw[name]), name


def test_averaged_weights_change_predictions_and_are_saved(averaged, tmp_path) -> None:
    nlp, optimizer, examples = averaged
    docs = [eg.reference.text for eg in examples]
    raw_scores = nlp.get_pipe("ner").model_scores([nlp.make_doc(t) for t in docs])
    with nlp.use_params(optimizer.averages):
        averaged_scores = nlp.get_pipe("ner").model_scores([nlp.make_doc(t) for t in docs])
        nlp.to_disk(tmp_path / "averaged")
    assert any(not numpy.allclose(a, b) for a, b in zip(raw_scores, averaged_scores, strict=True))
    loaded = spacy.load(tmp_path / "averaged")
    loaded_scores = loaded.get_pipe("ner").model_scores([loaded.make_doc(t) for t in docs])
    shim = torch_shim(nlp)
    loaded_state = torch_state(loaded)
    for (owner, name), average in optimizer.averages.items():
        if owner == shim.id and name in loaded_state:
            numpy.testing.assert_allclose(loaded_state[name].numpy(), average, rtol=1e-6)
    for a, b in zip(averaged_scores, loaded_scores, strict=True):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
