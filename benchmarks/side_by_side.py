"""The fast pipeline, the accurate one and spaCy's `ner`, side by side.

    python -m benchmarks.side_by_side fast=training/fast/model-best accurate=training/accurate/model-best \
        spacy_ner=training/compare/spacy_ner/model-best --dev corpus/dev.spacy --test corpus/test.spacy \
        --train corpus/train.spacy --wheel fast=packages/.../x.whl --output metrics/side_by_side.md

For each pipeline: exact-match F1 on the CoNLL tokens of dev and test (as
conlleval scores), test lowercased and uppercased, the recall of test names
seen and unseen in training, words per second on the test texts (raw text
through the pipeline's tokenizer, the pipelines in alternating rounds in this
one process, one torch thread: what a user on a shared CPU gets), and the size
of its wheel when one is named. A missing pipeline is left out with a note.
"""

import sys
from pathlib import Path

import typer
from bilstm_ner.evaluation import evaluate

from benchmarks.benchmark import corpus_texts, inference_rounds, time_pipe
from benchmarks.reporting import machine_info, percent, write_report


def parse_pairs(pairs: list[str], what: str) -> dict[str, Path]:
    parsed = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"{what} are given as NAME=PATH, got {pair!r}")
        parsed[name] = Path(path)
    return parsed


def accuracy(nlp, dev: Path, test: Path, train: Path) -> dict[str, float]:
    """Exact-match F on the corpus's tokens (dev, test as written, lower, upper) and the
    recall of test names seen / unseen in training."""
    cased = evaluate(nlp, test, train=train, casings=True)
    return {
        "dev_f": evaluate(nlp, dev)["f"],
        "test_f": cased["f"],
        "test_lower_f": cased["lower"]["f"],
        "test_upper_f": cased["upper"]["f"],
        "seen_r": cased["seen"]["r"],
        "unseen_r": cased["unseen"]["r"],
        "n_unseen": cased["unseen"]["n"],
    }


def to_markdown(results: dict) -> str:
    rows = results["pipelines"]
    names = list(rows)
    lines = [
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    measures = [
        ("dev F1, CoNLL tokens", "dev_f"),
        ("test F1, CoNLL tokens", "test_f"),
        ("test F1, lowercased", "test_lower_f"),
        ("test F1, uppercased", "test_upper_f"),
        ("recall of test names seen in training", "seen_r"),
        ("recall of test names unseen in training", "unseen_r"),
    ]
    for label, key in measures:
        lines.append(f"| {label} | " + " | ".join(percent(rows[n].get(key)) for n in names) + " |")
    speed = [rows[n].get("words_per_second") for n in names]
    lines.append(
        "| words/s, test texts, 1 torch thread, median | "
        + " | ".join("–" if s is None else f"{s:,.0f}" for s in speed)
        + " |"
    )
    sizes = [rows[n].get("wheel_mb") for n in names]
    lines.append("| wheel, MB | " + " | ".join("–" if s is None else f"{s:.0f}" for s in sizes) + " |")
    machine = results["machine"]
    lines += [
        "",
        f"{results['rounds']} alternating rounds; machine: {machine.get('cpu', '?')}, "
        f"load average before {machine.get('load_average')}.",
    ]
    lines += [f"- {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


def main(
    pipelines: list[str] = typer.Argument(..., help="NAME=PIPELINE pairs, in the table's order"),
    dev: Path = typer.Option(..., help="Dev DocBin"),
    test: Path = typer.Option(..., help="Test DocBin"),
    train: Path = typer.Option(..., help="Training DocBin (for the names seen in training)"),
    wheel: list[str] = typer.Option([], help="NAME=WHEEL pairs: the size of each pipeline's wheel"),
    rounds: int = typer.Option(5, help="Alternating speed rounds"),
    output: Path = typer.Option(Path("metrics/side_by_side.md")),
    json_output: Path = typer.Option(Path("metrics/side_by_side.json"), "--json"),
) -> None:
    """Score and time the pipelines named; write a markdown table and JSON."""
    import spacy
    import torch

    torch.set_num_threads(1)
    notes = []
    models = {}
    for name, path in parse_pairs(pipelines, "pipelines").items():
        if (path / "config.cfg").exists():
            models[name] = spacy.load(path)
        else:
            notes.append(f"{name}: {path} not found (train it first), left out")
    if not models:
        print("error: none of the pipelines exists", file=sys.stderr)
        raise typer.Exit(1)
    first = next(iter(models.values()))
    rows = {name: accuracy(nlp, dev, test, train) for name, nlp in models.items()}
    texts = corpus_texts(test, first.vocab)
    runners = {name: (lambda nlp=nlp: time_pipe(nlp, texts)) for name, nlp in models.items()}
    for name, timing in inference_rounds(runners, rounds).items():
        rows[name]["words_per_second"] = timing["words_per_second"]["median"]
    for name, path in parse_pairs(wheel, "wheels").items():
        if name in rows and path.exists():
            rows[name]["wheel_mb"] = path.stat().st_size / 1e6
    results = {"pipelines": rows, "rounds": rounds, "machine": machine_info(), "notes": notes}
    write_report(to_markdown(results), results, output, json_output)


if __name__ == "__main__":
    typer.run(main)
