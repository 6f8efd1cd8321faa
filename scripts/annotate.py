"""Annotate large inputs with a trained pipeline: one JSON line of entities per input.

    python scripts/annotate.py MODEL INPUT OUTPUT [--batch-size 256] [--n-process N]
                               [--engine local|ray] [--format auto|jsonl|text]

INPUT is a `.txt` file (one text per line) or a `.jsonl` file (one object per
line with a "text" field; its other fields are kept), or `-` for stdin. OUTPUT
is a `.jsonl` file, or `-` for stdout: one object per input, in input order,
with "ents": a list of {"start", "end", "label", "text", "confidence"}
(character offsets into the text; confidence from `span._.confidence`, null
for pipelines that do not set it). A `.txt` input gives {"text", "ents"}; a
`.jsonl` input gives the input object with "ents" added (replaced if there).

Lines are split as Python's `str.splitlines` splits them (as Ray Data's
`read_text` does too). In a `.txt` input every line is a text, empty lines
included; in a `.jsonl` input blank lines are skipped. With INPUT `-` the format
is `jsonl` if the first line starts with "{", `txt` otherwise (or say
`--input-format`). `--format text` prints entities for people to read, with
labels and confidences; it is the default when OUTPUT is `-` and stdout is a
terminal, JSON lines otherwise.

The input is read and written in chunks of `--batch-size` lines, so memory does
not grow with the number of lines. `--n-process N` runs N worker processes,
started with `spawn` (a forked child can deadlock in torch's OpenMP pool,
pytorch #17199), each loading the pipeline once and using one torch thread.
`--engine ray` runs the same annotation on Ray Data: the pipeline is loaded
once per actor (`map_batches` with `--n-process` actors); `ray.init()` joins
the cluster named by RAY_ADDRESS, or starts a local one.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import IO, Any

import typer

INPUT_FORMATS = ("txt", "jsonl")
READ_BLOCK = 1 << 20

_WORKER: dict[str, Any] = {}


def iter_lines(stream: IO[str], block_size: int = READ_BLOCK) -> Iterator[str]:
    """Lines of a text stream without their line breaks, split as `str.splitlines`
    splits them, reading `block_size` characters at a time (the stream should be
    opened with newline="" so that line breaks reach this function untranslated)."""
    pending = ""
    while True:
        block = stream.read(block_size)
        if not block:
            break
        lines = (pending + block).splitlines(keepends=True)
        # The last line may go on in the next block (even "\r" may be half of "\r\n").
        pending = lines.pop()
        for line in lines:
            yield _strip_break(line)
    if pending:
        yield _strip_break(pending)


def _strip_break(line: str) -> str:
    parts = line.splitlines()
    return parts[0] if parts else ""


def sniff_format(first_line: str) -> str:
    """`jsonl` if a line looks like a JSON object, `txt` otherwise."""
    return "jsonl" if first_line.lstrip().startswith("{") else "txt"


def input_format_of(path: str, declared: str) -> str:
    """The input format: declared, or from the file's suffix."""
    if declared != "auto":
        return declared
    suffix = Path(path.rstrip("/")).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".txt":
        return "txt"
    raise typer.BadParameter(f"cannot tell the format of {path!r} from its name: say --input-format")


def parse_lines(lines: list[str], input_format: str, first_line_number: int | None = None) -> list[dict]:
    """Input records: {"text": line} for txt, the decoded objects for jsonl."""
    if input_format == "txt":
        return [{"text": line} for line in lines]
    records = []
    for offset, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"line {first_line_number + offset}" if first_line_number is not None else "a line"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where} is not valid JSON ({err}): {line[:80]!r}") from err
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ValueError(f'{where} is not a JSON object with a "text" string: {line[:80]!r}')
        records.append(record)
    return records


def entity_records(doc) -> list[dict]:
    """A doc's entities as JSON-ready dicts with character offsets."""
    from spacy.tokens import Span

    has_confidence = Span.has_extension("confidence")
    return [
        {
            "start": ent.start_char,
            "end": ent.end_char,
            "label": ent.label_,
            "text": ent.text,
            "confidence": ent._.confidence if has_confidence else None,
        }
        for ent in doc.ents
    ]


def annotate_records(nlp, records: list[dict], batch_size: int) -> list[dict]:
    """Add "ents" to each record, from its "text"; the records are changed and returned."""
    texts = [record["text"] for record in records]
    for record, doc in zip(records, nlp.pipe(texts, batch_size=batch_size), strict=True):
        record["ents"] = entity_records(doc)
    return records


def annotate_lines(
    nlp, lines: list[str], input_format: str, batch_size: int, first_line_number: int | None = None
) -> list[dict]:
    """Parse a chunk of input lines and annotate them: what every engine runs."""
    return annotate_records(nlp, parse_lines(lines, input_format, first_line_number), batch_size)


def load_pipeline(model: str, torch_threads: int):
    """spacy.load, after pinning torch's threads (0: torch's default)."""
    import spacy

    if torch_threads > 0:
        import torch

        torch.set_num_threads(torch_threads)
    return spacy.load(model)


def chunked(lines: Iterable[str], size: int) -> Iterator[tuple[int, list[str]]]:
    """(number of the chunk's first line, counted from 1; its lines)."""
    iterator = iter(lines)
    first = 1
    while chunk := list(islice(iterator, size)):
        yield first, chunk
        first += len(chunk)


def run_local(
    model: str, lines: Iterable[str], input_format: str, batch_size: int, torch_threads: int
) -> Iterator[dict]:
    """Annotate in this process, a chunk of lines at a time."""
    nlp = load_pipeline(model, torch_threads)
    for first, chunk in chunked(lines, batch_size):
        yield from annotate_lines(nlp, chunk, input_format, batch_size, first)


def _init_worker(model: str, torch_threads: int) -> None:
    _WORKER["nlp"] = load_pipeline(model, torch_threads)


def _annotate_in_worker(chunk: list[str], input_format: str, batch_size: int, first: int) -> list[dict]:
    return annotate_lines(_WORKER["nlp"], chunk, input_format, batch_size, first)


def run_processes(
    model: str,
    lines: Iterable[str],
    input_format: str,
    batch_size: int,
    n_process: int,
    torch_threads: int,
) -> Iterator[dict]:
    """Annotate in n_process spawned workers; results come back in input order.

    At most two chunks per worker are in flight, so memory stays bounded
    however long the input is.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        n_process, mp_context=context, initializer=_init_worker, initargs=(model, torch_threads)
    ) as pool:
        pending: deque[Future] = deque()
        for first, chunk in chunked(lines, batch_size):
            pending.append(pool.submit(_annotate_in_worker, chunk, input_format, batch_size, first))
            if len(pending) >= 2 * n_process:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


class RayAnnotator:
    """Ray Data map_batches callable: loads the pipeline once per actor."""

    def __init__(self, model: str, input_format: str, batch_size: int, torch_threads: int) -> None:
        self.nlp = load_pipeline(model, torch_threads)
        self.input_format = input_format
        self.batch_size = batch_size

    def __call__(self, batch: dict) -> dict:
        lines = [str(line) for line in batch["text"]]
        records = annotate_lines(self.nlp, lines, self.input_format, self.batch_size)
        return {"json": [json.dumps(record, ensure_ascii=False) for record in records]}


def run_ray(
    model: str,
    source: str | list[str],
    input_format: str,
    batch_size: int,
    n_workers: int,
    torch_threads: int,
) -> Iterator[dict]:
    """Annotate on Ray Data; `source` is a path or URI Ray can read, or a list of lines.

    A path is read on the cluster (`ray.data.read_text`: every node must see it,
    e.g. shared storage or s3://...); a list (stdin) is sent from here.
    """
    import logging

    import ray

    if not ray.is_initialized():
        # address None: RAY_ADDRESS if set, else a new local cluster
        ray.init(log_to_driver=False, include_dashboard=False, logging_level=logging.WARNING)
    module = sys.modules[RayAnnotator.__module__]
    if module.__name__ != "__main__":
        # imported from scripts/ (not a package the workers can import): send the code itself
        ray.cloudpickle.register_pickle_by_value(module)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    if isinstance(source, list):
        dataset = ray.data.from_items([{"text": line} for line in source])
    else:
        # Reading takes no CPU slot: with one actor per CPU (as on a laptop) a
        # read task that waits for a free CPU would wait for ever.
        dataset = ray.data.read_text(source, drop_empty_lines=False, num_cpus=0)
    annotated = dataset.map_batches(
        RayAnnotator,
        fn_constructor_args=(str(model), input_format, batch_size, torch_threads),
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=n_workers),
        num_cpus=1,
    )
    for batch in annotated.iter_batches(batch_size=batch_size, batch_format="numpy"):
        for line in batch["json"]:
            yield json.loads(str(line))


def format_text(record: dict) -> str:
    """A record for people: the text, then one line per entity."""
    lines = [record["text"]]
    for ent in record["ents"]:
        confidence = ent.get("confidence")
        shown = f"{confidence:.3f}" if confidence is not None else "–"
        lines.append(f"  {ent['label']:<6} {shown}  {ent['text']}")
    if not record["ents"]:
        lines.append("  (no entities)")
    return "\n".join(lines) + "\n\n"


def open_input(path: str) -> IO[str]:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def open_output(path: str) -> IO[str]:
    if path == "-":
        return sys.stdout
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8")


def annotate(
    model: str,
    input_path: str,
    output_path: str,
    *,
    batch_size: int = 256,
    n_process: int = 1,
    engine: str = "local",
    output_format: str = "auto",
    input_format: str = "auto",
    torch_threads: int = -1,
) -> int:
    """Annotate INPUT into OUTPUT; returns the number of records written.

    torch_threads: per process; -1 means torch's default with one local
    process and 1 per worker otherwise; 0 always means torch's default.
    """
    from tqdm import tqdm

    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"--engine must be local or ray, got {engine!r}")
    if n_process < 1 or batch_size < 1:
        raise typer.BadParameter("--n-process and --batch-size must be at least 1")
    if torch_threads < 0:
        torch_threads = 0 if (engine == "local" and n_process == 1) else 1
    if output_format == "auto":
        output_format = "text" if output_path == "-" and sys.stdout.isatty() else "jsonl"
    if output_format not in ("jsonl", "text"):
        raise typer.BadParameter(f"--format must be auto, jsonl or text, got {output_format!r}")
    if input_format not in ("auto", *INPUT_FORMATS):
        raise typer.BadParameter(f"--input-format must be auto, txt or jsonl, got {input_format!r}")

    is_local_file = input_path == "-" or Path(input_path).is_file()
    if not is_local_file and engine == "local":
        raise FileNotFoundError(f"no such input file: {input_path}")
    stream = open_input(input_path) if is_local_file else None
    lines: Iterator[str] = iter_lines(stream) if stream is not None else iter(())
    if input_path == "-" and input_format == "auto":
        first = next(lines, None)
        input_format = sniff_format(first or "")
        lines = _prepend(first, lines)
    else:
        input_format = input_format_of(input_path, input_format)

    if engine == "ray":
        source: str | list[str]
        if input_path == "-":
            source = list(lines)
        elif is_local_file:
            source = str(Path(input_path).resolve())
        else:
            source = input_path  # a folder or URI that Ray Data reads itself
        records = run_ray(model, source, input_format, batch_size, n_process, torch_threads)
    elif n_process == 1:
        records = run_local(model, lines, input_format, batch_size, torch_threads)
    else:
        records = run_processes(model, lines, input_format, batch_size, n_process, torch_threads)

    out = open_output(output_path)
    progress = tqdm(unit=" lines", disable=not sys.stderr.isatty(), file=sys.stderr)
    written = 0
    try:
        for record in records:
            if output_format == "text":
                out.write(format_text(record))
            else:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
            progress.update(1)
    finally:
        progress.close()
        out.flush()
        if out is not sys.stdout:
            out.close()
        if stream is not None and input_path != "-":
            stream.close()
    return written


def _prepend(first: str | None, rest: Iterator[str]) -> Iterator[str]:
    if first is not None:
        yield first
    yield from rest


def main(
    model: str = typer.Argument(..., help="Pipeline folder or package name"),
    input_path: str = typer.Argument(..., metavar="INPUT", help=".txt or .jsonl file, or - for stdin"),
    output_path: str = typer.Argument(..., metavar="OUTPUT", help=".jsonl file, or - for stdout"),
    batch_size: int = typer.Option(256, "--batch-size", "-b", help="Lines per batch (and per worker task)"),
    n_process: int = typer.Option(1, "--n-process", "-n", help="Worker processes (Ray actors with ray)"),
    engine: str = typer.Option("local", "--engine", help="local (this machine) or ray (Ray Data)"),
    output_format: str = typer.Option(
        "auto", "--format", help="jsonl, text (for people), or auto: text on a terminal, else jsonl"
    ),
    input_format: str = typer.Option("auto", "--input-format", help="txt, jsonl, or auto (from the name)"),
    torch_threads: int = typer.Option(
        -1, "--torch-threads", help="torch threads per process; -1: default alone, 1 per worker"
    ),
) -> None:
    """Annotate a .txt or .jsonl input with a trained pipeline; write JSON lines of entities."""
    try:
        annotate(
            model,
            input_path,
            output_path,
            batch_size=batch_size,
            n_process=n_process,
            engine=engine,
            output_format=output_format,
            input_format=input_format,
            torch_threads=torch_threads,
        )
    except (ValueError, OSError) as err:
        typer.echo(f"annotate: {err}", err=True)
        raise typer.Exit(1) from err


if __name__ == "__main__":
    typer.run(main)
