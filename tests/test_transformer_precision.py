"""The transformer's precision at inference on a CPU (transformer_context.py's
`precision` setting, cpu_precision.py): int8 Linear layers or a bfloat16 copy
are used by inference calls only, stay close to the float features, are cached
apart from them in a training run, are rebuilt when the encoder's weights can
change (a load, or training when the encoder learns), and "auto" follows the
CPU."""

import numpy
import pytest
import spacy
import torch
from bilstm_ner.layers import cpu_precision
from bilstm_ner.layers.cpu_precision import resolve_precision
from bilstm_ner.layers.transformer_context import build_transformer_context
from spacy.tokens import Doc
from torch import nn

WORDS = ["John", "Smith", "lives", "in", "Paris", "and", "works", "for", "Acme", "."]


@pytest.fixture
def context_layer(tiny_transformer):
    def make(**settings):
        layer = build_transformer_context(str(tiny_transformer), **{"layers": 2, **settings})
        layer.initialize()
        return layer

    return make


def docs() -> list[Doc]:
    vocab = spacy.blank("en").vocab
    return [Doc(vocab, words=WORDS), Doc(vocab, words=WORDS[::-1] + WORDS[:4])]


def quantized_linears(module: nn.Module) -> int:
    return sum(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in module.modules())


def transformer_of(layer):
    return layer.shims[0]._model


@pytest.mark.parametrize("precision", ["int8", "bfloat16"])
def test_inference_runs_the_copy_and_stays_close_to_float(context_layer, precision):
    layer, float_layer = context_layer(precision=precision), context_layer(precision="float32")
    features, float_features = layer.predict(docs()), float_layer.predict(docs())
    copy = transformer_of(layer).copies.copies[precision]
    if precision == "int8":
        assert quantized_linears(copy) > 0
    else:
        assert all(p.dtype == torch.bfloat16 for p in copy.parameters())
    encoder = transformer_of(layer).encoder
    assert quantized_linears(encoder) == 0 and all(p.dtype == torch.float32 for p in encoder.parameters())
    assert transformer_of(float_layer).copies.copies == {}
    for a, b in zip(features, float_features, strict=True):
        a, b = a.astype("float32"), b.astype("float32")
        assert a.shape == b.shape
        # close, not equal (a tiny random BERT's layer-normed states, about unit scale)
        assert 0 < numpy.abs(a - b).max() < 0.25 * numpy.abs(b).max()
        cosine = (a * b).sum(-1) / (numpy.linalg.norm(a, axis=-1) * numpy.linalg.norm(b, axis=-1))
        assert cosine.min() > 0.97


def test_training_calls_compute_float_features_and_cache_them_apart(context_layer):
    layer, float_layer = context_layer(precision="int8"), context_layer(precision="float32")
    trained_on = layer(docs(), is_train=True)[0]
    transformer = transformer_of(layer)
    assert transformer.copies.copies == {}, "training never builds a copy"
    for a, b in zip(trained_on, float_layer.predict(docs()), strict=True):
        numpy.testing.assert_array_equal(a, b)
    n_float = len(transformer.cache.entries)
    predicted = layer.predict(docs())  # the same windows at inference: int8, not the cached float ones
    assert len(transformer.cache.entries) == 2 * n_float
    assert not numpy.array_equal(predicted[0], trained_on[0])
    numpy.testing.assert_array_equal(layer.predict(docs())[0], predicted[0])


def test_a_frozen_encoder_keeps_its_copy_and_a_learning_one_drops_it(context_layer):
    layer = context_layer(precision="int8")
    transformer = transformer_of(layer)
    layer.predict(docs())
    copy = transformer.copies.copies["int8"]
    layer(docs(), is_train=True)
    assert transformer.copies.copies["int8"] is copy, "frozen weights do not change: the copy stays"
    for parameter in transformer.encoder.parameters():  # as fine-tuning would make them
        parameter.requires_grad_(True)
    before = layer.predict(docs())[0]
    layer(docs(), is_train=True)
    assert transformer.copies.copies == {}
    with torch.no_grad():  # what the optimizer would do after that call
        transformer.encoder.get_input_embeddings().weight.mul_(2.0)
    transformer.cache.entries.clear()  # a learning encoder's windows are not cached (issue 32's business)
    changed = layer.predict(docs())[0]
    assert not numpy.array_equal(changed, before), "the copy was rebuilt from the new weights"


def test_a_load_rebuilds_the_copy_from_the_loaded_weights(context_layer):
    layer = context_layer(precision="int8")
    layer.predict(docs())
    other = context_layer(precision="int8")
    with torch.no_grad():
        for parameter in transformer_of(other).encoder.parameters():
            parameter.add_(0.05)
    other.from_bytes(other.to_bytes())  # its weights as stored (float16)
    layer.from_bytes(other.to_bytes())
    assert transformer_of(layer).copies.copies == {}
    numpy.testing.assert_array_equal(layer.predict(docs())[0], other.predict(docs())[0])


def test_auto_is_bfloat16_where_the_cpu_has_it_and_float32_elsewhere(monkeypatch, context_layer):
    monkeypatch.setattr(cpu_precision, "native_bfloat16", lambda: True)
    assert resolve_precision("auto") == "bfloat16"
    layer = context_layer(precision="auto")
    assert transformer_of(layer).running_precision(is_train=False) == "bfloat16"
    assert transformer_of(layer).running_precision(is_train=True) == "float32"
    monkeypatch.setattr(cpu_precision, "native_bfloat16", lambda: False)
    assert resolve_precision("auto") == "float32"
    layer.predict(docs())
    assert transformer_of(layer).copies.copies == {}
    assert resolve_precision("int8") == "int8"
    with pytest.raises(ValueError, match="precision must be one of"):
        build_transformer_context(None, precision="int4")


def test_the_pipelines_entities_in_int8_are_close_to_float(
    tiny_transformer, make_tiny_nlp, small_model, tiny_examples, train_tiny, train_data, tmp_path
):
    context = {
        "@architectures": "bilstm_ner.TransformerContext.v1",
        "path": str(tiny_transformer),
        "layers": 2,
        "window": 16,
        "max_pieces": 64,
        "precision": "int8",
    }
    nlp = make_tiny_nlp(model={**small_model, "context": context, "context_width": 8})
    train_tiny(nlp, tiny_examples(nlp), steps=30)
    nlp.to_disk(tmp_path / "pipeline")
    # a run-time setting: the saved pipeline loads in another precision (model attrs would not)
    as_float = spacy.load(tmp_path / "pipeline", config={"components.ner.model.context.precision": "float32"})
    texts = [text for text, _ in train_data]
    ner, float_ner = nlp.get_pipe("ner"), as_float.get_pipe("ner")
    int8_scores = ner.model_scores([nlp.make_doc(t) for t in texts])
    float_scores = float_ner.model_scores([as_float.make_doc(t) for t in texts])
    for a, b in zip(int8_scores, float_scores, strict=True):
        assert 0 < numpy.abs(a - b).max() < 0.1 * numpy.abs(b).max()
    entities = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    assert entities == [[(e.start, e.end, e.label_) for e in doc.ents] for doc in as_float.pipe(texts)]


def test_precision_and_piece_budget_are_run_time_settings_of_a_loaded_pipeline(
    tiny_transformer, make_tiny_nlp, small_model, tiny_examples, train_tiny, train_data, tmp_path
):
    """Model attrs are saved with the weights and would override the config on load:
    these two are not, so a pipeline trained with one setting loads with another."""
    context = {
        "@architectures": "bilstm_ner.TransformerContext.v1",
        "path": str(tiny_transformer),
        "layers": 2,
        "window": 16,
        "max_pieces": 64,
        "precision": "int8",
        "batch_pieces": 4096,
    }
    nlp = make_tiny_nlp(model={**small_model, "context": context, "context_width": 8})
    train_tiny(nlp, tiny_examples(nlp), steps=5)
    nlp.to_disk(tmp_path / "pipeline")
    overrides = {
        "components.ner.model.context.precision": "float32",
        "components.ner.model.context.batch_pieces": 8,
    }
    loaded = spacy.load(tmp_path / "pipeline", config=overrides)
    (layer,) = [n for n in loaded.get_pipe("ner").model.walk() if n.name == "transformer_context"]
    assert (transformer_of(layer).precision, transformer_of(layer).batch_pieces) == ("float32", 8)
    texts = [text for text, _ in train_data]
    # a budget of 8 pieces puts every window in a batch of its own: the same features as one batch
    as_saved = spacy.load(tmp_path / "pipeline", config={"components.ner.model.context.precision": "float32"})
    ner, saved_ner = loaded.get_pipe("ner"), as_saved.get_pipe("ner")
    for a, b in zip(
        ner.model_scores([loaded.make_doc(t) for t in texts]),
        saved_ner.model_scores([as_saved.make_doc(t) for t in texts]),
        strict=True,
    ):
        numpy.testing.assert_allclose(a, b, atol=1e-4)
    assert transformer_of(layer).copies.copies == {}
