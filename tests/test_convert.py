"""Tests for scripts/convert.py: real CoNLL-2003 counts, tagging rules, tolerated and refused input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bilstm_ner.corpora import conll
from scripts import convert
import pytest
import typer
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

SCRIPT = Path(convert.__file__).resolve()

# name -> (documents, sentences, tokens, entities per type), from the data's README.
EXPECTED = {
    "eng.train": (946, 14041, 203621, {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}),
    "eng.testa": (216, 3250, 51362, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}),
    "eng.testb": (231, 3453, 46435, {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}),
}


def spans(doc: Doc) -> list[tuple[int, int, str]]:
    """Entities as plain tuples, for comparisons."""
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


def sent_starts(doc: Doc) -> list[bool | None]:
    """The raw sentence-start flags (None would mean 'unknown', which we never want)."""
    return [token.is_sent_start for token in doc]


def parse_one(text: str) -> Doc:
    """Parse text that must hold exactly one document."""
    docs = conll.parse_conll(text, "mem.conll")
    assert len(docs) == 1
    return docs[0]


def count(docs: list[Doc]) -> tuple[int, int, int, dict[str, int]]:
    """Counts computed independently of convert.collect_stats (via doc.sents / doc.ents)."""
    per_type: dict[str, int] = {}
    for doc in docs:
        for ent in doc.ents:
            per_type[ent.label_] = per_type.get(ent.label_, 0) + 1
    return (
        len(docs),
        sum(len(list(doc.sents)) for doc in docs),
        sum(len(doc) for doc in docs),
        per_type,
    )


def run_cli(args: list[str]) -> typer.testing.Result:
    """Run the typer command in-process, exactly as ``typer.run(main)`` sets it up."""
    app = typer.Typer(add_completion=False)
    app.command()(convert.main)
    return CliRunner().invoke(app, args)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def real(request: pytest.FixtureRequest, conll_dir: Path) -> tuple[str, list[Doc]]:
    """Each real file parsed once per module."""
    return request.param, conll.read_conll(conll_dir / request.param)


def test_real_file_counts(real: tuple[str, list[Doc]]) -> None:
    name, docs = real
    assert count(docs) == EXPECTED[name]
    stats = convert.collect_stats(docs)
    documents, sentences, tokens, per_type = EXPECTED[name]
    assert (stats.documents, stats.sentences, stats.tokens) == (documents, sentences, tokens)
    assert dict(stats.entities) == per_type
    assert stats.total_entities == sum(per_type.values())


def test_real_file_doc_invariants(real: tuple[str, list[Doc]]) -> None:
    _, docs = real
    for doc in docs:
        assert doc.has_annotation("ENT_IOB")
        assert all(token.ent_iob_ in {"B", "I", "O"} for token in doc)
        assert doc[0].is_sent_start is True
        assert all(flag in (True, False) for flag in sent_starts(doc))
        assert not any(token.text == "-DOCSTART-" for token in doc)
        assert doc[-1].whitespace_ == ""
        assert all(token.whitespace_ == " " for token in doc[:-1])
        for ent in doc.ents:  # sentence boundaries end entities
            assert all(not ent.doc[i].is_sent_start for i in range(ent.start + 1, ent.end))


def test_real_file_docbin_roundtrip(real: tuple[str, list[Doc]], tmp_path: Path) -> None:
    """What is written is what was parsed, including sentence starts and explicit O."""
    _, docs = real
    out = tmp_path / "out.spacy"
    convert.write_docbin(docs, out)
    assert os.listdir(tmp_path) == ["out.spacy"]
    loaded = list(DocBin().from_disk(out).get_docs(conll.blank_english_vocab()))
    assert len(loaded) == len(docs)
    for before, after in zip(docs, loaded, strict=True):
        assert [t.text for t in after] == [t.text for t in before]
        assert sent_starts(after) == sent_starts(before)
        assert spans(after) == spans(before)
        assert after.has_annotation("ENT_IOB")
        assert after.text == before.text


def test_cli_subprocess_real_file(conll_dir: Path, tmp_path: Path) -> None:
    """The script as the workflow runs it: exit 0, report, one output file, no temp files."""
    out = tmp_path / "corpus" / "test.spacy"  # missing folder gets created
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(conll_dir / "eng.testb"), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert "documents: 231" in lines
    assert "sentences: 3453" in lines
    assert "tokens: 46435" in lines
    assert "entities: LOC=1668 MISC=702 ORG=1661 PER=1617 total=5648" in lines
    assert os.listdir(out.parent) == ["test.spacy"]
    assert len(DocBin().from_disk(out)) == 231


# --------------------------------------------------------------------------- tagging rules

IOB1 = """\
EU I-ORG
rejects O
German I-MISC
call O
Peter I-PER
Blackburn I-PER
Jim B-PER
Smith I-PER
in O
New I-LOC
York I-LOC
"""
IOB2 = """\
EU B-ORG
rejects O
German B-MISC
call O
Peter B-PER
Blackburn I-PER
Jim B-PER
Smith I-PER
in O
New B-LOC
York I-LOC
"""
EXPECTED_SPANS = [(0, 1, "ORG"), (2, 3, "MISC"), (4, 6, "PER"), (6, 8, "PER"), (9, 11, "LOC")]


def test_iob1_and_iob2_give_same_spans() -> None:
    iob1, iob2 = parse_one(IOB1), parse_one(IOB2)
    assert spans(iob1) == EXPECTED_SPANS
    assert spans(iob2) == EXPECTED_SPANS


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        # adjacent same-type entities are split by B- in IOB1
        (["I-LOC", "B-LOC", "I-LOC"], [(0, 1, "LOC"), (1, 3, "LOC")]),
        (["I-LOC", "B-LOC", "B-LOC"], [(0, 1, "LOC"), (1, 2, "LOC"), (2, 3, "LOC")]),
        # I- after O starts an entity
        (["O", "I-PER", "O"], [(1, 2, "PER")]),
        # I-X after B-Y / I-Y of another type starts a new entity
        (["B-ORG", "I-PER", "I-PER"], [(0, 1, "ORG"), (1, 3, "PER")]),
        (["I-ORG", "I-PER"], [(0, 1, "ORG"), (1, 2, "PER")]),
        # I-X continues B-X
        (["B-MISC", "I-MISC", "O", "B-MISC"], [(0, 2, "MISC"), (3, 4, "MISC")]),
        (["O", "O"], []),
    ],
)
def test_iob_rule(tags: list[str], expected: list[tuple[int, int, str]]) -> None:
    text = "".join(f"w{i} {tag}\n" for i, tag in enumerate(tags))
    assert spans(parse_one(text)) == expected


def test_sentence_boundary_ends_entity() -> None:
    doc = parse_one("Jim I-PER\nSmith I-PER\n\nJohn I-PER\nsaid O\n")
    assert spans(doc) == [(0, 2, "PER"), (2, 3, "PER")]
    assert sent_starts(doc) == [True, False, True, False]
    assert [s.text for s in doc.sents] == ["Jim Smith", "John said"]


def test_outside_tokens_are_explicit_o_and_spaces() -> None:
    doc = parse_one("a O\nb I-PER\n\nc O\n")
    assert doc.has_annotation("ENT_IOB")
    assert [t.ent_iob_ for t in doc] == ["O", "B", "O"]
    assert doc.text_with_ws == "a b c"
    assert [t.whitespace_ for t in doc] == [" ", " ", ""]


def test_documents_split_on_any_docstart_spelling_and_empty_ones_dropped() -> None:
    text = (
        "-DOCSTART- -X- O O\n\n"
        "-DOCSTART- -X- -X- O\n\n"  # empty document: dropped
        "a O\nb O\n\nc O\n\n"
        "-DOCSTART-\tO\n"  # no blank line after DOCSTART
        "d I-LOC\n"
        "-DOCSTART-\n"  # one column, no blank line before
        "e O\n"
        "-DOCSTART- -X- -X- O\n"  # trailing DOCSTART: empty document, dropped
    )
    docs = conll.parse_conll(text, "mem.conll")
    assert [[t.text for t in doc] for doc in docs] == [["a", "b", "c"], ["d"], ["e"]]
    assert sent_starts(docs[0]) == [True, False, True]
    assert spans(docs[1]) == [(0, 1, "LOC")]


def test_file_without_docstart_is_one_document_with_n_sents_0() -> None:
    doc = parse_one("a O\n\nb O\n\nc O\n")
    assert [t.text for t in doc] == ["a", "b", "c"]
    assert len(list(doc.sents)) == 3


# --------------------------------------------------------------------------- tolerated input

BASE = (
    "-DOCSTART- -X- -X- O\n\n"
    "EU NNP B-NP I-ORG\nrejects VBZ B-VP O\n\n"
    "Peter NNP B-NP I-PER\nspoke VBD B-VP O\n"
)
BASE_WORDS = ["EU", "rejects", "Peter", "spoke"]
BASE_STARTS = [True, False, True, False]
BASE_SPANS = [(0, 1, "ORG"), (2, 3, "PER")]
TWO_COLUMNS = "EU I-ORG\nrejects O\n\nPeter I-PER\nspoke O\n"

VARIANTS: dict[str, bytes] = {
    "plain": BASE.encode(),
    "crlf": BASE.replace("\n", "\r\n").encode(),
    "bom": b"\xef\xbb\xbf" + BASE.encode(),
    "bom_crlf": b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode(),
    "tabs": BASE.replace(" ", "\t").encode(),
    "mixed_whitespace": BASE.replace(" ", " \t  ").replace("\n", "  \n").encode(),
    "two_columns": TWO_COLUMNS.encode(),
    "two_columns_bom_no_docstart": b"\xef\xbb\xbf" + TWO_COLUMNS.encode(),
    "three_columns": TWO_COLUMNS.replace(" ", " X ").encode(),
    "no_final_newline": BASE.rstrip("\n").encode(),
    "no_final_newline_crlf": BASE.rstrip("\n").replace("\n", "\r\n").encode(),
    "extra_blank_lines": (
        "\n\n" + BASE.replace("\n\n", "\n \n\t\n\n").replace("O\n\nPeter", "O\n\n\n\nPeter") + "\n\n\n"
    ).encode(),
    "docstart_other_spelling": BASE.replace("-DOCSTART- -X- -X- O", "-DOCSTART- -X- O O").encode(),
    "docstart_bare": BASE.replace("-DOCSTART- -X- -X- O", "-DOCSTART-").encode(),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_tolerated_variants_parse_like_the_base(name: str, tmp_path: Path) -> None:
    path = tmp_path / "in.conll"
    path.write_bytes(VARIANTS[name])
    docs = conll.read_conll(path)
    assert len(docs) == 1
    doc = docs[0]
    assert [t.text for t in doc] == BASE_WORDS
    assert sent_starts(doc) == BASE_STARTS
    assert spans(doc) == BASE_SPANS


def test_cli_accepts_crlf_bom_tabs_file(tmp_path: Path) -> None:
    src = tmp_path / "in.conll"
    src.write_bytes(b"\xef\xbb\xbf" + BASE.replace(" ", "\t").replace("\n", "\r\n").encode())
    out = tmp_path / "out.spacy"
    result = run_cli([str(src), str(out)])
    assert result.exit_code == 0, result.output
    assert "documents: 1\nsentences: 2\ntokens: 4\nentities: ORG=1 PER=1 total=2" in result.stdout
    (doc,) = DocBin().from_disk(out).get_docs(conll.blank_english_vocab())
    assert spans(doc) == BASE_SPANS


# What --help promises about the input, each checked on a file that shows the promise kept
# (the promise, as its id; file content; exit code; documents read or the error's fragment).
# The help's wording is not pinned: rewording it changes no behaviour.
INPUT_PROMISES = [
    ("UTF-8 text (BOM optional", b"\xef\xbb\xbfPeter NNP I-NP B-PER\n", 0, 1),
    ("LF or CRLF line ends", b"Peter NNP I-NP B-PER\r\nBlake NNP I-NP I-PER\r\n", 0, 1),
    ("separated by tabs or spaces", b"Peter\tNNP I-NP\tB-PER\nBlake NNP\tI-NP I-PER\n", 0, 1),
    ("Tags are IOB1, IOB2 or BILUO", b"Peter NNP I-NP I-PER\nBlake NNP I-NP I-PER\n", 0, 1),
    ("Tags are IOB1, IOB2 or BILUO", b"Peter NNP I-NP U-PER\nBlake NNP I-NP U-PER\n", 0, 1),
    (
        "any line whose first column is -DOCSTART- separates documents",
        b"-DOCSTART- -X- -X- O\n\nPeter NNP I-NP B-PER\n\n-DOCSTART- -X- O O\n\nRome NNP I-NP B-LOC\n",
        0,
        2,
    ),
    ("exit code 1", b"Peter NNP I-NP E-PER\n", 1, "in.conll:1:"),
    ("bytes that are not UTF-8", b"Peter NNP I-NP B-PER\n\xff\xfe NNP I-NP O\n", 1, "in.conll:2:"),
]


@pytest.mark.parametrize(
    ("content", "code", "outcome"),
    [claim[1:] for claim in INPUT_PROMISES],
    ids=[f"{i}: {claim[0]}" for i, claim in enumerate(INPUT_PROMISES)],
)
def test_input_the_help_promises_is_read_or_refused_as_promised(
    tmp_path: Path, content: bytes, code: int, outcome: int | str
) -> None:
    """Each promise of --help about the input holds for a file made to show it: a
    behaviour that changes fails here; the wording of the help may change freely."""
    src, out = tmp_path / "in.conll", tmp_path / "out.spacy"
    src.write_bytes(content)
    result = run_cli([str(src), str(out)])
    assert result.exit_code == code, result.output
    if code == 0:
        assert f"documents: {outcome}\n" in result.stdout
        docs = list(DocBin().from_disk(out).get_docs(conll.blank_english_vocab()))
        assert len(docs) == outcome and all(doc.ents for doc in docs)
    else:
        assert outcome in result.stderr and not out.exists()


# --------------------------------------------------------------------------- refused input

REFUSED = [
    # (id, content, line or None for whole-file problems, message fragment)
    ("empty", b"", None, "no tokens"),
    ("whitespace_only", b"  \n\t\n\r\n\n", None, "no tokens"),
    ("docstart_only", b"-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- O O\n", None, "no tokens"),
    ("tag_x_per", b"EU O\nrejects X-PER\n", 2, "invalid NER tag 'X-PER'"),
    ("tag_b_dash", b"EU B-\n", 1, "invalid NER tag 'B-'"),
    ("tag_e_per", b"-DOCSTART- -X- O O\n\nEU O\nSmith E-PER\n", 4, "invalid NER tag 'E-PER'"),
    ("tag_lowercase", b"a O\n\nb i-PER\n", 3, "invalid NER tag 'i-PER'"),
    ("tag_bare_i", b"a I\n", 1, "invalid NER tag 'I'"),
    ("one_column", b"a O\n\nlonely\nb O\n", 3, "at least 2 columns"),
    ("one_column_crlf", b"a O\r\nlonely\r\n", 2, "at least 2 columns"),
    ("bad_utf8_line3", b"a O\nb O\nc\xff\xfe O\nd O\n", 3, "invalid UTF-8"),
    ("latin1_line3_crlf", b"a O\r\n\r\nM\xfcller I-PER\r\n", 3, "invalid UTF-8"),
]


def assert_refused(stderr: str, path: Path, line: int | None, fragment: str) -> None:
    """One ``error: PATH:LINE: message`` line, no traceback."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    prefix = f"error: {path}: " if line is None else f"error: {path}:{line}: "
    assert lines[0].startswith(prefix), lines[0]
    assert fragment in lines[0]


@pytest.mark.parametrize(
    ("content", "line", "fragment"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused_input(content: bytes, line: int | None, fragment: str, tmp_path: Path) -> None:
    src = tmp_path / "bad.conll"
    src.write_bytes(content)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "bad.spacy"
    result = run_cli([str(src), str(out)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # not an uncaught exception
    assert_refused(result.stderr, src, line, fragment)
    assert result.stdout == ""
    assert not out.exists()
    assert os.listdir(out_dir) == []  # no temp file either
    with pytest.raises(conll.ConllFormatError) as info:
        conll.read_conll(src)
    assert info.value.line == line
    assert info.value.path == str(src)


def test_failed_run_leaves_existing_output_untouched(tmp_path: Path) -> None:
    """Chosen policy: a failed run never writes; an older output stays as it was."""
    src = tmp_path / "bad.conll"
    src.write_bytes(b"a O\nb E-PER\n")
    out = tmp_path / "old.spacy"
    out.write_bytes(b"previous contents")
    result = run_cli([str(src), str(out)])
    assert result.exit_code == 1
    assert out.read_bytes() == b"previous contents"
    assert sorted(os.listdir(tmp_path)) == ["bad.conll", "old.spacy"]


def test_missing_input_file(tmp_path: Path) -> None:
    src = tmp_path / "nope.conll"
    out = tmp_path / "out.spacy"
    result = run_cli([str(src), str(out)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert_refused(result.stderr, src, None, "file not found")
    assert not out.exists()


def test_unwritable_output_is_a_one_line_error(tmp_path: Path) -> None:
    src = tmp_path / "in.conll"
    src.write_bytes(BASE.encode())
    out_dir = tmp_path / "a_directory.spacy"
    out_dir.mkdir()
    result = run_cli([str(src), str(out_dir)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert_refused(result.stderr, out_dir, None, "cannot write")
    assert os.listdir(out_dir) == []
    assert sorted(os.listdir(tmp_path)) == ["a_directory.spacy", "in.conll"]


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [(b"a O\nb O\nc\xff O\n", 3, "invalid UTF-8"), (None, None, "file not found")],
    ids=["bad_utf8", "missing"],
)
def test_cli_subprocess_refusal(
    content: bytes | None, line: int | None, fragment: str, tmp_path: Path
) -> None:
    """In a real process too: exit 1, one stderr line, no traceback, no output."""
    src = tmp_path / "in.conll"
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "out.spacy"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(src), str(out)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert_refused(proc.stderr, src, line, fragment)
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == (["in.conll"] if content is not None else [])


# --------------------------------------------------------------------------- module API


def test_error_message_format() -> None:
    assert str(conll.ConllFormatError("x.conll", 7, "bad")) == "x.conll:7: bad"
    assert str(conll.ConllFormatError(Path("x.conll"), None, "bad")) == "x.conll: bad"


def test_decode_reports_line_of_bad_bytes() -> None:
    with pytest.raises(conll.ConllFormatError) as info:
        conll.decode_conll(b"a O\r\n\r\n\r\nb\x80 O\n", "f")
    assert info.value.line == 4
    assert conll.decode_conll(b"\xef\xbb\xbfa O\n") == "a O\n"


def test_write_docbin_failure_removes_temp_and_keeps_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = conll.parse_conll(BASE)
    out = tmp_path / "out.spacy"
    out.write_bytes(b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(convert.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left on device"):
        convert.write_docbin(docs, out)
    assert out.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.spacy"]


def test_docs_to_conll_writes_iob2_with_docstart() -> None:
    docs = conll.parse_conll(IOB1 + "\n-DOCSTART- -X- O O\n\nx O\n")
    text = conll.docs_to_conll(docs)
    assert text.startswith("-DOCSTART- -X- -X- O\n\nEU -X- -X- B-ORG\n")
    assert "Peter -X- -X- B-PER\nBlackburn -X- -X- I-PER\nJim -X- -X- B-PER\n" in text
    assert text.count("-DOCSTART-") == 2
    again = conll.parse_conll(text)
    assert [spans(d) for d in again] == [spans(d) for d in docs]


@pytest.mark.parametrize("word", ["a b", " ", "\t", "-DOCSTART-", "\ufeff-DOCSTART-"])
def test_docs_to_conll_refuses_unwritable_words(word: str) -> None:
    doc = Doc(conll.blank_english_vocab(), words=["ok", word], spaces=[False, False])
    with pytest.raises(ValueError, match="cannot be written"):
        conll.docs_to_conll([doc])


def test_report_lines_sorted_by_type() -> None:
    stats = convert.collect_stats(conll.parse_conll("a I-ZZZ\nb O\n\nc I-AAA\n"))
    assert stats.report().splitlines() == [
        "documents: 1",
        "sentences: 2",
        "tokens: 3",
        "entities: AAA=1 ZZZ=1 total=2",
    ]
    assert re.fullmatch(r"entities: total=0", convert.ConversionStats().report().splitlines()[-1])
