"""The HTTP service (bilstm_ner.serve): the API and its answers to bad requests
through FastAPI's TestClient, the batcher on its own, and real uvicorn processes
for the command line, `spacy project run serve` and a clean stop on SIGTERM."""

import asyncio
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import spacy
from bilstm_ner import serve as serve_module
from bilstm_ner.serve import MicroBatcher, ServiceSettings, create_app
from fastapi.testclient import TestClient
from spacy.language import Language

from benchmarks.load_test import free_port, wait_until_healthy

REPO = Path(__file__).resolve().parent.parent
TEXTS = [
    "John Smith lives in New York and works for Acme Corp .",
    "",
    "Zürich and São Paulo — ünïcödé 😀 Mary Jones met Peter Brown in Berlin .",
    "nothing to see here",
]
LIMITS = {"max_body_bytes": 4000, "max_texts": 6, "max_chars": 300}


@pytest.fixture(scope="module")
def nlp(model_dir: Path) -> Language:
    return spacy.load(model_dir)


@pytest.fixture(scope="module")
def client(model_dir: Path, nlp: Language) -> Iterator[TestClient]:
    app = create_app(ServiceSettings(str(model_dir), **LIMITS), nlp=nlp)
    with TestClient(app) as test_client:
        yield test_client


def post_json(client: TestClient, payload) -> httpx.Response:
    return client.post("/ents", json=payload)


def test_health_once_loaded(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_entities_are_the_pipelines_own_with_character_offsets(client: TestClient, nlp: Language) -> None:
    response = post_json(client, {"texts": TEXTS})
    assert response.status_code == 200
    docs = response.json()["docs"]
    # the pipeline's own entities of each text, not the records the service builds them with;
    # one batch of all the texts, as the service's one request is: scores are equal across
    # batchings only up to float rounding
    expected = [
        [(e.start_char, e.end_char, e.label_, e.text, e._.confidence) for e in doc.ents]
        for doc in nlp.pipe(TEXTS, batch_size=len(TEXTS))
    ]
    got = [[(e["start"], e["end"], e["label"], e["text"], e["confidence"]) for e in d["ents"]] for d in docs]
    assert [[ent[:4] for ent in doc] for doc in got] == [[ent[:4] for ent in doc] for doc in expected]
    confidences = [ent[4] for doc in expected for ent in doc]
    assert [ent[4] for doc in got for ent in doc] == pytest.approx(confidences)
    assert [doc["text"] for doc in docs] == TEXTS
    assert docs[1] == {"text": "", "ents": []}
    assert docs[0]["ents"], "the tiny model finds its training entities"
    for doc in docs:
        for ent in doc["ents"]:
            assert set(ent) == {"start", "end", "label", "text", "confidence"}
            assert doc["text"][ent["start"] : ent["end"]] == ent["text"]  # character offsets
            assert ent["label"] in {"PER", "LOC", "ORG"} and 0.0 <= ent["confidence"] <= 1.0


BAD_REQUESTS = [
    # (what is sent, status, words the message must hold)
    (b"", 400, "body is empty"),
    (b"   ", 400, "body is empty"),
    (b'{"texts": ["a"', 400, "not valid JSON"),
    (b"\xff\xfe not utf-8", 400, "not valid JSON"),
    (b'["a", "b"]', 422, "must be a JSON object"),
    (b'"just a string"', 422, "must be a JSON object"),
    (b"{}", 422, '"texts" is missing'),
    (b'{"text": ["a"]}', 422, "unknown field"),
    (b'{"texts": "a text"}', 422, "must be a list of strings, not a string"),
    (b'{"texts": null}', 422, "not null"),
    (b'{"texts": []}', 422, '"texts" is empty'),
    (b'{"texts": ["a", 3]}', 422, "texts[1] must be a string, not a number"),
    (b'{"texts": [["nested"]]}', 422, "texts[0] must be a string, not a list"),
    (b'{"texts": ["ok", "\\ud800"]}', 422, "texts[1] is not valid Unicode"),
    (json.dumps({"texts": ["a"] * 7}).encode(), 422, "the limit is 6 texts per request (max_texts)"),
    (json.dumps({"texts": ["x" * 301]}).encode(), 422, "the limit is 300 characters per text (max_chars)"),
    (json.dumps({"texts": ["x" * 250] * 20}).encode(), 413, "the limit is 4,000 bytes (max_body_bytes)"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_REQUESTS)
def test_a_bad_request_gets_a_4xx_that_says_why_and_the_service_goes_on(
    client: TestClient, body: bytes, status: int, words: str
) -> None:
    response = client.post("/ents", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    after = post_json(client, {"texts": [TEXTS[0]]})
    assert after.status_code == 200 and after.json()["docs"][0]["ents"]


def test_a_chunked_body_over_the_limit_is_refused_too(client: TestClient) -> None:
    """No Content-Length: the limit holds on what arrives."""

    def chunks() -> Iterator[bytes]:
        yield b'{"texts": ["'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"]}'

    response = client.post("/ents", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "max_body_bytes" in response.json()["detail"]
    assert post_json(client, {"texts": ["Paris"]}).status_code == 200


def test_other_methods_and_paths_are_4xx(client: TestClient) -> None:
    assert client.get("/ents").status_code == 405
    assert client.post("/nowhere", json={"texts": ["a"]}).status_code == 404
    assert client.get("/health").status_code == 200


def test_no_page_that_needs_a_cdn_and_the_api_description_is_served(client: TestClient) -> None:
    """FastAPI's /docs and /redoc load Swagger UI and ReDoc from a CDN (blank offline): they
    are off (issue 35); the OpenAPI description itself is served from here."""
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    api = client.get("/openapi.json")
    assert api.status_code == 200 and "/ents" in api.json()["paths"]


def test_the_limits_are_checked_when_the_service_is_set_up() -> None:
    with pytest.raises(ValueError, match="max_texts must be at least 1"):
        ServiceSettings("model", max_texts=0)
    with pytest.raises(ValueError, match="batch_wait_ms"):
        ServiceSettings("model", batch_wait_ms=-1)


# ---------------------------------------------------------------- the batcher


def run_batcher(batcher: MicroBatcher, requests: list[list[str]], before_release=None) -> list:
    """Submit `requests` to a started batcher, one after the other without waiting for
    answers; await `before_release` after the first; the results (or errors) in order."""

    async def main() -> list:
        batcher.start()
        try:
            tasks = [asyncio.create_task(batcher.submit(requests[0]))]
            if before_release is not None:
                await before_release(lambda texts: tasks.append(asyncio.create_task(batcher.submit(texts))))
            tasks += [asyncio.create_task(batcher.submit(texts)) for texts in requests[len(tasks) :]]
            return await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_requests_waiting_while_the_model_works_share_the_next_batch() -> None:
    first_call = threading.Event()
    release = threading.Event()
    calls: list[list[str]] = []

    def annotate(texts: list[str]) -> list[dict]:
        calls.append(list(texts))
        first_call.set()
        release.wait(10)
        return [{"text": text, "n": len(text)} for text in texts]

    requests = [["a"], ["bb", "ccc"], ["dddd"], ["e"] * 3]

    async def queue_the_rest_while_the_model_works(submit) -> None:
        await asyncio.to_thread(first_call.wait, 10)
        for texts in requests[1:]:
            submit(texts)
        await asyncio.sleep(0.05)  # the other requests are in the queue now
        release.set()

    batcher = MicroBatcher(annotate, max_batch_texts=100)
    results = run_batcher(batcher, requests, queue_the_rest_while_the_model_works)
    assert calls == [["a"], ["bb", "ccc", "dddd", "e", "e", "e"]]
    assert [[r["text"] for r in result] for result in results] == requests
    assert batcher.stats.batches == 2 and batcher.stats.requests == 4 and batcher.stats.largest_batch == 6


def test_a_batch_holds_at_most_max_batch_texts_and_keeps_the_order() -> None:
    calls: list[int] = []

    def annotate(texts: list[str]) -> list[dict]:
        calls.append(len(texts))
        return [{"text": text} for text in texts]

    requests = [[f"{i}-{j}" for j in range(3)] for i in range(5)]
    results = run_batcher(MicroBatcher(annotate, max_batch_texts=7), requests)
    assert [[r["text"] for r in result] for result in results] == requests
    assert max(calls) <= 7 and sum(calls) == 15


def test_a_request_that_breaks_the_model_fails_alone() -> None:
    def annotate(texts: list[str]) -> list[dict]:
        if "boom" in texts:
            raise RuntimeError("the model failed")
        return [{"text": text} for text in texts]

    gate = threading.Event()

    def slow_first(texts: list[str]) -> list[dict]:
        gate.wait(10)
        return annotate(texts)

    requests = [["a"], ["b"], ["boom"], ["c"]]

    async def queue_all_then_release(submit) -> None:
        for texts in requests[1:]:
            submit(texts)
        await asyncio.sleep(0.05)
        gate.set()

    batcher = MicroBatcher(slow_first)
    results = run_batcher(batcher, requests, queue_all_then_release)
    assert [r[0]["text"] for r in results if not isinstance(r, Exception)] == ["a", "b", "c"]
    assert isinstance(results[2], RuntimeError)
    # the four went into one batch, which failed; each was then tried alone
    assert batcher.stats.batches == 1 and batcher.stats.largest_batch == 4


def test_the_service_answers_500_when_the_model_fails_and_goes_on(model_dir: Path, nlp: Language) -> None:
    class Breaks:
        """The pipeline, except that it fails on one text."""

        max_length = nlp.max_length

        def pipe(self, texts, batch_size):
            texts = list(texts)
            if "boom" in texts:
                raise RuntimeError("the model failed")
            return nlp.pipe(texts, batch_size=batch_size)

    app = create_app(ServiceSettings(str(model_dir)), nlp=Breaks())
    with TestClient(app, raise_server_exceptions=False) as client:
        assert post_json(client, {"texts": ["boom"]}).status_code == 500
        assert post_json(client, {"texts": [TEXTS[0]]}).json()["docs"][0]["ents"]


# ---------------------------------------------------------------- real processes


def start(command: list[str], cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        **kwargs,
    )


def test_console_script_is_the_module() -> None:
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="bilstm-ner-serve")
    assert entry.load() is serve_module.main
    script = Path(sys.executable).parent / "bilstm-ner-serve"
    result = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for option in ("--port", "--host", "--max-texts", "--max-chars", "--max-body-bytes", "--workers"):
        assert option in result.stdout


def test_a_missing_pipeline_is_one_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bilstm_ner.serve", str(tmp_path / "nothing"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "neither a pipeline folder" in result.stderr and "Traceback" not in result.stderr


# how long the SIGTERM test's service holds a request before annotating it (--batch-wait-ms)
WAIT_MS = 4000


def test_sigterm_answers_the_request_in_flight_then_stops(model_dir: Path, tmp_path: Path) -> None:
    """A real uvicorn process: a large request is in flight when SIGTERM comes; it is
    answered in full, new connections are refused, and the process ends by itself."""
    port = free_port()
    server = start(
        [sys.executable, "-m", "bilstm_ner.serve", str(model_dir), "--port", str(port)]
        # the batcher holds a request 4 s before it annotates it: in flight for that long,
        # however fast the machine annotates
        + ["--batch-size", "8", "--batch-wait-ms", str(WAIT_MS)],
        tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server, timeout=120)
        texts = [TEXTS[0]] * 8
        answer: dict = {}

        def send() -> None:
            answer["sent"] = time.time()
            response = httpx.post(f"{url}/ents", json={"texts": texts}, timeout=300)
            answer["status"], answer["docs"], answer["at"] = (
                response.status_code,
                response.json(),
                time.time(),
            )

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(WAIT_MS / 4000)  # a localhost request arrives in milliseconds
        signalled = time.time()
        server.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=5)
        sender.join(300)
        output, _ = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    assert answer["sent"] < signalled < answer["sent"] + WAIT_MS / 1000, "SIGTERM came while it waited"
    assert answer["status"] == 200 and answer["at"] > signalled, "the request was answered after SIGTERM"
    assert answer["at"] >= answer["sent"] + WAIT_MS / 1000, "the batcher held it, so it was in flight"
    assert len(answer["docs"]["docs"]) == 8 and answer["docs"]["docs"][0]["ents"]
    # uvicorn re-raises the signal after its clean shutdown
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "stopped after 1 requests" in output and "Finished server process" in output


def test_spacy_project_run_serve_takes_the_port_and_model_vars(model_dir: Path) -> None:
    port = free_port()
    runner = start(
        [sys.executable, "-m", "spacy", "project", "run", "serve", str(REPO)]
        + ["--vars.serve_port", str(port), "--vars.serve_model", str(model_dir)],
        REPO,
        start_new_session=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", runner, timeout=120)
        response = httpx.post(
            f"http://127.0.0.1:{port}/ents", json={"texts": ["John Smith lives in Paris ."]}
        )
        assert (
            response.status_code == 200
            and response.json()["docs"][0]["text"] == "John Smith lives in Paris ."
        )
    finally:
        os.killpg(runner.pid, signal.SIGTERM)  # weasel and the server it runs
        runner.communicate(timeout=60)
