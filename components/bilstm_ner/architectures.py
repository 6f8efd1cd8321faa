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

Training runs the layers one after the other, as thinc's `chain` does. At
inference (`model.predict`) the output layer goes to the torch module with
its inputs, through the shim's `predict`, and is applied there to each slice
of windows as the BiLSTM reads it (BiLSTMEncoder.tag_scores): the
(tokens, output_width) vectors never exist for the whole batch, so memory
stays bounded on long documents, and the scores are the same up to float
rounding.

Where the parts live (layers/): the torch module and its settings in
torch_encoder.py, the converters between numpy and torch in torch_converters.py,
the featurizer in featurize.py.
"""

import inspect
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import (
    ArgsKwargs,
    Linear,
    Model,
    PyTorchWrapper_v3,
    ragged2list,
    torch2xp,
    with_array,
    xp2torch,
)
from thinc.layers.chain import forward as chain_forward
from thinc.layers.chain import init as chain_init
from thinc.types import Floats2d

from .layers.featurize import DocFeaturizer
from .layers.torch_encoder import BiLSTMEncoder, EncoderSettings
from .layers.torch_converters import batch_to_torch, load_torch_weights, torch_to_ragged

ARCHITECTURE = "bilstm_ner.BiLSTMTagger.v1"
OUTPUT_LAYER = "output_layer"
# References to the featurizer and the wrapped encoder, which inference reads.
FEATURIZER = "featurizer"
ENCODER = "encoder"


def takes_encoder_settings(builder: Callable[..., Any]) -> Callable[..., Any]:
    """Give `builder` (whose `**settings` become an EncoderSettings) a signature
    with one keyword parameter per EncoderSettings field, its type and default,
    after its own parameters. spaCy's
    config system reads the signature: it validates the settings and fills in
    their defaults as if they were spelled out, while they are declared once,
    in EncoderSettings."""
    signature = inspect.signature(builder)
    own = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    keyword = inspect.Parameter.KEYWORD_ONLY
    settings = [
        inspect.Parameter(
            field.name,
            keyword,
            default=inspect.Parameter.empty if field.default is MISSING else field.default,
            annotation=field.type,
        )
        for field in fields(EncoderSettings)
    ]
    builder.__signature__ = signature.replace(parameters=[*own, *settings])  # type: ignore[attr-defined]
    return builder


@registry.architectures(ARCHITECTURE)
@takes_encoder_settings
def build_bilstm_tagger(
    attrs: list[str],
    window: int,
    context: Model | None = None,
    word_table: Model | None = None,
    **settings: Any,
) -> Model[list[Doc], list[Floats2d]]:
    """A BiLSTM tagger over hashed lexical attributes and characters.

    attrs: token attributes to embed (e.g. NORM, PREFIX, SUFFIX, SHAPE); the
        `rows` setting gives each one's number of embedding rows.
    window: longest stretch of tokens the LSTM reads at once; documents are
        cut into windows on sentence boundaries.
    context: a layer giving each token a frozen transformer's hidden layers
        (bilstm_ner.TransformerContext.v1, layers/transformer_context.py): the
        accurate pipeline's input. The encoder learns a softmax mix of the
        layers and projects it to `context_width`, beside the other inputs.
    word_table: a frozen table of word vectors looked up by the lowercased word
        (bilstm_ner.WordTable.v1, layers/word_table.py; GloVe 6B's 400,000
        words): its vectors join the vocab's static vectors (or stand in for
        them) before their projection, with a learned vector for words it lacks.
    settings: the encoder's, one keyword each, as torch_encoder.EncoderSettings
        declares and documents them.
    """
    encoder_settings = EncoderSettings(**settings)
    context_layers = 0 if context is None else int(context.attrs["layers"])
    encoder = BiLSTMEncoder(encoder_settings, context_layers=context_layers, word_table=word_table is not None)
    wrapped = PyTorchWrapper_v3(
        encoder,
        convert_inputs=batch_to_torch,
        convert_outputs=torch_to_ragged,
        deserialize_model=load_torch_weights,
    )
    output_layer = Linear(nI=encoder.output_width)
    featurizer = DocFeaturizer(
        attrs,
        encoder_settings.rows,
        encoder_settings.n_chars,
        window,
        encoder_settings.include_static_vectors,
        context=context,
        word_table=word_table,
    )
    # The layers, their order and the dims are those of thinc's chain of them,
    # which the pipelines trained so far saved: their weights load unchanged.
    model: Model[list[Doc], list[Floats2d]] = Model(
        "bilstm_tagger",
        tagger_forward,
        init=chain_init,
        dims={"nO": None},
        layers=[featurizer, wrapped, with_array(output_layer), ragged2list()],
    )
    model.set_ref(OUTPUT_LAYER, output_layer)
    model.set_ref(FEATURIZER, featurizer)
    model.set_ref(ENCODER, wrapped)
    return model


def tagger_forward(
    model: Model[list[Doc], list[Floats2d]], docs: list[Doc], is_train: bool
) -> tuple[list[Floats2d], Callable]:
    """Training: the layers in turn, as `chain` runs them, with their gradients.
    Inference: `predict_scores`."""
    if is_train:
        return chain_forward(model, docs, is_train)
    return predict_scores(model, docs), cannot_backprop


def predict_scores(model: Model[list[Doc], list[Floats2d]], docs: list[Doc]) -> list[Floats2d]:
    """Each doc's (n_tokens, n_tags) scores, in memory that grows by the featurized
    inputs and the scores (a few hundred bytes per token) rather than by the
    encoder's vectors (about 10 KB per token).

    The output layer's weights go to the torch module with its inputs, through
    the shim's `predict` (eval mode, no autograd): the module applies them to
    each slice of LSTM outputs as it comes and averages the word memory over
    tag scores (BiLSTMEncoder.tag_scores), the same LSTM work as the training
    path, in one pass.
    """
    wrapped = model.get_ref(ENCODER)
    output_layer = model.get_ref(OUTPUT_LAYER)
    batch = model.get_ref(FEATURIZER).predict(docs)
    inputs, _ = batch_to_torch(wrapped, batch, is_train=False)
    shim = wrapped.shims[0]
    weight = xp2torch(output_layer.get_param("W"), device=shim.device)
    bias = xp2torch(output_layer.get_param("b"), device=shim.device)
    padded = shim.predict(ArgsKwargs(args=inputs.args, kwargs={"weight": weight, "bias": bias}))
    scores = torch2xp(padded)[model.ops.asarray(batch.rows), model.ops.asarray(batch.cols)]
    return model.ops.unflatten(scores, model.ops.asarray(batch.doc_lengths, dtype="int32"))


def cannot_backprop(d_scores: list[Floats2d]) -> None:
    """The inference path keeps nothing to compute gradients from."""
    raise RuntimeError("the inference path has no gradient: train with is_train=True (begin_update)")
