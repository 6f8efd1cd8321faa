"""scripts/report_files.py and scripts/option_lists.py: how the measuring scripts
write their reports and read their comma-separated options."""

from pathlib import Path

import numpy
import pytest
import srsly
from benchmarks.reporting import comma_ints, write_report


def test_markdown_and_json_beside_it_in_new_folders(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "metrics" / "new" / "bench.md"
    results = {"model": tmp_path / "model", "speed": numpy.float32(1.5), "runs": {1: [2, 3]}}
    write_report("| a |\n", results, output)
    assert output.read_text(encoding="utf8") == "| a |\n"
    # values JSON has no type for are written as their strings, int keys as JSON's strings
    written = srsly.read_json(output.with_suffix(".json"))
    assert written == {"model": str(tmp_path / "model"), "speed": "1.5", "runs": {"1": [2, 3]}}
    assert capsys.readouterr().out == "| a |\n\n"


def test_json_where_it_is_named(tmp_path: Path) -> None:
    output, json_output = tmp_path / "table.md", tmp_path / "json" / "figures.json"
    write_report("x\n", {"f": 0.9}, output, json_output)
    assert srsly.read_json(json_output) == {"f": 0.9}
    assert not output.with_suffix(".json").exists()


@pytest.mark.parametrize(
    ("text", "numbers"), [("0,32", [0, 32]), ("1, 8,32", [1, 8, 32]), ("", []), ("3,", [3]), (" ", [])]
)
def test_comma_ints(text: str, numbers: list[int]) -> None:
    assert comma_ints(text) == numbers


def test_comma_ints_refuses_what_is_no_integer() -> None:
    with pytest.raises(ValueError):
        comma_ints("1,two")
