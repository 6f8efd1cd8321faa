"""Write a measuring script's report: the Markdown table, its figures as JSON, the table printed.

benchmark, compare, load_test, seeds and side_by_side each end this way; one
helper keeps their files alike: the folders made, the JSON beside the
Markdown unless named, and values JSON has no type for (paths, numpy scalars)
written as their strings rather than failing after a long measurement.
"""

import json
from pathlib import Path
from typing import Any

import srsly


def write_report(
    markdown: str, results: dict[str, Any], output: Path, json_output: Path | None = None
) -> None:
    """Write `markdown` to `output` and `results` to `json_output` (default: `output`
    with the suffix .json), then print the Markdown."""
    json_path = output.with_suffix(".json") if json_output is None else json_output
    for path in (output, json_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown, encoding="utf8")
    srsly.write_json(json_path, json.loads(json.dumps(results, default=str)))
    print(markdown)
