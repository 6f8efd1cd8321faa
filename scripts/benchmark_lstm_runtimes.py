"""The BiLSTM alone on four CPU runtimes, one thread: is a runtime with fused kernels worth it?

    pip install onnxruntime onnx       # not in requirements.txt: only this measurement uses them
    python scripts/benchmark_lstm_runtimes.py training/model-best [--windows 64] [--rounds 10]

On one thread the LSTM's step-by-step recurrence is most of the component's
inference time (docs/speed.md). This times the trained pipeline's own LSTM
(its weights and sizes) on one batch of `--windows` full windows of the
pipeline's window length, random inputs of its input width:

- torch float32 (the LSTM as trained; `int8_lstm = false`);
- torch int8 (`torch.ao.quantization.quantize_dynamic`: what int8_lstm.py runs);
- ONNX Runtime float32, the LSTM exported by `torch.onnx.export`;
- ONNX Runtime int8 (`onnxruntime.quantization.quantize_dynamic` of that export).

Runs alternate in each round; prints the median milliseconds per batch and
microseconds per token, the speed against torch float32, and the largest
difference of each output to torch float32's (the outputs are the LSTM's
hidden states, each in [-1, 1]). Windows are all full: the export takes no
lengths, so its backward direction is only right for full windows; an
integration would build the ONNX LSTM with `sequence_lens`.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy
import spacy
import torch
import typer
from benchmark import alternation, machine_info
from bilstm_ner.architectures import ENCODER
from torch import nn


class FirstOutput(nn.Module):
    """The LSTM's hidden states only (what the encoder reads), for the export."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.lstm(inputs)[0]


def onnx_sessions(lstm: nn.LSTM, example: torch.Tensor, folder: Path) -> dict:
    """ONNX Runtime sessions of the exported LSTM, float32 and int8, on one thread."""
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:
        raise SystemExit("pip install onnxruntime onnx: this measurement needs them") from error
    exported, quantized = folder / "lstm.onnx", folder / "lstm_int8.onnx"
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's quantizer advises pre-processing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            FirstOutput(lstm),
            (example,),
            str(exported),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        quantize_dynamic(str(exported), str(quantized), weight_type=QuantType.QInt8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return {
        name: onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for name, path in (("onnxruntime float32", exported), ("onnxruntime int8", quantized))
    }


def main(
    model: Path = typer.Argument(..., help="A trained pipeline folder with a bilstm_ner component"),
    component: str = typer.Option("ner", help="The bilstm_ner component's name"),
    windows: int = typer.Option(64, help="Windows per batch (the encoder runs 64 at a time)"),
    rounds: int = typer.Option(10, help="Alternating rounds"),
) -> None:
    torch.set_num_threads(1)
    nlp = spacy.load(model, config={f"components.{component}.model.int8_lstm": False})
    encoder = nlp.get_pipe(component).model.get_ref(ENCODER).shims[0]._model.eval()
    lstm = encoder.lstm
    length = nlp.config["components"][component]["model"]["window"]
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(windows, length, lstm.input_size, generator=generator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        int8 = torch.ao.quantization.quantize_dynamic(nn.Sequential(lstm), {nn.LSTM}, dtype=torch.qint8)[0]
    array = inputs.numpy()
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        sessions = onnx_sessions(lstm, inputs, Path(folder))
        runs = {
            "torch float32": lambda: lstm(inputs)[0].numpy(),
            "torch int8": lambda: int8(inputs)[0].numpy(),
            **{name: (lambda s=session: s.run(None, {"x": array})[0]) for name, session in sessions.items()},
        }
        reference = runs["torch float32"]()
        difference = {name: float(numpy.abs(run() - reference).max()) for name, run in runs.items()}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for order in alternation(list(runs), rounds):
            for name in order:
                start = time.perf_counter()
                runs[name]()
                times[name].append((time.perf_counter() - start) * 1000)
    info = machine_info()
    print(
        f"{info['cpu']}, load average before {info['load_average']}; LSTM input {lstm.input_size}, "
        f"hidden {lstm.hidden_size} each way, {windows} windows of {length} tokens, one thread, "
        f"{rounds} rounds"
    )
    base = statistics.median(times["torch float32"])
    for name, measured in times.items():
        ms = statistics.median(measured)
        print(
            f"{name:20s} {ms:7.1f} ms/batch {ms * 1000 / (windows * length):6.1f} µs/token "
            f"{base / ms:5.2f}× torch float32   max |difference| {difference[name]:.1e}"
        )


if __name__ == "__main__":
    typer.run(main)
