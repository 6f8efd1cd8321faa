"""Train a pipeline and score it: the building blocks of the seeds and compare commands.

Training goes through spaCy's own Python API (`spacy.cli.train.train`), with
config overrides as dotted paths, so every run uses the committed config
unchanged apart from what is named.
"""

import time
from pathlib import Path
from typing import Any

from spacy.cli.evaluate import evaluate
from spacy.cli.train import train

SPLITS = ("dev", "test")


def train_timed(config: Path, output: Path, overrides: dict[str, Any], use_gpu: int = -1) -> float:
    """Train into `output` (model-best, model-last); return the wall-clock seconds."""
    start = time.perf_counter()
    train(config, output, overrides=overrides, use_gpu=use_gpu)
    return time.perf_counter() - start


def score(model: Path, corpus: Path, use_gpu: int = -1) -> dict[str, Any]:
    """Entity P/R/F overall and per type, and token accuracy when the pipeline reports it."""
    scores = evaluate(str(model), corpus, use_gpu=use_gpu, silent=True)
    return {
        "p": scores["ents_p"],
        "r": scores["ents_r"],
        "f": scores["ents_f"],
        "per_type": scores["ents_per_type"],
        "token_acc": scores.get("ner_token_acc"),
        "words_per_second": scores.get("speed"),
    }


def score_conll_tokens(model: Path, corpus: Path, use_gpu: int = -1) -> dict[str, Any]:
    """Exact-match P/R/F on the corpus's own (CoNLL) tokens: see conlleval.py."""
    import spacy
    from conlleval import score_on_gold_tokens
    from spacy.tokens import DocBin

    if use_gpu >= 0:
        spacy.require_gpu(use_gpu)
    nlp = spacy.load(model)
    return score_on_gold_tokens(nlp, list(DocBin().from_disk(corpus).get_docs(nlp.vocab)))


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"
