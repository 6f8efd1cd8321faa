"""Training and scoring runs of the seeds and compare tools.

A run trains through the workflow's own train step (scripts/train.py, in a process
of its own) on the config the inputs step wrote, so a seed or a baseline is trained
exactly as `spacy project run train` trains: the same config, the same step budget.
"""

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import srsly
from bilstm_ner.evaluation import from_spacy
from spacy.cli.evaluate import evaluate

TRAIN_STEP = Path(__file__).resolve().parent.parent / "scripts" / "train.py"
SPLITS = ("dev", "test")


def train_or_reuse(config: Path, folder: Path, overrides: dict[str, Any], gpu_id: int = -1) -> float | None:
    """Train `config` (the inputs step's corpus/config.cfg or baseline.cfg) into `folder`
    unless it holds a model-best already (a run that was interrupted, or one reused from
    another command, e.g. seed 0 of the seeds for the comparison); return the training
    seconds when they are known."""
    timing = folder / "train_seconds.json"
    if not (folder / "model-best").exists():
        command = [sys.executable, str(TRAIN_STEP), str(config), str(folder)]
        command += ["--gpu-id", str(gpu_id)] + [str(x) for k, v in overrides.items() for x in (f"--{k}", v)]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        srsly.write_json(timing, {"seconds": time.perf_counter() - start})
    return srsly.read_json(timing)["seconds"] if timing.exists() else None


def score(model: Path, corpus: Path, use_gpu: int = -1) -> dict[str, Any]:
    """`spacy evaluate`'s entity P/R/F overall and per type, token accuracy when the
    pipeline reports it, and its words/s."""
    scores = evaluate(str(model), corpus, use_gpu=use_gpu, silent=True)
    return {**from_spacy(scores), "token_acc": scores.get("ner_token_acc"), "words_per_second": scores.get("speed")}
