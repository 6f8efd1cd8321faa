"""Print the per-entity-type P/R/F table of one or more `spacy evaluate` outputs.

`spacy evaluate --output` writes JSON with ents_p/r/f, ents_per_type and our
scorer's ner_token_acc; this turns them into one Markdown table (printed, and
written with --output) with a column group per evaluated split.
"""

from pathlib import Path

import srsly
import typer
from prf import from_spacy, markdown_cells


def format_table(results: dict[str, dict]) -> str:
    """Markdown table: one row per entity type plus the micro average and token accuracy."""
    types = sorted({t for scores in results.values() for t in (scores.get("ents_per_type") or {})})
    header = "| type | " + " | ".join(f"{split} P | {split} R | {split} F" for split in results) + " |"
    rule = "|---|" + "---:|---:|---:|" * len(results)
    lines = [header, rule]

    for label in types:
        row = [markdown_cells((scores.get("ents_per_type") or {}).get(label)) for scores in results.values()]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    overall = [markdown_cells(from_spacy(s)) for s in results.values()]
    lines.append("| **all (micro)** | " + " | ".join(overall) + " |")
    accuracy = []
    for scores in results.values():
        acc = scores.get("ner_token_acc")
        accuracy.append(f" | | {100 * acc:.2f}" if acc is not None else " | | –")
    lines.append("| token accuracy |" + " |".join(accuracy) + " |")
    return "\n".join(lines) + "\n"


def format_casings(conll: dict) -> str:
    """Markdown table of scripts/conlleval.py's output: exact match on the corpus's
    own tokens, as written and (with --casings) every word lowercased / uppercased."""
    lines = ["| words | P | R | F |", "|---|---:|---:|---:|"]
    for name, scores in (
        ("as written", conll),
        ("lowercased", conll.get("lower")),
        ("uppercased", conll.get("upper")),
    ):
        if scores:
            lines.append(f"| {name} | {markdown_cells(scores)} |")
    if "seen" in conll:
        lines.append("")
        for name in ("seen", "unseen"):
            group = conll[name]
            recall = f"{100 * group['r']:.2f} ({group['n']} entities)"
            lines.append(f"Recall of test entities {name} in training: {recall}  ")
    for warning in conll.get("warnings") or []:
        lines += ["", f"**Warning:** {warning}."]
    return "\n".join(lines) + "\n"


def main(
    metrics: list[Path] = typer.Argument(..., help="JSON files written by spacy evaluate --output"),
    output: Path | None = typer.Option(None, help="Also write the table to this Markdown file"),
    conll: Path | None = typer.Option(None, help="scripts/conlleval.py's JSON (test), shown below the table"),
) -> None:
    """Print entity P/R/F per type (and token accuracy) for each metrics file."""
    results = {path.stem: srsly.read_json(path) for path in metrics}
    table = format_table(results)
    if conll is not None:
        table += f"\nOn the corpus's own tokens ({conll.stem}):\n\n" + format_casings(srsly.read_json(conll))
    print(table)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(table, encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
