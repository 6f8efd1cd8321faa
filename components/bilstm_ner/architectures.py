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

Where the parts live: the torch module in torch_encoder.py, the thinc side of
its wrapper (shim and converters) in torch_wrapper.py, the featurizer in
featurize.py; at inference the component scores through
streaming.stream_scores instead of `predict`, which needs the references set here.
"""

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Linear, Model, PyTorchWrapper, chain, ragged2list, with_array
from thinc.types import Floats2d

from .featurize import DocFeaturizer
from .torch_encoder import BiLSTMEncoder, EncoderSettings
from .torch_wrapper import AveragingPyTorchShim, batch_to_torch, load_torch_weights, torch_to_ragged

ARCHITECTURE = "bilstm_ner.BiLSTMTagger.v1"
OUTPUT_LAYER = "output_layer"
# References to the featurizer and the wrapped encoder, for streaming.stream_scores.
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
    vectors_dropout: float | None = None,
    mix_width: int | None = None,
    mix_activation: str = "linear",
    context: Model | None = None,
    context_width: int = 128,
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
    vectors_dropout: dropout on the projected static vectors alone (null: they
        share `dropout` with the other inputs, as before the option existed).
    mix_width / mix_activation: one linear layer from the concatenated inputs
        to `mix_width` numbers, then "linear" (none), "relu" or "tanh", before
        the LSTM; null (the default, as before the option existed): the LSTM
        reads the concatenation. It makes inference faster on a CPU, where the
        LSTM's time grows with its input width, at some cost on dev (README).
    context: a layer giving each token a frozen transformer's hidden layers
        (bilstm_ner.TransformerContext.v1, transformer_context.py): the
        accurate pipeline's input. The encoder learns a softmax mix of the
        layers and projects it to `context_width`, beside the other inputs.
    """
    settings = EncoderSettings(
        rows=tuple(rows),
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
        vectors_dropout=vectors_dropout,
        mix_width=mix_width,
        mix_activation=mix_activation,
        context_layers=0 if context is None else int(context.attrs["layers"]),
        context_width=context_width,
    )
    encoder = BiLSTMEncoder(settings)
    wrapped = PyTorchWrapper(encoder, convert_inputs=batch_to_torch, convert_outputs=torch_to_ragged)
    wrapped.shims[0] = AveragingPyTorchShim(encoder, deserialize_model=load_torch_weights)
    output_layer = Linear(nI=encoder.output_width)
    featurizer = DocFeaturizer(attrs, rows, n_chars, window, include_static_vectors, context=context)
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
