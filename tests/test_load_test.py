"""The load test (scripts/load_test.py), small: it starts the service, drives it at two
concurrencies and with bad requests mixed in, and reports what it measured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.load_test import Outcome, Workload, bad_requests, summary

REPO = Path(__file__).resolve().parent.parent


def test_requests_take_the_texts_in_turn() -> None:
    workload = Workload(["a b", "c", "d e f"], [2, 1, 3], per_request=2)
    assert [workload.request(i)[1:] for i in range(3)] == [(2, 3), (2, 5), (2, 4)]
    assert json.loads(workload.request(1)[0]) == {"texts": ["d e f", "a b"]}


def test_each_bad_request_breaks_one_rule() -> None:
    kinds = dict(bad_requests(max_texts=3, max_chars=10, max_body_bytes=100))
    assert len(json.loads(kinds["too many texts"])["texts"]) == 4
    assert len(json.loads(kinds["a text too long"])["texts"][0]) == 11
    assert len(kinds["body too large"]) > 100 and len(kinds["a text too long"]) < 100


def test_percentiles_and_rates() -> None:
    outcome = Outcome(latencies=[i / 1000 for i in range(1, 101)], words=1000, seconds=2.0)
    result = summary(outcome, 4)
    assert result["requests_per_second"] == 50 and result["words_per_second"] == 500
    assert result["latency_ms"]["p50"] == pytest.approx(50.5) and result["latency_ms"][
        "p99"
    ] == pytest.approx(99.01)


def test_a_small_load_test_of_the_real_service(model_dir: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text(
        "John Smith lives in New York and works for Acme Corp .\nParis is the capital of France .\n"
        "\nMary Jones met Peter Brown in Berlin yesterday .\n",
        encoding="utf-8",
    )
    output = tmp_path / "metrics" / "serve.md"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.load_test", str(model_dir), str(texts)]
        + [
            "--output",
            str(output),
            "--requests",
            "24",
            "--memory-requests",
            "40",
            "--memory-checkpoint",
            "10",
        ]
        + ["--concurrency", "1,4", "--bad-requests", "30", "--bad-every", "3"]
        + ["--max-texts", "4", "--max-chars", "500", "--max-body-bytes", "3000"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    results = json.loads(output.with_suffix(".json").read_text(encoding="utf-8"))
    assert [r["concurrency"] for r in results["concurrency"]] == [1, 4]
    for run in [*results["concurrency"], results["memory_run"]]:
        assert run["errors"] == 0 and run["good_answered"] == run["requests"]
        assert run["words_per_second"] > 0 and run["latency_ms"]["p50"] <= run["latency_ms"]["p99"]
    assert results["memory_run"]["requests"] == 40
    assert list(results["memory_run"]["rss_mb"]) == ["loaded", "after 10", "after 40", "at the end"]
    assert all(mb > 50 for mb in results["memory_run"]["rss_mb"].values())
    bad = results["bad_requests"]
    assert bad["errors"] == 0 and bad["bad_all_4xx"] and bad["good_answered"] == 20
    assert sum(kind["sent"] for kind in bad["bad"].values()) == 10
    assert bad["bad"]["body too large"]["statuses"] == [413]
    assert results["after_bad_requests"] == {"healthy": True, "same_process": True}
    report = output.read_text(encoding="utf-8")
    assert "| clients | requests | requests/s | words/s | p50 ms | p95 ms | p99 ms |" in report
    assert "every bad request a 4xx: **yes**" in report and "`uptime` before" in report
