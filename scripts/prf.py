"""Precision, recall and F1 as the scripts pass them around and print them.

The scripts hold P/R/F as {"p", "r", "f"} fractions (conlleval.py's output, its
per-type entries, spaCy's `ents_per_type`); spaCy's scorer and `spacy evaluate`
name the overall ones ents_p / ents_r / ents_f. One reader of those keys and
one Markdown cell formatter, so every table shows the same figures the same way.
"""

from typing import Any


def from_spacy(scores: dict[str, Any]) -> dict[str, Any]:
    """The overall entity P/R/F of spaCy's scores (ents_p, ents_r, ents_f) as {"p", "r", "f"};
    None stays None (spaCy's value when there was nothing to score)."""
    return {key: scores[f"ents_{key}"] for key in "prf"}


def markdown_cells(prf: dict[str, float] | None) -> str:
    """'91.02 | 90.11 | 90.56' (percentages, P R F), or dashes for a row without figures."""
    if not prf:
        return " – | – | – "
    return " | ".join(f"{100 * prf[key]:.2f}" for key in "prf")
