"""Fine-tuning the accurate pipeline's transformer: its top `tune_layers` layers
learn, with their own optimizer, while the layers below stay frozen and cached.

Why only the top layers: on a CPU the encoder's forward and backward cost most
of an accurate training step, and a frozen bottom means its output is a pure
function of the words, so the training run computes it once per distinct window
(the WindowCache of transformer_context.py, here holding the pieces' states at
the first tuned layer's input) and each step runs only the tuned layers, with
their gradients.

Why an optimizer of its own (TunedShim): thinc's optimizer would update the
transformer's weights at the BiLSTM's rate (3e-3 at its peak), which wrecks a
pretrained encoder; fine-tuning wants a rate about a hundred times smaller with
its own warm-up (Devlin et al. 2019: 2e-5 to 5e-5). A torch AdamW with a
linear warm-up and decay steps the tuned weights when thinc finishes the update.

How the gradient gets there: the featurizer marks the batch's transformer
features as trainable (PaddedBatch.context_grad), the converter to torch makes
them a leaf that records its gradient (torch_converters.batch_to_torch), and the
featurizer hands that gradient back to the context layer, whose backprop runs
torch's backward through the tuned layers (tuned_context_features).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy
import torch
from spacy.tokens import Doc
from thinc.api import Model, Optimizer, PyTorchShim
from torch import nn


@dataclass
class LowerSegment:
    """A run of a window's words that fits the model (transformer_context.fitting_encodings),
    as the frozen bottom of the encoder leaves it: what a training run caches."""

    offset: int  # the run's first word in its window
    word_ids: list[int | None]  # piece -> word of the run (None: a special piece)
    states: numpy.ndarray  # (pieces, width) float16: the input of the first tuned layer
    frozen: numpy.ndarray  # (words, frozen mix layers, width) float16: the mixed layers below


class LowerWindow(list):
    """A window's LowerSegments; its length, as the WindowCache counts it, is its words."""

    def __init__(self, segments: Sequence[LowerSegment], n_words: int) -> None:
        super().__init__(segments)
        self.n_words = n_words

    def __len__(self) -> int:
        return self.n_words


def tuned_layer_modules(encoder: nn.Module, tune_layers: int) -> Sequence[nn.Module]:
    """The encoder's last `tune_layers` transformer layers (a BERT-style
    `encoder.encoder.layer` list, as all-MiniLM-L6-v2 has)."""
    layers = encoder.encoder.layer
    if not 0 < tune_layers <= len(layers):
        raise ValueError(f"tune_layers must be between 1 and the model's {len(layers)} layers, got {tune_layers}")
    return layers[len(layers) - tune_layers :]


def mark_tuned(encoder: nn.Module, tune_layers: int) -> list[nn.Parameter]:
    """Let the top `tune_layers` layers' weights train (the rest stay frozen); their parameters."""
    params = [p for layer in tuned_layer_modules(encoder, tune_layers) for p in layer.parameters()]
    for param in params:
        param.requires_grad_(True)
    return params


def run_tuned_layers(
    encoder: nn.Module, states: torch.Tensor, mask: torch.Tensor, tune_layers: int
) -> list[torch.Tensor]:
    """The outputs of the top `tune_layers` layers, each (batch, pieces, width), from
    `states`, the input of the first of them, with autograd and dropout as in training.
    The 0/1 mask becomes what the model's own forward makes of it."""
    extended = layer_attention_mask(encoder, states, mask)
    outputs = []
    for layer in tuned_layer_modules(encoder, tune_layers):
        layer.train(True)
        result = layer(states, extended)
        layer.train(False)
        states = result[0] if isinstance(result, tuple) else result
        outputs.append(states)
    return outputs


def layer_attention_mask(encoder: nn.Module, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
    """The attention mask the encoder's layers take, made from the 0/1 mask as the
    model's forward makes it: transformers 5's masking_utils (shaped for the model's
    attention implementation; None when nothing is masked), or 4's additive mask."""
    try:
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:  # transformers 4
        return encoder.get_extended_attention_mask(mask, tuple(mask.shape))
    return create_bidirectional_mask(config=encoder.config, inputs_embeds=states, attention_mask=mask)


class TunedShim(PyTorchShim):
    """The transformer's shim: thinc's, except that the weights that train (the
    tuned layers; none when the encoder is frozen) are stepped by a torch AdamW
    of their own, at `rate` after a linear warm-up of `warmup` steps and a linear
    decay to 0 at `steps`, rather than by thinc's optimizer (see the module's
    docstring). Gradients are clipped to a norm of 1, as the BiLSTM's are."""

    def __init__(self, model: nn.Module, *, rate: float, warmup: int, steps: int, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.rate, self.warmup, self.steps = rate, warmup, steps
        self.tuner: torch.optim.Optimizer | None = None
        self.schedule: torch.optim.lr_scheduler.LambdaLR | None = None

    def rate_factor(self, step: int) -> float:
        """The share of `rate` at `step`: warm-up, then linear decay to 0."""
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        return max(0.0, (self.steps - step) / max(1, self.steps - self.warmup))

    def finish_update(self, optimizer: Optimizer) -> None:
        params = [p for p in self._model.parameters() if p.requires_grad and p.grad is not None]
        if not params:
            return
        if self.tuner is None:
            self.tuner = torch.optim.AdamW(params, lr=self.rate, weight_decay=0.01)
            self.schedule = torch.optim.lr_scheduler.LambdaLR(self.tuner, self.rate_factor)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        self.tuner.step()
        self.schedule.step()
        self.tuner.zero_grad(set_to_none=True)
        # the inference copies (cpu_precision) hold the old weights
        self._model.copies.forget()


def tuned_context_features(
    model: Model,
    docs: Sequence[Doc],
    encode_lower: Callable[[list[str], list[list[str]]], list[LowerWindow]],
    pool: Callable[[Sequence[torch.Tensor], Sequence[Sequence[int | None]]], tuple[torch.Tensor, list[int]]],
    batches: Callable[[list[int]], list[list[int]]],
    windows_of: Callable[[Doc], list[tuple[int, int, str, list[str]]]],
    width: int,
) -> tuple[list[numpy.ndarray], Callable]:
    """A training call of a context layer whose top layers learn: per doc the
    (n_tokens, layers, width) float16 features, and the backprop that takes their
    gradient (per doc, the same shape) through the tuned layers.

    encode_lower: windows' cache keys and words -> their LowerWindows (the frozen bottom);
    pool: (layers' states, rows' piece -> word maps) -> (words, layers, width) and words per row;
    batches: segment piece counts, longest first -> batches of positions;
    windows_of: a doc -> its windows' (start, end, cache key, words);
    width: the transformer's hidden width.
    """
    module = model.shims[0]._model
    encoder = module.encoder
    n_layers, tune_layers = model.attrs["layers"], model.attrs["tune_layers"]
    tuned_mix = min(tune_layers, n_layers)  # the mixed layers that learn: the last ones
    mark_tuned(encoder, tune_layers)
    placed: list[tuple[int, int, int, str]] = []
    unique: dict[str, list[str]] = {}
    for doc_index, doc in enumerate(docs):
        for start, end, key, words in windows_of(doc):
            placed.append((doc_index, start, end, key))
            unique.setdefault(key, words)
    keys = list(unique)
    lowers = dict(zip(keys, encode_lower(keys, [unique[key] for key in keys]), strict=True))
    segments = [(key, segment) for key in keys for segment in lowers[key]]
    order = sorted(range(len(segments)), key=lambda i: -len(segments[i][1].word_ids))
    device = next(encoder.parameters()).device
    tuned: list[torch.Tensor | None] = [None] * len(segments)
    for batch in batches([len(segments[i][1].word_ids) for i in order]):
        chosen = [order[i] for i in batch]
        longest = len(segments[chosen[0]][1].word_ids)
        states = numpy.zeros((len(chosen), longest, width), dtype="float32")
        mask = numpy.zeros((len(chosen), longest), dtype="int64")
        for row, i in enumerate(chosen):
            segment = segments[i][1]
            states[row, : len(segment.word_ids)] = segment.states
            mask[row, : len(segment.word_ids)] = 1
        outputs = run_tuned_layers(
            encoder, torch.from_numpy(states).to(device), torch.from_numpy(mask).to(device), tune_layers
        )
        pooled, sizes = pool(outputs[len(outputs) - tuned_mix :], [segments[i][1].word_ids for i in chosen])
        for i, value in zip(chosen, torch.split(pooled, sizes), strict=True):
            tuned[i] = value
    features = {key: numpy.zeros((len(lowers[key]), n_layers, width), dtype="float16") for key in keys}
    for (key, segment), value in zip(segments, tuned, strict=True):
        rows = slice(segment.offset, segment.offset + len(value))
        features[key][rows, : n_layers - tuned_mix] = segment.frozen
        features[key][rows, n_layers - tuned_mix :] = value.detach().to(torch.float16).cpu().numpy()
    outputs = [numpy.zeros((len(doc), n_layers, width), dtype="float16") for doc in docs]
    for doc_index, start, end, key in placed:
        outputs[doc_index][start:end] = features[key]

    def backprop(d_outputs: Sequence[numpy.ndarray]) -> list:
        grads = {key: numpy.zeros((len(lowers[key]), tuned_mix, width), "float32") for key in keys}
        for doc_index, start, end, key in placed:
            grads[key] += d_outputs[doc_index][start:end, n_layers - tuned_mix :]
        tensors, grad_tensors = [], []
        for (key, segment), value in zip(segments, tuned, strict=True):
            tensors.append(value)
            grad = grads[key][segment.offset : segment.offset + len(value)]
            grad_tensors.append(torch.from_numpy(numpy.ascontiguousarray(grad)).to(value.device, value.dtype))
        if tensors:
            torch.autograd.backward(tensors, grad_tensors)
        return []

    return outputs, backprop

