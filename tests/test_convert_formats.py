"""scripts/convert.py on corpora other than CoNLL-2003: BILUO tags, labels with hyphens,
lowercase and digits, tab-only sentence breaks, files without -DOCSTART- cut into
documents of --n-sents sentences, and .spacy DocBin files used as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
import typer
from bilstm_ner.corpora import conll
from spacy.tokens import Doc, DocBin, Span
from typer.testing import CliRunner

from scripts import convert


def spans(doc: Doc) -> list[tuple[int, int, str]]:
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


def run_cli(args: list[str]) -> typer.testing.Result:
    app = typer.Typer(add_completion=False)
    app.command()(convert.main)
    return CliRunner().invoke(app, args)


def read_docs(path: Path) -> list[Doc]:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


# The same sentence in the three schemes: tags differ, entities must not.
SCHEMES = {
    "iob1": ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "O", "I-creative-work"],
    "iob2": ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "O", "B-creative-work"],
    "biluo": ["B-PER", "L-PER", "O", "U-LOC", "U-LOC", "O", "U-creative-work"],
}
WORDS = ["Ada", "Lovelace", "in", "London", "Paris", "reads", "Dune"]
SCHEME_SPANS = [(0, 2, "PER"), (3, 4, "LOC"), (4, 5, "LOC"), (6, 7, "creative-work")]


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_iob1_iob2_and_biluo_give_the_same_entities(scheme: str) -> None:
    text = "".join(f"{w}\t{t}\n" for w, t in zip(WORDS, SCHEMES[scheme]))
    (doc,) = conll.parse_conll(text, "mem")
    assert spans(doc) == SCHEME_SPANS


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        # spaCy's rule (iob_to_biluo): an I- of the type goes on after L-, as after B- or I-
        (["B-X", "L-X", "I-X"], [(0, 3, "X")]),
        # U- closes an open entity of the same type before it
        (["B-X", "U-X"], [(0, 1, "X"), (1, 2, "X")]),
        # the label is everything after the first hyphen only
        (["B-B-I", "I-B-I"], [(0, 2, "B-I")]),
    ],
)
def test_biluo_rule(tags: list[str], expected: list[tuple[int, int, str]]) -> None:
    text = "".join(f"w{i} {tag}\n" for i, tag in enumerate(tags))
    (doc,) = conll.parse_conll(text, "mem")
    assert spans(doc) == expected


def test_an_end_tag_with_nothing_open_is_refused_not_guessed() -> None:
    """L- with no entity of its type open is a lost line or a U-: an error naming the line
    (issue 35), where spaCy's rule would make it a one-token entity."""
    with pytest.raises(conll.ConllFormatError) as info:
        conll.parse_conll("w0 O\nw1 L-X\n", "mem")
    assert info.value.line == 2 and "'L-X' ends an entity that no B-X (or I-X) opens" in info.value.message


def test_labels_with_hyphens_lowercase_digits_and_underscores_are_kept() -> None:
    text = "Dune B-creative-work\nby O\nAcme B-B2B_ORG\nphone B-product\nX1 I-product\n"
    (doc,) = conll.parse_conll(text, "mem")
    assert spans(doc) == [(0, 1, "creative-work"), (2, 3, "B2B_ORG"), (3, 5, "product")]


def test_the_label_o_is_refused_naming_the_tag() -> None:
    with pytest.raises(conll.ConllFormatError) as info:
        conll.parse_conll("a O\nb B-O\n", "mem")
    assert info.value.line == 2
    assert "'B-O'" in info.value.message and "outside" in info.value.message


def test_tab_only_lines_break_sentences() -> None:
    (doc,) = conll.parse_conll("a\tB-x\nb\tO\n\t\nc\tO\n \t \nd\tU-y\n", "mem")
    assert [s.text for s in doc.sents] == ["a b", "c", "d"]
    assert spans(doc) == [(0, 1, "x"), (3, 4, "y")]


def sentences(n: int) -> str:
    return "".join(f"w{i} O\nx{i} B-thing\n\t\n" for i in range(n))


def test_without_docstart_sentences_are_grouped_n_per_document() -> None:
    docs = conll.parse_conll(sentences(25), "mem", n_sents=10)
    assert [len(list(doc.sents)) for doc in docs] == [10, 10, 5]
    assert [doc[0].text for doc in docs] == ["w0", "w10", "w20"]
    assert sum(len(doc.ents) for doc in docs) == 25


def test_with_docstart_n_sents_is_ignored() -> None:
    text = "-DOCSTART- -X- -X- O\n\n" + sentences(25) + "-DOCSTART- -X- -X- O\n\n" + sentences(3)
    docs = conll.parse_conll(text, "mem", n_sents=10)
    assert [len(list(doc.sents)) for doc in docs] == [25, 3]


def test_cli_groups_ten_sentences_by_default_and_takes_n(tmp_path: Path) -> None:
    src = tmp_path / "train.iob"
    src.write_text(sentences(23), encoding="utf8")
    assert run_cli([str(src), str(tmp_path / "a.spacy")]).exit_code == 0
    assert len(read_docs(tmp_path / "a.spacy")) == 3
    result = run_cli([str(src), str(tmp_path / "b.spacy"), "--n-sents", "1"])
    assert result.exit_code == 0
    assert "documents: 23" in result.stdout
    assert len(read_docs(tmp_path / "b.spacy")) == 23


def docbin_file(path: Path, label: str = "creative-work") -> list[Doc]:
    nlp = spacy.blank("en")
    docs = [nlp("I read Dune today ."), nlp("Nothing here .")]
    docs[0].ents = [Span(docs[0], 2, 3, label=label)]
    DocBin(docs=docs).to_disk(path)
    return docs


def test_a_docbin_is_copied_unchanged(tmp_path: Path) -> None:
    src = tmp_path / "train.spacy"
    docbin_file(src)
    out = tmp_path / "corpus" / "train.spacy"
    result = run_cli([str(src), str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == src.read_bytes()
    assert "documents: 2" in result.stdout and "creative-work=1" in result.stdout


@pytest.mark.parametrize("label", ["O", " "])
def test_a_docbin_with_an_unusable_label_is_refused(label: str, tmp_path: Path) -> None:
    src = tmp_path / "bad.spacy"
    docbin_file(src, label)
    out = tmp_path / "out.spacy"
    result = run_cli([str(src), str(out)])
    assert result.exit_code == 1
    assert f"label {label!r}" in result.stderr and "Dune" in result.stderr
    assert not out.exists()


def test_a_file_named_spacy_that_is_not_a_docbin_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "fake.spacy"
    src.write_text("a O\n", encoding="utf8")
    result = run_cli([str(src), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1
    assert "not a readable spaCy DocBin" in result.stderr
