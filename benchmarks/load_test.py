"""Load test of the HTTP service: throughput, latency, memory and bad requests.

    python -m benchmarks.load_test MODEL TEXTS [--output metrics/serve.md] [--requests 2000]
                                [--memory-requests 20000] [--concurrency 1,8,32]

Starts the service (`python -m bilstm_ner.serve MODEL`, one worker) on a free
localhost port, waits for GET /health, and drives it with an async httpx
client, a bounded number of requests each time:

1. memory: `--memory-requests` requests at the highest concurrency; the server
   process's resident memory (VmRSS) once loaded, after `--memory-checkpoint`
   requests and at the end (the service should not grow after its first batches);
2. throughput and latency: `--requests` requests at each concurrency (1, 8 and 32
   clients, each sending its next request as soon as the last one is answered):
   requests/s, words/s, p50 / p95 / p99 latency, errors;
3. bad requests mixed into good ones: every `--bad-every`-th request is one of the
   kinds the service must refuse (bad JSON, wrong types, empty input, each limit
   exceeded); each must get a 4xx, the good ones a 200, and the server must still
   be the same process, healthy, at the end.

A request is `--texts-per-request` texts of TEXTS (a .spacy corpus, e.g. the
CoNLL test documents, or a .txt file with one text a line), taken in turn; its
words are the corpus's tokens (for .txt, whitespace-separated words). A good
request counts as an error unless it gets a 200 with one doc per text. The
client runs in this process on the same machine, so the figures include its own
CPU use; the report names the machine, its load before and after, and the
command.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import numpy
import typer

from benchmarks.reporting import comma_ints, machine_info, write_report

SERVE_MODULE = "bilstm_ner.serve"


# ---------------------------------------------------------------- the server


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(
    url: str, process: subprocess.Popen, timeout: float = 300.0, log: Path | None = None
) -> float:
    """Seconds until GET {url}/health answers 200; RuntimeError if the process ends first
    (with the end of its output: its pipe, or `log`) or the time runs out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            if log is not None:
                output = log.read_text(encoding="utf-8", errors="replace")
            else:
                output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"the service stopped with code {process.returncode}:\n{output[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service at {url} was not healthy after {timeout:.0f} s")


def rss_mb(pid: int) -> float:
    """Resident memory of a process now (Linux /proc), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(model: str, port: int, extra: Sequence[str], log: IO[str]) -> subprocess.Popen:
    """The service in a process of its own, its output into `log` (a pipe nobody reads
    could fill and stop it)."""
    command = [sys.executable, "-m", SERVE_MODULE, model, "--port", str(port), *extra]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)


# ---------------------------------------------------------------- requests


def read_texts(path: Path) -> tuple[list[str], list[int]]:
    """The texts and their word counts: a .spacy corpus's docs (their tokens) or a
    .txt file's non-empty lines (whitespace-separated words)."""
    if path.suffix == ".spacy":
        import spacy
        from spacy.tokens import DocBin

        docs = list(DocBin().from_disk(path).get_docs(spacy.blank("xx").vocab))
        pairs = [(doc.text, len(doc)) for doc in docs if doc.text.strip()]
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
        pairs = [(line, len(line.split())) for line in lines if line.strip()]
    if not pairs:
        raise ValueError(f"{path} has no texts")
    return [p[0] for p in pairs], [p[1] for p in pairs]


@dataclass
class Workload:
    """The good requests, in turn: `per_request` consecutive texts each."""

    texts: list[str]
    words: list[int]
    per_request: int = 1

    def request(self, i: int) -> tuple[bytes, int, int]:
        """The body of request i, its number of texts and of words."""
        n = len(self.texts)
        picked = [(i * self.per_request + k) % n for k in range(self.per_request)]
        body = json.dumps({"texts": [self.texts[j] for j in picked]}).encode()
        return body, len(picked), sum(self.words[j] for j in picked)


def bad_requests(max_texts: int, max_chars: int, max_body_bytes: int) -> list[tuple[str, bytes]]:
    """One request of each kind the service must refuse with a 4xx, for the given limits."""
    return [
        ("not JSON", b'{"texts": ["unfinished'),
        ("empty body", b""),
        ("a list, not an object", b'["a text"]'),
        ("no texts field", b'{"text": "a text"}'),
        ("texts not a list", b'{"texts": "a text"}'),
        ("empty texts", b'{"texts": []}'),
        ("a number among the texts", b'{"texts": ["a text", 42]}'),
        ("too many texts", json.dumps({"texts": ["a"] * (max_texts + 1)}).encode()),
        ("a text too long", json.dumps({"texts": ["x" * (max_chars + 1)]}).encode()),
        ("body too large", json.dumps({"texts": ["y " * (max_body_bytes // 2 + 10)]}).encode()),
    ]


@dataclass
class Outcome:
    """What one run of requests gave."""

    latencies: list[float] = field(default_factory=list)
    words: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    bad_statuses: dict[str, list[int]] = field(default_factory=dict)
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    def note_error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_examples) < 5:
            self.error_examples.append(what[:300])


async def drive(
    url: str,
    workload: Workload,
    n_requests: int,
    concurrency: int,
    start_index: int = 0,
    bad: list[tuple[str, bytes]] | None = None,
    bad_every: int = 0,
    timeout: float = 120.0,
) -> Outcome:
    """`n_requests` requests from `concurrency` clients, each sending its next one as
    soon as its last is answered; with `bad`, every `bad_every`-th is a bad one."""
    outcome = Outcome()
    counter = iter(range(n_requests))
    # one client, and one kept-alive connection, per concurrent caller: as independent callers
    # would be, and several times cheaper in CPU at 32 than one httpx pool of 32 connections
    # (whose bookkeeping grows with its size), since the client shares the machine's cores
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"content-type": "application/json"}

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
            for i in counter:
                if bad and bad_every and i % bad_every == bad_every - 1:
                    kind, body = bad[(i // bad_every) % len(bad)]
                    try:
                        response = await client.post("/ents", content=body, headers=headers)
                        status = response.status_code
                    except httpx.HTTPError as err:
                        status = -1
                        outcome.note_error(f"{kind}: {type(err).__name__}: {err}")
                    outcome.bad_statuses.setdefault(kind, []).append(status)
                    continue
                body, n_texts, n_words = workload.request(start_index + i)
                started = time.perf_counter()
                try:
                    response = await client.post("/ents", content=body, headers=headers)
                except httpx.HTTPError as err:
                    outcome.note_error(f"{type(err).__name__}: {err}")
                    continue
                latency = time.perf_counter() - started
                if response.status_code != 200:
                    outcome.note_error(f"{response.status_code}: {response.text}")
                    continue
                if len(response.json().get("docs", [])) != n_texts:
                    outcome.note_error("the answer does not hold one doc per text")
                    continue
                outcome.latencies.append(latency)
                outcome.words += n_words

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    outcome.seconds = time.perf_counter() - started
    return outcome


def measured(pid: int, *args, **kwargs) -> Outcome:
    """`drive(*args, **kwargs)`, with the CPU seconds the server (process `pid`) and
    this client used meanwhile."""
    server, client = cpu_seconds(pid), time.process_time()
    outcome = asyncio.run(drive(*args, **kwargs))
    outcome.server_cpu = cpu_seconds(pid) - server
    outcome.client_cpu = time.process_time() - client
    return outcome


def summary(outcome: Outcome, concurrency: int) -> dict[str, Any]:
    """Requests and words per second, latency percentiles (ms) and errors of a run."""
    done = len(outcome.latencies)
    latencies = numpy.array(outcome.latencies or [float("nan")]) * 1000
    p50, p95, p99 = (float(numpy.percentile(latencies, q)) for q in (50, 95, 99))
    result: dict[str, Any] = {
        "concurrency": concurrency,
        "requests": done + outcome.errors + sum(len(s) for s in outcome.bad_statuses.values()),
        "good_answered": done,
        "errors": outcome.errors,
        "error_examples": outcome.error_examples,
        "seconds": outcome.seconds,
        "requests_per_second": done / outcome.seconds if outcome.seconds else 0.0,
        "words_per_second": outcome.words / outcome.seconds if outcome.seconds else 0.0,
        "latency_ms": {"p50": p50, "p95": p95, "p99": p99, "max": float(numpy.max(latencies))},
        "server_cpu_seconds": outcome.server_cpu,
        "client_cpu_seconds": outcome.client_cpu,
    }
    if outcome.bad_statuses:
        result["bad"] = {
            kind: {"sent": len(statuses), "statuses": sorted(set(statuses))}
            for kind, statuses in outcome.bad_statuses.items()
        }
        result["bad_all_4xx"] = all(
            400 <= s < 500 for statuses in outcome.bad_statuses.values() for s in statuses
        )
    return result


# ---------------------------------------------------------------- the run


def machine() -> dict[str, Any]:
    """What the figures were measured on: the CPU, cores and Python of machine_info."""
    info = machine_info()
    return {"cpu": info["cpu"], "cores": info["cores"], "python": info["python"]}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run_load_test(
    model: str,
    texts_path: Path,
    *,
    requests: int = 2000,
    memory_requests: int = 20000,
    memory_checkpoint: int = 1000,
    concurrencies: Sequence[int] = (1, 8, 32),
    texts_per_request: int = 1,
    bad_requests_total: int = 1000,
    bad_every: int = 5,
    bad_concurrency: int = 8,
    server_args: Sequence[str] = (),
    max_texts: int = 256,
    max_chars: int = 100_000,
    max_body_bytes: int = 1_000_000,
) -> dict[str, Any]:
    """Every measurement (see the module docstring); the results as a dict."""
    texts, words = read_texts(texts_path)
    workload = Workload(texts, words, texts_per_request)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    limits = ["--max-texts", str(max_texts), "--max-chars", str(max_chars)]
    limits += ["--max-body-bytes", str(max_body_bytes)]
    results: dict[str, Any] = {
        "machine": machine(),
        "uptime_before": uptime(),
        "settings": {
            "model": model,
            "texts": str(texts_path),
            "n_texts": len(texts),
            "texts_per_request": texts_per_request,
            "words_per_request": sum(words) / len(words) * texts_per_request,
            "server": [SERVE_MODULE, model, *limits, *server_args],
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
    }
    log_file = tempfile.NamedTemporaryFile("w+", suffix=".log", prefix="serve-", delete=False)
    log = Path(log_file.name)
    server = start_server(model, port, [*limits, *server_args], log_file)
    try:
        results["load_seconds"] = wait_until_healthy(url, server, log=log)
        pid = server.pid
        memory: dict[str, float] = {"loaded": rss_mb(pid)}
        top = max(concurrencies)
        first = min(memory_checkpoint, memory_requests)
        print(f"memory: {memory_requests:,} requests at concurrency {top} ...", flush=True)
        head = measured(pid, url, workload, first, top)
        memory[f"after {first:,}"] = rss_mb(pid)
        tail = measured(pid, url, workload, memory_requests - first, top, start_index=first)
        memory[f"after {memory_requests:,}"] = rss_mb(pid)
        combined = Outcome(
            latencies=head.latencies + tail.latencies,
            words=head.words + tail.words,
            errors=head.errors + tail.errors,
            error_examples=(head.error_examples + tail.error_examples)[:5],
            seconds=head.seconds + tail.seconds,
            server_cpu=head.server_cpu + tail.server_cpu,
            client_cpu=head.client_cpu + tail.client_cpu,
        )
        results["memory_run"] = {**summary(combined, top), "rss_mb": memory}
        results["memory_growth"] = memory[f"after {memory_requests:,}"] / memory[f"after {first:,}"] - 1
        results["concurrency"] = []
        for concurrency in concurrencies:
            print(f"concurrency {concurrency}: {requests:,} requests ...", flush=True)
            outcome = measured(pid, url, workload, requests, concurrency)
            results["concurrency"].append(summary(outcome, concurrency))
        print(f"bad requests: {bad_requests_total:,}, one in {bad_every} bad ...", flush=True)
        bad = bad_requests(max_texts, max_chars, max_body_bytes)
        outcome = measured(
            pid, url, workload, bad_requests_total, bad_concurrency, bad=bad, bad_every=bad_every
        )
        results["bad_requests"] = summary(outcome, bad_concurrency)
        healthy = httpx.get(f"{url}/health", timeout=10).status_code == 200
        results["after_bad_requests"] = {"healthy": healthy, "same_process": server.poll() is None}
        memory["at the end"] = rss_mb(pid)
    finally:
        stopping = time.perf_counter()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_file.close()
        output = log.read_text(encoding="utf-8", errors="replace")
        log.unlink()
        results["stop"] = {
            "seconds": time.perf_counter() - stopping,
            "returncode": server.returncode,
            "server_log_tail": output.strip().splitlines()[-4:],
        }
    results["uptime_after"] = uptime()
    return results


# ---------------------------------------------------------------- report


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def to_markdown(results: dict[str, Any], command: str) -> str:
    m, s = results["machine"], results["settings"]
    lines = ["# The HTTP service under load", ""]
    lines.append(f"Command: `{command}`")
    lines.append("")
    lines.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; OMP_NUM_THREADS "
        f"{s['omp_num_threads'] or 'not set'}. `uptime` before: `{results['uptime_before']}`; "
        f"after: `{results['uptime_after']}`. The client runs on the same machine."
    )
    lines.append("")
    lines.append(
        f"Server: `python -m {' '.join(s['server'])}` (one worker), loaded in "
        f"{results['load_seconds']:.1f} s. Each request: {s['texts_per_request']} text(s) of "
        f"`{s['texts']}` ({s['n_texts']} texts, in turn), {s['words_per_request']:.0f} words on average."
    )
    lines += ["", "## Throughput and latency", ""]
    lines.append(
        "| clients | requests | requests/s | words/s | p50 ms | p95 ms | p99 ms | max ms | errors "
        "| server CPU ms/request | client CPU ms/request |"
    )
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [*results["concurrency"], {**results["memory_run"], "label": "memory run"}]
    for r in rows:
        lat = r["latency_ms"]
        label = f"{r['concurrency']}" + (" (memory run)" if r.get("label") else "")
        lines.append(
            f"| {label} | {r['requests']:,} | {r['requests_per_second']:,.1f} | "
            f"{r['words_per_second']:,.0f} | "
            f"{_ms(lat['p50'])} | {_ms(lat['p95'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} | "
            f"{r['errors']} | "
            f"{_ms(1000 * r['server_cpu_seconds'] / max(r['requests'], 1))} | "
            f"{_ms(1000 * r['client_cpu_seconds'] / max(r['requests'], 1))} |"
        )
    memory = results["memory_run"]["rss_mb"]
    lines += ["", "## Server memory (resident, VmRSS)", ""]
    lines.append("| when | MB |")
    lines.append("|---|---:|")
    for when, mb in memory.items():
        lines.append(f"| {when} | {mb:,.0f} |")
    lines.append("")
    lines.append(
        "Growth from the first checkpoint to the end of the memory run: "
        f"{100 * results['memory_growth']:+.1f}% "
        "(done when within ±10%)."
    )
    bad = results["bad_requests"]
    lines += ["", "## Bad requests mixed into good ones", ""]
    lines.append(
        f"{bad['requests']:,} requests from {bad['concurrency']} clients; good ones answered: "
        f"{bad['good_answered']:,}, errors among them: {bad['errors']}; every bad request a 4xx: "
        f"**{'yes' if bad.get('bad_all_4xx') else 'NO'}**. After them: healthy "
        f"{results['after_bad_requests']['healthy']}, the same server process "
        f"{results['after_bad_requests']['same_process']}."
    )
    lines.append("")
    lines.append("| kind | sent | status |")
    lines.append("|---|---:|---|")
    for kind, r in bad.get("bad", {}).items():
        lines.append(f"| {kind} | {r['sent']} | {', '.join(str(x) for x in r['statuses'])} |")
    stop = results["stop"]
    lines += ["", f"SIGTERM at the end: stopped in {stop['seconds']:.1f} s, exit code {stop['returncode']}."]
    errors = [e for r in rows + [bad] for e in r.get("error_examples", [])]
    if errors:
        lines += ["", "Errors seen (first ones):", ""] + [f"- `{e}`" for e in errors[:10]]
    return "\n".join(lines) + "\n"


def main(
    model: str = typer.Argument(..., help="Pipeline folder or package the service loads"),
    texts: Path = typer.Argument(
        ..., help="Texts to send: a .spacy corpus or a .txt file (one a line)", exists=True
    ),
    output: Path = typer.Option(Path("metrics/serve.md"), help="Markdown report; the JSON goes beside it"),
    requests: int = typer.Option(2000, help="Requests at each concurrency"),
    memory_requests: int = typer.Option(20000, help="Requests of the memory run"),
    memory_checkpoint: int = typer.Option(1000, help="Requests before the memory run's first measure"),
    concurrency: str = typer.Option("1,8,32", help="Numbers of concurrent clients"),
    texts_per_request: int = typer.Option(1, help="Texts in each request"),
    bad_requests_total: int = typer.Option(1000, "--bad-requests", help="Requests of the mixed run"),
    bad_every: int = typer.Option(5, help="Every n-th request of the mixed run is bad"),
    max_texts: int = typer.Option(256, help="The service's --max-texts"),
    max_chars: int = typer.Option(100_000, help="The service's --max-chars"),
    max_body_bytes: int = typer.Option(1_000_000, help="The service's --max-body-bytes"),
) -> None:
    """Start the service on a free port and measure it under load; write the report."""
    command = shlex.join(["python", *sys.argv])
    results = run_load_test(
        model,
        texts,
        requests=requests,
        memory_requests=memory_requests,
        memory_checkpoint=memory_checkpoint,
        concurrencies=comma_ints(concurrency),
        texts_per_request=texts_per_request,
        bad_requests_total=bad_requests_total,
        bad_every=bad_every,
        max_texts=max_texts,
        max_chars=max_chars,
        max_body_bytes=max_body_bytes,
    )
    results["command"] = command
    write_report(to_markdown(results, command), results, output)


if __name__ == "__main__":
    typer.run(main)
