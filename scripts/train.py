"""`spacy train` with the config that fits the vectors the `vectors` step made.

The workflow's one var `vectors` decides whether the model reads word
vectors: with `--vars.config auto` (the default) a table in VECTORS trains
configs/bilstm_ner_vectors.cfg with `--paths.vectors VECTORS`, and an empty
one (`--vars.vectors none`) trains configs/bilstm_ner.cfg from scratch. Any
other config is named by `--config`. Further options are spaCy's config
overrides, passed on as `spacy train` takes them (`--paths.train X`).
`--training.max_steps N` also scales the config's `eval_frequency` and its
learning-rate schedule to N steps (training_runs.step_budget_overrides),
unless those are overridden too, so a short run's model-best is trained.
"""

from pathlib import Path

import typer
from spacy.cli._util import parse_config_overrides
from spacy.cli.train import train
from training_runs import choose_config, step_budget_overrides, vectors_overrides, word_table_overrides

app = typer.Typer()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    vectors: Path = typer.Argument(..., help="Pipeline folder made by scripts/vectors.py"),
    output: Path = typer.Argument(..., help="Output folder (model-best, model-last)"),
    config: str = typer.Option("auto", help="auto, a config name in configs/, or a .cfg path"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    glove: Path | None = typer.Option(None, help="Folder made by scripts/glove.py, for a config that reads it"),
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
