"""The `evaluate` step's table: entity P/R/F per type of `spacy evaluate`'s outputs, and
the scores on the corpus's own tokens (bilstm_ner.evaluation's JSON) below them.

`spacy evaluate --output` writes ents_p/r/f, ents_per_type and the component's
ner_token_acc: one Markdown table (printed, and written with --output) with a column
group per evaluated split.
"""

from pathlib import Path

import srsly
import typer
from bilstm_ner.evaluation import cells, from_spacy, prf_table


def format_table(results: dict[str, dict]) -> str:
    """A row per entity type, the micro average and the token accuracy; P/R/F per split."""
    accuracy = [scores.get("ner_token_acc") for scores in results.values()]
    row = " |".join(" | | –" if acc is None else f" | | {100 * acc:.2f}" for acc in accuracy)
    table = prf_table({split: from_spacy(scores) for split, scores in results.items()})
    return table + f"| token accuracy |{row} |\n"


def format_casings(conll: dict) -> str:
    """The evaluation's scores on the corpus's own tokens: as written and (with --casings)
    every word lowercased / uppercased; the recall of names seen and unseen in training,
    and its warnings."""
    lines = ["| words | P | R | F |", "|---|---:|---:|---:|"]
    for name, key in (("as written", None), ("lowercased", "lower"), ("uppercased", "upper")):
        scores = conll if key is None else conll.get(key)
        if scores:
            lines.append(f"| {name} | {cells(scores)} |")
    if "seen" in conll:
        lines.append("")
        for name in ("seen", "unseen"):
            group = conll[name]
            lines.append(f"Recall of test entities {name} in training: {100 * group['r']:.2f} ({group['n']} entities)  ")
    for warning in conll.get("warnings") or []:
        lines += ["", f"**Warning:** {warning}."]
    return "\n".join(lines) + "\n"


def main(
    metrics: list[Path] = typer.Argument(..., help="JSON files written by spacy evaluate --output"),
    output: Path | None = typer.Option(None, help="Also write the table to this Markdown file"),
    conll: Path | None = typer.Option(None, help="bilstm_ner.evaluation's JSON (test), shown below the table"),
) -> None:
    """Print entity P/R/F per type (and token accuracy) for each metrics file."""
    table = format_table({path.stem: srsly.read_json(path) for path in metrics})
    if conll is not None:
        table += f"\nOn the corpus's own tokens ({conll.stem}):\n\n" + format_casings(srsly.read_json(conll))
    print(table)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(table, encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
