"""Comma-separated options of the scripts' command lines ("--batch-sizes 0,32").

benchmark, load_test and seeds take lists of numbers as one string, as
project.yml's vars pass them (`--vars.seeds 0,1,2`); one parser reads them all
the same way.
"""


def comma_ints(text: str) -> list[int]:
    """The integers of a comma-separated option ("0,32", "1, 8,32"); blank items are
    skipped, so "" is the empty list (e.g. `--busy ''` skips a part of the benchmark)."""
    return [int(item) for item in text.split(",") if item.strip()]
