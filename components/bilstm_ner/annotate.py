"""Annotate large inputs with a trained pipeline: one JSON line of entities per input line.

    bilstm-ner-annotate MODEL INPUT OUTPUT [--batch-size 256] [--n-process N]
                        [--engine local|ray] [--format auto|jsonl|text]
                        [--input-format auto|txt|jsonl] [--skip-bad-lines]
    python -m bilstm_ner.annotate MODEL INPUT OUTPUT ...
    python -m en_<name>.annotate [MODEL] INPUT OUTPUT ...   # in a packaged pipeline

INPUT is a `.txt` file (one text per line) or a `.jsonl` file (one object per
line with a "text" field; its other fields are kept), or `-` for stdin. OUTPUT
is a `.jsonl` file, or `-` for stdout: one object per input line, in input
order, with "ents": a list of {"start", "end", "label", "text", "confidence"}
(character offsets into the text; confidence from `span._.confidence`, null
for pipelines that do not set it). A `.txt` line gives {"text", "ents"}; a
`.jsonl` line gives the input object with "ents" added (replaced if there).

Output line N belongs to input line N. A `.txt` input is split into lines as
`str.splitlines` splits it, so every line is a text, empty lines included. A
`.jsonl` input is split at "\\n" alone (JSON Lines: a JSON string may hold a raw
U+2028), a "\\r" before it dropped; a blank line gives {"ents": []}. A bad
`.jsonl` line (not JSON, or no "text" string) stops the run with an error
naming the line, or with `--skip-bad-lines` is reported on stderr and written
as what could be read of it (the object, or {}) with "ents": [] and "error".
Output characters that `str.splitlines` would break at are escaped, so an
output file read back as input keeps its lines. With INPUT `-` the format is
`jsonl` if the first line starts with "{", `txt` otherwise (or say
`--input-format`); a bad line of input read as `jsonl` by that guess says so, and
names `--input-format txt` (plain text may start with a brace). `--format text`
prints entities for people to read; it is the default when OUTPUT is `-` and
stdout is a terminal, JSON lines otherwise.

The output is written to a temporary file beside OUTPUT and renamed to it at
the end, so a failed run leaves no partial output (stdout excepted). The input
is read and written in chunks of `--batch-size` lines, so memory does not grow
with the number of lines. `--n-process N` runs N worker processes, started
with `spawn` (a forked child can deadlock in torch's OpenMP pool, pytorch
#17199), each loading the pipeline once. The component computes on one torch
thread by default, in one process or many (`--torch-threads N` says otherwise).
`--engine ray` runs the same annotation on Ray Data: the pipeline is loaded
once per actor (`map_batches` with `--n-process` actors); `ray.init()` joins
the cluster named by RAY_ADDRESS, or starts a local one.

scripts/package.py copies this module into packaged pipelines, so it
imports nothing from its own package, and ray only when asked for.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import secrets
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import typer

INPUT_FORMATS = ("txt", "jsonl")
READ_BLOCK = 1 << 20
MAX_REPORTED_BAD_LINES = 20
# json.dumps(ensure_ascii=False) leaves these raw inside strings, and str.splitlines breaks
# lines at them: escaped, one output line stays one line for any reader.
_LINE_BREAKS_IN_STRINGS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})

_WORKER: dict[str, Any] = {}
_Item = TypeVar("_Item")


class BadLine(ValueError):
    """An input line that cannot be annotated; `record` keeps what could be read of it."""

    def __init__(self, message: str, record: dict | None = None) -> None:
        super().__init__(message)
        self.record = record if record is not None else {}


class BadLineError(ValueError):
    """A bad input line stopped the run (without `skip_bad_lines`); `guessed`: the input
    was read as jsonl only because stdin's first line starts with "{"."""

    def __init__(self, message: str, guessed: bool = False) -> None:
        super().__init__(message)
        self.guessed = guessed


# what a bad line of stdin read as jsonl by the guess says
GUESS_HINT = (
    'stdin was read as JSON lines because its first line starts with "{": '
    "if it is plain text, say --input-format txt"
)


# ---------------------------------------------------------------- reading


def iter_lines(
    stream: IO[str], block_size: int = READ_BLOCK, *, newline_only: bool = False, head: str = ""
) -> Iterator[str]:
    """Lines of a text stream without their line breaks, reading `block_size` characters
    at a time: split as `str.splitlines` splits, or with `newline_only` at "\\n" alone, a
    "\\r" before it dropped. `head` is text already read from the stream. Open the stream
    with newline="" so that line breaks reach this function untranslated."""
    pending = ""
    for block in _blocks(stream, block_size, head):
        if newline_only:
            lines = (pending + block).split("\n")
            pending = lines.pop()
            for line in lines:
                yield line.removesuffix("\r")
        else:
            lines = (pending + block).splitlines(keepends=True)
            # The last line may go on in the next block (even "\r" may be half of "\r\n").
            pending = lines.pop()
            for line in lines:
                yield _strip_break(line)
    if pending:
        yield pending.removesuffix("\r") if newline_only else _strip_break(pending)


def _blocks(stream: IO[str], block_size: int, head: str) -> Iterator[str]:
    if head:
        yield head
    while block := stream.read(block_size):
        yield block


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


def read_record(line: str, input_format: str) -> dict:
    """The record of one input line: {"text": line} for txt; for jsonl the decoded
    object, or {} for a blank line. Raises BadLine for a line that is neither."""
    if input_format == "txt":
        return {"text": line}
    if not line.strip():
        return {}
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise BadLine(f"not valid JSON ({err}): {line[:80]!r}") from err
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        kept = record if isinstance(record, dict) else None
        raise BadLine(f'not a JSON object with a "text" string: {line[:80]!r}', kept)
    return record


def parse_lines(lines: list[str], input_format: str, first_line_number: int | None = None) -> list[dict]:
    """One record per line (see `read_record`); a bad line raises ValueError naming it."""
    records = []
    for offset, line in enumerate(lines):
        try:
            records.append(read_record(line, input_format))
        except BadLine as err:
            where = f"line {first_line_number + offset}" if first_line_number is not None else "a line"
            raise ValueError(f"{where}: {err}") from err
    return records


# ---------------------------------------------------------------- annotating


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


def annotate_lines(nlp, lines: list[str], input_format: str, batch_size: int) -> tuple[list[dict], list[str]]:
    """Parse and annotate a chunk of input lines, what every engine runs: one record per
    line, and one error message per line ("" for a good one). A blank jsonl line gives
    {"ents": []}; a bad one what could be read of it with "ents": [] and "error"."""
    records: list[dict] = []
    errors: list[str] = []
    for line in lines:
        try:
            records.append(read_record(line, input_format))
            errors.append("")
        except BadLine as err:
            records.append(err.record)
            errors.append(str(err))
    with_text = [record for record, error in zip(records, errors) if not error and "text" in record]
    annotate_records(nlp, with_text, batch_size)
    for record, error in zip(records, errors):
        if error:
            record["ents"] = []
            record["error"] = error
        elif "text" not in record:
            record["ents"] = []
    return records, errors


def load_pipeline(model: str, torch_threads: int = -1):
    """spacy.load; torch_threads -1 leaves each component's own thread policy (one
    torch thread for bilstm_ner, unless its config or BILSTM_NER_TORCH_THREADS
    says otherwise); N > 0 sets torch and every component with a `torch_threads`
    setting to N; 0 tells those components to use torch's own setting."""
    import spacy

    if torch_threads > 0:
        import torch

        torch.set_num_threads(torch_threads)
    nlp = spacy.load(model)
    if torch_threads >= 0:
        for _, pipe in nlp.pipeline:
            if hasattr(pipe, "torch_threads"):
                pipe.torch_threads = torch_threads
    return nlp


# ---------------------------------------------------------------- engines
# Each yields (record, error) per input line, in input order.


def run_local(
    model: str, lines: Iterable[str], input_format: str, batch_size: int, torch_threads: int
) -> Iterator[tuple[dict, str]]:
    """Annotate in this process, a chunk of lines at a time."""
    from spacy.util import minibatch

    nlp = load_pipeline(model, torch_threads)
    for chunk in minibatch(lines, batch_size):
        yield from zip(*annotate_lines(nlp, chunk, input_format, batch_size))


def _init_worker(model: str, torch_threads: int) -> None:
    _WORKER["nlp"] = load_pipeline(model, torch_threads)


def _annotate_in_worker(chunk: list[str], input_format: str, batch_size: int) -> tuple[list[dict], list[str]]:
    return annotate_lines(_WORKER["nlp"], chunk, input_format, batch_size)


def run_processes(
    model: str,
    lines: Iterable[str],
    input_format: str,
    batch_size: int,
    n_process: int,
    torch_threads: int,
) -> Iterator[tuple[dict, str]]:
    """Annotate in n_process spawned workers; results come back in input order.

    At most two chunks per worker are in flight, so memory stays bounded
    however long the input is.
    """
    from spacy.util import minibatch

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        n_process, mp_context=context, initializer=_init_worker, initargs=(model, torch_threads)
    ) as pool:
        pending: deque[Future] = deque()
        try:
            for chunk in minibatch(lines, batch_size):
                pending.append(pool.submit(_annotate_in_worker, chunk, input_format, batch_size))
                if len(pending) >= 2 * n_process:
                    yield from zip(*pending.popleft().result())
            while pending:
                yield from zip(*pending.popleft().result())
        finally:
            # stopped early (a bad line, an error): do not annotate what nobody will read
            for future in pending:
                future.cancel()


def file_lines(row: dict, input_format: str) -> list[dict]:
    """The lines of one file as Ray Data reads it (`read_binary_files`: its path and bytes),
    split as the local engine splits a file (`iter_lines`), so both engines annotate the
    same lines whatever Ray's own `read_text` would make of them."""
    stream = io.StringIO(bytes(row["bytes"]).decode("utf-8"), newline="")
    return [{"text": line} for line in iter_lines(stream, newline_only=input_format == "jsonl")]


class RayAnnotator:
    """Ray Data map_batches callable: loads the pipeline once per actor."""

    def __init__(self, model: str, input_format: str, batch_size: int, torch_threads: int) -> None:
        self.nlp = load_pipeline(model, torch_threads)
        self.input_format = input_format
        self.batch_size = batch_size

    def __call__(self, batch: dict) -> dict:
        lines = [str(line) for line in batch["text"]]
        records, errors = annotate_lines(self.nlp, lines, self.input_format, self.batch_size)
        return {"json": [json.dumps(record, ensure_ascii=False) for record in records], "error": errors}


def ray_lines(source: str | list[str], input_format: str):
    """The input lines as a Ray dataset of {"text"}, in order: a path's (every node of the
    cluster must see it, e.g. shared storage or s3://...) read on the cluster, or a list of
    lines (stdin) sent from here."""
    import ray

    if isinstance(source, list):
        return ray.data.from_items([{"text": line} for line in source])
    # Reading takes no CPU slot: with one actor per CPU (as on a laptop) a
    # read task that waits for a free CPU would wait for ever.
    files = ray.data.read_binary_files(source, num_cpus=0)
    return files.flat_map(file_lines, fn_kwargs={"input_format": input_format}, num_cpus=0)


def run_ray(
    model: str,
    source: str | list[str],
    input_format: str,
    batch_size: int,
    n_workers: int,
    torch_threads: int,
) -> Iterator[tuple[dict, str]]:
    """Annotate on Ray Data; `source` is a path or URI Ray can read, or a list of lines
    (ray_lines)."""
    import logging

    import ray

    if not ray.is_initialized():
        # address None: RAY_ADDRESS if set, else a new local cluster
        ray.init(log_to_driver=False, include_dashboard=False, logging_level=logging.WARNING)
    module = sys.modules[RayAnnotator.__module__]
    if module.__name__ != "__main__":
        # the workers may not have this module (a checkout's, or a pipeline package they
        # do not have installed): send the code itself
        ray.cloudpickle.register_pickle_by_value(module)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    annotated = ray_lines(source, input_format).map_batches(
        RayAnnotator,
        fn_constructor_args=(str(model), input_format, batch_size, torch_threads),
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=n_workers),
        num_cpus=1,
    )

    for batch in annotated.iter_batches(batch_size=batch_size, batch_format="numpy"):
        for line, error in zip(batch["json"], batch["error"], strict=True):
            yield json.loads(str(line)), str(error)


# ---------------------------------------------------------------- writing


def format_text(record: dict, error: str = "") -> str:
    """A record for people: the text, then one line per entity."""
    lines = [record.get("text", "")]
    if error:
        lines.append(f"  (bad line: {error})")
    for ent in record["ents"]:
        confidence = ent.get("confidence")
        shown = f"{confidence:.3f}" if confidence is not None else "–"
        lines.append(f"  {ent['label']:<6} {shown}  {ent['text']}")
    if not record["ents"] and not error:
        lines.append("  (no entities)")
    return "\n".join(lines) + "\n\n"


def format_json(record: dict) -> str:
    """A record as one JSON line that every line splitter reads as one line."""
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS_IN_STRINGS) + "\n"


def open_input(path: str) -> IO[str]:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


@contextmanager
def open_output(path: str) -> Iterator[IO[str]]:
    """stdout for "-"; else a new temporary file beside `path`, renamed to it if the block
    ends without an error and removed if not: a failed run leaves no partial output."""
    if path == "-":
        try:
            yield sys.stdout
        finally:
            sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        # "x": a new file, with the permissions a plain open gives (the umask applies)
        with open(temporary, "x", encoding="utf-8") as out:
            yield out
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
    skip_bad_lines: bool = False,
) -> int:
    """Annotate INPUT into OUTPUT, one output line per input line; returns the number of
    lines written.

    torch_threads: per process; -1 leaves the component's own setting (one torch
    thread unless its config or BILSTM_NER_TORCH_THREADS says otherwise); N > 0 sets
    it (and torch) to N; 0 means torch's own setting.
    skip_bad_lines: write a bad jsonl line with "ents": [] and "error", and report it on
    stderr; without it, a bad line raises BadLineError and no output file is written.
    """
    from tqdm import tqdm

    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"--engine must be local or ray, got {engine!r}")
    if n_process < 1 or batch_size < 1:
        raise typer.BadParameter("--n-process and --batch-size must be at least 1")
    if output_format == "auto":
        output_format = "text" if output_path == "-" and sys.stdout.isatty() else "jsonl"
    if output_format not in ("jsonl", "text"):
        raise typer.BadParameter(f"--format must be auto, jsonl or text, got {output_format!r}")
    if input_format not in ("auto", *INPUT_FORMATS):
        raise typer.BadParameter(f"--input-format must be auto, txt or jsonl, got {input_format!r}")

    is_local_file = input_path == "-" or Path(input_path).is_file()
    if not is_local_file and engine == "local":
        raise FileNotFoundError(f"no such input file: {input_path}")
    stream: IO[str] | None = None
    head = ""
    guessed = False
    if input_path == "-":
        stream = open_input(input_path)
        if input_format == "auto":
            head = stream.read(READ_BLOCK)
            input_format = sniff_format(next(iter(head.splitlines()), ""))
            guessed = input_format == "jsonl"
    else:
        input_format = input_format_of(input_path, input_format)
        if engine == "local":
            stream = open_input(input_path)
    lines: Iterator[str] = iter(())
    if stream is not None:
        lines = iter_lines(stream, newline_only=input_format == "jsonl", head=head)

    if engine == "ray":
        source: str | list[str]
        if input_path == "-":
            source = list(lines)
        elif is_local_file:
            source = str(Path(input_path).resolve())
        else:
            source = input_path  # a folder or URI that Ray Data reads itself
        results = run_ray(model, source, input_format, batch_size, n_process, torch_threads)
    elif n_process == 1:
        results = run_local(model, lines, input_format, batch_size, torch_threads)
    else:
        results = run_processes(model, lines, input_format, batch_size, n_process, torch_threads)

    progress = tqdm(unit=" lines", disable=not sys.stderr.isatty(), file=sys.stderr)
    written = bad = 0
    try:
        with open_output(output_path) as out:
            for record, error in results:
                written += 1
                if error:
                    if not skip_bad_lines:
                        raise BadLineError(f"line {written}: {error}", guessed=guessed)
                    bad += 1
                    if bad <= MAX_REPORTED_BAD_LINES:
                        print(f'annotate: line {written} written with "error": {error}', file=sys.stderr)
                    elif bad == MAX_REPORTED_BAD_LINES + 1:
                        print("annotate: more bad lines, counted at the end", file=sys.stderr)
                out.write(format_text(record, error) if output_format == "text" else format_json(record))
                progress.update(1)
    finally:
        results.close()
        progress.close()
        if stream is not None and input_path != "-":
            stream.close()
    if bad:
        print(f'annotate: {bad} of {written} lines were bad, written with "error"', file=sys.stderr)
    return written


# ---------------------------------------------------------------- command line


def _packaged_pipeline() -> str | None:
    """The pipeline package this module ships in, if it does (`spacy package` puts
    meta.json beside the package's __init__): the default MODEL there."""
    if __package__ and Path(__file__).with_name("meta.json").is_file():
        return __package__
    return None


PACKAGED_PIPELINE = _packaged_pipeline()
_MODEL_HELP = "Pipeline folder or package name" + (
    f"; left out: this package, {PACKAGED_PIPELINE}" if PACKAGED_PIPELINE else ""
)


def cli(
    model: str = typer.Argument(..., metavar="[MODEL]" if PACKAGED_PIPELINE else "MODEL", help=_MODEL_HELP),
    input_path: str = typer.Argument(..., metavar="INPUT", help=".txt or .jsonl file, or - for stdin"),
    output_path: str | None = typer.Argument(
        None if PACKAGED_PIPELINE else ..., metavar="OUTPUT", help=".jsonl file, or - for stdout"
    ),
    batch_size: int = typer.Option(256, "--batch-size", "-b", help="Lines per batch (and per worker task)"),
    n_process: int = typer.Option(1, "--n-process", "-n", help="Worker processes (Ray actors with ray)"),
    engine: str = typer.Option("local", "--engine", help="local (this machine) or ray (Ray Data)"),
    output_format: str = typer.Option(
        "auto", "--format", help="jsonl, text (for people), or auto: text on a terminal, else jsonl"
    ),
    input_format: str = typer.Option("auto", "--input-format", help="txt, jsonl, or auto (from the name)"),
    torch_threads: int = typer.Option(
        -1,
        "--torch-threads",
        help="torch threads per process; -1: the component's own (1 unless BILSTM_NER_TORCH_THREADS); "
        "0: torch's default",
    ),
    skip_bad_lines: bool = typer.Option(
        False,
        "--skip-bad-lines",
        help='Write a bad .jsonl line as {"ents": [], "error": ...} and go on, instead of stopping',
    ),
) -> None:
    """Annotate a .txt or .jsonl input with a trained pipeline; write JSON lines of entities,
    one per input line."""
    if output_path is None:  # in a pipeline package, MODEL left out
        model, input_path, output_path = str(PACKAGED_PIPELINE), model, input_path
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
            skip_bad_lines=skip_bad_lines,
        )
    except (ValueError, OSError) as err:
        typer.echo(f"annotate: {err}", err=True)
        if isinstance(err, BadLineError):
            kept = "" if output_path == "-" else f"{output_path} not written; "
            if err.guessed:
                typer.echo(f"annotate: {kept}{GUESS_HINT}", err=True)
            else:
                typer.echo(
                    f'annotate: {kept}--skip-bad-lines writes such lines with an "error" field', err=True
                )
        raise typer.Exit(1) from err


def main() -> None:
    """The command line: `bilstm-ner-annotate`, `python -m bilstm_ner.annotate`."""
    typer.run(cli)


if __name__ == "__main__":
    main()
