"""The registered model architecture: Docs -> per-token tag scores (logits).

    DocFeaturizer  (numpy: hashed attributes, bytes, windows, padding,
                    optionally the vocab's static word vectors)
    >> PyTorchWrapper(BiLSTMEncoder)  (torch: embeddings + BiLSTM)
    >> with_array(Linear)  (thinc: one logit per BILUO tag)
    >> ragged2list

The output layer is thinc's, with `nO` left open until the component's
`initialize` knows the labels: thinc stores that dimension with the weights,
so a pipeline rebuilt from its config takes the right shape when it loads.
The torch part returns vectors, never probabilities: the loss and its
gradient are computed once, on the logits, by the component.

At inference a long batch can instead go through `stream_scores`, which gives
the same scores without ever holding the torch part's vectors for the whole
batch (see BiLSTMEncoder.tag_scores).
"""

import contextlib
from collections.abc import Callable, Iterator

import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import (
    ArgsKwargs,
    Linear,
    Model,
    PyTorchShim,
    PyTorchWrapper,
    Ragged,
    chain,
    ragged2list,
    torch2xp,
    with_array,
    xp2torch,
)
from thinc.types import Floats2d
from torch import nn

from .featurize import DocFeaturizer, PaddedBatch
from .torch_encoder import BiLSTMEncoder

ARCHITECTURE = "bilstm_ner.BiLSTMTagger.v1"
OUTPUT_LAYER = "output_layer"
# References to the featurizer and the wrapped encoder, for `stream_scores`.
# Set when the model is built, so pipelines saved before they existed have them too.
FEATURIZER = "featurizer"
ENCODER = "encoder"


@registry.architectures(ARCHITECTURE)
def build_bilstm_tagger(
    attrs: list[str],
    rows: list[int],
    embed_width: int,
    n_chars: int,
    char_width: int,
    hidden_width: int,
    depth: int,
    dropout: float,
    word_dropout: float,
    window: int,
    doc_memory: bool = False,
    include_static_vectors: bool = False,
    static_vectors_width: int | None = None,
) -> Model[list[Doc], list[Floats2d]]:
    """A BiLSTM tagger over hashed lexical attributes and characters.

    attrs / rows: token attributes to embed (e.g. NORM, PREFIX, SUFFIX, SHAPE)
        and the number of embedding rows for each.
    embed_width: width of each attribute's embedding.
    n_chars / char_width: how many leading and trailing UTF-8 bytes of each
        token to embed, and the width of each byte's embedding.
    hidden_width / depth: LSTM size per direction, and number of layers.
    dropout: on the LSTM's inputs and outputs; word_dropout: share of tokens
        whose word embedding is blanked in training.
    window: longest stretch of tokens the LSTM reads at once; documents are
        cut into windows on sentence boundaries.
    doc_memory: also give each token the mean BiLSTM output over all
        occurrences of the same word in its document.
    include_static_vectors: also feed each token's row of the vocab's static
        vectors (`spacy init vectors` output, set by [initialize] vectors),
        frozen, through a trainable projection to `embed_width`. Off by
        default, so configs and saved models from before the option load
        unchanged; `initialize` fails with a clear error if the vocab has no
        vectors.
    static_vectors_width: width the static vectors are projected to (null:
        `embed_width`).
    """
    encoder = BiLSTMEncoder(
        rows=rows,
        embed_width=embed_width,
        n_chars=n_chars,
        char_width=char_width,
        hidden_width=hidden_width,
        depth=depth,
        dropout=dropout,
        word_dropout=word_dropout,
        doc_memory=doc_memory,
        include_static_vectors=include_static_vectors,
        static_vectors_width=static_vectors_width,
    )
    wrapped = PyTorchWrapper(encoder, convert_inputs=batch_to_torch, convert_outputs=torch_to_ragged)
    wrapped.shims[0] = AveragingPyTorchShim(encoder)
    output_layer = Linear(nI=encoder.output_width)
    featurizer = DocFeaturizer(attrs, rows, n_chars, window, include_static_vectors)
    model: Model[list[Doc], list[Floats2d]] = chain(
        featurizer,
        wrapped,
        with_array(output_layer),
        ragged2list(),
    )
    model.set_ref(OUTPUT_LAYER, output_layer)
    model.set_ref(FEATURIZER, featurizer)
    model.set_ref(ENCODER, wrapped)
    return model


class AveragingPyTorchShim(PyTorchShim):
    """thinc's PyTorchShim, but `use_params` finds the optimizer's averages.

    With `use_averages = true`, thinc's optimizer keeps a moving average of
    each torch parameter under the key the shim updates it with,
    `(shim.id, name)`; thinc 8.3's PyTorchShim.use_params only looks for
    `"pytorch_{id}_{name}"` keys, so spacy train would evaluate and save the
    raw weights and silently ignore the averages. This looks them up under the
    key they are stored with; parameters without an average keep their value.
    """

    @contextlib.contextmanager
    def use_params(self, params: dict) -> Iterator[None]:
        averaged = {
            name: params[(self.id, name)]
            for name, _ in self._model.named_parameters()
            if (self.id, name) in params
        }
        if not averaged:
            yield
            return
        backup = {name: value.clone() for name, value in self._model.state_dict().items()}
        state = dict(backup)
        for name, value in averaged.items():
            state[name] = xp2torch(value, device=self.device)
        self._model.load_state_dict(state)
        try:
            yield
        finally:
            self._model.load_state_dict(backup)


def can_stream(model: Model) -> bool:
    """Whether `stream_scores` can score with this model: one built by
    `build_bilstm_tagger` (a component may be given another architecture)."""
    return all(model.has_ref(name) for name in (FEATURIZER, ENCODER, OUTPUT_LAYER))


def stream_scores(model: Model[list[Doc], list[Floats2d]], docs: list[Doc]) -> list[Floats2d]:
    """What `model.predict(docs)` gives (up to float rounding), in memory that
    grows by the featurized inputs and the scores (a few hundred bytes per
    token) instead of about 10 KB per token.

    For long documents at inference: the BiLSTM reads the windows a slice at a
    time and the output layer is applied inside that loop
    (BiLSTMEncoder.tag_scores), so the (tokens, output_width) vectors that
    `model.predict` passes from the encoder to the output layer never exist
    for the whole batch; only the (tokens, n_tags) scores do. Same LSTM work
    as `model.predict`, no second pass. Training keeps the plain path, which
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
        padded = shim._model.tag_scores(*inputs.args, weight=weight, bias=bias, **inputs.kwargs)
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


def batch_to_torch(model: Model, batch: PaddedBatch, is_train: bool) -> tuple[ArgsKwargs, Callable]:
    """Padded numpy arrays -> torch tensors on the model's device; no gradient
    flows back (the static vectors are inputs, so they stay frozen)."""
    device = model.shims[0].device
    ops = model.ops
    args = (
        xp2torch(ops.asarray(batch.ids), device=device),
        xp2torch(ops.asarray(batch.chars), device=device),
        xp2torch(batch.lengths),
        xp2torch(ops.asarray(batch.groups), device=device),
        batch.n_groups,
    )
    kwargs = {}
    if batch.vectors is not None:
        kwargs["static_vectors"] = xp2torch(ops.asarray(batch.vectors), device=device)
    return ArgsKwargs(args=args, kwargs=kwargs), lambda d_inputs: []


def torch_to_ragged(
    model: Model,
    inputs_outputs: tuple[PaddedBatch, torch.Tensor],
    is_train: bool,
) -> tuple[Ragged, Callable]:
    """Padded torch output -> Ragged (tokens in document order, one row each).

    The gradient goes back the same way: scattered into a zero padded tensor.
    """
    batch, output = inputs_outputs
    ops = model.ops
    rows = ops.asarray(batch.rows)
    cols = ops.asarray(batch.cols)
    padded = torch2xp(output)
    vectors = padded[rows, cols]
    lengths = ops.asarray(batch.doc_lengths, dtype="int32")

    def backprop(d_vectors: Ragged) -> ArgsKwargs:
        d_padded = ops.alloc(padded.shape, dtype=padded.dtype)
        d_padded[rows, cols] = d_vectors.data
        return ArgsKwargs(args=(output,), kwargs={"grad_tensors": xp2torch(d_padded, device=output.device)})

    return Ragged(vectors, lengths), backprop
