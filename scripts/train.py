"""The `train` step: `spacy train` on the config the `inputs` step wrote (corpus/config.cfg),
on the thread policy of the config's [training.before_update] unless --threads says otherwise.

    python scripts/train.py corpus/config.cfg training/trained [--threads auto] [--paths.train X ...]

CONFIG is any spaCy config: the `inputs` step's (configs/bilstm_ner.cfg with the variant
--vars.config names, its paths set), configs/bilstm_ner.cfg itself, or spaCy's own `ner`'s
(corpus/baseline.cfg). Further options are spaCy's config overrides, passed on as
`spacy train` takes them. `--training.max_steps N` also scales the config's
`eval_frequency` and its learning-rate schedule to N steps (`step_budget_overrides`),
unless those are overridden too, so a short run's model-best is trained.
"""

from pathlib import Path

import typer
from spacy.cli._util import parse_config_overrides
from spacy.cli.train import train
from spacy.util import load_config

app = typer.Typer()


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


def training_threads_override(threads: str) -> dict[str, int | str]:
    """The config's [training.before_update] threads (bilstm_ner.train_threads.v1),
    from --threads: "auto" leaves the config's own setting."""
    if threads == "auto":
        return {}
    if not threads.isdigit():
        raise ValueError(f"--threads must be auto or a whole number >= 0, got {threads!r}")
    return {"training.before_update.threads": int(threads)}


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="The config to train (corpus/config.cfg, made by the inputs step)"),
    output: Path = typer.Argument(..., help="Output folder (model-best, model-last)"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    threads: str = typer.Option(
        "auto", help="torch threads in training: auto (the idle cores, re-measured), or a number (0: torch's own)"
    ),
) -> None:
    """Train CONFIG, with any config overrides."""
    try:
        given = parse_config_overrides(ctx.args)
        budget = step_budget_overrides(config, int(given.get("training.max_steps", 0)))
        overrides = {**budget, **training_threads_override(threads), **given}
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    print(f"config: {config}")
    if budget:
        print("step budget: " + ", ".join(f"{k} {overrides[k]}" for k in budget))
    train(config, output, overrides=overrides, use_gpu=gpu_id)


if __name__ == "__main__":
    app()
