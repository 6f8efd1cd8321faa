"""scripts/convert.py on the input test_convert.py does not cover: line breaks and
whitespace beyond ASCII spaces, tabs and CRLF.

The converter splits lines on LF and columns on spaces and tabs only. Splitting
columns on any Unicode whitespace (str.split()) used to glue a CR-only file into
one token per line-run and cut words holding a no-break space, silently
dropping tokens; these tests pin the fixed behaviour.
"""

from __future__ import annotations

import os
from pathlib import Path

from bilstm_ner.corpora import conll
from scripts import convert
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

VOCAB = conll.blank_english_vocab()

# Whitespace that str.split() splits on but that is not a column separator here.
OTHER_WHITESPACE = ["\xa0", "\u202f", "\u3000", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\u2009"]


def run_cli(args: list[str]) -> typer.testing.Result:
    """Run the command in-process, as ``typer.run(main)`` sets it up."""
    app = typer.Typer(add_completion=False)
    app.command()(convert.main)
    return CliRunner().invoke(app, args)


def words_and_spans(doc: Doc) -> tuple[list[str], list[tuple[int, int, str]]]:
    return [t.text for t in doc], [(e.start, e.end, e.label_) for e in doc.ents]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"EU B-ORG\rrejects O\rPeter B-PER\r", 1),  # CR-only line ends (old Mac)
        (b"a O\nb O\nc O\rd B-PER\n", 3),  # one stray CR in an LF file
        (b"a O\r\n\r\nb\rc O\r\n", 3),  # stray CR inside a word of a CRLF file
    ],
    ids=["cr_only", "stray_cr_lf", "stray_cr_crlf"],
)
def test_carriage_return_inside_a_line_is_refused(content: bytes, line: int, tmp_path: Path) -> None:
    src = tmp_path / "in.conll"
    src.write_bytes(content)
    out = tmp_path / "out" / "in.spacy"
    result = run_cli([str(src), str(out)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: {src}:{line}: carriage return (\\r) inside a line: line ends must be LF or CRLF"
    ]
    assert "Traceback" not in result.output
    assert not out.exists()
    assert os.listdir(tmp_path) == ["in.conll"]


def test_cr_only_file_is_refused_and_a_no_break_space_stays_in_the_word(tmp_path: Path) -> None:
    """What --help promises on this module's two subjects, checked through the command
    line on files (not the help's wording): a CR-only file is refused, and a no-break
    space stays inside the word, only spaces and tabs separating columns."""
    cr_only = tmp_path / "cr.conll"
    cr_only.write_bytes(b"Peter NNP I-NP B-PER\rBlake NNP I-NP I-PER\r")
    result = run_cli([str(cr_only), str(tmp_path / "cr.spacy")])
    assert result.exit_code == 1 and "cr.conll:1: carriage return (\\r) inside a line" in result.stderr
    nbsp = tmp_path / "nbsp.conll"
    nbsp.write_bytes("10\xa0000 CD\tI-NP O\nPeter NNP I-NP B-PER\n".encode())
    result = run_cli([str(nbsp), str(tmp_path / "nbsp.spacy")])
    assert result.exit_code == 0, result.output
    (doc,) = DocBin().from_disk(tmp_path / "nbsp.spacy").get_docs(VOCAB)
    assert words_and_spans(doc) == (["10\xa0000", "Peter"], [(1, 2, "PER")])


@pytest.mark.parametrize("space", OTHER_WHITESPACE, ids=[f"U+{ord(c):04X}" for c in OTHER_WHITESPACE])
def test_other_whitespace_belongs_to_the_word(space: str) -> None:
    """Only spaces and tabs separate columns: "10<NBSP>000" stays one word."""
    text = f"-DOCSTART- -X- -X- O\n\n10{space}000 CD I-NP O\nPeter\tNNP\tI-NP\tI-PER\n"
    (doc,) = conll.parse_conll(text, "mem.conll", VOCAB)
    assert words_and_spans(doc) == ([f"10{space}000", "Peter"], [(1, 2, "PER")])


@pytest.mark.parametrize("space", OTHER_WHITESPACE, ids=[f"U+{ord(c):04X}" for c in OTHER_WHITESPACE])
def test_lines_of_other_whitespace_are_blank(space: str) -> None:
    (doc,) = conll.parse_conll(f"a O\n{space}\n \t{space}\r\nb I-LOC\n", "mem.conll", VOCAB)
    assert words_and_spans(doc) == (["a", "b"], [(1, 2, "LOC")])
    assert [t.is_sent_start for t in doc] == [True, True]


def test_other_whitespace_in_the_tag_is_an_invalid_tag() -> None:
    with pytest.raises(conll.ConllFormatError) as info:
        conll.parse_conll("a O\nb B-P\xa0ER\n", "mem.conll", VOCAB)
    assert (info.value.line, info.value.message) == (
        2,
        "invalid NER tag 'B-P\\xa0ER' (expected O, or B-, I-, L- or U- and a TYPE)",
    )


# Words as they occur in the wild: any characters but the separators (space,
# tab), line breaks (LF, CR) and surrogates; not blank, not a DOCSTART marker,
# no zero-width or no-break character at either end (the reader strips those:
# tests/test_convert_invisible.py).
wild_words = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters=" \t\r\n"), min_size=1, max_size=8
).filter(lambda w: w.strip() != "" and w.strip(conll.INVISIBLE) == w and not conll.is_docstart(w))
tags = st.sampled_from(["O", "B-PER", "I-PER", "I-LOC", "B-MISC"])
sentences = st.lists(st.tuples(wild_words, tags), min_size=1, max_size=6)


@settings(max_examples=100, deadline=None)
@given(
    sents=st.lists(sentences, min_size=1, max_size=4),
    separators=st.lists(st.sampled_from([" ", "\t", "  ", " \t "]), min_size=1, max_size=3),
    crlf=st.booleans(),
)
def test_every_word_survives_whatever_characters_it_holds(
    sents: list[list[tuple[str, str]]], separators: list[str], crlf: bool
) -> None:
    """One token per line, whatever the word holds: no word is split or dropped."""
    newline = "\r\n" if crlf else "\n"
    lines = []
    for sent in sents:
        for i, (word, tag) in enumerate(sent):
            lines.append(separators[i % len(separators)].join([word, "-X-", tag]))
        lines.append("")
    (doc,) = conll.parse_conll(newline.join(lines), "mem.conll", VOCAB)
    assert [t.text for t in doc] == [word for sent in sents for word, _ in sent]
    assert sum(t.is_sent_start for t in doc) == len(sents)
