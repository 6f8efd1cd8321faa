"""An HTTP service for a trained pipeline: POST texts, get their entities.

    bilstm-ner-serve MODEL [--port 8000] [--host 127.0.0.1] [--workers 1]
    python -m bilstm_ner.serve MODEL ...
    python -m en_<name>.serve [MODEL] ...     # in a packaged pipeline (MODEL: the package)

`POST /ents` with `{"texts": ["...", ...]}` answers `{"docs": [{"text": ...,
"ents": [{"start", "end", "label", "text", "confidence"}, ...]}, ...]}`, one doc
per text in order, with character offsets: the records the annotate command
writes (`annotate.annotate_records`). `GET /health` answers 200
`{"status": "ok"}` once the model is loaded (the server listens only from then
on). Every error is a 4xx (or a 500 for a failure of the model) with
`{"detail": "..."}` saying what was wrong; the service goes on serving.

Limits, each answered with a message that names it: the body's size
(`--max-body-bytes`, 413, checked while the body arrives), the number of texts per
request (`--max-texts`, 422) and the characters per text (`--max-chars`, 422). Bad
JSON is a 400; a body that is not `{"texts": [strings]}`, an empty list, a text that
is not a string or not valid Unicode a 422: the body is validated by a pydantic
model that holds the limits (`request_model`), and its errors are said in the
service's words. An empty string is a text like any other (no entities), as in the
annotate command.

The model is loaded once per worker process (`--workers N` starts N, each with
its own copy). In a worker, requests go through one queue: while the model
annotates one batch, the requests that arrive meanwhile wait, and the next
`nlp.pipe` call takes all of them together (up to `--max-batch-texts` texts), so
concurrent clients share batches without a fixed delay for a lone one
(`--batch-wait-ms` adds one, to gather more). The model runs in one thread
beside the event loop, on the component's torch threads (1 by default;
torch_threads.py). It binds to 127.0.0.1 unless `--host` says otherwise. On
SIGTERM or Ctrl-C, uvicorn stops accepting connections, the requests in flight
are answered, then the worker exits (`--graceful-timeout` bounds the wait).

scripts/package.py copies this module into packaged pipelines: it imports
only its neighbour `annotate` from its own package (which imports none), and
FastAPI and uvicorn only here (the package's `__init__` does not import this
module), so a pipeline without them installed still loads
(`pip install "<package>[serve]"` adds them).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

try:
    # at module level: FastAPI reads the endpoints' annotations (strings here) in these globals
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, create_model
except ImportError as err:  # a packaged pipeline installed without its `serve` extra
    raise ImportError(
        "the HTTP service needs FastAPI and uvicorn: pip install 'fastapi>=0.115,<1' 'uvicorn>=0.30,<1' "
        "(or the pipeline package with its extra: '<package>[serve]')"
    ) from err

from .annotate import PACKAGED_PIPELINE, annotate_records, load_pipeline

# Where `main` hands the settings to the app factory, which uvicorn calls in each worker.
SETTINGS_ENV = "BILSTM_NER_SERVE_SETTINGS"
# The import path uvicorn uses for the factory: this module's, packaged or not.
MODULE = __spec__.name if __spec__ is not None else __name__
# A body larger than the limit is read on (and dropped) up to this, so that the client,
# still sending, reads the 413 rather than a reset connection; past it the connection is closed.
DRAIN_BYTES = 64 * 2**20


@dataclass
class ServiceSettings:
    """What a worker needs to serve: the pipeline and the limits (see the module docstring)."""

    model: str
    max_body_bytes: int = 1_000_000
    max_texts: int = 256
    max_chars: int = 100_000
    max_batch_texts: int = 512
    batch_wait_ms: float = 0.0
    batch_size: int = 256
    torch_threads: int = -1

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_texts", "max_chars", "max_batch_texts", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_wait_ms < 0:
            raise ValueError(f"batch_wait_ms must be >= 0, got {self.batch_wait_ms}")


class BadRequest(Exception):
    """A request the service refuses: its HTTP status and the message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------- reading a request


def request_model(settings: ServiceSettings) -> type[BaseModel]:
    """The body POST /ents takes, with the settings' limits: {"texts": [strings]}, no other
    field, no coercion (a number is not a text). FastAPI's docs page shows it."""
    text = Annotated[str, StringConstraints(max_length=settings.max_chars)]
    texts = Annotated[list[text], Field(min_length=1, max_length=settings.max_texts)]
    return create_model("EntsRequest", __config__=ConfigDict(extra="forbid", strict=True), texts=(texts, ...))


def parse_texts(body: bytes, model: type[BaseModel]) -> list[str]:
    """The texts of a request body, validated by `model` (request_model), or BadRequest
    saying what is wrong: 400 for a body that is not JSON, 422 for one that is not the model's."""
    if not body.strip():
        raise BadRequest(400, 'the request body is empty: send a JSON object {"texts": ["...", ...]}')
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequest(400, f"the request body is not valid JSON ({err})") from err
    try:
        return model.model_validate(payload).texts
    except ValidationError as err:
        # an unknown field first: {"text": [...]} is a misspelt "texts", not a missing one
        error = min(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
        raise BadRequest(422, refusal(error)) from err


def refusal(error: dict[str, Any]) -> str:
    """What pydantic's error says, to the client, in the service's words."""
    kind, loc, value, ctx = error["type"], error["loc"], error.get("input"), error.get("ctx") or {}
    where = f"texts[{loc[1]}]" if len(loc) == 2 else f'"{loc[0]}"' if loc else "the body"
    if kind == "model_type":
        return f'the body must be a JSON object {{"texts": [...]}}, not {json_type(value)}'
    if kind == "extra_forbidden":
        return f'unknown field(s) {list(loc)}: the body has one field, "texts"'
    if kind == "missing":
        return 'the field "texts" is missing: send {"texts": ["...", ...]}'
    if kind == "list_type":
        return f'"texts" must be a list of strings, not {json_type(value)}'
    if kind == "too_short":
        return '"texts" is empty: send at least one text'
    if kind == "too_long":
        return (
            f'"texts" has {ctx["actual_length"]:,} texts: the limit is {ctx["max_length"]:,} texts per '
            "request (max_texts)"
        )
    if kind == "string_type":
        return f"{where} must be a string, not {json_type(value)}"
    if kind == "string_too_long":
        return (
            f"{where} has {len(value):,} characters: the limit is {ctx['max_length']:,} characters per "
            "text (max_chars)"
        )
    if kind == "string_unicode":
        return f"{where} is not valid Unicode (a lone surrogate)"
    return f"{where}: {error['msg']}"


def json_type(value: Any) -> str:
    """How JSON names the type of a decoded value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


async def read_body(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int) -> bytes:
    """The request body, or BadRequest 413 if it is larger than `limit` bytes (by its
    Content-Length or by what arrives, for a chunked body). A body over the limit is read
    on and dropped, up to DRAIN_BYTES, so that the client gets the answer."""
    too_large = declared_length is not None and declared_length.isdigit() and int(declared_length) > limit
    received = 0
    parts: list[bytes] = []
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            too_large = True
        if too_large:
            if received > DRAIN_BYTES:
                break
            continue
        parts.append(chunk)
    if too_large:
        size = int(declared_length) if declared_length and declared_length.isdigit() else received
        raise BadRequest(
            413, f"the request body is {size:,} bytes: the limit is {limit:,} bytes (max_body_bytes)"
        )
    return b"".join(parts)


# ---------------------------------------------------------------- batching


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future


@dataclass
class BatchStats:
    """What the batcher has done, for the log at shutdown and for tests."""

    batches: int = 0
    requests: int = 0
    texts: int = 0
    largest_batch: int = 0


@dataclass
class MicroBatcher:
    """One queue for the requests of a worker; one `annotate(texts)` call at a time,
    in one thread beside the event loop, over every request waiting when it starts.

    `annotate` is called with the texts of several requests at once and must return
    one result per text, in order. If it fails on a batch of several requests, each
    request is tried alone, so one request that makes the model fail does not fail
    the others.
    """

    annotate: Callable[[list[str]], list[dict]]
    max_batch_texts: int = 512
    wait_seconds: float = 0.0
    stats: BatchStats = field(default_factory=BatchStats)

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="bilstm-ner-model")
        self.task: asyncio.Task | None = None
        # a job that did not fit into the last batch: it starts the next one
        self.carried: _Job | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """Stop taking batches (after the requests in flight: uvicorn waits for
        them before the app shuts down) and let the model thread finish."""
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=True)

    async def submit(self, texts: list[str]) -> list[dict]:
        """The results for `texts`, once a batch that holds them is done."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(texts, future))
        return await future

    async def next_batch(self) -> list[_Job]:
        """The first waiting job and every one behind it (up to max_batch_texts texts),
        after waiting wait_seconds at most for more."""
        loop = asyncio.get_running_loop()
        first, self.carried = self.carried, None
        jobs = [first if first is not None else await self.queue.get()]
        n_texts = len(jobs[0].texts)
        deadline = loop.time() + self.wait_seconds
        while n_texts < self.max_batch_texts:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
            if n_texts + len(job.texts) > self.max_batch_texts:
                self.carried = job
                break
            jobs.append(job)
            n_texts += len(job.texts)
        return jobs

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [job for job in await self.next_batch() if not job.future.done()]
            if not jobs:
                continue
            texts = [text for job in jobs for text in job.texts]
            self.stats.batches += 1
            self.stats.requests += len(jobs)
            self.stats.texts += len(texts)
            self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
            try:
                results = await loop.run_in_executor(self.executor, self.annotate, texts)
            except Exception as err:
                if len(jobs) == 1:
                    _settle(jobs[0].future, error=err)
                    continue
                for job in jobs:  # one at a time: only the request that fails gets the error
                    try:
                        _settle(
                            job.future, await loop.run_in_executor(self.executor, self.annotate, job.texts)
                        )
                    except Exception as job_err:
                        _settle(job.future, error=job_err)
                continue
            start = 0
            for job in jobs:
                _settle(job.future, results[start : start + len(job.texts)])
                start += len(job.texts)


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Give a job its result or error, unless its client has gone (the future is cancelled)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


# ---------------------------------------------------------------- the app


def create_app(settings: ServiceSettings, nlp=None):
    """The FastAPI app; the pipeline is loaded when the app starts (once per worker),
    unless a loaded `nlp` is given (tests)."""
    state: dict[str, Any] = {}

    model = request_model(settings)

    def annotate_texts(texts: list[str]) -> list[dict]:
        records = [{"text": text} for text in texts]
        return annotate_records(state["nlp"], records, settings.batch_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.perf_counter()
        loaded = nlp if nlp is not None else load_pipeline(settings.model, settings.torch_threads)
        # a text may be as long as the limit allows (spaCy refuses texts over max_length)
        loaded.max_length = max(loaded.max_length, settings.max_chars)
        state["nlp"] = loaded
        batcher = MicroBatcher(annotate_texts, settings.max_batch_texts, settings.batch_wait_ms / 1000)
        batcher.start()
        state["batcher"] = batcher
        app.state.batch_stats = batcher.stats
        print(
            f"bilstm_ner serve: {settings.model} loaded in {time.perf_counter() - started:.1f} s "
            f"(pid {os.getpid()}); limits: {settings.max_body_bytes:,} bytes a body, "
            f"{settings.max_texts:,} texts a request, {settings.max_chars:,} characters a text",
            flush=True,
        )
        try:
            yield
        finally:
            await batcher.stop()
            s = batcher.stats
            print(
                f"bilstm_ner serve: stopped after {s.requests:,} requests ({s.texts:,} texts) in "
                f"{s.batches:,} batches (largest {s.largest_batch:,} texts)",
                flush=True,
            )
            state.clear()

    app = FastAPI(
        title="bilstm_ner entities",
        description="Named entities of texts, with character offsets and confidences.",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN, so offline (where
        # a service like this one often runs) they are blank: switched off. /openapi.json
        # describes the API for any OpenAPI viewer.
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, err: BadRequest) -> JSONResponse:
        return JSONResponse({"detail": err.message}, status_code=err.status)

    @app.get("/health")
    async def health() -> JSONResponse:
        """200 once the model is loaded."""
        if "batcher" not in state:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok"})

    # the body is read here (its size checked as it arrives), then validated by the model
    @app.post(
        "/ents",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": model.model_json_schema()}},
            }
        },
    )
    async def ents(request: Request) -> JSONResponse:
        """The entities of each text: {"docs": [{"text", "ents": [{"start", "end",
        "label", "text", "confidence"}]}]}, character offsets, in the order of the texts."""
        body = await read_body(
            request.stream(), request.headers.get("content-length"), settings.max_body_bytes
        )
        texts = parse_texts(body, model)
        docs = await state["batcher"].submit(texts)
        return JSONResponse({"docs": docs})

    return app


def app_from_environment():
    """The app of the settings `main` put in SETTINGS_ENV: what uvicorn calls in each worker."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise RuntimeError(f"{SETTINGS_ENV} is not set: start the service with `bilstm-ner-serve MODEL`")
    return create_app(ServiceSettings(**json.loads(raw)))


# ---------------------------------------------------------------- command line

_MODEL_HELP = "Pipeline folder or package name" + (
    f"; left out: this package, {PACKAGED_PIPELINE}" if PACKAGED_PIPELINE else ""
)


def is_pipeline(model: str) -> bool:
    """Whether spacy.load can be given `model`: a folder with config.cfg, or an installed package."""
    from spacy.util import is_package

    return (Path(model) / "config.cfg").is_file() or is_package(model)


def serve(
    settings: ServiceSettings, host: str, port: int, workers: int, graceful_timeout: float, access_log: bool
) -> None:
    """Run the service under uvicorn until SIGTERM or Ctrl-C."""
    import uvicorn

    os.environ[SETTINGS_ENV] = json.dumps(asdict(settings))
    uvicorn.run(
        f"{MODULE}:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=graceful_timeout,
        access_log=access_log,
        log_level="info",
    )


def cli(
    model: str | None = typer.Argument(
        PACKAGED_PIPELINE, metavar="[MODEL]" if PACKAGED_PIPELINE else "MODEL", help=_MODEL_HELP
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind; 0.0.0.0 serves other machines too"),
    port: int = typer.Option(8000, help="Port"),
    workers: int = typer.Option(1, help="Worker processes, each with its own copy of the model"),
    max_body_bytes: int = typer.Option(1_000_000, help="Largest request body, in bytes (413 above)"),
    max_texts: int = typer.Option(256, help="Most texts in one request (422 above)"),
    max_chars: int = typer.Option(100_000, help="Most characters in one text (422 above)"),
    max_batch_texts: int = typer.Option(512, help="Most texts the model annotates in one call"),
    batch_wait_ms: float = typer.Option(
        0.0, help="How long a batch waits for more requests (0: takes what is waiting, no delay)"
    ),
    batch_size: int = typer.Option(256, help="nlp.pipe batch size"),
    torch_threads: int = typer.Option(
        -1, help="torch threads; -1: the component's own (1 unless BILSTM_NER_TORCH_THREADS); 0: torch's"
    ),
    graceful_timeout: float = typer.Option(30.0, help="Seconds to finish the requests in flight on SIGTERM"),
    access_log: bool = typer.Option(False, help="Log every request"),
) -> None:
    """Serve a trained pipeline over HTTP: POST /ents {"texts": [...]}, GET /health."""
    if model is None:
        raise typer.BadParameter("name the pipeline (a folder or an installed package)", param_hint="MODEL")
    if not is_pipeline(model):
        raise typer.BadParameter(
            f"{model!r} is neither a pipeline folder (with config.cfg) nor an installed pipeline package",
            param_hint="MODEL",
        )
    try:
        settings = ServiceSettings(
            model,
            max_body_bytes=max_body_bytes,
            max_texts=max_texts,
            max_chars=max_chars,
            max_batch_texts=max_batch_texts,
            batch_wait_ms=batch_wait_ms,
            batch_size=batch_size,
            torch_threads=torch_threads,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    if workers < 1:
        raise typer.BadParameter("--workers must be at least 1")
    serve(settings, host, port, workers, graceful_timeout, access_log)


def main() -> None:
    """The command line: `bilstm-ner-serve`, `python -m bilstm_ner.serve`."""
    typer.run(cli)


if __name__ == "__main__":
    main()
