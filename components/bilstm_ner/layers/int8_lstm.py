"""The BiLSTM with int8 weights, for inference on a CPU.

On one CPU thread the LSTM's step-by-step recurrence is most of the
component's time, and its matrix products are what int8 weights make cheaper:
torch's dynamically quantized LSTM keeps the weights as int8 (one scale per
matrix) and quantizes each step's inputs on the fly, with fused fbgemm/onednn
kernels. Only inference uses it; training and the weights that are saved stay
float32, so the copy is a cache of the float LSTM, made when it is first
needed and dropped whenever the float weights may have changed.

The quantization itself, and what torch 2.13's deprecation of it means, is in
cpu_precision.py, which the transformer's reduced-precision copies share.
"""

from pathlib import Path

from torch import nn

from .cpu_precision import int8_copy as int8_module_copy


def int8_copy(lstm: nn.LSTM) -> nn.Module:
    """A dynamically quantized copy of `lstm` (float32 on the CPU), same call
    signature (packed sequences included), its weights int8."""
    if lstm.weight_ih_l0.device.type != "cpu":
        raise ValueError("int8 weights are for the CPU: the LSTM is on " + str(lstm.weight_ih_l0.device))
    return int8_module_copy(lstm, {nn.LSTM})


class Int8LSTMCache:
    """The int8 copy of one float LSTM, rebuilt after the float weights change.

    `forget()` is called wherever the float weights can change: before a
    training forward pass (every update starts with one) and when weights are
    loaded. Building a copy takes a fraction of a second, once per change.
    """

    def __init__(self) -> None:
        self._copy: nn.Module | None = None

    def get(self, lstm: nn.LSTM) -> nn.Module:
        """The int8 copy of `lstm`, made now if there is none."""
        if self._copy is None:
            self._copy = int8_copy(lstm)
        return self._copy

    def forget(self) -> None:
        """Drop the copy: the float weights may have changed."""
        self._copy = None


def float_lstm_overrides(path: str | Path) -> dict[str, bool]:
    """`spacy.load` overrides that put a pipeline folder's bilstm_ner
    components running the int8 LSTM on the float one (int8_lstm = false); {}
    when none does, or for a folder without a config (an installed package's
    name).

    The int8 copy quantizes each step's inputs with a scale taken over the
    whole batch, so a document's scores move slightly (about 1e-3) with the
    documents beside it; the benchmark times the float LSTM beside the int8 one."""
    from spacy.util import load_config

    config_file = Path(path) / "config.cfg"
    if not config_file.exists():
        return {}
    components = load_config(config_file)["components"]
    return {
        f"components.{name}.model.int8_lstm": False
        for name, component in components.items()
        if component.get("factory") == "bilstm_ner" and component["model"].get("int8_lstm", True)
    }
