"""The seeds summary: median, min and max over runs, and its Markdown table."""

import pytest
from benchmarks.seeds import summarize, to_markdown


def run(seed: int, dev_f: float, test_f: float, seconds: float) -> dict:
    def split(f: float) -> dict:
        return {"p": f + 0.01, "r": f - 0.01, "f": f, "per_type": {"PER": {"p": f, "r": f, "f": f}}}

    return {"seed": seed, "train_seconds": seconds, "dev": split(dev_f), "test": split(test_f)}


def test_summary_median_min_max() -> None:
    runs = [run(0, 0.90, 0.84, 600), run(1, 0.92, 0.86, 660), run(2, 0.91, 0.80, 630)]
    summary = summarize(runs)
    assert summary["test"]["all"]["f"] == {"median": 0.84, "min": 0.80, "max": 0.86}
    assert summary["dev"]["PER"]["f"]["median"] == pytest.approx(0.91)
    assert summary["train_seconds"]["max"] == 660
    table = to_markdown(runs, summary)
    assert "| **median** |" in table and "84.00" in table and "| PER |" in table


def test_conll_token_scores_get_their_own_column() -> None:
    runs = [run(s, 0.9, 0.8, 600) for s in range(3)]
    for r, f in zip(runs, (0.83, 0.85, 0.81), strict=True):
        r["test_conll"] = {"p": f, "r": f, "f": f, "per_type": {}}
    summary = summarize(runs)
    assert summary["test_conll_f"] == {"median": 0.83, "min": 0.81, "max": 0.85}
    table = to_markdown(runs, summary)
    assert "test F (CoNLL tokens)" in table
    assert "| **median** |" in table and "| 83.00 |" in table
