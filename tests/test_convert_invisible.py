"""scripts/convert.py on the invisible characters real corpora carry (issue 24): a BOM at a
file's start and inside lines, zero-width characters (U+200B, U+200C, U+200D, U+2060,
U+FEFF) and no-break spaces (U+00A0, U+2007, U+202F) around tokens, and CRLF.

Every file here is written byte by byte (bytes literals), so the test sees exactly what
an exporter wrote, not what a Python string literal turned into.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from bilstm_ner.corpora import conll
from scripts import convert
import pytest
import typer
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

# (name, UTF-8 bytes) of each character the reader removes at a column's ends.
INVISIBLE_BYTES = [
    ("U+200B", b"\xe2\x80\x8b"),
    ("U+200C", b"\xe2\x80\x8c"),
    ("U+200D", b"\xe2\x80\x8d"),
    ("U+2060", b"\xe2\x81\xa0"),
    ("U+FEFF", b"\xef\xbb\xbf"),
    ("U+00A0", b"\xc2\xa0"),
    ("U+2007", b"\xe2\x80\x87"),
    ("U+202F", b"\xe2\x80\xaf"),
]
IDS = [name for name, _ in INVISIBLE_BYTES]
CHARS = [char for _, char in INVISIBLE_BYTES]
BOM = b"\xef\xbb\xbf"


def run_cli(args: list[str]) -> typer.testing.Result:
    """Run the command in-process, as ``typer.run(main)`` sets it up."""
    app = typer.Typer(add_completion=False)
    app.command()(convert.main)
    return CliRunner().invoke(app, args)


def read(tmp_path: Path, data: bytes, n_sents: int = 0) -> list[Doc]:
    """`data` written to a file and read back by the converter, warnings left to the caller."""
    path = tmp_path / "in.conll"
    path.write_bytes(data)
    return conll.read_conll(path, n_sents=n_sents)


def summary(doc: Doc) -> tuple[list[str], list[bool | None], list[tuple[int, int, str]]]:
    return (
        [t.text for t in doc],
        [t.is_sent_start for t in doc],
        [(e.start, e.end, e.label_) for e in doc.ents],
    )


def test_the_character_set_is_the_documented_one() -> None:
    assert [c.decode("utf-8") for c in CHARS] == list(conll.INVISIBLE)


@pytest.mark.parametrize("char", CHARS, ids=IDS)
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_a_token_that_loses_them_keeps_the_rest(char: bytes, newline: bytes, tmp_path: Path) -> None:
    """Before, after and on both sides of the word, and at the tag's end."""
    lines = [
        char + b"Dubbz O",
        b"met" + char + b"\tO",
        char + b"Paris" + char + b" B-LOC",
        b"today O" + char,
    ]
    (doc,) = read(tmp_path, newline.join(lines) + newline)
    assert summary(doc) == (["Dubbz", "met", "Paris", "today"], [True, False, False, False], [(2, 3, "LOC")])


@pytest.mark.parametrize("char", CHARS, ids=IDS)
def test_inside_a_word_they_stay(char: bytes, tmp_path: Path) -> None:
    (doc,) = read(tmp_path, b"10" + char + b"000 CD O\nPeter B-PER\n")
    assert [t.text for t in doc] == ["10" + char.decode("utf-8") + "000", "Peter"]


@pytest.mark.parametrize("char", CHARS, ids=IDS)
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_a_line_of_only_them_is_a_blank_line(char: bytes, newline: bytes, tmp_path: Path) -> None:
    data = newline.join([b"John B-PER", char, b"Smith B-PER", char * 3 + b" \t" + char, b"ran O"])
    (doc,) = read(tmp_path, data + newline)
    assert summary(doc) == (["John", "Smith", "ran"], [True, True, True], [(0, 1, "PER"), (1, 2, "PER")])


def test_a_bom_at_the_start_and_inside_lines(tmp_path: Path) -> None:
    """A file's BOM, a BOM before a DOCSTART that `cat` glued in, one glued to a word."""
    data = (
        BOM
        + b"-DOCSTART- -X- -X- O\r\n\r\nEU NNP B-NP B-ORG\r\n"
        + BOM
        + b"-DOCSTART- -X- -X- O\r\n\r\nDubbz"
        + BOM
        + b" NNP B-NP B-PER\r\n"
    )
    docs = read(tmp_path, data)
    assert [summary(doc) for doc in docs] == [
        (["EU"], [True], [(0, 1, "ORG")]),
        (["Dubbz"], [True], [(0, 1, "PER")]),
    ]


def test_the_public_corpus_case_reads_without_a_warning(tmp_path: Path) -> None:
    """The dev file that stopped `convert` in issue 24: tab-separated, no DOCSTART, a BOM
    glued to a token and, as its last line, a line holding only U+FEFF."""
    data = b"@user\tO\nDubbz" + BOM + b"\tB-person\nrocks\tO\n\t\nlol\tO\n" + BOM
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        docs = read(tmp_path, data, n_sents=1)
    assert [summary(doc) for doc in docs] == [
        (["@user", "Dubbz", "rocks"], [True, False, False], [(1, 2, "person")]),
        (["lol"], [True], []),
    ]


def test_a_token_made_only_of_them_is_dropped_with_a_warning(tmp_path: Path) -> None:
    data = b"John B-PER\r\n\xe2\x80\x8b O\r\nSmith I-PER\r\n\r\n" + BOM + b"\xc2\xa0\tO\r\nran O\r\n"
    with pytest.warns(conll.InvisibleTokensWarning) as record:
        (doc,) = read(tmp_path, data)
    # the dropped token does not end the entity around it, nor the sentence
    assert summary(doc) == (["John", "Smith", "ran"], [True, False, True], [(0, 2, "PER")])
    (warning,) = record
    assert warning.message.path == str(tmp_path / "in.conll")
    assert warning.message.lines == [2, 5]
    text = "dropped 2 tokens made only of zero-width or no-break characters (lines 2, 5)"
    assert str(warning.message) == f"{tmp_path / 'in.conll'}: {text}"


def test_the_cli_prints_the_warning_with_file_line_and_count(tmp_path: Path) -> None:
    src = tmp_path / "train.txt"
    src.write_bytes(BOM + b"a\tO\n\xe2\x81\xa0\tB-x\nb\tO\n")
    out = tmp_path / "train.spacy"
    result = run_cli([str(src), str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: {src}: dropped 1 token made only of zero-width or no-break characters (line 2)"
    ]
    (doc,) = DocBin().from_disk(out).get_docs(conll.blank_english_vocab())
    assert [t.text for t in doc] == ["a", "b"] and not doc.ents


def test_a_long_list_of_dropped_lines_is_cut(tmp_path: Path) -> None:
    data = b"a O\n" + b"\xe2\x80\x8b O\n" * 12
    expected = r"dropped 12 tokens .*\(lines 2, 3, .*, 11 and 2 more\)"
    with pytest.warns(conll.InvisibleTokensWarning, match=expected):
        read(tmp_path, data)


def test_a_tag_column_of_only_them_is_refused(tmp_path: Path) -> None:
    with pytest.raises(conll.ConllFormatError) as info:
        read(tmp_path, b"a O\nb \xe2\x80\x8b\n")
    assert info.value.line == 2
    assert "the NER tag column holds only zero-width or no-break characters" in info.value.message
