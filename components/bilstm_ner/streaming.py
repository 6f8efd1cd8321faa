"""Scores at inference without holding the encoder's vectors for the whole
batch (see BiLSTMEncoder.tag_scores): the same scores as `model.predict`, up
to float rounding, in a fraction of its memory and faster. The component
scores every slice of docs this way (pipeline.model_scores).
"""

import contextlib
from collections.abc import Iterator

import torch
from spacy.tokens import Doc
from thinc.api import Model, torch2xp, xp2torch
from thinc.types import Floats2d
from torch import nn

from .architectures import ENCODER, FEATURIZER, OUTPUT_LAYER
from .torch_wrapper import batch_to_torch


def can_stream(model: Model) -> bool:
    """Whether `stream_scores` can score with this model: one built by
    `build_bilstm_tagger` (a component may be given another architecture)."""
    return all(model.has_ref(name) for name in (FEATURIZER, ENCODER, OUTPUT_LAYER))


def stream_scores(model: Model[list[Doc], list[Floats2d]], docs: list[Doc]) -> list[Floats2d]:
    """What `model.predict(docs)` gives (up to float rounding), in memory that
    grows by the featurized inputs and the scores (a few hundred bytes per
    token) instead of about 10 KB per token.

    At inference (the component's path for every slice of docs): the BiLSTM
    reads the windows a slice at a time and the output layer is applied inside that loop
    (BiLSTMEncoder.tag_scores), so the (tokens, output_width) vectors that
    `model.predict` passes from the encoder to the output layer never exist
    for the whole batch; only the (tokens, n_tags) scores do. Same LSTM work
    as `model.predict`, no second pass, and less after it: no (tokens,
    output_width) copies for the word memory and the output layer. Training keeps the plain path, which
    its gradients need.
    """
    wrapped = model.get_ref(ENCODER)
    output_layer = model.get_ref(OUTPUT_LAYER)
    batch = model.get_ref(FEATURIZER).predict(docs)
    inputs, _ = batch_to_torch(wrapped, batch, is_train=False)
    shim = wrapped.shims[0]
    weight = xp2torch(output_layer.get_param("W"), device=shim.device)
    bias = xp2torch(output_layer.get_param("b"), device=shim.device)
    with evaluating(shim._model):
        padded = shim._model.tag_scores(*inputs.args, weight=weight, bias=bias)
    scores = torch2xp(padded)[model.ops.asarray(batch.rows), model.ops.asarray(batch.cols)]
    return model.ops.unflatten(scores, model.ops.asarray(batch.doc_lengths, dtype="int32"))


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """The module in eval mode (no dropout) and without autograd, as thinc's
    PyTorchShim.predict runs it, for a call other than `forward`; its mode
    is restored after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)
