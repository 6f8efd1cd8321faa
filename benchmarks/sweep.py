"""Hyperparameter sweep: batch size, optimizer, learning rate, dropout and hidden width.

Every trial trains the committed config through spaCy's Python API
(`spacy.cli.train.train`), changed only by dotted config overrides, for a fixed
number of steps, and is scored by its dev F1 (`ents_f`) after the last step
(spaCy's own evaluation at the end of training; the one it also makes after the
first step is not counted). The test set is never read.

Optuna's TPE sampler chooses the settings and records every trial in a SQLite
file, one per step budget (`<output>/steps-<N>/optuna.db`, study
`bilstm_ner_sweep`), so an interrupted sweep resumes where it stopped: finished
trials are kept and a trial that was cut short is run again with its settings.
The first trials are the config's own settings, once per optimizer, so even a
short sweep compares the optimizers on an equal footing.

The learning rate is the peak of the config's warmup-linear schedule, and the
schedule is stretched to the step budget (warm-up in the same proportion, zero at
the last step), so a short trial ends the way a full training does. Trials are
compared at equal steps: a larger batch also means more words seen.

Each trial keeps only its config, its dev scores and its training log
(`trial-NNN/`); the trained weights are deleted. The results go to
`sweep.csv`, `sweep.md` (sorted by dev F1) and `sweep.png`.

Usage::

    python -m benchmarks.sweep configs/bilstm_ner.cfg --trials 20 --max-steps 500 \
        --paths.train corpus/train.spacy --paths.dev corpus/dev.spacy
"""

from __future__ import annotations

import copy
import csv
import inspect
import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import optuna
import srsly
import typer
from bilstm_ner.errors import TrainingDivergedError
from optuna.trial import FrozenTrial, TrialState
from spacy.cli._util import parse_config_overrides
from spacy.cli.train import train
from spacy.util import load_config, registry

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

from benchmarks.reporting import machine_info, percent  # noqa: E402

STUDY = "bilstm_ner_sweep"
MODEL = "components.ner.model"
# The component raises this when the loss is NaN or infinite (pipeline.py).
COLUMNS = [
    "trial",
    "optimizer",
    "learn_rate",
    "batch_size",
    "dropout",
    "hidden_width",
    "dev_p",
    "dev_r",
    "dev_f1",
    "seconds",
    "diverged",
]


@dataclass(frozen=True)
class SearchSpace:
    """What the sweep may choose. Learning-rate ranges are per optimizer:
    plain SGD needs steps about 30 times larger than Adam's to learn as fast."""

    optimizers: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"Adam": (3e-4, 3e-2), "SGD": (1e-2, 1.0), "RAdam": (3e-4, 3e-2)}
    )
    # words per batch (spacy.batch_by_words.v1)
    batch_sizes: tuple[int, ...] = (500, 1000, 1500, 2000, 3000)
    # low, high, step
    dropout: tuple[float, float, float] = (0.1, 0.5, 0.1)
    # LSTM units per direction
    hidden_widths: tuple[int, ...] = (96, 192, 256)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Draw one setting. Each optimizer's learning rate is its own Optuna
        parameter (`learn_rate_<optimizer>`), so the ranges do not mix."""
        optimizer = trial.suggest_categorical("optimizer", list(self.optimizers))
        low, high = self.optimizers[optimizer]
        low_dropout, high_dropout, step = self.dropout
        return {
            "optimizer": optimizer,
            "learn_rate": trial.suggest_float(f"learn_rate_{optimizer}", low, high, log=True),
            "batch_size": trial.suggest_categorical("batch_size", list(self.batch_sizes)),
            "dropout": trial.suggest_float("dropout", low_dropout, high_dropout, step=step),
            "hidden_width": trial.suggest_categorical("hidden_width", list(self.hidden_widths)),
        }

    def starting_points(self, defaults: dict[str, Any]) -> list[dict[str, Any]]:
        """Optuna parameters of the first trials: the config's settings once per
        optimizer, the config's own optimizer first. Where the config's learning
        rate is outside an optimizer's range, that optimizer gets the geometric
        middle of its range; other defaults outside the space are left for the
        sampler to choose."""
        names = sorted(self.optimizers, key=lambda name: name != defaults.get("optimizer"))
        points = []
        for name in names:
            low, high = self.optimizers[name]
            learn_rate = defaults.get("learn_rate")
            if learn_rate is None or not low <= learn_rate <= high:
                learn_rate = float(f"{math.sqrt(low * high):.2g}")
            point: dict[str, Any] = {"optimizer": name, f"learn_rate_{name}": learn_rate}
            if defaults.get("batch_size") in self.batch_sizes:
                point["batch_size"] = defaults["batch_size"]
            if defaults.get("hidden_width") in self.hidden_widths:
                point["hidden_width"] = defaults["hidden_width"]
            dropout = defaults.get("dropout")
            if isinstance(dropout, float) and self.dropout[0] <= dropout <= self.dropout[1]:
                point["dropout"] = dropout
            points.append(point)
        return points


def config_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """The searched settings as the (uninterpolated) config has them; None where
    the config does not say it in the expected form."""
    optimizer = config["training"]["optimizer"]
    learn_rate = optimizer.get("learn_rate")
    if isinstance(learn_rate, dict):
        learn_rate = learn_rate.get("initial_rate")
    section = config
    for part in MODEL.split("."):
        section = section.get(part, {})
    return {
        "optimizer": str(optimizer.get("@optimizers", "")).removesuffix(".v1") or None,
        "learn_rate": learn_rate if isinstance(learn_rate, float) else None,
        "batch_size": config["training"].get("batcher", {}).get("size"),
        "dropout": section.get("dropout"),
        "hidden_width": section.get("hidden_width"),
    }


def optimizer_block(name: str, learn_rate: float, base: dict[str, Any], max_steps: int) -> dict[str, Any]:
    """The [training.optimizer] section for thinc's `<name>.v1`, built from the
    config's: the arguments the new optimizer does not take are dropped (SGD has
    no beta1, beta2 or eps), and a warmup-linear schedule is stretched to
    `max_steps` with `learn_rate` as its peak."""
    registered = f"{name}.v1"
    accepted = inspect.signature(registry.optimizers.get(registered)).parameters
    block: dict[str, Any] = {"@optimizers": registered}
    for key, value in base.items():
        if key not in ("@optimizers", "learn_rate") and key in accepted:
            block[key] = copy.deepcopy(value)
    schedule = base.get("learn_rate")
    if isinstance(schedule, dict) and "initial_rate" in schedule:
        schedule = copy.deepcopy(schedule)
        schedule["initial_rate"] = learn_rate
        total = schedule.get("total_steps")
        if isinstance(total, int) and total > 0:
            warmup = schedule.get("warmup_steps")
            if isinstance(warmup, int):
                schedule["warmup_steps"] = round(warmup * max_steps / total)
            schedule["total_steps"] = max_steps
        block["learn_rate"] = schedule
    else:
        block["learn_rate"] = learn_rate
    return block


def trial_overrides(params: dict[str, Any], base_optimizer: dict[str, Any], max_steps: int) -> dict[str, Any]:
    """Dotted config overrides for one trial's settings and step budget."""
    return {
        "training.optimizer": optimizer_block(
            params["optimizer"], params["learn_rate"], base_optimizer, max_steps
        ),
        "training.batcher.size": params["batch_size"],
        f"{MODEL}.dropout": params["dropout"],
        f"{MODEL}.hidden_width": params["hidden_width"],
        "training.max_steps": max_steps,
        "training.max_epochs": 0,
        # spaCy evaluates at step 0 and every eval_frequency steps: here at the end
        "training.eval_frequency": max_steps,
    }


def train_trial(config: Path, folder: Path, overrides: dict[str, Any], use_gpu: int = -1) -> dict[str, Any]:
    """Train into `folder`; keep config.cfg, meta.json (the dev scores of the
    last evaluation, at the last step) and train_log.jsonl, delete the pipelines."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    overrides = {**overrides, "paths.log": str(folder / "train_log.jsonl")}
    try:
        start = time.perf_counter()
        train(config, folder, overrides=overrides, use_gpu=use_gpu)
        seconds = time.perf_counter() - start
        # model-last, not model-best: model-best may be the evaluation after step 0
        last = folder / "model-last"
        shutil.copy(last / "config.cfg", folder / "config.cfg")
        shutil.copy(last / "meta.json", folder / "meta.json")
    finally:
        for name in ("model-best", "model-last"):
            shutil.rmtree(folder / name, ignore_errors=True)
    scores = srsly.read_json(folder / "meta.json")["performance"]
    return {
        "dev_p": scores["ents_p"],
        "dev_r": scores["ents_r"],
        "dev_f1": scores["ents_f"],
        "seconds": seconds,
    }


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Run again, once, every trial that did not finish: RUNNING ones (the
    process was killed; the sweep is single-process) are marked failed first,
    failed ones (Ctrl-C, an error) are queued with the settings they had.
    Returns the numbers of the trials queued again."""
    done = set(study.user_attrs.get("requeued", []))
    queued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.FAIL)):
        if trial.state == TrialState.RUNNING:
            study.tell(trial.number, state=TrialState.FAIL)
        if trial.number not in done:
            study.enqueue_trial(trial.params)
            queued.append(trial.number)
    if queued:
        study.set_user_attr("requeued", sorted(done | set(queued)))
    return queued


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """One CSV row from a finished trial."""
    optimizer = trial.params["optimizer"]
    return {
        "trial": trial.number,
        "optimizer": optimizer,
        "learn_rate": float(f"{trial.params[f'learn_rate_{optimizer}']:.6g}"),
        "batch_size": trial.params["batch_size"],
        "dropout": trial.params["dropout"],
        "hidden_width": trial.params["hidden_width"],
        "dev_p": rounded(trial.user_attrs.get("dev_p"), 6),
        "dev_r": rounded(trial.user_attrs.get("dev_r"), 6),
        "dev_f1": rounded(trial.value, 6),
        "seconds": rounded(trial.user_attrs.get("seconds"), 1),
        "diverged": bool(trial.user_attrs.get("diverged", False)),
    }


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """One row per trial, in trial order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in sorted(rows, key=lambda r: r["trial"]):
            writer.writerow(row)


def ranked(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best dev F1 first; ties in trial order."""
    return sorted(rows, key=lambda r: (-(r["dev_f1"] or 0.0), r["trial"]))


def describe(row: dict[str, Any]) -> str:
    return (
        f"{row['optimizer']}, learn rate {row['learn_rate']:.3g}, batch size {row['batch_size']} words, "
        f"dropout {row['dropout']:.2g}, hidden width {row['hidden_width']}"
    )


def to_markdown(rows: Sequence[dict[str, Any]], context: dict[str, Any]) -> str:
    """The trials sorted by dev F1, the best settings on top."""
    lines = ["# Hyperparameter sweep", ""]
    if not rows:
        return "\n".join(lines + ["No finished trials yet.", ""])
    order = ranked(rows)
    best = order[0]
    lines += [
        f"{len(rows)} trials of `{context['config']}`, each trained for {context['max_steps']} steps "
        f"(seed {context['seed']}) and scored on dev (entity F1 after the last step); "
        "the test set is not used.",
        "",
        f"**Best: {describe(best)}: dev F1 {percent(best['dev_f1'])}** (trial {best['trial']}).",
        "",
        "| rank | trial | optimizer | learn rate | batch size | dropout | hidden width "
        "| dev P | dev R | dev F1 | seconds |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rank, row in enumerate(order, 1):
        f1 = "diverged" if row["diverged"] else percent(row["dev_f1"])
        seconds = f"{row['seconds']:.0f}" if row["seconds"] is not None else "–"
        lines.append(
            f"| {rank} | {row['trial']} | {row['optimizer']} | {row['learn_rate']:.3g} "
            f"| {row['batch_size']} | {row['dropout']:.2g} | {row['hidden_width']} "
            f"| {percent(row['dev_p'])} | {percent(row['dev_r'])} | {f1} | {seconds} |"
        )
    lines += [
        "",
        "Learn rate: the peak of the warmup-linear schedule, stretched to the step budget. "
        "Batch size: words per batch; at equal steps a larger batch has seen more words. "
        "One seed per setting: seed noise alone moves F1 by a few tenths.",
        "",
        f"Machine: {context['machine']}.",
        "",
    ]
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], path: Path, max_steps: int) -> None:
    """Dev F1 against the learning rate (log x) per optimizer, and against the batch size."""
    shown = [r for r in rows if not r["diverged"] and r["dev_f1"] is not None]
    optimizers = sorted({r["optimizer"] for r in shown})
    batch_sizes = sorted({r["batch_size"] for r in shown})
    markers = "osD^v<>p"
    fig, (by_rate, by_batch) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
    for i, name in enumerate(optimizers):
        points = [r for r in shown if r["optimizer"] == name]
        style = {"marker": markers[i % len(markers)], "color": f"C{i}", "label": name, "alpha": 0.8}
        by_rate.scatter([r["learn_rate"] for r in points], [100 * r["dev_f1"] for r in points], **style)
        # side by side within a batch size, one offset per optimizer
        offset = (i - (len(optimizers) - 1) / 2) * 0.15
        xs = [batch_sizes.index(r["batch_size"]) + offset for r in points]
        by_batch.scatter(xs, [100 * r["dev_f1"] for r in points], **style)
    if shown:
        best = ranked(shown)[0]
        ring = {"s": 220, "facecolors": "none", "edgecolors": "black", "linewidths": 1.5}
        by_rate.scatter([best["learn_rate"]], [100 * best["dev_f1"]], label="best", **ring)
        offset = (optimizers.index(best["optimizer"]) - (len(optimizers) - 1) / 2) * 0.15
        by_batch.scatter([batch_sizes.index(best["batch_size"]) + offset], [100 * best["dev_f1"]], **ring)
    by_rate.set_xscale("log")
    # plain numbers at 1, 2 and 5 times each power of ten
    numbers = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    by_rate.xaxis.set_major_formatter(numbers)
    by_rate.xaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
    by_rate.xaxis.set_minor_formatter(numbers)
    by_rate.set_xlabel("peak learning rate (log scale)")
    by_rate.set_ylabel("dev entity F1 (%)")
    by_rate.set_title("Dev F1 against learning rate, per optimizer")
    if shown:
        by_rate.legend(loc="best")
    by_batch.set_xticks(range(len(batch_sizes)), [str(b) for b in batch_sizes])
    by_batch.set_xlim(-0.6, len(batch_sizes) - 0.4)
    by_batch.set_xlabel("batch size (words)")
    by_batch.set_title("Dev F1 against batch size")
    for axes in (by_rate, by_batch):
        axes.grid(True, alpha=0.3)
        axes.margins(y=0.12)
    diverged = len(rows) - len(shown)
    note = f"; {diverged} diverged, not shown" if diverged else ""
    fig.suptitle(f"Sweep: {len(shown)} trials of {max_steps} steps each{note}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine() -> str:
    """The machine in one line, for the report."""
    info = machine_info()
    return (
        f"{info['platform']}, {info['cpu']}, {info['cores']} CPUs, "
        f"torch {info['torch']} with {info['torch_default_threads']} threads"
    )


def write_outputs(study: optuna.Study, metrics: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    """sweep.csv, sweep.md and sweep.png from the study's finished trials."""
    rows = [trial_row(t) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    write_csv(rows, metrics / "sweep.csv")
    (metrics / "sweep.md").write_text(to_markdown(rows, context), encoding="utf8")
    plot(rows, metrics / "sweep.png", context["max_steps"])
    return rows


def run_sweep(
    config: Path,
    output: Path,
    metrics: Path,
    n_trials: int,
    max_steps: int,
    seed: int = 0,
    use_gpu: int = -1,
    overrides: dict[str, Any] | None = None,
    space: SearchSpace | None = None,
) -> list[dict[str, Any]]:
    """Run trials until the study holds `n_trials` finished ones; write the
    outputs after every trial. `overrides` apply to every trial (corpus paths,
    smaller models in tests); the searched settings are applied over them."""
    if max_steps < 1:
        raise ValueError("max_steps must be at least 1: a sweep trial needs a step budget")
    space = space or SearchSpace()
    overrides = {**(overrides or {}), "system.seed": seed}
    base = load_config(config, overrides=overrides, interpolate=False)
    base_optimizer = dict(base["training"]["optimizer"])
    folder = output / f"steps-{max_steps}"
    folder.mkdir(parents=True, exist_ok=True)
    settings = json.loads(json.dumps({"config": str(config), "max_steps": max_steps, "overrides": overrides}))
    study = optuna.create_study(
        study_name=STUDY,
        storage=f"sqlite:///{(folder / 'optuna.db').resolve()}",
        direction="maximize",
        load_if_exists=True,
    )
    if "settings" not in study.user_attrs:
        study.set_user_attr("settings", settings)
    elif study.user_attrs["settings"] != settings:
        raise ValueError(
            f"{folder / 'optuna.db'} holds a sweep with other settings ({study.user_attrs['settings']}); "
            f"delete {folder} or choose another --output"
        )
    # Seeded by the number of trials so far: a resumed sweep does not replay its first draws.
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    if not study.trials:
        for point in space.starting_points(config_defaults(base)):
            study.enqueue_trial(point)
    requeue_interrupted(study)
    context = {"config": str(config), "max_steps": max_steps, "seed": seed, "machine": machine()}

    def objective(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        trial_dir = folder / f"trial-{trial.number:03d}"
        try:
            result = train_trial(
                config,
                trial_dir,
                {**overrides, **trial_overrides(params, base_optimizer, max_steps)},
                use_gpu,
            )
        except TrainingDivergedError:
            # a setting that diverges is a result, not a crash: F1 0
            result = {"dev_p": 0.0, "dev_r": 0.0, "dev_f1": 0.0, "seconds": None, "diverged": True}
        for key in ("dev_p", "dev_r", "seconds", "diverged"):
            if key in result:
                trial.set_user_attr(key, result[key])
        return result["dev_f1"]

    finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if finished < n_trials:
        study.optimize(
            objective,
            n_trials=n_trials - finished,
            callbacks=[lambda study, trial: write_outputs(study, metrics, context)],
        )
    return write_outputs(study, metrics, context)


app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Training config"),
    output: Path = typer.Option(Path("training/sweep"), help="Folder for the study and the trial folders"),
    metrics: Path = typer.Option(Path("metrics"), help="Where sweep.csv, sweep.md and sweep.png go"),
    trials: int = typer.Option(20, help="Finished trials wanted (those of an earlier run count)"),
    max_steps: int = typer.Option(500, help="Training steps per trial"),
    seed: int = typer.Option(0, help="Training seed of every trial, and the sampler's seed"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
) -> None:
    """Run the sweep; extra --section.key value options are config overrides for every trial."""
    overrides = parse_config_overrides(ctx.args)
    rows = run_sweep(config, output, metrics, trials, max_steps, seed, gpu_id, overrides)
    print((metrics / "sweep.md").read_text(encoding="utf8"))
    if not rows:
        raise SystemExit("no finished trials")


if __name__ == "__main__":
    app()
