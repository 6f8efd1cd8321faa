"""scripts/convert.py's messages say what to do (issue 24), every input is checked once and
before any output is written, and outputs get the user's umask, not 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import typer
from bilstm_ner.corpora import conll
from typer.testing import CliRunner

from scripts import convert

GOOD = b"-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"


def run_cli(args: list[str]) -> typer.testing.Result:
    """Run the command in-process, as ``typer.run(main)`` sets it up."""
    app = typer.Typer(add_completion=False)
    app.command()(convert.main)
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (b"a O\n\nM\xfcller B-PER\n", "latin1"),
        ("a O\nb O\n".encode("utf-16"), "utf-16"),
    ],
    ids=["latin1", "utf16"],
)
def test_non_utf8_says_to_reencode_with_iconv(content: bytes, encoding: str, tmp_path: Path) -> None:
    src = tmp_path / "in.conll"
    src.write_bytes(content)
    result = run_cli([str(src), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert "invalid UTF-8 bytes" in line
    assert f"re-encode it as UTF-8, e.g. iconv -f {encoding} -t utf-8 FILE > FILE.utf8" in line


@pytest.mark.parametrize(
    ("line", "written", "fixed"),
    [
        ("Berlin B-city name", "B-city name", "B-city_name"),
        ("Berlin NNP I-NP\tI-city of birth", "I-city of birth", "I-city_of_birth"),
    ],
)
def test_a_tag_with_a_space_says_that_spaces_split_columns(line: str, written: str, fixed: str) -> None:
    with pytest.raises(conll.ConllFormatError) as info:
        conll.parse_conll(f"in O\n{line}\n", "mem")
    assert info.value.line == 2
    message = info.value.message
    assert message.startswith(f"invalid NER tag {written.split()[-1]!r}")
    assert f"the tag reads {written!r}? Spaces and tabs split columns" in message
    assert f"write it as {fixed!r}" in message


def test_an_invalid_tag_without_a_split_gets_no_space_hint() -> None:
    with pytest.raises(conll.ConllFormatError) as info:
        conll.parse_conll("a NNP E-PER\n", "mem")
    assert "Spaces and tabs" not in info.value.message


def test_every_input_is_checked_before_any_output_is_written(tmp_path: Path) -> None:
    """A broken test file (the last pair) stops the run before train is converted;
    a second broken file is reported too, one line each."""
    train, dev, test = tmp_path / "train.txt", tmp_path / "dev.txt", tmp_path / "test.txt"
    train.write_bytes(GOOD)
    dev.write_bytes(b"a O\nb E-PER\n")
    test.write_bytes(b"a O\nlonely\n")
    out = tmp_path / "corpus"
    result = run_cli(
        [str(train), str(out / "train.spacy"), str(dev), str(out / "dev.spacy")]
        + [str(test), str(out / "test.spacy")]
    )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"error: {dev}:2: invalid NER tag 'E-PER'")
    assert lines[1].startswith(f"error: {test}:2: expected at least 2 columns")
    assert result.stdout == ""
    assert not out.exists()


def test_each_input_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real_decode = conll.decode_conll

    def counting_decode(data: bytes, source: str | os.PathLike[str] = "<bytes>") -> str:
        reads.append(str(source))
        return real_decode(data, source)

    monkeypatch.setattr(convert, "decode_conll", counting_decode)
    args = []
    for name in ("train", "dev", "test"):
        (tmp_path / f"{name}.txt").write_bytes(GOOD)
        args += [str(tmp_path / f"{name}.txt"), str(tmp_path / f"{name}.spacy")]
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    assert reads == [str(tmp_path / f"{name}.txt") for name in ("train", "dev", "test")]
    assert result.stdout.count("documents: 1") == 3
    assert all((tmp_path / f"{name}.spacy").stat().st_size > 0 for name in ("train", "dev", "test"))


def test_an_odd_number_of_paths_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(GOOD)
    result = run_cli([str(tmp_path / "a.txt"), str(tmp_path / "a.spacy"), str(tmp_path / "b.txt")])
    assert result.exit_code == 1
    assert "expected INPUT OUTPUT pairs, got 3 paths" in result.stderr
    assert not (tmp_path / "a.spacy").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_outputs_get_the_users_umask(umask: int, tmp_path: Path) -> None:
    src = tmp_path / "in.conll"
    src.write_bytes(GOOD)
    out = tmp_path / "out.spacy"
    old = os.umask(umask)
    try:
        result = run_cli([str(src), str(out)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert sorted(os.listdir(tmp_path)) == ["in.conll", "out.spacy"]  # no temp file left


# ---------------------------------------------------------------- issue 35: labels, lone L-


@pytest.mark.parametrize(
    "tags, line",
    [
        (["O", "L-PER"], 2),  # nothing open
        (["B-PER", "I-PER", "L-PER", "L-PER"], 4),  # the entity was closed already
        (["U-LOC", "L-LOC"], 2),
        (["B-ORG", "L-PER"], 2),  # another type is open
    ],
)
def test_an_end_tag_without_its_begin_is_an_error_with_file_and_line(
    tags: list[str], line: int, tmp_path: Path
) -> None:
    """An L-X that no B-X or I-X opens is refused (not repaired: a line was lost, or U-X
    was meant), naming the file and the line, before any output is written."""
    src = tmp_path / "train.biluo"
    src.write_text("".join(f"w{i}\t{tag}\n" for i, tag in enumerate(tags)), encoding="utf8")
    out = tmp_path / "out.spacy"
    result = run_cli([str(src), str(out)])
    assert result.exit_code == 1
    label = tags[line - 1][2:]
    assert result.stderr.strip() == (
        f"error: {src}:{line}: 'L-{label}' ends an entity that no B-{label} (or I-{label}) opens on the "
        f"lines before it: write U-{label} for an entity of one token, or B-{label} on the line where "
        "it begins"
    )
    assert not out.exists()


def test_an_end_tag_after_its_begin_or_an_iob1_inside_is_taken(tmp_path: Path) -> None:
    docs = conll.parse_conll("a B-PER\nb L-PER\nc I-LOC\nd L-LOC\n\ne O\n", "mem")
    assert [(e.text, e.label_) for e in docs[0].ents] == [("a b", "PER"), ("c d", "LOC")]


def test_a_dev_or_test_label_missing_from_train_is_a_warning_naming_it(tmp_path: Path) -> None:
    """The first INPUT is the training set; a label only a later one has is a warning that
    names it, the file and its count, and the files are converted."""
    (tmp_path / "train.txt").write_text("Paris B-LOC\nis O\n\nJohn B-PER\n", encoding="utf8")
    (tmp_path / "dev.txt").write_text(
        "Paris B-LOC\nWorld B-EVENT\nCup I-EVENT\n\nExpo U-EVENT\n", encoding="utf8"
    )
    args = [str(tmp_path / name) for name in ("train.txt", "train.spacy", "dev.txt", "dev.spacy")]
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {tmp_path / 'dev.txt'}: the label 'EVENT' (2 entities) never occurs in the training "
        f"file {tmp_path / 'train.txt'}: the model cannot learn it, so it will not predict it there "
        "(recall 0)"
    ]
    assert (tmp_path / "dev.spacy").is_file()
    assert "warning" not in run_cli(args[:2] + args[:2]).stderr
