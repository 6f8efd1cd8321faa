"""The accurate pipeline's speed levers, measured in one run: words/s and dev F1 of each.

    OMP_NUM_THREADS=1 python -m benchmarks.accurate_levers training/model-best \
        --variant "float32: components.ner.model.context.precision=float32" --variant "auto:" \
        --other fast=FAST_PIPELINE --other spacy_ner=SPACY_NER_PIPELINE \
        --test corpus/test.spacy --dev corpus/dev.spacy --output metrics/accurate_speed.md

Each variant is the same trained pipeline loaded with its own `spacy.load`
config overrides (space-separated key=value, values read as JSON when they
parse), e.g. `components.ner.model.context.precision=int8`; a key
`context.NAME` sets the transformer layer's attribute NAME after loading
(`context.window=64`, `context.batch_pieces=2048`): those are saved with the
weights, so a config override does not reach them. The variants and the other
pipelines (`--other`: the fast pipeline, spaCy's `ner`) run over the test
texts in alternating rounds in this one process, one torch thread, as
benchmarks/benchmark.py times them (the texts tokenized beforehand, each
pipeline's own batch size; words/s is the median over rounds). Each variant is
also scored on dev on CoNLL's tokens (bilstm_ner.evaluation). Writes a
Markdown table (words/s, the ratio to the first variant and to each other
pipeline, dev F1 and its change from the first variant) and JSON; the machine
and its load average before and after.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from benchmarks.benchmark import corpus_texts, inference_rounds, time_pipe
from benchmarks.reporting import machine_info, percent, write_report

# a variant's settings that set the transformer layer's attrs rather than the config
CONTEXT_PREFIX = "context."


def parse_settings(settings: list[str]) -> dict[str, Any]:
    """key=value settings, the values read as JSON when they parse (true, 128,
    "first"), else as strings."""
    overrides: dict[str, Any] = {}
    for setting in settings:
        key, eq, raw = setting.partition("=")
        if not eq or not key:
            raise typer.BadParameter(f"settings are key=value, got {setting!r}")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """ "NAME: key=value key=value" -> (NAME, settings); "NAME:" is the pipeline as saved."""
    name, sep, settings = text.partition(":")
    if not sep or not name.strip():
        raise typer.BadParameter(f"a variant is given as 'NAME: key=value ...', got {text!r}")
    return name.strip(), parse_settings(settings.split())


def load_variant(path: Path, settings: dict[str, Any]):
    """The pipeline at `path` with `settings`: config overrides, and `context.NAME`
    keys set on its transformer layers' attrs after loading."""
    import spacy

    layer_attrs = {k.split(".", 1)[1]: v for k, v in settings.items() if k.startswith(CONTEXT_PREFIX)}
    nlp = spacy.load(path, config={k: v for k, v in settings.items() if not k.startswith(CONTEXT_PREFIX)})
    for _, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        for node in model.walk() if model is not None else []:
            if node.name == "transformer_context":
                for name, value in layer_attrs.items():
                    if name not in node.attrs:
                        raise typer.BadParameter(f"the transformer layer has no attribute {name!r}")
                    node.attrs[name] = value
    return nlp


def parse_others(pairs: list[str]) -> dict[str, Path]:
    others = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"other pipelines are given as NAME=PATH, got {pair!r}")
        others[name] = Path(path)
    return others


def to_markdown(results: dict[str, Any]) -> str:
    variants, others = results["variants"], results["others"]
    first = next(iter(variants))
    speed = results["words_per_second"]
    header = ["variant", "settings", "words/s, median [min, max]", f"÷ {first}"]
    header += [f"÷ {name}" for name in others]
    header += ["dev F1, CoNLL tokens", f"dev change from {first}"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for name in list(variants) + list(others):
        row = speed[name]
        cells = [
            name,
            " ".join(f"`{k}={v}`" for k, v in variants.get(name, {}).get("settings", {}).items())
            or ("as saved" if name in variants else str(others[name])),
            f"{row['median']:,.0f} [{row['min']:,.0f}, {row['max']:,.0f}]",
            f"{row['median'] / speed[first]['median']:.2f}×",
        ]
        cells += [f"{row['median'] / speed[other]['median']:.2f}×" for other in others]
        dev = variants.get(name, {}).get("dev_f")
        base = variants[first].get("dev_f")
        cells.append(percent(dev))
        cells.append("–" if dev is None or base is None else f"{100 * (dev - base):+.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    machine = results["machine"]
    lines += [
        "",
        f"{results['rounds']} alternating rounds over {results['words']:,} words of {results['test']}, "
        f"one torch thread, one process. Machine: {machine.get('cpu', '?')}, {machine.get('cores')} cores; "
        f"load average {results['load_before']} before, {results['load_after']} after.",
    ]
    return "\n".join(lines) + "\n"


def main(
    accurate: Path = typer.Argument(..., help="The trained accurate pipeline (folder)"),
    variant: list[str] = typer.Option(
        ..., help="'NAME: key=value ...' (repeatable; the first is the reference)"
    ),
    other: list[str] = typer.Option([], help="NAME=PIPELINE timed beside the variants (repeatable)"),
    test: Path = typer.Option(Path("corpus/test.spacy"), help="Texts timed"),
    dev: Path | None = typer.Option(Path("corpus/dev.spacy"), help="Dev DocBin scored (none: no scoring)"),
    rounds: int = typer.Option(5, min=1, help="Alternating rounds"),
    output: Path = typer.Option(Path("metrics/accurate_speed.md"), help="Markdown table (JSON beside it)"),
) -> None:
    """Time and score the variants of the accurate pipeline beside the other pipelines."""
    import spacy
    import torch

    torch.set_num_threads(1)
    load_before = [round(x, 2) for x in os.getloadavg()]
    variants = dict(parse_variant(v) for v in variant)
    models = {name: load_variant(accurate, overrides) for name, overrides in variants.items()}
    others = parse_others(other)
    models.update({name: spacy.load(path) for name, path in others.items()})
    for nlp in models.values():
        for _, pipe in nlp.pipeline:
            if hasattr(pipe, "torch_threads"):
                pipe.torch_threads = 1
    first = next(iter(models.values()))
    texts = corpus_texts(test, first.vocab)
    runners = {name: (lambda nlp=nlp: time_pipe(nlp, texts)) for name, nlp in models.items()}
    timings = inference_rounds(runners, rounds)
    rows: dict[str, dict[str, Any]] = {name: {"settings": settings} for name, settings in variants.items()}
    if dev is not None:
        from bilstm_ner.evaluation import evaluate

        for name in variants:
            rows[name]["dev_f"] = evaluate(models[name], dev)["f"]
    results = {
        "accurate": str(accurate),
        "variants": rows,
        "others": {name: str(path) for name, path in others.items()},
        "words_per_second": {name: t["words_per_second"] for name, t in timings.items()},
        "timings": timings,
        "words": next(iter(timings.values()))["words"],
        "test": str(test),
        "rounds": rounds,
        "machine": machine_info(),
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    write_report(to_markdown(results), results, output)


if __name__ == "__main__":
    typer.run(main)
