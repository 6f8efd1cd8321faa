"""The thinc side of the PyTorch encoder: the deserializer that thinc's
PyTorchShim loads the weights with, the converters between the featurizer's
padded numpy arrays, torch tensors and thinc's Ragged, and the refusal of
parameter averaging, which thinc's PyTorchShim does not apply to torch weights.
"""

import pickle
from collections.abc import Callable
from io import BytesIO

import numpy
import torch
from thinc.api import ArgsKwargs, Model, NumpyOps, Optimizer, Ragged, torch2xp, xp2torch
from torch import nn

from ..errors import CorruptWeightsError, IncompatibleWeightsError
from .featurize import PaddedBatch

AVERAGES_REFUSED = (
    "[training.optimizer] use_averages = true cannot train this component: thinc's PyTorchShim "
    "(thinc 8.3) stores the averages of the torch weights under keys its use_params never looks "
    "up, so spacy train would evaluate and save the raw torch weights beside an averaged output "
    "layer. Set use_averages = false in [training.optimizer] (or --training.optimizer.use_averages false)."
)


def refuse_averaging(optimizer: Optimizer, component: str) -> None:
    """ValueError naming the component (AVERAGES_REFUSED) if `optimizer` keeps
    parameter averages (thinc's `averages` is a dict exactly when use_averages is on)."""
    if getattr(optimizer, "averages", None) is not None:
        raise ValueError(f"[{component}] {AVERAGES_REFUSED}")


def load_torch_weights(model: nn.Module, state_bytes: bytes, device: torch.device) -> nn.Module:
    """thinc's default deserializer, with the two ways it can fail told apart
    by their own exception types rather than by torch's messages: bytes that
    torch cannot read (CorruptWeightsError), and a state dict whose names or
    shapes differ from the model's (IncompatibleWeightsError, naming them)."""
    try:
        state = torch.load(BytesIO(state_bytes), map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        raise CorruptWeightsError(f"the torch weights cannot be read ({type(err).__name__})") from err
    differences = state_differences(model.state_dict(), state)
    if differences:
        more = f" and {len(differences) - 4} more" if len(differences) > 4 else ""
        raise IncompatibleWeightsError("; ".join(differences[:4]) + more)
    model.load_state_dict(state)
    model.to(device)
    return model


def state_differences(expected: dict[str, torch.Tensor], saved: dict[str, torch.Tensor]) -> list[str]:
    """What keeps `saved` from loading into a module whose state is `expected`:
    shapes that differ, then missing and unexpected names. A lazy parameter not
    yet sized (the static vectors' projection before its first batch) takes
    any shape."""
    differences = []
    for name, value in expected.items():
        lazy = isinstance(value, nn.parameter.UninitializedParameter)
        if name in saved and not lazy and tuple(saved[name].shape) != tuple(value.shape):
            differences.append(f"{name}: saved {tuple(saved[name].shape)}, model {tuple(value.shape)}")
    differences += [f"missing {name}" for name in expected if name not in saved]
    differences += [f"unexpected {name}" for name in saved if name not in expected]
    return differences


def batch_to_torch(model: Model, batch: PaddedBatch, is_train: bool) -> tuple[ArgsKwargs, Callable]:
    """Padded numpy arrays -> the same batch of torch tensors on the model's
    device. No gradient flows back (the static vectors are inputs, so they stay
    frozen), except to the transformer's features when its top layers learn
    (batch.context_grad): they become a float32 leaf whose gradient the backprop
    returns, as a numpy array the featurizer hands on."""
    device = model.shims[0].device
    inputs = batch.with_arrays(lambda array: xp2torch(model.ops.asarray(array), device=device))
    if not batch.context_grad:
        return ArgsKwargs(args=(inputs,), kwargs={}), lambda d_inputs: None
    context = inputs.context.float().requires_grad_(True)
    inputs.context = context

    def backprop(d_inputs: ArgsKwargs) -> numpy.ndarray | None:
        return None if context.grad is None else torch2xp(context.grad, ops=NumpyOps())

    return ArgsKwargs(args=(inputs,), kwargs={}), backprop


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
