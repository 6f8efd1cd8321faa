"""Reduced-precision copies of torch modules for inference on a CPU, and the
choice among them.

On one CPU thread a model's matrix products are most of its time, and they
run faster on narrower numbers:
- int8: torch's dynamic quantization keeps the weights of the chosen module
  types (the BiLSTM's LSTM, a transformer's Linear layers) as int8 and
  quantizes each call's inputs on the fly, one scale per tensor, in fused
  fbgemm/onednn kernels. Any x86 or ARM CPU. The inputs' scale is taken over
  the whole batch, so an outlier anywhere costs every value resolution: fine
  for the LSTM, too coarse for all-MiniLM-L6-v2's feed-forward layers
  (docs/speed.md).
- bfloat16: the weights and the arithmetic in bfloat16 (float32's range, 8
  bits of mantissa), through oneDNN, which uses the CPU's own bfloat16
  instructions (AVX512-BF16, AMX) where it has them; without them it converts
  and is slower than float32, so "auto" takes it only where they exist.
Only inference on a CPU uses a copy; training, a GPU and the weights that are
saved stay float32, so a copy is a cache of the float module, made when first
needed and dropped whenever the float weights may have changed.

torch 2.13 marks eager-mode quantization deprecated (torchao, its successor,
has no quantized LSTM); the project pins torch, and the warnings it prints at
a user's every load are silenced here, where they are expected.
"""

import copy
import warnings

import torch
from torch import nn

PRECISIONS = ("auto", "float32", "bfloat16", "int8")


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 products in hardware (x86: AVX512-BF16 or
    AMX-BF16; ARM: its BF16 extension), where oneDNN's bfloat16 kernels beat float32."""
    capabilities = torch.cpu.get_capabilities()
    return any(bool(capabilities.get(flag)) for flag in ("avx512_bf16", "amx_bf16", "bf16"))


def resolve_precision(precision: str) -> str:
    """The precision a CPU inference runs in: "auto" is bfloat16 where the CPU has
    it in hardware, else float32; the others as they are."""
    if precision not in PRECISIONS:
        raise ValueError(f"the precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision


def int8_copy(module: nn.Module, types: set[type[nn.Module]]) -> nn.Module:
    """A dynamically quantized copy of `module` (float32, on the CPU), in eval mode:
    every submodule of one of `types` with int8 weights (one scale per matrix),
    the rest copied as it is. `module` itself is left alone."""
    device = next(module.parameters()).device
    if device.type != "cpu":
        raise ValueError(f"int8 weights are for the CPU: the module is on {device}")
    holder = nn.Sequential(module)  # quantize_dynamic replaces children, never the module it is given
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning, FutureWarning))
        quantized = torch.ao.quantization.quantize_dynamic(holder, types, dtype=torch.qint8)
    return quantized[0].eval()


def bfloat16_copy(module: nn.Module) -> nn.Module:
    """A copy of `module` with its floating-point weights in bfloat16, in eval mode:
    it computes in bfloat16 and returns bfloat16 tensors."""
    return copy.deepcopy(module).to(torch.bfloat16).eval()


class PrecisionCopies:
    """Copies of one float module in other precisions, made when first asked for
    and all dropped by `forget()`, wherever the float weights may have changed
    (a training call that updates them, a load)."""

    def __init__(self, int8_types: set[type[nn.Module]]) -> None:
        self.int8_types = int8_types
        self.copies: dict[str, nn.Module] = {}

    def get(self, module: nn.Module, precision: str) -> nn.Module:
        """`module` itself for float32, else its copy in `precision` (bfloat16, int8)."""
        if precision == "float32":
            return module
        found = self.copies.get(precision)
        if found is None:
            if precision == "int8":
                found = int8_copy(module, self.int8_types)
            elif precision == "bfloat16":
                found = bfloat16_copy(module)
            else:
                raise ValueError(f"no copy in precision {precision!r}")
            self.copies[precision] = found
        return found

    def forget(self) -> None:
        self.copies.clear()
