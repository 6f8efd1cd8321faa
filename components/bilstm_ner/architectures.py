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

from .featurize import DocFeaturizer, PaddedBatch
from .torch_encoder import BiLSTMEncoder

ARCHITECTURE = "bilstm_ner.BiLSTMTagger.v1"
OUTPUT_LAYER = "output_layer"


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
    )
    wrapped = PyTorchWrapper(encoder, convert_inputs=batch_to_torch, convert_outputs=torch_to_ragged)
    wrapped.shims[0] = AveragingPyTorchShim(encoder)
    output_layer = Linear(nI=encoder.output_width)
    model: Model[list[Doc], list[Floats2d]] = chain(
        DocFeaturizer(attrs, rows, n_chars, window, include_static_vectors),
        wrapped,
        with_array(output_layer),
        ragged2list(),
    )
    model.set_ref(OUTPUT_LAYER, output_layer)
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
