"""The benchmark's measuring helpers: what goes first, what is parsed, what is linear."""

import pytest
from benchmark import (
    alternation,
    batch_label,
    current_rss_mb,
    linearity,
    long_document_text,
    parse_spacy_benchmark,
    peak_rss_mb,
    reset_peak_rss,
)
from training_runs import spread


def test_alternation_rotates_who_goes_first() -> None:
    order = alternation(["a", "b", "c"], 4)
    assert order == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert all(sorted(r) == ["a", "b", "c"] for r in order)


def test_spread_and_labels() -> None:
    assert spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0}
    assert batch_label(0) == "config" and batch_label(32) == "32"


def test_parse_spacy_benchmark_speed_output() -> None:
    output = "Outliers: 2.0%\nMean: 12345.6 words/s (95% CI: -120.4 +98.1)\n"
    parsed = parse_spacy_benchmark(output)
    assert parsed == pytest.approx({"mean": 12345.6, "ci_low": 12225.2, "ci_high": 12443.7})
    assert parse_spacy_benchmark("no figures here") is None


def test_long_document_is_at_least_as_long_as_asked() -> None:
    text = long_document_text(["Paris is big.", "So is Rome."], 1000)
    assert len(text) >= 1000 and text.startswith("Paris is big.\nSo is Rome.")
    with pytest.raises(ValueError, match="no text to build a long document"):
        long_document_text(["", " "], 10)


def test_linearity_compares_cost_per_token() -> None:
    linear = {1000: {"microseconds_per_token": 50.0}, 100_000: {"microseconds_per_token": 55.0}}
    quadratic = {1000: {"microseconds_per_token": 50.0}, 100_000: {"microseconds_per_token": 5000.0}}
    assert linearity(linear) == pytest.approx(1.1)
    assert linearity(quadratic) == pytest.approx(100.0)
    assert linearity({1000: {"microseconds_per_token": 1.0}}) is None


def test_peak_memory_sees_an_allocation_after_a_reset() -> None:
    """The peak is a high-water mark for the whole process: without `reset_peak_rss`
    a bigger peak left by anything before (another test, loading a model) hides
    the allocation. So leave such a peak first, reset, and see the new one only."""
    high = bytearray(256 * 2**20)
    high[::4096] = b"x" * len(high[::4096])
    del high  # a large block is mmapped: freeing it gives the pages back
    left_over = peak_rss_mb()
    assert reset_peak_rss(), "Linux >= 4.0 can reset the peak (/proc/self/clear_refs)"
    before = current_rss_mb()
    assert peak_rss_mb() < left_over - 128
    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    assert before + 32 <= peak_rss_mb() < left_over - 128
