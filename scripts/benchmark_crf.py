"""The CRF loss of a training step before and after it moved to torch, in one process.

    python scripts/benchmark_crf.py [--train corpus/train.spacy] [--config configs/bilstm_ner.cfg]
                                    [--batches 20] [--rounds 5]

- Batches as `spacy train` makes them: the config's training corpus and batcher
  (whole CoNLL documents, both tokenizations, about 1,500 words a batch), the
  config's model initialized on the corpus (its weights do not change what the
  loss costs), one torch thread.
- `get_loss`: each batch's scores computed once, then the loss and gradient from
  the old path (the scores copied to the host as float64, numpy forward-backward
  twice, a Python loop per position: tests/crf_numpy_reference.py, the tests'
  oracle) and from the component's own (crf.py, torch), alternating which goes
  first in each round; the two must agree to 1e-6.
- `nlp.update`: whole update steps (model forward, loss, backward, optimizer)
  over the same batches with each `get_loss`, alternating likewise.
- `decode_scores`: what `predict` does after the model, on the same batches'
  scores: Viterbi (numpy, the same in both) and each entity's probability, from
  the old rescaled numpy forward-backward or from crf.py's.

Prints the machine, the median (min-max over rounds) milliseconds per batch of
each, and the ratio old / new (above 1: the torch path is faster).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import numpy
import torch
import typer
from benchmark import alternation, machine_info
from bilstm_ner.layers.crf import path_to_spans
from training_runs import spread

REPO = Path(__file__).resolve().parent.parent
# the old numpy path lives with the tests, as their oracle; it is not part of the package
sys.path.insert(0, str(REPO / "tests"))


def training_batches(config: Path, train: Path, n_batches: int):
    """The config's pipeline, initialized on `train`, and its first n_batches
    training batches (lists of Examples), as `spacy train` batches them."""
    from spacy import util
    from spacy.schemas import ConfigSchemaTraining
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import create_train_batches

    overrides = {"paths.train": str(train), "paths.dev": str(train)}
    nlp = init_nlp(util.load_config(config, overrides=overrides, interpolate=False))
    resolved = nlp.config.interpolate()
    T = util.registry.resolve(resolved["training"], schema=ConfigSchemaTraining)
    (corpus,) = util.resolve_dot_names(resolved, [T["train_corpus"]])
    batches = create_train_batches(nlp, corpus, T["batcher"], T["max_epochs"])
    return nlp, T["optimizer"], [batch for _, batch in islice(batches, n_batches)]


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(
    train: Path = typer.Option(REPO / "corpus" / "train.spacy", help="training DocBin"),
    config: Path = typer.Option(REPO / "configs" / "bilstm_ner.cfg", help="training config"),
    batches: int = typer.Option(20, help="training batches timed in each round"),
    rounds: int = typer.Option(5, help="rounds, alternating which path goes first"),
) -> None:
    import crf_numpy_reference

    torch.set_num_threads(1)
    before = machine_info()
    nlp, optimizer, data = training_batches(config, train, batches)
    ner = nlp.get_pipe("ner")
    lattice = crf_numpy_reference.BILUOLattice(ner.tag_names)
    new_loss = ner.get_loss

    def old_loss(examples, scores):
        return crf_numpy_reference.get_loss(ner, examples, scores, lattice)

    paths = {"numpy (old)": old_loss, "torch (new)": new_loss}
    scores = [ner.model.predict([eg.predicted for eg in batch]) for batch in data]
    for batch, batch_scores in zip(data, scores, strict=True):
        (loss, grads), (old, old_grads) = new_loss(batch, batch_scores), old_loss(batch, batch_scores)
        assert abs(loss - old) <= 1e-6 * max(1.0, abs(old)), (loss, old)
        assert max(float(numpy.abs(a - b).max()) for a, b in zip(grads, old_grads, strict=True)) <= 1e-6

    def old_decode(batch_scores):
        paths = ner.crf.decode(batch_scores)
        log_z, alphas, betas = lattice.alpha_beta(batch_scores)
        return [
            crf_numpy_reference.span_probabilities(s, a, b, z, path, path_to_spans(ner.tag_names, path))
            for s, a, b, z, path in zip(batch_scores, alphas, betas, log_z, paths, strict=True)
        ]

    decoders = {"numpy (old)": old_decode, "torch (new)": ner.decode_scores}
    host_scores = [[ner.model.ops.to_numpy(s) for s in batch_scores] for batch_scores in scores]
    for batch_scores in host_scores:
        predictions, old = ner.decode_scores(batch_scores), old_decode(batch_scores)
        for prediction, expected in zip(predictions, old, strict=True):
            assert numpy.allclose(prediction.confidences, expected, atol=1e-6)

    def decodes(decode):
        return lambda: [decode(batch_scores) for batch_scores in host_scores]

    def losses(get_loss):
        return lambda: [get_loss(batch, s) for batch, s in zip(data, scores, strict=True)]

    def updates(get_loss):
        def run() -> None:
            ner.get_loss = get_loss  # the instance attribute shadows the method for this run
            try:
                for batch in data:
                    nlp.update(batch, sgd=optimizer)
            finally:
                del ner.get_loss

        return run

    figures: dict[str, dict[str, list[float]]] = {"get_loss": {}, "nlp.update": {}, "decode_scores": {}}
    for kind, make, chosen in (
        ("get_loss", losses, paths),
        ("nlp.update", updates, paths),
        ("decode_scores", decodes, decoders),
    ):
        for order in alternation(list(chosen), rounds + 1):
            for name in order:
                figures[kind].setdefault(name, []).append(timed(make(chosen[name])) / len(data) * 1000)
        for runs in figures[kind].values():
            del runs[0]  # a warm-up round: first calls, caches
    words = sum(len(eg) for batch in data for eg in batch) / len(data)
    print(f"machine: {before['cpu']}, {before['cores']} cores, torch {before['torch']} on 1 thread")
    print(f"load average before: {before['load_average']}, after: {machine_info()['load_average']}")
    print(f"{len(data)} batches of {words:.0f} words on average, {rounds} rounds")
    print("ms per batch, median (min-max) over rounds:")
    for kind, by_path in figures.items():
        medians = {}
        for name, runs in by_path.items():
            s = spread(runs)
            medians[name] = s["median"]
            print(f"  {kind:13s} {name:12s} {s['median']:8.1f} ({s['min']:.1f}-{s['max']:.1f})")
        old, new = medians.values()
        print(f"  {kind:13s} ratio old/new {old / new:.2f}")


if __name__ == "__main__":
    typer.run(main)
