"""bilstm_ner.annotate (and its thin caller scripts/annotate.py): line splitting,
streaming, formats, output line N for input line N, bad lines, no partial output,
the commands, and the same entities in input order with one process, two spawned
workers and Ray Data."""

import importlib.metadata
import io
import json
import os
import random
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest
import spacy
from bilstm_ner import annotate as annotate_module
from bilstm_ner.annotate import annotate, iter_lines, parse_lines, ray_lines

REPO = Path(__file__).resolve().parent.parent
TEXTS = [
    "John Smith lives in Paris .",
    "",
    "Shares of Acme Corp rose in Berlin and London , said Mary Jones .",
    "nothing to see here",
    "Peter Brown works for Acme Corp in New York .",
    "   ",
    "Zürich and São Paulo — ünïcödé 😀 Mary Jones",
    "Paris",
] * 3


@pytest.fixture(scope="module")
def txt_input(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("input") / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def entity_tuples(records: list[dict]) -> list[list[tuple]]:
    return [[(e["start"], e["end"], e["label"], e["text"]) for e in r["ents"]] for r in records]


@pytest.mark.parametrize("block_size", [1, 2, 3, 7, 1 << 20])
def test_iter_lines_splits_like_splitlines(block_size: int) -> None:
    text = "a\r\nb\rc\n\nd\u2028e\x0cf\r\n\r\n" + "g" * 20 + "\r"
    assert list(iter_lines(io.StringIO(text, newline=""), block_size)) == text.splitlines()
    assert list(iter_lines(io.StringIO("x\ny", newline=""), block_size)) == ["x", "y"]
    assert list(iter_lines(io.StringIO("", newline=""), block_size)) == []


def test_iter_lines_streams() -> None:
    class Endless(io.TextIOBase):
        reads = 0

        def read(self, size: int = -1) -> str:
            self.reads += 1
            return "one line\n" * 100

    stream = Endless()
    assert list(islice(iter_lines(stream, 900), 5)) == ["one line"] * 5
    assert stream.reads == 1


def test_iter_lines_jsonl_breaks_at_newlines_only() -> None:
    text = '{"text": "a\u2028b\x85c"}\r\n\n{"x": "\x0c"}\n\r\n' + "g" * 20 + "\r"
    for block_size in (1, 2, 3, 7, 1 << 20):
        lines = list(iter_lines(io.StringIO(text, newline=""), block_size, newline_only=True))
        assert lines == ['{"text": "a\u2028b\x85c"}', "", '{"x": "\x0c"}', "", "g" * 20]
        # text already read from the stream (stdin, read to sniff its format) comes first
        stream = io.StringIO(text[5:], newline="")
        assert list(iter_lines(stream, block_size, newline_only=True, head=text[:5])) == lines


def test_parse_lines_formats() -> None:
    assert parse_lines(["a", ""], "txt") == [{"text": "a"}, {"text": ""}]
    # a blank jsonl line keeps its place, as an empty record
    assert parse_lines(['{"text": "a", "id": 3}', "  ", '{"text": ""}'], "jsonl") == [
        {"text": "a", "id": 3},
        {},
        {"text": ""},
    ]
    with pytest.raises(ValueError, match="line 7"):
        parse_lines(['{"id": 3}'], "jsonl", first_line_number=7)
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_lines(["{oops"], "jsonl")


def test_txt_records_in_order_with_char_offsets(model_dir: Path, txt_input: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    assert annotate(str(model_dir), str(txt_input), str(output), batch_size=5, torch_threads=1) == len(TEXTS)
    records = read_jsonl(output)
    assert [r["text"] for r in records] == TEXTS
    assert records[1] == {"text": "", "ents": []}
    nlp = spacy.load(model_dir)
    for record in records:
        # what the pipeline itself gives for the text, offsets, labels and confidences
        doc = nlp(record["text"])
        expected = [(e.start_char, e.end_char, e.text, e.label_, e._.confidence) for e in doc.ents]
        got = [(e["start"], e["end"], e["text"], e["label"], e["confidence"]) for e in record["ents"]]
        assert [g[:4] for g in got] == [e[:4] for e in expected]
        assert [g[4] for g in got] == pytest.approx([e[4] for e in expected], abs=1e-6)
    assert any(record["ents"] for record in records)
    # a batch of one gives the same entities as batches of five
    single = tmp_path / "single.jsonl"
    annotate(str(model_dir), str(txt_input), str(single), batch_size=1, torch_threads=1)
    assert entity_tuples(read_jsonl(single)) == entity_tuples(records)


def test_jsonl_keeps_other_fields(model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rows = [{"id": i, "text": text, "meta": {"n": [i]}, "ents": "old"} for i, text in enumerate(TEXTS[:5])]
    source.write_text("\n\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    annotate(str(model_dir), str(source), str(output), batch_size=2, torch_threads=1)
    records = read_jsonl(output)
    kept = [(r["id"], r["text"], r["meta"]) for r in records[::2]]
    assert kept == [(r["id"], r["text"], r["meta"]) for r in rows]
    assert all(isinstance(r["ents"], list) for r in records)
    # the blank lines between the objects keep their places
    assert records[1::2] == [{"ents": []}] * (len(rows) - 1)


def test_blank_jsonl_lines_give_empty_results_in_place(model_dir: Path, tmp_path: Path) -> None:
    lines = [
        '{"id": 0, "text": "John Smith lives in Paris ."}',
        "",
        "   ",
        '{"id": 3, "text": "Paris"}',
        "\t",
        '{"id": 5, "text": ""}',
        "",
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    assert annotate(str(model_dir), str(source), str(output), batch_size=2, torch_threads=1) == len(lines)
    records = read_jsonl(output)
    assert len(records) == len(lines)
    for number, (line, record) in enumerate(zip(lines, records, strict=True)):
        if line.strip():
            assert record["id"] == number and isinstance(record["ents"], list)
        else:
            assert record == {"ents": []}
    assert records[0]["ents"], "the tiny model finds its training entities"


def test_jsonl_line_breaks_inside_strings_keep_lines(model_dir: Path, tmp_path: Path) -> None:
    """JSON strings may hold U+2028, U+0085...: a .jsonl line breaks at "\\n" alone, and
    the output escapes them, so any line splitter reads one output line per input line."""
    rows = [{"id": 0, "text": "Paris\u2028John Smith"}, {"id": 1, "text": "Berlin\x85and\u2029London"}]
    source = tmp_path / "in.jsonl"
    source.write_text("\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\r\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    annotate(str(model_dir), str(source), str(output), torch_threads=1)
    raw = output.read_text(encoding="utf-8")
    assert len(raw.splitlines()) == len(rows)
    assert [(r["id"], r["text"]) for r in read_jsonl(output)] == [(r["id"], r["text"]) for r in rows]


def test_two_processes_give_identical_output(model_dir: Path, txt_input: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    annotate(str(model_dir), str(txt_input), str(one), batch_size=3, n_process=1, torch_threads=1)
    annotate(str(model_dir), str(txt_input), str(two), batch_size=3, n_process=2)
    # same chunks, same arithmetic: byte for byte the same, in input order
    assert two.read_bytes() == one.read_bytes()


@pytest.fixture(scope="module")
def ray_data():
    """A local Ray for this module's tests of the optional Ray engine."""
    ray = pytest.importorskip("ray", reason="the Ray engine's: pip install -r requirements-ray.txt")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    yield ray.data
    ray.shutdown()


@pytest.mark.parametrize("input_format", ["txt", "jsonl"])
def test_ray_engine_reads_the_lines_the_local_one_reads(ray_data, input_format: str, tmp_path: Path) -> None:
    pieces = ["a", "bc", " ", "\n", "\r", "\r\n", "\x0c", "\x1e", "\x85", "\u2028", "\n\n"]
    rng = random.Random(0)
    texts = ["", "\n", "a", "a\n", "a\r\n\r\n", "a\x0c\n", "a\x0c", "\n\r", "a\n\r"]
    texts += ["".join(rng.choices(pieces, k=rng.randint(1, 12))) for _ in range(60)]
    files = []
    for index, text in enumerate(texts):
        files.append(tmp_path / f"{index:03d}.{input_format}")
        files[-1].write_bytes(text.encode("utf-8"))

    def local(text: str) -> list[str]:
        stream = io.StringIO(text, newline="")
        return list(iter_lines(stream, 3, newline_only=input_format == "jsonl"))

    def read_by_ray(source: Path) -> list[str]:
        """The lines the Ray engine annotates, as Ray Data itself reads the file or folder."""
        return [row["text"] for row in ray_lines(str(source), input_format).take_all()]

    # each file alone, and a folder's files, file after file
    for file, text in zip(files[:20], texts[:20], strict=True):
        assert read_by_ray(file) == local(text), repr(text)
    assert read_by_ray(tmp_path) == [line for t in texts for line in local(t)]


def test_ray_gives_the_same_entities(ray_data, model_dir: Path, txt_input: Path, tmp_path: Path) -> None:
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    annotate(str(model_dir), str(txt_input), str(local), batch_size=3, torch_threads=1)
    annotate(str(model_dir), str(txt_input), str(on_ray), batch_size=3, n_process=2, engine="ray")
    expected, got = read_jsonl(local), read_jsonl(on_ray)
    assert [r["text"] for r in got] == TEXTS
    assert entity_tuples(got) == entity_tuples(expected)
    # Ray may cut batches elsewhere: float32 sums in another order, nothing more
    for mine, theirs in zip(expected, got, strict=True):
        for a, b in zip(mine["ents"], theirs["ents"], strict=True):
            assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-5)


def run_cli(*args: str, stdin: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "annotate.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_stdin_to_stdout(model_dir: Path, txt_input: Path, tmp_path: Path) -> None:
    result = run_cli(str(model_dir), "-", "-", stdin="\n".join(TEXTS[:3]) + "\n")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    expected = tmp_path / "expected.jsonl"
    annotate(str(model_dir), str(txt_input), str(expected), torch_threads=1)
    assert [r["text"] for r in records] == TEXTS[:3]
    assert entity_tuples(records) == entity_tuples(read_jsonl(expected))[:3]
    # a JSON line on stdin is read as jsonl; --format text is for people
    line = '{"text": "John Smith lives in Paris ."}\n'
    result = run_cli(str(model_dir), "-", "-", "--format", "text", stdin=line)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("John Smith lives in Paris .\n")
    assert all(line.startswith("  ") for line in result.stdout.strip().splitlines()[1:])


def test_text_on_stdin_that_starts_with_a_brace_is_told_how_to_say_txt(model_dir: Path) -> None:
    """stdin's format is guessed from its first line: plain text starting with "{" is read
    as JSON lines, fails, and the message says why and names --input-format txt (issue 35);
    with it, the text is annotated."""
    text = "{braces} Paris is nice.\n"
    result = run_cli(str(model_dir), "-", "-", stdin=text)
    assert result.returncode == 1
    assert 'stdin was read as JSON lines because its first line starts with "{"' in result.stderr
    assert "--input-format txt" in result.stderr and "--skip-bad-lines" not in result.stderr
    result = run_cli(str(model_dir), "-", "-", "--input-format", "txt", stdin=text)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"] == "{braces} Paris is nice."


def test_clear_error_for_bad_input(model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "fine"}\n{"id": 2}\n', encoding="utf-8")
    result = run_cli(str(model_dir), str(source), str(tmp_path / "out.jsonl"), stdin="")
    assert result.returncode == 1
    assert "line 2" in result.stderr


def write_bad_jsonl(path: Path) -> list[str]:
    """300 good lines, a line that is not JSON (line 301), more good lines, and an
    object without "text" (line 311)."""
    good = [json.dumps({"id": i, "text": TEXTS[i % len(TEXTS)]}) for i in range(315)]
    lines = good[:300] + ["{oops, not json"] + good[301:310] + ['{"id": 310, "txt": "Paris"}'] + good[311:]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def test_bad_line_stops_the_run_and_leaves_no_output(model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_bad_jsonl(source)
    out_dir = tmp_path / "out"
    output = out_dir / "out.jsonl"
    # chunks of 50: six chunks are written before the bad line's
    result = run_cli(str(model_dir), str(source), str(output), "--batch-size", "50", stdin="")
    assert result.returncode == 1, result.stderr
    assert "line 301" in result.stderr and "not valid JSON" in result.stderr
    assert "--skip-bad-lines" in result.stderr
    assert not output.exists()
    assert list(out_dir.iterdir()) == []  # no temporary file left behind either
    # an older output is not touched by a failed run
    output.write_text("older\n", encoding="utf-8")
    result = run_cli(str(model_dir), str(source), str(output), "--batch-size", "50", stdin="")
    assert result.returncode == 1
    assert output.read_text(encoding="utf-8") == "older\n"
    assert sorted(p.name for p in out_dir.iterdir()) == ["out.jsonl"]


def test_skip_bad_lines_writes_them_in_place(model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = write_bad_jsonl(source)
    output = tmp_path / "out.jsonl"
    options = ["--batch-size", "50", "--skip-bad-lines"]
    result = run_cli(str(model_dir), str(source), str(output), *options, stdin="")
    assert result.returncode == 0, result.stderr
    assert "line 301" in result.stderr and "line 311" in result.stderr
    records = read_jsonl(output)
    assert len(records) == len(lines)
    assert records[300]["ents"] == [] and "not valid JSON" in records[300]["error"]
    # what could be read of a bad line is kept
    assert records[310]["id"] == 310 and records[310]["ents"] == []
    assert '"text" string' in records[310]["error"]
    good = [n for n in range(len(lines)) if n not in (300, 310)]
    assert [records[n]["id"] for n in good] == good
    assert not any("error" in records[n] for n in good)


def test_python_m_with_two_workers(model_dir: Path, txt_input: Path, tmp_path: Path) -> None:
    """`python -m bilstm_ner.annotate`: spawned workers re-import the module by its name."""
    expected, got = tmp_path / "expected.jsonl", tmp_path / "got.jsonl"
    annotate(str(model_dir), str(txt_input), str(expected), batch_size=4, torch_threads=1)
    result = subprocess.run(
        [sys.executable, "-m", "bilstm_ner.annotate", str(model_dir), str(txt_input), str(got)]
        + ["--batch-size", "4", "--n-process", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert got.read_bytes() == expected.read_bytes()


def test_console_script_is_the_module(tmp_path: Path) -> None:
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="bilstm-ner-annotate")
    assert entry.load() is annotate_module.main
    script = Path(sys.executable).parent / "bilstm-ner-annotate"
    result = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--skip-bad-lines" in result.stdout and "--n-process" in result.stdout
