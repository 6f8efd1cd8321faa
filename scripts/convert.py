"""The `convert` step: CoNLL-style NER files (or spaCy DocBins) into DocBins (``.spacy``).

The files are read by the package's reader (bilstm_ner.corpora.conll: why not
``spacy convert``, and what it takes and refuses); this step reports a broken
file in one line, ``error: PATH:LINE: message``, instead of a traceback. A
file without ``-DOCSTART-`` is cut into documents of ``--n-sents`` sentences:
one document of thousands of sentences makes every training step slow and huge.
A ``.spacy`` input is a DocBin already: its labels are checked and its bytes
copied unchanged. Several INPUT OUTPUT pairs are checked first, all of them,
and converted only when every one passes, so a broken test file does not cost
a conversion of the training file first. Outputs are written atomically (a
failed run never leaves a partial file), with the user's umask. The first INPUT
is taken as the training set: a label of a later one (dev, test) that it never
has is a warning naming the label, since the model cannot predict it.

Usage::

    python scripts/convert.py INPUT OUTPUT.spacy [INPUT OUTPUT.spacy ...] [--n-sents 10]
"""

from __future__ import annotations

import os
import secrets
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from bilstm_ner.corpora.conll import (
    DEFAULT_N_SENTS,
    OUTSIDE,
    ConllFormatError,
    InvisibleTokensWarning,
    Sentence,
    blank_english_vocab,
    build_doc,
    decode_conll,
    split_documents,
)
from spacy.tokens import Doc, DocBin
from spacy.training.iob_utils import iob_to_biluo
from spacy.vocab import Vocab


@dataclass
class ConversionStats:
    """Counts for the report, so a wrong conversion is visible at a glance."""

    documents: int = 0
    sentences: int = 0
    tokens: int = 0
    entities: Counter[str] = field(default_factory=Counter)

    @property
    def total_entities(self) -> int:
        """All entities over all types."""
        return sum(self.entities.values())

    def report(self) -> str:
        """A short, grep-friendly multi-line summary."""
        per_type = " ".join(f"{label}={n}" for label, n in sorted(self.entities.items()))
        ents = f"{per_type} total={self.total_entities}".strip()
        return (
            f"documents: {self.documents}\n"
            f"sentences: {self.sentences}\n"
            f"tokens: {self.tokens}\n"
            f"entities: {ents}"
        )


def is_docbin(path: str | os.PathLike[str]) -> bool:
    """Whether the input is a spaCy DocBin, by its name (spaCy's own convention)."""
    return Path(path).suffix == ".spacy"


def check_labels(docs: Iterable[Doc], source: str | os.PathLike[str]) -> None:
    """Refuse entity labels no tagger can learn: empty, or "O" (the outside tag)."""
    for i, doc in enumerate(docs):
        for ent in doc.ents:
            if not ent.label_.strip() or ent.label_ == OUTSIDE:
                raise ConllFormatError(
                    source,
                    None,
                    f"document {i}: entity {ent.text!r} has the label {ent.label_!r}, "
                    "which cannot be an entity type (empty, or 'O', the outside tag)",
                )


def read_docbin(path: str | os.PathLike[str], vocab: Vocab | None = None) -> list[Doc]:
    """The Docs of a ``.spacy`` file, their labels checked; a file DocBin cannot read is refused."""
    try:
        docs = list(DocBin().from_disk(path).get_docs(vocab or blank_english_vocab()))
    except (ValueError, KeyError, TypeError, zlib.error) as err:
        raise ConllFormatError(path, None, f"not a readable spaCy DocBin ({err})") from None
    if not any(len(doc) for doc in docs):
        raise ConllFormatError(path, None, "no tokens found (an empty DocBin)")
    check_labels(docs, path)
    return docs


def collect_stats(docs: Iterable[Doc]) -> ConversionStats:
    """Count documents, sentences, tokens and entities per type for the report."""
    stats = ConversionStats()
    for doc in docs:
        stats.documents += 1
        stats.tokens += len(doc)
        stats.sentences += sum(1 for token in doc if token.is_sent_start)
        stats.entities.update(ent.label_ for ent in doc.ents)
    return stats


def write_docbin(docs: Iterable[Doc], output: str | os.PathLike[str]) -> None:
    """Write Docs to a ``.spacy`` file atomically (see `write_atomically`)."""
    write_atomically(DocBin(docs=docs, store_user_data=False).to_bytes(), output)


def write_atomically(data: bytes, output: str | os.PathLike[str]) -> None:
    """Write bytes to a file atomically, with the permissions the user's umask gives.

    The bytes go to a temp file in the same folder, then ``os.replace`` swaps it
    in: readers see either the old file or the complete new one, never a
    partial file, and a failure removes the temp file. The temp file is opened
    with mode 0o666 for the umask to narrow, as ``open()`` does (``tempfile.mkstemp``
    would make every output 0600, unreadable to the rest of a team).
    """
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fail(message: str) -> NoReturn:
    """Report a refusal as one ``error: ...`` line on stderr and exit 1, no traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@dataclass
class CheckedInput:
    """One input as read and checked, kept so that converting does not read it again:
    a DocBin's Docs and bytes, or a text file's documents of validated tokens."""

    path: Path
    output: Path
    docs: list[Doc] | None = None
    data: bytes | None = None
    documents: list[list[Sentence]] | None = None

    @property
    def labels(self) -> Counter[str]:
        """Entities per label (an entity begins at a BILUO tag B- or U-)."""
        if self.docs is not None:
            return Counter(ent.label_ for doc in self.docs for ent in doc.ents)
        sentences = (sentence for document in self.documents or [] for sentence in document)
        tags = (tag for s in sentences for tag in iob_to_biluo([tag for _, tag, _ in s]))
        return Counter(tag[2:] for tag in tags if tag[:2] in ("B-", "U-"))


def labels_missing_from_train(checked: list[CheckedInput]) -> list[str]:
    """A warning for each label of a later input (dev, test) that the first (the training
    set) never has: the model cannot learn it, so its recall there is 0."""
    if len(checked) < 2:
        return []
    train = checked[0]
    known = train.labels
    found = []
    for item in checked[1:]:
        for label, count in sorted(item.labels.items()):
            if label not in known:
                entities = "entity" if count == 1 else "entities"
                found.append(
                    f"{item.path}: the label {label!r} ({count} {entities}) never occurs in the training "
                    f"file {train.path}: the model cannot learn it, so it will not predict it there "
                    "(recall 0)"
                )
    return found


def check_input(path: Path, output: Path, n_sents: int) -> CheckedInput:
    """Read and check one input (ConllFormatError or OSError if it is unusable), printing
    a ``warning: ...`` line on stderr for each InvisibleTokensWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InvisibleTokensWarning)
        if is_docbin(path):
            checked = CheckedInput(path, output, docs=read_docbin(path), data=path.read_bytes())
        else:
            documents = split_documents(decode_conll(path.read_bytes(), path), path, n_sents)
            if not documents:
                raise ConllFormatError(path, None, "no tokens found (empty or only DOCSTART/blank lines)")
            checked = CheckedInput(path, output, documents=documents)
    for warning in caught:
        if issubclass(warning.category, InvisibleTokensWarning):
            typer.echo(f"warning: {warning.message}", err=True)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return checked


def input_error(path: Path, err: Exception) -> str:
    """The one-line message for an input that cannot be read or is not valid."""
    if isinstance(err, ConllFormatError):
        return str(err)
    if isinstance(err, FileNotFoundError):
        return f"{path}: file not found"
    assert isinstance(err, OSError)
    return f"{path}: cannot read: {err.strerror or err}"


def main(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT OUTPUT [INPUT OUTPUT]...",
            help="Pairs of a CoNLL-style file (or a .spacy DocBin) to read and the DocBin (.spacy) to write.",
            show_default=False,
        ),
    ],
    n_sents: Annotated[
        int,
        typer.Option(
            "--n-sents",
            "-n",
            min=0,
            help="Without -DOCSTART- lines: sentences per document (0: one document).",
        ),
    ] = DEFAULT_N_SENTS,
) -> None:
    """Convert CoNLL NER files to spaCy DocBins, one Doc per -DOCSTART- document.

    Accepted input: UTF-8 text (BOM optional, LF or CRLF line ends), one token
    per line with columns separated by tabs or spaces (other characters, e.g.
    a no-break space, belong to the word); two or more columns, the word is
    the first and the NER tag the last. Zero-width characters (U+200B, U+200C,
    U+200D, U+2060, U+FEFF) and no-break spaces (U+00A0, U+2007, U+202F) at
    the ends of a column are removed; a line of only such characters is
    blank, and a token whose word is only such characters is dropped, with a
    warning naming the file, the lines and the count. Tags are IOB1, IOB2 or
    BILUO (O, B-TYPE, I-TYPE, L-TYPE, U-TYPE); the TYPE is all after the first
    hyphen (B-creative-work) and holds no space. Blank lines (or lines of only
    spaces or tabs) separate sentences; any line whose first column is
    -DOCSTART- separates documents; a file with none is cut into documents of
    --n-sents sentences, as `spacy convert -n` does. An INPUT named *.spacy is
    a DocBin: its labels are checked and it is copied unchanged.

    Every INPUT is checked before any OUTPUT is written. Refused, with
    "error: PATH:LINE: message" (one line per broken file) and exit code 1:
    empty files or files without tokens, lines with one column, other tags
    (e.g. E-PER, B-, B-O), an L-X that no B-X or I-X opens, bytes that are not
    UTF-8, a carriage return inside a line (CR-only line ends). The first INPUT
    is the training set: a label a later INPUT has and it lacks is a warning.
    Outputs are written atomically, with the user's umask; on failure no OUTPUT
    is written or changed.
    """
    if len(paths) % 2:
        _fail(f"expected INPUT OUTPUT pairs, got {len(paths)} paths: {' '.join(map(str, paths))}")
    checked: list[CheckedInput] = []
    errors: list[str] = []
    for input_path, output_path in zip(paths[::2], paths[1::2]):
        try:
            checked.append(check_input(input_path, output_path, n_sents))
        except (ConllFormatError, OSError) as err:
            errors.append(input_error(input_path, err))
    if errors:
        for message in errors:
            typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1)
    for message in labels_missing_from_train(checked):
        typer.echo(f"warning: {message}", err=True)
    vocab = blank_english_vocab()
    for item in checked:
        docs = item.docs
        data = item.data
        if docs is None or data is None:
            docs = [build_doc(vocab, sentences) for sentences in item.documents or []]
            data = DocBin(docs=docs, store_user_data=False).to_bytes()
        try:
            write_atomically(data, item.output)
        except OSError as err:
            _fail(f"{item.output}: cannot write: {err.strerror or err}")
        typer.echo(f"{item.path} -> {item.output}")
        typer.echo(collect_stats(docs).report())


if __name__ == "__main__":
    typer.run(main)
