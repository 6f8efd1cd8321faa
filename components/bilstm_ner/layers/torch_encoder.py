"""The PyTorch core of the tagger: hashed embeddings, character features and a BiLSTM.

Its structure depends only on the numbers it is built with (all from the
config), never on data seen later, so a pipeline rebuilt from its config can
load the saved weights into it (spaCy issue #8319). The one exception is the
input width of the static vectors' projection, which only the vocab knows: a
`LazyLinear` takes it from the first batch, or from the saved weights when a
pipeline loads, so the config need not repeat the vectors' width.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .featurize import PaddedBatch
from .int8_lstm import Int8LSTMCache

# At inference, windows per LSTM call (see BiLSTMEncoder.encode_slices).
INFERENCE_WINDOWS = 64


# What the encoder reads: the featurizer's batch, its arrays as tensors on the
# encoder's device (torch_converters.batch_to_torch).
EncoderInputs = PaddedBatch[torch.Tensor]


@dataclass(frozen=True)
class EncoderSettings:
    """The encoder's settings, each one set in the config's [components.ner.model].

    Declared here only: the registered architecture
    (architectures.build_bilstm_tagger) takes one parameter per field, with its
    type and default, so adding a setting means a field here and its line in
    the configs. Each field's docstring is what the setting means.
    """

    rows: list[int]
    """Embedding rows of each hashed attribute, one number per entry of `attrs`."""
    embed_width: int
    """Width of each attribute's embedding."""
    n_chars: int
    """How many leading and trailing UTF-8 bytes of each token to embed."""
    char_width: int
    """Width of each byte's embedding."""
    hidden_width: int
    """LSTM size per direction."""
    depth: int
    """Number of LSTM layers."""
    dropout: float
    """Dropout on the LSTM's inputs and outputs (and between its layers)."""
    word_dropout: float
    """Share of tokens whose word embedding is blanked in training."""
    doc_memory: bool = False
    """Also give each token the mean BiLSTM output over all occurrences of the
    same word in its document."""
    include_static_vectors: bool = False
    """Also feed each token's row of the vocab's static vectors (`spacy init
    vectors` output, set by [initialize] vectors), frozen, through a trainable
    projection; `initialize` fails with a clear error if the vocab has none."""
    static_vectors_width: int | None = None
    """Width the static vectors are projected to (null: `embed_width`)."""
    context_width: int = 128
    """Width the transformer's mixed layers are projected to, when the
    architecture is given a `context` layer (transformer_context.py)."""
    int8_lstm: bool = True
    """At inference on a CPU, run the BiLSTM with int8 weights (int8_lstm.py):
    1.5 to 2.2 times as fast on one thread, dev F1 within 0.06 (docs/speed.md);
    training, GPUs and the saved weights stay float32. false: the float LSTM."""


class BiLSTMEncoder(nn.Module):
    """Contextual token vectors of shape (n_windows, max_len, output_width).

    Inputs are the arrays of `featurize.PaddedBatch`: hashed attribute rows
    (summed over two buckets, concatenated over attributes), the first and last
    bytes of each token (one embedding per byte position, concatenated), then
    a bidirectional LSTM over each window. `word_dropout` blanks the first
    attribute's vector (the word itself, NORM by default) for a random share of
    tokens in training, so the model learns to tag from spelling and context:
    the test set is full of names training never saw.

    With `include_static_vectors`, each token's static word vector (an input,
    so never trained) goes through a trainable linear projection to
    `static_vectors_width` (default `embed_width`) and joins the other
    embeddings; word dropout leaves it alone, since the vectors know words
    that training never saw. `word_table`: a word table (word_table.py) gives
    each token more static features, joined after the vocab's vectors (or in
    their place) before that projection. `context_layers` (the number of a
    transformer's hidden layers the featurizer gives, 0 for none) and
    `word_table` come from the architecture's layers rather than the config.
    """

    def __init__(self, settings: EncoderSettings, context_layers: int = 0, word_table: bool = False) -> None:
        super().__init__()
        embed_width = settings.embed_width
        self.embeddings = nn.ModuleList(nn.Embedding(n, embed_width) for n in settings.rows)
        self.char_embedding = nn.Embedding(256, settings.char_width)
        input_width = len(settings.rows) * embed_width + settings.n_chars * settings.char_width
        # Without static vectors no module is registered, so the weights of a
        # model without them have no such entry.
        self.vectors_projection: nn.Linear | None = None
        # the vocab's vectors and a word table's (word_table.py) share one projection
        if settings.include_static_vectors or word_table:
            projected_width = settings.static_vectors_width or embed_width
            self.vectors_projection = nn.LazyLinear(projected_width)
            input_width += projected_width
        # The transformer's layers (transformer_context.py): a learnt softmax mix of
        # them, scaled, then projected (lazily: the transformer's width comes from
        # its first batch or the saved weights), joins the other inputs.
        self.context_projection: nn.Linear | None = None
        if context_layers:
            self.context_mix = nn.Parameter(torch.zeros(context_layers))
            self.context_scale = nn.Parameter(torch.ones(1))  # 1-d: thinc's optimizer takes no 0-d arrays
            self.context_projection = nn.LazyLinear(settings.context_width)
            input_width += settings.context_width
        self.lstm = nn.LSTM(
            input_width,
            settings.hidden_width,
            num_layers=settings.depth,
            bidirectional=True,
            batch_first=True,
            dropout=settings.dropout if settings.depth > 1 else 0.0,
        )
        self.int8_lstm = settings.int8_lstm
        self.int8_cache = Int8LSTMCache()
        # loading weights changes them under the int8 copy
        self.register_load_state_dict_post_hook(lambda module, keys: module.int8_cache.forget())
        self.dropout = nn.Dropout(settings.dropout)
        self.word_dropout = settings.word_dropout
        self.doc_memory = settings.doc_memory
        self.output_width = (4 if settings.doc_memory else 2) * settings.hidden_width
        for embedding in self.embeddings:
            nn.init.normal_(embedding.weight, std=0.1)
        nn.init.normal_(self.char_embedding.weight, std=0.1)

    def forward(
        self, inputs: EncoderInputs, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The vectors (n_windows, max_len, output_width) of the whole batch, which
        training needs for its gradients. Given the output layer's `weight` and
        `bias` (inference, through PyTorchShim.predict): the tag scores
        (n_windows, max_len, n_tags) instead, read a slice of windows at a time
        (see tag_scores)."""
        if weight is not None and bias is not None:
            return self.tag_scores(inputs, weight=weight, bias=bias)
        if self.training:
            # an update follows a training pass: the int8 copy will be out of date
            self.int8_cache.forget()
        n_windows, max_len = inputs.ids.shape[0], inputs.ids.shape[1]
        if n_windows == 0:
            return self.char_embedding.weight.new_zeros((0, max_len, self.output_width))
        self.check_static_vectors(inputs.vectors)
        outputs = self.encode_windows(
            inputs.ids, inputs.chars, inputs.lengths, max_len, inputs.vectors, inputs.context
        )
        if self.doc_memory:
            outputs = torch.cat([outputs, word_memory(outputs, inputs.groups, inputs.n_groups)], dim=-1)
        return self.dropout(outputs)

    def inference_lstm(self) -> nn.Module:
        """The LSTM a pass runs: the float one in training, on a GPU and unless
        `int8_lstm` is set; else its int8 copy (made once per weight change)."""
        if self.training or not self.int8_lstm or self.lstm.weight_ih_l0.device.type != "cpu":
            return self.lstm
        return self.int8_cache.get(self.lstm)

    @property
    def lstm_width(self) -> int:
        """Width of the BiLSTM's outputs (both directions), before the word memory."""
        return 2 * self.lstm.hidden_size

    def encode_slices(self, inputs: EncoderInputs) -> Iterator[tuple[slice, torch.Tensor]]:
        """At inference, the BiLSTM outputs of INFERENCE_WINDOWS windows at a time:
        (windows, outputs), outputs as wide as the slice's longest window.

        Windows are independent in the LSTM, so a long document can be read a
        slice at a time: memory for the embeddings and the LSTM stays bounded
        whatever the length, and a caller that reduces each slice (as
        `tag_scores` does) never holds the outputs of the whole document.
        """
        for i in range(0, inputs.ids.shape[0], INFERENCE_WINDOWS):
            # windows are sorted longest first: the first sets the slice's width
            span, width = slice(i, i + INFERENCE_WINDOWS), int(inputs.lengths[i])
            vectors = None if inputs.vectors is None else inputs.vectors[span, :width]
            context = None if inputs.context is None else inputs.context[span, :width]
            outputs = self.encode_windows(
                inputs.ids[span, :width],
                inputs.chars[span, :width],
                inputs.lengths[span],
                width,
                vectors,
                context,
            )
            yield span, outputs

    def tag_scores(self, inputs: EncoderInputs, *, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Inference only: what a linear output layer (weight (n_tags, output_width),
        bias (n_tags,)) gives on `forward`'s vectors, as (n_windows, max_len, n_tags),
        without ever holding those vectors for all windows at once.

        `forward` holds output_width floats per position for the whole batch,
        because a token's word memory is complete only once every occurrence
        of its word has been read. But the output layer is linear, so a
        token's scores split into a part from its own LSTM output h and a part
        from its word's mean, which is the mean of the projected outputs:
            W [h; mean_g(h)] + b = W_own h + mean_g(W_memory h) + b
        So one pass of the LSTM is enough: each slice's outputs are projected
        to n_tags scores (own part) and n_tags per-word sums (memory part),
        then dropped. What is kept is n_tags floats per position and per
        distinct word, beside one slice's LSTM work.
        """
        if self.training:
            raise RuntimeError("tag_scores is for inference: call eval() first (training needs forward)")
        ids, groups, n_groups = inputs.ids, inputs.groups, inputs.n_groups
        self.check_static_vectors(inputs.vectors)
        n_windows, max_len, n_tags = ids.shape[0], ids.shape[1], weight.shape[0]
        own_weight, memory_weight = weight[:, : self.lstm_width], weight[:, self.lstm_width :]
        scores = weight.new_zeros((n_windows, max_len, n_tags))
        memory_sums = weight.new_zeros((n_groups + 1, n_tags)) if self.doc_memory else None
        for span, outputs in self.encode_slices(inputs):
            width = outputs.shape[1]
            scores[span, :width] = outputs @ own_weight.T
            if memory_sums is not None:
                add_group_sums(memory_sums, outputs @ memory_weight.T, groups[span, :width])
        if memory_sums is not None:
            scores += group_means(memory_sums, group_counts(groups, n_groups, scores.dtype))[groups]
        return scores.add_(bias)

    def check_static_vectors(self, static_vectors: torch.Tensor | None) -> None:
        """Static vectors must come exactly when the model was built for them, as
        wide as the ones it was trained with (a clear error, not a matmul's)."""
        if self.vectors_projection is None:
            if static_vectors is not None:
                raise ValueError(
                    "static vectors were given to a model built without include_static_vectors or a word table"
                )
            return
        if static_vectors is None:
            raise ValueError(
                "the model was built with include_static_vectors or a word table but got no static vectors"
            )
        weight = self.vectors_projection.weight
        trained_width = None if isinstance(weight, nn.parameter.UninitializedParameter) else weight.shape[1]
        if trained_width is not None and trained_width != static_vectors.shape[-1]:
            raise ValueError(
                f"the model was trained with static vectors of width {trained_width}, but the "
                f"vocab's vectors (and word table) have width {static_vectors.shape[-1]}: load the vectors "
                "it was trained with"
            )

    def encode_windows(
        self,
        ids: torch.Tensor,
        chars: torch.Tensor,
        lengths: torch.Tensor,
        total_length: int,
        static_vectors: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """BiLSTM outputs (n_windows, total_length, 2 * hidden_width) of windows sorted longest first."""
        vectors = [
            embedding(ids[:, :, i, 0]) + embedding(ids[:, :, i, 1])
            for i, embedding in enumerate(self.embeddings)
        ]
        if self.training and self.word_dropout > 0:
            keep = torch.rand(vectors[0].shape[:2], device=ids.device) >= self.word_dropout
            vectors[0] = vectors[0] * keep.unsqueeze(-1).to(vectors[0].dtype)
        vectors.append(self.char_embedding(chars).flatten(2))
        if self.vectors_projection is not None:
            vectors.append(self.vectors_projection(static_vectors))
        if self.context_projection is not None:
            if context is None:
                raise ValueError("the model was built to read a transformer's layers but got none")
            weights = torch.softmax(self.context_mix, dim=0) * self.context_scale
            # (layers,) @ (..., layers, width): the weighted sum of the layers as one batched
            # product, five times as fast as a product and a sum; the features come float16
            vectors.append(self.context_projection(torch.matmul(weights, context.to(weights.dtype))))
        inputs = self.dropout(torch.cat(vectors, dim=-1))
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=True)
        outputs, _ = self.inference_lstm()(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=total_length)
        return outputs


def word_memory(outputs: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """For each position, the mean of the outputs at every occurrence of the same
    word in the same document (across windows).

    A name is often spelt out with clear context once ("Tottenham striker
    Sheringham") and bare elsewhere ("Sheringham scored"); pooling its
    occurrences lets every mention see the informative one.
    """
    sums = outputs.new_zeros((n_groups + 1, outputs.shape[-1]))
    add_group_sums(sums, outputs, groups)
    means = group_means(sums, group_counts(groups, n_groups, outputs.dtype))
    return means[groups.reshape(-1)].reshape(outputs.shape)


def add_group_sums(sums: torch.Tensor, outputs: torch.Tensor, groups: torch.Tensor) -> None:
    """Add each position's output (..., width) into the row of `sums` (n_groups + 1,
    width) of its group, in place, so windows can be added a slice at a time.
    Padding positions (group n_groups) go to the last row, which only they read."""
    sums.index_add_(0, groups.reshape(-1), outputs.reshape(-1, outputs.shape[-1]))


def group_counts(groups: torch.Tensor, n_groups: int, dtype: torch.dtype) -> torch.Tensor:
    """(n_groups + 1,) occurrences of each group (the last: padding positions)."""
    return torch.bincount(groups.reshape(-1), minlength=n_groups + 1).to(dtype)


def group_means(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Per-group means; a row with no occurrence (the padding row of a batch
    without padding) gets zeros rather than NaN."""
    return sums / counts.clamp(min=1.0).unsqueeze(-1)
