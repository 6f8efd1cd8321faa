"""The transformer stored float16 or int8 in the pipeline (transformer_context.py's
`storage` setting): a half or about a quarter of the bytes, float32 in memory,
the same features before and after a round trip through bytes or disk, and
pipelines saved float32 still load."""

import numpy
import pytest
import spacy
import srsly
import torch
from bilstm_ner.layers.transformer_context import (
    ROW_SCALES,
    FrozenTransformer,
    build_transformer_context,
    loaded_weights,
    serialize_transformer,
    stored_weights,
)
from spacy.tokens import Doc

WORDS = ["Mary", "Jones", "met", "Peter", "Brown", "in", "Berlin", "."]


@pytest.fixture
def context_layer(tiny_transformer):
    def make(**settings):
        layer = build_transformer_context(
            str(tiny_transformer), **{"layers": 2, "precision": "float32", **settings}
        )
        layer.initialize()
        return layer

    return make


def saved_weights(module: FrozenTransformer) -> dict[str, torch.Tensor]:
    from io import BytesIO

    blob = srsly.msgpack_loads(serialize_transformer(module))
    return torch.load(BytesIO(blob["weights"]), weights_only=True)


def encoder_of(layer) -> torch.nn.Module:
    return layer.shims[0]._model.encoder


def test_float16_storage_halves_the_weights_and_loads_float32(context_layer):
    half, full = context_layer(storage="float16"), context_layer(storage="float32")
    stored = saved_weights(half.shims[0]._model)
    floating = [t for t in stored.values() if t.is_floating_point()]
    assert floating and all(t.dtype == torch.float16 for t in floating)
    assert all(
        t.dtype == torch.float32
        for t in saved_weights(full.shims[0]._model).values()
        if t.is_floating_point()
    )

    def data_bytes(layer) -> int:
        return sum(t.numel() * t.element_size() for t in saved_weights(layer.shims[0]._model).values())

    # what the tensors hold halves (the file also has a header per tensor, a large
    # share of a tiny model's: all-MiniLM-L6-v2's 90 MB become 45 MB)
    assert data_bytes(half) < 0.51 * data_bytes(full)
    assert len(half.to_bytes()) < len(full.to_bytes())
    # in memory: float32 holding the float16 values, as the saved pipeline will
    for name, parameter in encoder_of(half).named_parameters():
        assert parameter.dtype == torch.float32
        torch.testing.assert_close(parameter, parameter.half().float(), rtol=0, atol=0)
        if not name.startswith("pooler."):  # the tiny model has no pooler: random at each load
            torch.testing.assert_close(
                parameter, dict(encoder_of(full).named_parameters())[name], rtol=1e-3, atol=1e-4
            )
    assert any(not torch.equal(p, p.half().float()) for p in encoder_of(full).parameters()), (
        "float32 storage keeps the weights as they were"
    )


def test_int8_storage_keeps_each_matrix_as_rows_and_scales(context_layer):
    full = context_layer(storage="float32")
    state = encoder_of(full).state_dict()
    stored = stored_weights(state, "int8")
    matrices = [name for name, t in state.items() if t.is_floating_point() and t.dim() == 2]
    assert matrices
    for name in matrices:
        assert stored[name].dtype == torch.int8 and stored[name + ROW_SCALES].dtype == torch.float16
        assert stored[name + ROW_SCALES].shape == (state[name].shape[0],)
    rest = [t for name, t in stored.items() if t.is_floating_point() and not name.endswith(ROW_SCALES)]
    assert rest and all(t.dtype == torch.float16 for t in rest)
    loaded = loaded_weights(stored)
    assert set(loaded) == set(state)
    for (
        name
    ) in matrices:  # within half a step of 1/127 of each row's largest magnitude (and float16's rounding)
        step = state[name].abs().amax(dim=1, keepdim=True) / 127
        assert ((loaded[name] - state[name]).abs() <= 0.6 * step).all()  # 0.5 + 127 x float16 rounding
    data = sum(t.numel() * t.element_size() for t in stored.values())
    assert data < 0.3 * sum(t.numel() * t.element_size() for t in state.values())


@pytest.mark.parametrize("storage", ["float16", "int8"])
def test_stored_weights_round_trip_through_bytes_and_disk(context_layer, tmp_path, storage):
    layer = context_layer(storage=storage)
    doc = Doc(spacy.blank("en").vocab, words=WORDS)
    expected = layer.predict([doc])[0]
    from_bytes = context_layer(storage=storage)
    with torch.no_grad():
        for parameter in encoder_of(from_bytes).parameters():
            parameter.zero_()
    from_bytes.from_bytes(layer.to_bytes())
    layer.to_disk(tmp_path / "layer")
    from_disk = build_transformer_context(None, layers=2, precision="float32", storage=storage)
    from_disk.from_disk(tmp_path / "layer")
    for loaded in (from_bytes, from_disk):
        assert all(p.dtype == torch.float32 for p in encoder_of(loaded).parameters())
        numpy.testing.assert_array_equal(loaded.predict([doc])[0], expected)


def test_a_pipeline_saved_float32_loads_into_a_float16_layer(context_layer):
    doc = Doc(spacy.blank("en").vocab, words=WORDS)
    old = context_layer(storage="float32")
    new = build_transformer_context(None, layers=2, precision="float32", storage="float16")
    new.from_bytes(old.to_bytes())
    numpy.testing.assert_allclose(
        new.predict([doc])[0].astype("float32"), old.predict([doc])[0].astype("float32"), atol=2e-2
    )


def test_an_unknown_storage_is_refused():
    with pytest.raises(ValueError, match="storage must be one of"):
        build_transformer_context(None, storage="int4")
