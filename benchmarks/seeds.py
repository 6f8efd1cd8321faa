"""Train the run's config with several seeds; report dev and test P/R/F per seed.

One run proves little: seed noise alone moves NER F1 by about 0.4 (Reimers &
Gurevych 2017). Writes a JSON and a Markdown table with every seed, overall and
per entity type, and the median, min and max over seeds. Seeds whose pipeline
already exists under the output folder are scored again but not retrained.
"""

from pathlib import Path

import spacy
import typer
from bilstm_ner.evaluation import evaluate

from benchmarks.reporting import comma_ints, percent, spread, write_report
from benchmarks.trainings import SPLITS, score, train_or_reuse

# Test F on CoNLL's tokens: as written, and with every word lowercased / uppercased.
CONLL_COLUMNS = {
    "test_conll": "test F (CoNLL tokens)",
    "test_conll_lower": "lowercased",
    "test_conll_upper": "uppercased",
}


def summarize(runs: list[dict]) -> dict:
    """Median, min and max of every split's overall and per-type F, P and R."""
    summary: dict = {}
    for split in SPLITS:
        summary[split] = {}
        keys = [("all", m) for m in ("p", "r", "f")]
        types = sorted({t for run in runs for t in run[split]["per_type"]})
        keys += [(t, m) for t in types for m in ("p", "r", "f")]
        for name, metric in keys:
            values = [
                run[split][metric] if name == "all" else run[split]["per_type"].get(name, {}).get(metric, 0.0)
                for run in runs
            ]
            summary[split].setdefault(name, {})[metric] = spread(values)
    for key in CONLL_COLUMNS:
        if all(key in run for run in runs):
            values = [run[key]["f"] for run in runs]
            summary[f"{key}_f"] = spread(values)
    seconds = [run["train_seconds"] for run in runs if run.get("train_seconds") is not None]
    if seconds:
        summary["train_seconds"] = spread(seconds)
    return summary


def to_markdown(runs: list[dict], summary: dict) -> str:
    lines = ["# Seeds", ""]
    # the lowercased / uppercased columns only when some run has them
    columns = ["test_conll"] + [k for k in CONLL_COLUMNS if k != "test_conll" and any(k in r for r in runs)]
    header = ["seed", "dev P", "dev R", "dev F", "test P", "test R", "test F"]
    header += [CONLL_COLUMNS[k] for k in columns] + ["train min"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---:|" * len(header))
    for run in runs:
        cells = [percent(run[s][m]) for s in SPLITS for m in ("p", "r", "f")]
        cells += [percent(run[k]["f"]) if k in run else "–" for k in columns]
        minutes = f"{run['train_seconds'] / 60:.1f}" if run.get("train_seconds") else "–"
        lines.append(f"| {run['seed']} | " + " | ".join(cells) + f" | {minutes} |")
    for stat in ("median", "min", "max"):
        cells = [percent(summary[s]["all"][m][stat]) for s in SPLITS for m in ("p", "r", "f")]
        for key in columns:
            value = summary.get(f"{key}_f", {}).get(stat)
            cells.append(percent(value) if value is not None else "–")
        secs = summary.get("train_seconds", {}).get(stat)
        minutes = f"{secs / 60:.1f}" if secs else "–"
        lines.append(f"| **{stat}** | " + " | ".join(cells) + f" | {minutes} |")
    lines += [
        "",
        "spacy evaluate scores documents re-tokenized by spaCy; the CoNLL-tokens column is the",
        "exact match on the corpus's own tokens (bilstm_ner.evaluation), the figure papers report;",
        "lowercased / uppercased: the same, with every word of the test set recased.",
    ]
    lines += ["", "F1 per entity type (median [min, max] over seeds):", ""]
    lines.append("| type | dev F | test F |")
    lines.append("|---|---:|---:|")
    types = [t for t in summary["test"] if t != "all"]
    for name in types:
        cells = []
        for split in SPLITS:
            f = summary[split].get(name, {}).get("f")
            cells.append(f"{percent(f['median'])} [{percent(f['min'])}, {percent(f['max'])}]" if f else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(
    config: Path = typer.Argument(Path("corpus/config.cfg"), help="The config to train (the inputs step's)"),
    output: Path = typer.Option(Path("training/seeds"), help="Folder for one pipeline per seed"),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds"),
    train_path: Path = typer.Option(Path("corpus/train.spacy")),
    dev_path: Path = typer.Option(Path("corpus/dev.spacy")),
    test_path: Path = typer.Option(Path("corpus/test.spacy")),
    max_steps: int = typer.Option(0, help="0: the config's own limit"),
    max_epochs: int = typer.Option(-1, help="-1: the config's own limit"),
    metrics: Path = typer.Option(Path("metrics"), help="Where seeds.json and seeds.md go"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    lang: str = typer.Option("en", help="The pipelines' language (their tokenizer)"),
) -> None:
    """Train one pipeline per seed, score each on dev and test, and write the summary."""
    runs = []
    for seed in comma_ints(seeds):
        model_dir = output / f"seed-{seed}"
        overrides = {"paths.train": train_path, "paths.dev": dev_path, "system.seed": seed, "nlp.lang": lang}
        if max_steps:
            overrides["training.max_steps"] = max_steps
        if max_epochs >= 0:
            overrides["training.max_epochs"] = max_epochs
        seconds = train_or_reuse(config, model_dir, overrides, gpu_id=gpu_id)
        run = {"seed": seed, "train_seconds": seconds}
        for split, corpus in (("dev", dev_path), ("test", test_path)):
            run[split] = score(model_dir / "model-best", corpus, use_gpu=gpu_id)
        if gpu_id >= 0:
            spacy.require_gpu(gpu_id)
        conll = evaluate(spacy.load(model_dir / "model-best"), test_path, casings=True)
        run |= {"test_conll": conll, "test_conll_lower": conll["lower"], "test_conll_upper": conll["upper"]}
        runs.append(run)
        print(f"seed {seed}: dev F {percent(run['dev']['f'])}, test F {percent(run['test']['f'])}")
    summary = summarize(runs)
    write_report(to_markdown(runs, summary), {"runs": runs, "summary": summary}, metrics / "seeds.md")


if __name__ == "__main__":
    typer.run(main)
