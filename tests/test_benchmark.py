"""The benchmark's measuring helpers: what goes first, what is parsed, what is linear."""

import os
import time

import pytest
from benchmarks.benchmark import (
    alternation,
    batch_label,
    current_rss_mb,
    linearity,
    long_document_text,
    parse_spacy_benchmark,
    peak_rss_mb,
    reset_peak_rss,
)
from benchmarks.reporting import spread


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


def test_busy_processes_run_during_the_block_and_stop_after() -> None:
    from benchmarks.benchmark import busy_processes

    with busy_processes(2, max_seconds=60) as processes:
        assert len(processes) == 2 and all(p.is_alive() for p in processes)
        time.sleep(0.5)
        cpu = [process_cpu_seconds(p.pid) for p in processes]
    assert all(not p.is_alive() for p in processes)
    assert all(seconds > 0.2 for seconds in cpu), cpu  # they were spinning, not sleeping
    with busy_processes(0) as none:
        assert none == []


def test_a_busy_loop_is_bounded() -> None:
    from benchmarks.benchmark import busy_loop

    started = time.monotonic()
    busy_loop(0.2)
    assert 0.2 <= time.monotonic() - started < 5


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_under_load_compares_the_defaults_and_measures_the_switching(
    make_tiny_nlp, tiny_examples, train_tiny
) -> None:
    import spacy
    import torch
    from benchmarks.benchmark import BASELINE, DEFAULTS, NO_SWITCH, OURS, SPACY_DEFAULTS, TORCH_OWN, under_load

    ours = make_tiny_nlp()
    train_tiny(ours, tiny_examples(ours), steps=5)
    baseline = spacy.blank("en")
    baseline.add_pipe("ner")
    baseline.initialize(lambda: tiny_examples(baseline))
    texts = ["John Smith lives in New York .", "Paris is the capital of France ."] * 10
    seen: list[int] = []
    real = ours.get_pipe("ner").model_scores

    def spy(docs):
        seen.append(torch.get_num_threads())
        return real(docs)

    ours.get_pipe("ner").model_scores = spy
    previous = torch.get_num_threads()
    try:
        conditions = under_load({OURS: ours, BASELINE: baseline}, texts, [0, 1], rounds=1, cores=2)
    finally:
        torch.set_num_threads(previous)
    assert list(conditions) == ["0", "1"]
    quiet, busy = conditions["0"], conditions["1"]
    assert set(quiet["rows"]) == {DEFAULTS, SPACY_DEFAULTS, TORCH_OWN, NO_SWITCH}
    assert set(busy["rows"]) == {DEFAULTS, SPACY_DEFAULTS, TORCH_OWN}
    assert busy["busy_alive_to_the_end"] and quiet["ours_threads"] == 1
    assert quiet["switching_cost"] > 0 and quiet["ratios_to_spacy"][DEFAULTS] > 0
    # the defaults computed on one thread, torch_threads 0 on torch's two
    assert set(seen) == {1, 2}


@pytest.fixture
def int8_ours(make_tiny_nlp, tiny_examples, train_tiny, small_model, tmp_path):
    """A tiny trained pipeline folder of ours on the int8 LSTM."""
    nlp = make_tiny_nlp(model={**small_model, "int8_lstm": True})
    train_tiny(nlp, tiny_examples(nlp), steps=3)
    nlp.to_disk(tmp_path / "ours")
    return tmp_path / "ours"


def test_the_float_lstm_row_loads_ours_again_without_int8(int8_ours, tmp_path) -> None:
    import spacy
    from bilstm_ner.layers.int8_lstm import float_lstm_overrides

    overrides = float_lstm_overrides(int8_ours)
    assert overrides == {"components.ner.model.int8_lstm": False}
    spacy.load(int8_ours, config=overrides).to_disk(tmp_path / "float")
    assert float_lstm_overrides(tmp_path / "float") == {}, "no float row for a pipeline already float"
    assert float_lstm_overrides(tmp_path / "no pipeline here") == {}


def test_the_report_gives_ours_beside_its_float_lstm(int8_ours, tiny_examples, tmp_path) -> None:
    import spacy
    from benchmarks.benchmark import BASELINE, OURS, OURS_FLOAT, run_benchmark, to_markdown
    from spacy.tokens import DocBin

    ours = spacy.load(int8_ours)
    baseline = spacy.blank("en")
    baseline.add_pipe("ner")
    baseline.initialize(lambda: tiny_examples(baseline))
    baseline.to_disk(tmp_path / "baseline")
    DocBin(docs=[eg.reference for eg in tiny_examples(ours)] * 5).to_disk(tmp_path / "test.spacy")
    results = run_benchmark(
        int8_ours,
        tmp_path / "baseline",
        tmp_path / "test.spacy",
        rounds=1,
        batch_sizes=(0,),
        all_threads=False,
        sizes=(),
        spacy_cli=False,
        busy_counts=(),
    )
    rows = results["inference"]["config"]
    assert set(rows) == {OURS, BASELINE, OURS_FLOAT}
    assert results["int8_speedup"] > 0 and results["float_lstm_ratio"] > 0
    assert f"{OURS} ÷ {OURS_FLOAT}" in to_markdown(results)
