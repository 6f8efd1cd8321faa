"""Parameter averaging (`use_averages = true` in [training.optimizer]) is refused.

thinc 8.3's PyTorchShim keeps the optimizer's averages of the torch weights
under `(shim.id, name)` keys, and its `use_params` only looks for
`"pytorch_{id}_..."` keys: spacy train would evaluate and save the raw torch
weights beside an averaged output layer, and say nothing. The component
refuses such an optimizer at its first update instead, in `spacy train` too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.cli.train import train
from spacy.language import Language
from spacy.tokens import DocBin, Span
from spacy.training import Example
from thinc.api import Adam

REPO = Path(__file__).resolve().parent.parent


def test_thinc_still_ignores_the_torch_averages(
    make_tiny_nlp: Callable[..., Language], tiny_examples: Callable[[Language], list[Example]]
) -> None:
    """Why the refusal exists: with thinc's own shim, `use_params` leaves the torch
    weights as they are although the optimizer holds averages of them. If a thinc
    release fixes this, this test fails and the refusal can go."""
    nlp = make_tiny_nlp()
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01, use_averages=True)
    ner = nlp.get_pipe("ner")
    for _ in range(3):
        ner.update(examples, sgd=None)
        ner.model.finish_update(optimizer)  # past the component's refusal
    shim = ner.model.get_ref("encoder").shims[0]
    averaged = {name: optimizer.averages[(shim.id, name)] for name, _ in shim._model.named_parameters()}
    assert averaged, "the optimizer kept averages of the torch weights"
    raw = {name: value.detach().clone().numpy() for name, value in shim._model.named_parameters()}
    assert any(not numpy.allclose(raw[name], average) for name, average in averaged.items())
    with nlp.use_params(optimizer.averages):
        inside = {name: value.detach().clone().numpy() for name, value in shim._model.named_parameters()}
    for name, value in raw.items():
        numpy.testing.assert_array_equal(inside[name], value)


def test_an_averaging_optimizer_is_refused_before_any_weight_changes(
    make_tiny_nlp: Callable[..., Language], tiny_examples: Callable[[Language], list[Example]]
) -> None:
    nlp = make_tiny_nlp()
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    before = nlp.get_pipe("ner").to_bytes()
    with pytest.raises(ValueError, match=r"\[ner\] \[training.optimizer\] use_averages = true") as error:
        nlp.update(examples, sgd=Adam(0.01, use_averages=True))
    assert "use_averages = false" in str(error.value) and "use_params" in str(error.value)
    assert nlp.get_pipe("ner").to_bytes() == before
    nlp.update(examples, sgd=Adam(0.01, use_averages=False))
    assert nlp.get_pipe("ner").to_bytes() != before


def test_spacy_train_with_use_averages_stops_with_the_reason(
    small_model: dict, train_data: list, tmp_path: Path
) -> None:
    nlp = spacy.blank("en")
    docs = []
    for text, spans in train_data:
        doc = nlp.make_doc(text)
        doc.ents = [Span(doc, start, end, label) for start, end, label in spans]
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    model = {
        f"components.ner.model.{key}": value for key, value in small_model.items() if key != "@architectures"
    }
    overrides = {
        "paths.train": str(tmp_path / "train.spacy"),
        "paths.dev": str(tmp_path / "train.spacy"),
        "training.max_steps": 3,
        "training.logger.progress_bar": None,
        "training.optimizer.use_averages": True,
        **model,
    }
    from scripts.assets import training_config

    # the project's config as a run without word vectors trains it (scripts/assets.py inputs)
    training_config("fast", False, REPO / "configs").to_disk(tmp_path / "config.cfg")
    with pytest.raises(ValueError, match=r"use_averages = true cannot train this component"):
        train(tmp_path / "config.cfg", tmp_path / "training", overrides=overrides)
    # the shipped config leaves averaging off (its variants do not touch [training])
    assert "use_averages = false" in (REPO / "configs" / "bilstm_ner.cfg").read_text(encoding="utf8")
