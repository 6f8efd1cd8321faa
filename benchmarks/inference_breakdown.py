"""Where a bilstm_ner pipeline's inference time goes, stage by stage, on the test texts.

    OMP_NUM_THREADS=1 python -m benchmarks.inference_breakdown MODEL corpus/test.spacy \
        --output metrics/breakdown.md [--rounds 3] [--set components.ner.model.int8_lstm=true] \
        [--set context.batch_pieces=2048]

Each round tokenizes the texts (`nlp.make_doc`) and runs `nlp.pipe` over them
with the pipeline's batch size on one torch thread, while timers wrapped
around the component's functions add up the CPU seconds of each stage (the
thread's CPU time: on a machine that others share, wall-clock stages would
mostly measure the waits):

- spaCy tokenizer: `nlp.make_doc` on the raw texts;
- transformer, window keys: each window's words through the sub-word
  tokenizer's normalizer (the cache key, transformer_context.normalized_key);
- transformer, sub-word tokenizer: the windows' encodings (fitting_encodings);
- transformer, forward: the encoder itself (FrozenTransformer.hidden_layers);
- transformer, pooling: the hidden states to per-word features (pool_batch);
- transformer, the rest: batching, copies into per-doc arrays (what of
  context_features is none of the above);
- featurize: hashed attributes, bytes, vectors, windows and padding
  (featurize_docs), the transformer's features copied into the padded batch;
- to torch: the padded arrays as tensors (batch_to_torch);
- BiLSTM, LSTM: the recurrence (the LSTM's forward, float or int8);
- BiLSTM, the rest: embeddings, the projections of vectors and transformer
  layers, the output layer and word memory (tag_scores minus the LSTM);
- CRF, sentence constraints (within_sentences), Viterbi (BILUOCRF.decode),
  forward-backward (BILUOCRF.lattices) and span confidences (span_probabilities);
- set_annotations: `doc.ents` and the confidences;
- other: what `nlp.pipe` spent outside all of these.

The timers cost a few microseconds per call: the words/s printed are those of
the timed rounds, and a speed comparison between pipelines belongs to
benchmarks/accurate_levers.py (alternating rounds, no timers). Writes a Markdown
table and JSON (median seconds per stage over the rounds, share of the total,
microseconds per word), the machine and its load before and after.
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from benchmarks.accurate_levers import load_variant, parse_settings
from benchmarks.benchmark import corpus_texts
from benchmarks.reporting import machine_info, write_report

# (stage, module path, attribute path), in the order of the table. Patching a
# module attribute catches the calls through that module's global name; a
# class attribute, every call of the method. An attribute the code does not
# have (another version of it) is left out.
PATCHES: list[tuple[str, str, str]] = [
    ("transformer, window keys", "bilstm_ner.layers.transformer_context", "normalized_key"),
    ("transformer, sub-word tokenizer", "bilstm_ner.layers.transformer_context", "fitting_encodings"),
    ("transformer, forward", "bilstm_ner.layers.transformer_context", "FrozenTransformer.hidden_layers"),
    ("transformer, pooling", "bilstm_ner.layers.transformer_context", "pool_batch"),
    # the code before pool_batch (commit 3212357 and earlier), for the breakdown before
    ("transformer, pooling", "bilstm_ner.layers.transformer_context", "pool_words"),
    ("transformer, all", "bilstm_ner.layers.transformer_context", "context_features"),
    ("featurize", "bilstm_ner.layers.featurize", "featurize_docs"),
    ("to torch", "bilstm_ner.architectures", "batch_to_torch"),
    ("BiLSTM, all", "bilstm_ner.layers.torch_encoder", "BiLSTMEncoder.tag_scores"),
    ("CRF, sentence constraints", "bilstm_ner.pipeline", "within_sentences"),
    ("CRF, Viterbi", "bilstm_ner.layers.crf", "BILUOCRF.decode"),
    ("CRF, forward-backward", "bilstm_ner.layers.crf", "BILUOCRF.lattices"),
    ("CRF, span confidences", "bilstm_ner.pipeline", "span_probabilities"),
    ("set_annotations", "bilstm_ner.pipeline", "BiLSTMEntityRecognizer.set_annotations"),
]
# The LSTM is timed as the module inference_lstm returns, wrapped (see timed_lstm).
LSTM_STAGE = "BiLSTM, LSTM"
TOKENIZER_STAGE = "spaCy tokenizer"
# Stages whose time includes others: shown as their remainder.
REMAINDERS = {
    "transformer, all": (
        "transformer, the rest",
        [
            "transformer, window keys",
            "transformer, sub-word tokenizer",
            "transformer, forward",
            "transformer, pooling",
        ],
    ),
    "BiLSTM, all": ("BiLSTM, the rest", [LSTM_STAGE]),
}


class Stopwatch:
    """CPU seconds of this thread per stage (time.thread_time: what the stage
    computed, whatever else runs on the machine; torch computes on this thread
    at one torch thread); a stage entered again inside itself (recursion)
    counts once."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._depth: dict[str, int] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        depth = self._depth.get(name, 0)
        self._depth[name] = depth + 1
        start = time.thread_time()
        try:
            yield
        finally:
            self._depth[name] = depth
            if depth == 0:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.thread_time() - start
                self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, function: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return function(*args, **kwargs)

        timed.__wrapped__ = function  # type: ignore[attr-defined]
        return timed


@contextlib.contextmanager
def stage_timers(watch: Stopwatch) -> Iterator[None]:
    """Wrap the functions of PATCHES (and the LSTM) with `watch`'s timers; undone after."""
    import importlib

    from bilstm_ner.layers.torch_encoder import BiLSTMEncoder

    undo: list[tuple[Any, str, Any]] = []
    for name, module_name, attribute in PATCHES:
        owner: Any = importlib.import_module(module_name)
        *parents, leaf = attribute.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        if leaf not in owner.__dict__:
            continue
        original = owner.__dict__[leaf]
        undo.append((owner, leaf, original))
        setattr(owner, leaf, watch.wrap(name, original))
    original_lstm = BiLSTMEncoder.inference_lstm

    def timed_lstm(self: BiLSTMEncoder) -> Callable:
        return watch.wrap(LSTM_STAGE, original_lstm(self))

    undo.append((BiLSTMEncoder, "inference_lstm", original_lstm))
    BiLSTMEncoder.inference_lstm = timed_lstm  # type: ignore[method-assign]
    try:
        yield
    finally:
        for owner, leaf, original in reversed(undo):
            setattr(owner, leaf, original)


def one_round(nlp, texts: list[str]) -> dict[str, Any]:
    """Tokenize and annotate the texts once under the timers."""
    watch = Stopwatch()
    gc.collect()
    with stage_timers(watch):
        wall, start = time.perf_counter(), time.thread_time()
        with watch.stage(TOKENIZER_STAGE):
            docs = [nlp.make_doc(text) for text in texts]
        for _ in nlp.pipe(docs, batch_size=nlp.batch_size):
            pass
        total, wall = time.thread_time() - start, time.perf_counter() - wall
    return {"total": total, "wall": wall, "words": sum(len(doc) for doc in docs), "stages": watch.seconds}


def table_rows(stages: dict[str, float], total: float) -> dict[str, float]:
    """The table's stages: the enclosing ones replaced by their remainders, plus `other`."""
    rows: dict[str, float] = {TOKENIZER_STAGE: stages.get(TOKENIZER_STAGE, 0.0)}
    inner = {name for _, parts in REMAINDERS.values() for name in parts}
    for name in dict.fromkeys(name for name, _, _ in PATCHES):
        if name in REMAINDERS:
            rest, parts = REMAINDERS[name]
            for part in parts:
                rows[part] = stages.get(part, 0.0)
            rows[rest] = max(0.0, stages.get(name, 0.0) - sum(stages.get(p, 0.0) for p in parts))
        elif name not in inner:
            rows[name] = stages.get(name, 0.0)
    # the featurizer calls context_features before featurize_docs: neither includes the other
    rows["other"] = max(0.0, total - sum(rows.values()))
    return rows


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds per table row over the rounds, with shares and µs per word."""
    words = rounds[0]["words"]
    per_round = [table_rows(r["stages"], r["total"]) for r in rounds]
    total = statistics.median(r["total"] for r in rounds)
    wall = statistics.median(r["wall"] for r in rounds)
    rows = {}
    for name in per_round[0]:
        seconds = statistics.median(r[name] for r in per_round)
        rows[name] = {
            "seconds": seconds,
            "share": seconds / total if total else 0.0,
            "us_per_word": 1e6 * seconds / words,
        }
    return {
        "words": words,
        "total_seconds": total,
        "words_per_cpu_second": words / total,
        "wall_seconds": wall,
        "words_per_second": words / wall,
        "stages": rows,
    }


def to_markdown(results: dict[str, Any]) -> str:
    summary = results["summary"]
    lines = [
        f"Inference of {results['model']} on {results['corpus']} ({summary['words']:,} words), "
        f"{results['rounds']} rounds, median; one torch thread"
        + (f"; settings {results['settings']}" if results["settings"] else ""),
        "",
        "| stage | CPU seconds | share | CPU µs per word |",
        "|---|---:|---:|---:|",
    ]
    for name, row in summary["stages"].items():
        lines.append(
            f"| {name} | {row['seconds']:.3f} | {100 * row['share']:.1f}% | {row['us_per_word']:.1f} |"
        )
    lines.append(
        f"| **total** | **{summary['total_seconds']:.3f}** | 100% | "
        f"**{1e6 * summary['total_seconds'] / summary['words']:.1f}** |"
    )
    machine = results["machine"]
    lines += [
        "",
        f"{summary['words_per_cpu_second']:,.0f} words per CPU second, {summary['words_per_second']:,.0f} "
        f"words/s of wall clock, with the timers on (tokenizer included). "
        f"Machine: {machine.get('cpu', '?')}, {machine.get('cores')} cores; load average "
        f"{results['load_before']} before, {results['load_after']} after.",
    ]
    return "\n".join(lines) + "\n"


def main(
    model: Path = typer.Argument(..., help="A bilstm_ner pipeline folder or package"),
    corpus: Path = typer.Argument(..., help="DocBin whose texts are annotated (e.g. corpus/test.spacy)"),
    output: Path = typer.Option(Path("metrics/breakdown.md"), help="Markdown table (JSON beside it)"),
    rounds: int = typer.Option(3, min=1, help="Timed rounds (after one warm-up)"),
    setting: list[str] = typer.Option(
        [], "--set", help="key=value: a spacy.load config override, or context.NAME (accurate_levers.py)"
    ),
) -> None:
    """Time each stage of the pipeline's inference and write the breakdown."""
    import torch

    torch.set_num_threads(1)
    overrides = parse_settings(setting)
    nlp = load_variant(model, overrides)
    for _, pipe in nlp.pipeline:
        if hasattr(pipe, "torch_threads"):
            pipe.torch_threads = 1
    texts = corpus_texts(corpus, nlp.vocab)
    load_before = [round(x, 2) for x in os.getloadavg()]
    one_round(nlp, texts)  # warm-up: first calls, int8 copies, allocations
    measured = [one_round(nlp, texts) for _ in range(rounds)]
    results = {
        "model": str(model),
        "corpus": str(corpus),
        "rounds": rounds,
        "settings": overrides,
        "summary": summarize(measured),
        "runs": measured,
        "machine": machine_info(),
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    write_report(to_markdown(results), results, output)


if __name__ == "__main__":
    typer.run(main)
