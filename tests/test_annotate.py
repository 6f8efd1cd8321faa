"""scripts/annotate.py: line splitting, streaming, formats, and the same entities
in input order with one process, two spawned workers and Ray Data."""

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import pytest
import spacy
from annotate import annotate, iter_lines, parse_lines
from spacy.language import Language
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

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


def train_tiny(small_model: dict, tiny_examples: Callable[[Language], list[Example]]) -> Language:
    """The shared tiny model (doc memory on), trained on the shared sentences."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_ner", name="ner", config={"model": small_model})
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    return nlp


@pytest.fixture(scope="module")
def model_dir(
    tmp_path_factory, small_model: dict, tiny_examples: Callable[[Language], list[Example]]
) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "model"
    train_tiny(small_model, tiny_examples).to_disk(path)
    return path


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


def test_parse_lines_formats() -> None:
    assert parse_lines(["a", ""], "txt") == [{"text": "a"}, {"text": ""}]
    assert parse_lines(['{"text": "a", "id": 3}', "  ", '{"text": ""}'], "jsonl") == [
        {"text": "a", "id": 3},
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
    labels = set(spacy.load(model_dir).get_pipe("ner").labels)
    for record in records:
        for ent in record["ents"]:
            assert record["text"][ent["start"] : ent["end"]] == ent["text"]
            assert ent["label"] in labels
            assert 0.0 <= ent["confidence"] <= 1.0
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
    kept = [(r["id"], r["text"], r["meta"]) for r in records]
    assert kept == [(r["id"], r["text"], r["meta"]) for r in rows]
    assert all(isinstance(r["ents"], list) for r in records)


def test_two_processes_give_identical_output(model_dir: Path, txt_input: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    annotate(str(model_dir), str(txt_input), str(one), batch_size=3, n_process=1, torch_threads=1)
    annotate(str(model_dir), str(txt_input), str(two), batch_size=3, n_process=2)
    # same chunks, same arithmetic: byte for byte the same, in input order
    assert two.read_bytes() == one.read_bytes()


def test_ray_gives_the_same_entities(model_dir: Path, txt_input: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    annotate(str(model_dir), str(txt_input), str(local), batch_size=3, torch_threads=1)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        annotate(str(model_dir), str(txt_input), str(on_ray), batch_size=3, n_process=2, engine="ray")
    finally:
        ray.shutdown()
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


def test_clear_error_for_bad_input(model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "fine"}\n{"id": 2}\n', encoding="utf-8")
    result = run_cli(str(model_dir), str(source), str(tmp_path / "out.jsonl"), stdin="")
    assert result.returncode == 1
    assert "line 2" in result.stderr
