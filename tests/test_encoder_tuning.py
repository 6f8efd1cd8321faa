"""Fine-tuning the transformer's top layers (layers/encoder_tuning.py): the tuned
path computes what the frozen one does, its gradient reaches the tuned layers and
only them, at their own rate, and a tuned pipeline saves what it learnt."""

import shutil

import numpy
import pytest
import spacy
import torch
from bilstm_ner.layers.encoder_tuning import TunedShim
from bilstm_ner.layers.transformer_context import build_transformer_context
from spacy.tokens import Doc
from thinc.api import Adam
from torch import nn


def tiny_context(path, **settings):
    layer = build_transformer_context(
        str(path), **{"layers": 2, "storage": "float32", "precision": "float32", **settings}
    )
    layer.initialize()
    return layer


def encoder_of(layer) -> nn.Module:
    return layer.shims[0]._model.encoder


def without_dropout(layer) -> None:
    for module in encoder_of(layer).modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


@pytest.fixture
def docs():
    vocab = spacy.blank("en").vocab
    return [
        Doc(vocab, words="John lives in Paris quietly .".split()),
        Doc(vocab, words="Mary works at Acme".split()),
        Doc(vocab, words=[]),
    ]


@pytest.mark.parametrize("tune_layers", [1, 2])
def test_the_tuned_path_gives_the_frozen_features(tiny_transformer, docs, tune_layers):
    """Cached bottom states + the tuned layers run alone = the whole encoder's layers."""
    frozen = tiny_context(tiny_transformer)
    tuned = tiny_context(tiny_transformer, tune_layers=tune_layers)
    without_dropout(tuned)
    expected = frozen.predict(docs)
    got, _ = tuned.begin_update(docs)
    for want, have in zip(expected, got, strict=True):
        assert have.shape == want.shape
        numpy.testing.assert_allclose(have.astype("float32"), want.astype("float32"), atol=2e-3)
    # a second call reads the bottom from the cache and still agrees
    again, _ = tuned.begin_update(docs)
    for first, second in zip(got, again, strict=True):
        numpy.testing.assert_allclose(first.astype("float32"), second.astype("float32"), atol=2e-3)


def test_the_gradient_reaches_the_tuned_layers_only(tiny_transformer, docs):
    tuned = tiny_context(tiny_transformer, tune_layers=1, tune_rate=1e-2, tune_warmup=0, tune_steps=10)
    encoder = encoder_of(tuned)
    before = {name: p.detach().clone() for name, p in encoder.named_parameters()}
    features, backprop = tuned.begin_update(docs)
    rng = numpy.random.default_rng(0)
    backprop([rng.normal(size=f.shape).astype("float32") for f in features])
    tuned.finish_update(Adam(0.001))
    changed = {name for name, p in encoder.named_parameters() if not torch.equal(p, before[name])}
    top = {name for name in before if name.startswith("encoder.layer.1.")}
    assert changed == top
    # the features a later call gives follow the new weights
    after = tuned.predict(docs)
    assert not numpy.allclose(after[0].astype("float32")[:, 1], features[0].astype("float32")[:, 1])
    # the layer below the tuned one is frozen: its mixed features stay
    numpy.testing.assert_allclose(after[0][:, 0].astype("float32"), features[0][:, 0].astype("float32"), atol=2e-3)


def test_the_tuned_rate_warms_up_then_decays_to_zero():
    shim = TunedShim(nn.Linear(2, 2), rate=1e-4, warmup=4, steps=12)
    factors = [shim.rate_factor(step) for step in range(14)]
    assert factors[:4] == sorted(factors[:4]) and factors[0] < factors[3] < 1.0
    assert factors[4] == 1.0
    assert factors[4:13] == sorted(factors[4:13], reverse=True)
    assert factors[12] == 0.0 and factors[13] == 0.0


def test_more_tuned_layers_than_the_model_has_is_refused(tiny_transformer, docs):
    with pytest.raises(ValueError, match="tune_layers must be between 1 and the model's 2 layers"):
        tiny_context(tiny_transformer, tune_layers=3).begin_update(docs)


def test_a_tuned_pipeline_learns_its_top_layer_and_saves_it(
    tmp_path, tiny_transformer, make_tiny_nlp, small_model, tiny_examples, train_tiny, train_data
):
    copy = shutil.copytree(tiny_transformer, tmp_path / "transformer")
    context = {
        "@architectures": "bilstm_ner.TransformerContext.v1",
        "path": str(copy),
        "layers": 2,
        "window": 16,
        "max_pieces": 64,
        "storage": "float32",
        "tune_layers": 1,
        "tune_rate": 1e-3,
        "tune_warmup": 0,
        "tune_steps": 30,
    }
    nlp = make_tiny_nlp(model={**small_model, "context": context, "context_width": 8})
    original = {name: p.detach().clone() for name, p in encoder_of(tiny_context(copy)).named_parameters()}
    train_tiny(nlp, tiny_examples(nlp), steps=20)
    featurizer = nlp.get_pipe("ner").model.get_ref("featurizer")
    trained = encoder_of(featurizer.get_ref("context"))
    # (the tiny model's pooler, which nothing reads, is drawn afresh at each load)
    changed = {
        name
        for name, p in trained.named_parameters()
        if not name.startswith("pooler.") and not torch.equal(p, original[name])
    }
    assert changed and all(name.startswith("encoder.layer.1.") for name in changed)
    texts = [text for text, _ in train_data]
    before = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    assert any(before)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(copy)
    loaded = spacy.load(tmp_path / "pipeline")
    reloaded = encoder_of(loaded.get_pipe("ner").model.get_ref("featurizer").get_ref("context"))
    for name, param in reloaded.named_parameters():
        torch.testing.assert_close(param, dict(trained.named_parameters())[name])
    after = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in loaded.pipe(texts)]
    assert after == before
