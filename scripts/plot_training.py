"""Plot training loss and dev scores against steps from spaCy's JSONL training log.

    python scripts/plot_training.py training/train_log.jsonl --output metrics/training_curve.png

`spacy.ConsoleLogger.v3` with `output_file` writes one JSON line per
evaluation: the step, each component's loss summed since the previous
evaluation, and the dev scores in percent. The loss is shown per update (the
sum divided by the steps it covers), so its scale does not depend on
`eval_frequency`.
"""

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt  # noqa: E402
import srsly  # noqa: E402
import typer  # noqa: E402

SCORES = {"ents_f": "F", "ents_p": "P", "ents_r": "R"}


@dataclass
class TrainingLog:
    steps: list[int]
    losses: dict[str, list[float]]  # component -> mean loss per update since the previous row
    scores: dict[str, list[float | None]]  # score name -> dev score (percent)


def read_log(path: Path) -> TrainingLog:
    """Parse the JSONL log; the loss of each row is divided by the steps since the previous row."""
    rows = [row for row in srsly.read_jsonl(path) if isinstance(row, dict) and "step" in row]
    if not rows:
        raise ValueError(f"{path} has no training log rows (JSON lines with a 'step')")
    steps = [int(row["step"]) for row in rows]
    components = sorted({name for row in rows for name in (row.get("losses") or {})})
    losses: dict[str, list[float]] = {name: [] for name in components}
    previous = None
    for row, step in zip(rows, steps, strict=True):
        covered = max(1, step - previous) if previous is not None else max(1, step or 1)
        for name in components:
            losses[name].append(float((row.get("losses") or {}).get(name, float("nan"))) / covered)
        previous = step
    names = sorted({name for row in rows for name in (row.get("scores") or {})})
    scores = {name: [(row.get("scores") or {}).get(name) for row in rows] for name in names}
    return TrainingLog(steps, losses, scores)


def plot(log: TrainingLog, output: Path, title: str) -> None:
    """Two panels over steps: loss per update (log scale) above, dev P/R/F below."""
    figure, (loss_axis, score_axis) = plt.subplots(2, 1, sharex=True, figsize=(8, 6.5))
    for name, values in log.losses.items():
        loss_axis.plot(log.steps, values, marker="o", markersize=3, label=f"{name} loss")
    loss_axis.set_yscale("log")
    loss_axis.set_ylabel("training loss per update")
    loss_axis.grid(True, which="both", alpha=0.3)
    loss_axis.legend(loc="upper right")
    loss_axis.set_title(title)
    for key, label in SCORES.items():
        if key not in log.scores:
            continue
        points = [(s, v) for s, v in zip(log.steps, log.scores[key], strict=True) if v is not None]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        style = {"linewidth": 2.2} if key == "ents_f" else {"linewidth": 1, "alpha": 0.6}
        score_axis.plot(xs, ys, marker="o", markersize=3, label=f"dev {label}", **style)
        if key == "ents_f":
            best = max(range(len(ys)), key=lambda i: ys[i])
            score_axis.annotate(
                f"best F {ys[best]:.2f} at step {xs[best]}",
                (xs[best], ys[best]),
                xytext=(0, -28),
                textcoords="offset points",
                ha="center",
                arrowprops={"arrowstyle": "->"},
            )
            # the untrained first evaluation (near 0) would squash the differences that matter
            later = ys[1:] if len(ys) > 1 else ys
            score_axis.set_ylim(max(0.0, min(later) - 5), min(100.0, max(ys) + 3))
    score_axis.set_xlabel("step")
    score_axis.set_ylabel("dev score (%)")
    score_axis.grid(True, alpha=0.3)
    score_axis.legend(loc="lower right")
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=120)
    plt.close(figure)


def main(
    log_path: Path = typer.Argument(..., help="JSONL log written by spacy.ConsoleLogger.v3 output_file"),
    output: Path = typer.Option(Path("metrics/training_curve.png"), help="PNG to write"),
    title: str = typer.Option("Training: loss and dev scores", help="Figure title"),
) -> None:
    """Plot loss and dev P/R/F against steps."""
    log = read_log(log_path)
    plot(log, output, title)
    print(f"Wrote {output}: {len(log.steps)} evaluations, last step {log.steps[-1]}")


if __name__ == "__main__":
    typer.run(main)
