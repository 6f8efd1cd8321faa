"""The accurate pipeline's transformer alone, in each precision, piece budget and runtime.

    OMP_NUM_THREADS=1 python -m benchmarks.transformer_runtimes corpus/transformer corpus/test.spacy \
        --output metrics/transformer_runtimes.md [--budgets 1024,2048,4096,8192] [--rounds 3]

The encoder (a Hugging Face folder, as the `transformer` step unpacks it) runs
over the windows of the test texts (128 words, cut on sentence boundaries, as
the pipeline cuts them), sorted by length into batches of at most BUDGET
padded pieces, on one torch thread: float32, bfloat16 (cpu_precision's copy)
and int8 (its Linear layers dynamically quantized), each at each budget, in
alternating rounds. Speeds are sub-word pieces per CPU second of this thread
(the machine is shared: wall time would mostly measure the waits). Fidelity:
the mean relative error of the last 4 hidden states against float32, per
piece. With `onnxruntime` importable (it is not a dependency: `pip install
onnxruntime onnx`), the encoder exported to ONNX runs there too, in float32
and dynamically quantized to int8 (weights per channel), at the first budget
given.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy
import typer

from benchmarks.reporting import comma_ints, machine_info, write_report

N_LAYERS = 4


def test_windows(corpus: Path, tokenizer, window: int) -> list[list[int]]:
    """The piece ids of the corpus's windows, as the pipeline cuts and encodes them."""
    import spacy
    from bilstm_ner.layers.featurize import sentence_starts, window_bounds
    from spacy.tokens import DocBin

    windows = []
    for doc in DocBin().from_disk(corpus).get_docs(spacy.blank("en").vocab):
        words = [token.text for token in doc]
        for start, end in window_bounds(len(doc), sentence_starts(doc), window):
            windows.append(tokenizer.encode(words[start:end], is_pretokenized=True).ids)
    return windows


def padded_batches(windows: list[list[int]], budget: int) -> list[tuple[numpy.ndarray, numpy.ndarray]]:
    """(ids, mask) batches as transformer_context.encode_windows makes them."""
    from bilstm_ner.layers.transformer_context import piece_batches

    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
    batches = []
    for batch in piece_batches([len(windows[i]) for i in order], budget):
        chosen = [windows[order[i]] for i in batch]
        ids = numpy.zeros((len(chosen), len(chosen[0])), dtype="int64")
        mask = numpy.zeros_like(ids)
        for row, pieces in enumerate(chosen):
            ids[row, : len(pieces)] = pieces
            mask[row, : len(pieces)] = 1
        batches.append((ids, mask))
    return batches


def torch_states(encoder) -> Callable[[numpy.ndarray, numpy.ndarray], numpy.ndarray]:
    import torch

    def run(ids: numpy.ndarray, mask: numpy.ndarray) -> numpy.ndarray:
        with torch.no_grad():
            inputs = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
            output = encoder(**inputs, output_hidden_states=True)
        return torch.stack(output.hidden_states[-N_LAYERS:], dim=2).float().numpy()

    return run


def onnx_runners(encoder, folder: Path) -> dict[str, Callable[[numpy.ndarray, numpy.ndarray], numpy.ndarray]]:
    """float32 and int8 ONNX Runtime sessions of `encoder` (one thread each); {} without onnxruntime."""
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return {}
    import torch

    class LastStates(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids, mask):
            output = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            return torch.stack(output.hidden_states[-N_LAYERS:], dim=2)

    float_path, int8_path = folder / "encoder.onnx", folder / "encoder.int8.onnx"
    example = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))
    axes = {name: {0: "rows", 1: "pieces"} for name in ("ids", "mask", "states")}
    torch.onnx.export(
        LastStates(encoder).eval(),
        example,
        str(float_path),
        input_names=["ids", "mask"],
        output_names=["states"],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(float_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    runners = {}
    for name, path in (("ONNX Runtime float32", float_path), ("ONNX Runtime int8", int8_path)):
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        runners[name] = lambda ids, mask, s=session: s.run(None, {"ids": ids, "mask": mask})[0]
    return runners


def relative_error(states: numpy.ndarray, reference: numpy.ndarray, mask: numpy.ndarray) -> float:
    real = mask.astype(bool)
    error = numpy.linalg.norm((states - reference)[real], axis=-1)
    return float((error / numpy.linalg.norm(reference[real], axis=-1)).mean())


def to_markdown(results: dict[str, Any]) -> str:
    lines = [
        "| runtime, precision | piece budget | pieces per CPU second, median [min, max] | ÷ torch float32 | "
        "relative error of the states |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = results["rows"]
    base = {row["budget"]: row["speed"]["median"] for row in rows if row["name"] == "torch float32"}
    for row in results["rows"]:
        speed = row["speed"]
        reference = base.get(row["budget"])
        ratio = f"{speed['median'] / reference:.2f}×" if reference else "–"
        lines.append(
            f"| {row['name']} | {row['budget']:,} | {speed['median']:,.0f} [{speed['min']:,.0f}, "
            f"{speed['max']:,.0f}] | {ratio} | {row['error']:.4f} |"
        )
    machine = results["machine"]
    lines += [
        "",
        f"{results['pieces']:,} pieces in {results['windows']:,} windows of {results['corpus']}, "
        f"{results['rounds']} alternating rounds, one thread. Machine: {machine.get('cpu', '?')}, "
        f"{machine.get('cores')} cores, bfloat16 in hardware: {results['native_bfloat16']}; "
        f"load average {results['load_before']} before, {results['load_after']} after.",
    ]
    return "\n".join(lines) + "\n"


def main(
    transformer: Path = typer.Argument(..., help="The transformer's folder (corpus/transformer)"),
    corpus: Path = typer.Argument(..., help="DocBin whose texts are encoded (corpus/test.spacy)"),
    output: Path = typer.Option(Path("metrics/transformer_runtimes.md"), help="Markdown (JSON beside it)"),
    budgets: str = typer.Option("1024,2048,4096,8192", help="Padded pieces per batch, comma-separated"),
    window: int = typer.Option(128, help="Words per window"),
    rounds: int = typer.Option(3, min=1),
) -> None:
    """Time the transformer alone in each precision and budget (and on ONNX Runtime, when installed)."""
    import torch
    from bilstm_ner.layers.cpu_precision import bfloat16_copy, int8_copy, native_bfloat16
    from tokenizers import Tokenizer
    from transformers import AutoModel

    torch.set_num_threads(1)
    load_before = [round(x, 2) for x in os.getloadavg()]
    tokenizer = Tokenizer.from_file(str(transformer / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    encoder = AutoModel.from_pretrained(transformer, local_files_only=True).eval()
    windows = test_windows(corpus, tokenizer, window)
    runners = {
        "torch float32": torch_states(encoder),
        "torch bfloat16": torch_states(bfloat16_copy(encoder)),
        "torch int8": torch_states(int8_copy(encoder, {torch.nn.Linear})),
    }
    sizes = comma_ints(budgets)
    cases = [(name, budget) for budget in sizes for name in runners]
    with tempfile.TemporaryDirectory() as folder:
        extra = onnx_runners(encoder, Path(folder))
        runners.update(extra)
        cases += [(name, sizes[0]) for name in extra]
        batches = {budget: padded_batches(windows, budget) for budget in sizes}
        reference = [runners["torch float32"](ids, mask) for ids, mask in batches[sizes[0]][:4]]
        timings: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
        for round_index in range(rounds):
            for name, budget in cases if round_index % 2 == 0 else cases[::-1]:
                start = time.thread_time()
                for ids, mask in batches[budget]:
                    runners[name](ids, mask)
                timings[name, budget].append(sum(len(w) for w in windows) / (time.thread_time() - start))
        rows = []
        for name, budget in cases:
            sample = batches[sizes[0]][:4]
            errors = [
                relative_error(runners[name](ids, mask), ref, mask)
                for (ids, mask), ref in zip(sample, reference, strict=True)
            ]
            values = timings[name, budget]
            rows.append(
                {
                    "name": name,
                    "budget": budget,
                    "speed": {"median": statistics.median(values), "min": min(values), "max": max(values)},
                    "error": statistics.mean(errors),
                }
            )
    results = {
        "rows": rows,
        "pieces": sum(len(w) for w in windows),
        "windows": len(windows),
        "corpus": str(corpus),
        "rounds": rounds,
        "native_bfloat16": native_bfloat16(),
        "machine": machine_info(),
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    write_report(to_markdown(results), results, output)


if __name__ == "__main__":
    typer.run(main)
