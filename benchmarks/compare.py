"""This project's pipeline beside spaCy's built-in `ner`, trained on the same corpus.

Both are trained by the workflow's train step from their configs (spaCy's default
CPU NER config is kept in configs/spacy_ner.cfg), timed, and scored on dev and test
with the same scorer; the table gives overall and per-type P/R/F and the
training time. A pipeline folder that already holds a trained model-best (and
its train_seconds.json) is reused, e.g. seed 0 of the seeds command.
"""

from pathlib import Path

import spacy
import typer
from bilstm_ner.evaluation import evaluate

from benchmarks.reporting import percent, write_report
from benchmarks.trainings import SPLITS, score, train_or_reuse


def to_markdown(results: dict[str, dict]) -> str:
    names = list(results)
    lines = ["# BiLSTM NER vs spaCy's built-in ner", ""]
    lines.append("| | " + " | ".join(names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    for split in SPLITS:
        for metric in ("p", "r", "f"):
            row = [percent(results[n][split][metric]) for n in names]
            lines.append(f"| {split} {metric.upper()} | " + " | ".join(row) + " |")
    if all("test_conll" in results[n] for n in names):
        for metric in ("p", "r", "f"):
            row = [percent(results[n]["test_conll"][metric]) for n in names]
            lines.append(f"| test {metric.upper()} (CoNLL tokens) | " + " | ".join(row) + " |")
    types = sorted({t for n in names for t in results[n]["test"]["per_type"]})
    for split in SPLITS:
        for label in types:
            row = [percent(results[n][split]["per_type"].get(label, {}).get("f")) for n in names]
            lines.append(f"| {split} F {label} | " + " | ".join(row) + " |")
    row = [f"{results[n]['train_seconds'] / 60:.1f}" if results[n]["train_seconds"] else "–" for n in names]
    lines.append("| training time (min) | " + " | ".join(row) + " |")
    row = [f"{results[n]['test']['words_per_second']:.0f}" for n in names]
    lines.append("| test words/s (spacy evaluate) | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(
    ours_config: Path = typer.Option(Path("corpus/config.cfg"), help="Our config (the inputs step's)"),
    baseline_config: Path = typer.Option(Path("corpus/baseline.cfg"), help="spaCy's ner's, with the same vectors"),
    ours: Path = typer.Option(Path("training/compare/bilstm_ner"), help="Folder of our trained pipeline"),
    baseline: Path = typer.Option(Path("training/compare/spacy_ner"), help="Folder of spaCy's trained ner"),
    train_path: Path = typer.Option(Path("corpus/train.spacy")),
    dev_path: Path = typer.Option(Path("corpus/dev.spacy")),
    test_path: Path = typer.Option(Path("corpus/test.spacy")),
    max_steps: int = typer.Option(0, help="0: the configs' own limits"),
    output: Path = typer.Option(Path("metrics/compare.md")),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    lang: str = typer.Option("en", help="The pipelines' language (their tokenizer)"),
    baseline_only: bool = typer.Option(
        False, "--baseline-only", help="Only train (or reuse) spaCy's ner, e.g. for the benchmark"
    ),
) -> None:
    """Train (or reuse) both pipelines, score them on dev and test, write the comparison.

    With word vectors, spaCy's ner reads the same table as ours (the inputs step's
    baseline.cfg is configs/spacy_ner_vectors.cfg then), so the comparison stays like for like."""
    overrides: dict = {"paths.train": train_path, "paths.dev": dev_path, "nlp.lang": lang}
    if max_steps:
        overrides["training.max_steps"] = max_steps
    if baseline_only:
        seconds = train_or_reuse(baseline_config, baseline, overrides, gpu_id)
        print(f"spaCy ner in {baseline}/model-best (trained in {seconds or 0:.0f} s)")
        return
    results = {}
    for name, config, folder in (("bilstm_ner", ours_config, ours), ("spaCy ner", baseline_config, baseline)):
        seconds = train_or_reuse(config, folder, overrides, gpu_id)
        results[name] = {"train_seconds": seconds}
        for split, corpus in (("dev", dev_path), ("test", test_path)):
            results[name][split] = score(folder / "model-best", corpus, use_gpu=gpu_id)
        if gpu_id >= 0:
            spacy.require_gpu(gpu_id)
        results[name]["test_conll"] = evaluate(spacy.load(folder / "model-best"), test_path)
    write_report(to_markdown(results), results, output)


if __name__ == "__main__":
    typer.run(main)
