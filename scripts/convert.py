"""Convert a CoNLL-style NER file (or a spaCy DocBin) into a spaCy DocBin (``.spacy``).

Why a custom converter instead of ``spacy convert``: we want one ``Doc`` per
``-DOCSTART-`` document with the CoNLL sentence boundaries kept, IOB1, IOB2
*and* BILUO read with one rule, tolerance for the harmless variations found in
the wild (CRLF, BOM, tabs, 2 or 4 columns, DOCSTART spellings, blank lines
holding a tab, zero-width and no-break characters that editors and exporters
leave around tokens), and a clear one-line ``error: PATH:LINE: message`` that
says what to do instead of a traceback for files that are broken. A file without ``-DOCSTART-`` is cut
into documents of ``--n-sents`` sentences, as ``spacy convert -n`` does: one
document of thousands of sentences makes every training step slow and huge.
A ``.spacy`` input is a DocBin already: its labels are checked and its bytes
copied unchanged. Several INPUT OUTPUT pairs are checked first, all of them,
and converted only when every one passes, so a broken test file does not cost
a conversion of the training file first. Outputs are written atomically (a
failed run never leaves a partial file), with the user's umask. The first INPUT
is taken as the training set: a label of a later one (dev, test) that it never
has is a warning naming the label, since the model cannot predict it. An ``L-X``
that closes no open X entity (no ``B-X`` or ``I-X`` before it) is an error with
the file and line, not repaired: the file lost a line, or meant ``U-X``.

Usage::

    python scripts/convert.py INPUT OUTPUT.spacy [INPUT OUTPUT.spacy ...] [--n-sents 10]
"""

from __future__ import annotations

import os
import re
import secrets
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from spacy.lang.en import English
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab, create_vocab

DOCSTART = "-DOCSTART-"
BOM = "\ufeff"
# A valid NER tag: O, or B-/I-/L-/U- followed by a non-empty type without
# whitespace. The type is everything after the first hyphen ("B-creative-work").
_TAG_RE = re.compile(r"(?:O|[BILU]-\S+)\Z")
OUTSIDE = "O"
# Sentences per document for a file without -DOCSTART- (spaCy's docs suggest 10 for `spacy convert -n`).
DEFAULT_N_SENTS = 10
# Columns are separated by ASCII spaces and tabs only. str.split() would also
# split on a no-break space, U+2028, a form feed or a bare CR, cutting a word in
# two or gluing two lines into one: since the word is the first column and the
# tag the last, the pieces in between would be dropped without a word.
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")
# Characters that editors, spreadsheets and exporters leave around tokens without a
# trace on screen: zero-width ones (U+FEFF is also the byte-order mark, which Windows
# tools write at a file's start and `cat` then carries into the middle of a file) and
# no-break spaces. Each column loses them at its ends; inside a word they stay
# ("10<NBSP>000", a ZWJ inside an emoji sequence).
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
NO_BREAK = "\u00a0\u2007\u202f"
INVISIBLE = ZERO_WIDTH + NO_BREAK
# How many line numbers a dropped-token warning lists before it says "and N more".
_LINES_SHOWN = 10

# A token as read from the file: (word, tag, 1-based line number).
Token = tuple[str, str, int]
Sentence = list[Token]


class InvisibleTokensWarning(UserWarning):
    """Tokens whose word was only zero-width or no-break characters were dropped.

    A warning, not an error: such a "token" is an artefact of an exporter (a lone
    U+FEFF or U+200B on its own line with a tag), not a word anyone annotated. It
    carries where, so the CLI prints one line per file.
    """

    def __init__(self, path: str | os.PathLike[str], lines: Sequence[int]) -> None:
        self.path = str(path)
        self.lines = list(lines)
        super().__init__(str(self))

    def __str__(self) -> str:
        shown = ", ".join(str(n) for n in self.lines[:_LINES_SHOWN])
        more = len(self.lines) - _LINES_SHOWN
        shown += f" and {more} more" if more > 0 else ""
        one = len(self.lines) == 1
        return (
            f"{self.path}: dropped {len(self.lines)} {'token' if one else 'tokens'} made only of "
            f"zero-width or no-break characters ({'line' if one else 'lines'} {shown})"
        )


class ConllFormatError(ValueError):
    """The input is not valid CoNLL; carries where, so the CLI can say so in one line."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


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


def is_docstart(first_column: str) -> bool:
    """Whether a line's first column marks a document boundary.

    Only the first column counts, because the files spell the rest of the line
    differently (``-DOCSTART- -X- O O`` vs ``-DOCSTART- -X- -X- O``). A leading
    BOM is ignored so that files joined with ``cat`` still split correctly.
    """
    return first_column.lstrip(BOM) == DOCSTART


def decode_conll(data: bytes, source: str | os.PathLike[str] = "<bytes>") -> str:
    """Decode UTF-8 (BOM optional), reporting the line of the first bad byte.

    A plain UnicodeDecodeError gives a byte offset, which is useless to someone
    fixing a 200k-line file; the line number is what they need.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        bad = data[err.start : err.end]
        raise ConllFormatError(source, line, f"invalid UTF-8 bytes {bad!r}: {reencode_hint(data)}") from None


def reencode_hint(data: bytes) -> str:
    """What to do about a file that is not UTF-8: the iconv command that converts it.

    A UTF-16 byte-order mark names its encoding; otherwise latin1 (ISO-8859-1) is
    the usual culprit for Western European text, and `file -i` guesses the rest.
    """
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "latin1"
    guess = "" if encoding == "utf-16" else " (if latin1 is not its encoding, `file -i FILE` guesses it)"
    command = f"iconv -f {encoding} -t utf-8 FILE > FILE.utf8"
    return f"the file is not UTF-8: re-encode it as UTF-8, e.g. {command}{guess}"


def iob_to_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Turn one sentence's IOB1, IOB2 or BILUO tags into ``(start, end, label)`` spans.

    One rule covers all three schemes, so a file need not say which it uses:
    an entity starts at ``B-X`` or ``U-X``, or at ``I-X`` / ``L-X`` when no
    entity of type X is open (IOB1 starts entities with ``I-``); ``I-X``
    continues an open X, ``L-X`` continues and closes it, ``U-X`` is a
    one-token entity. The label is everything after the first hyphen, so
    ``B-creative-work`` is a ``creative-work``. Tags must already be valid.
    """
    spans: list[tuple[int, int, str]] = []
    start = -1
    label = ""
    for i, tag in enumerate(tags):
        prefix, kind = (OUTSIDE, "") if tag == OUTSIDE else (tag[0], tag[2:])
        continues = prefix in ("I", "L") and start >= 0 and kind == label
        if not continues:
            if start >= 0:
                spans.append((start, i, label))
                start = -1
            if prefix != OUTSIDE:
                start, label = i, kind
        if prefix in ("L", "U"):
            spans.append((start, i + 1, label))
            start = -1
    if start >= 0:
        spans.append((start, len(tags), label))
    return spans


def _check_tag(columns: Sequence[str], source: str | os.PathLike[str], line: int, seen: set[str]) -> None:
    """Refuse anything but O and B-X/I-X/L-X/U-X as the last column; ``seen`` caches
    valid tags (there are few). A TYPE with a space in it ("B-city name") reaches here
    split in two, so the message says that spaces split columns."""
    tag = columns[-1]
    if tag in seen:
        return
    if not _TAG_RE.match(tag):
        message = f"invalid NER tag {tag!r} (expected O, or B-, I-, L- or U- and a TYPE)"
        # the last column before the tag that looks like the start of a tag (B-city)
        candidates = range(len(columns) - 2, 0, -1)
        start = next((i for i in candidates if columns[i] != OUTSIDE and _TAG_RE.match(columns[i])), None)
        if start is not None:
            written = " ".join(columns[start:])
            message += (
                f": the tag reads {written!r}? Spaces and tabs split columns, so a TYPE cannot "
                f"hold a space: write it as {'_'.join(columns[start:])!r} (or with hyphens) everywhere"
            )
        raise ConllFormatError(source, line, message)
    if tag[2:] == OUTSIDE:
        raise ConllFormatError(
            source, line, f"invalid NER tag {tag!r}: 'O' means outside any entity and cannot be a TYPE"
        )
    seen.add(tag)


def check_entity_end(
    tag: str, open_label: str | None, source: str | os.PathLike[str], line: int
) -> str | None:
    """The label of the entity open after this tag (None if none), refusing an ``L-X``
    that closes no open X entity: a BILUO entity starts with ``B-X`` (IOB1's with
    ``I-X``), so a lone ``L-X`` means a lost line or a ``U-X``, and guessing would
    change the entity silently."""
    prefix, label = (OUTSIDE, "") if tag == OUTSIDE else (tag[0], tag[2:])
    if prefix == "L" and open_label != label:
        raise ConllFormatError(
            source,
            line,
            f"{tag!r} ends an entity that no B-{label} (or I-{label}) opens on the lines before it: "
            f"write U-{label} for an entity of one token, or B-{label} on the line where it begins",
        )
    return label if prefix in ("B", "I") else None


def split_columns(line: str, source: str | os.PathLike[str], lineno: int) -> list[str]:
    """A line's columns, separated by spaces or tabs, each without the zero-width and
    no-break characters at its ends (INVISIBLE); ``[]`` for a blank line.

    The CR of a CRLF line end is dropped; a CR anywhere else (old Mac line ends,
    a corrupt file) is refused, since it hides a line break inside the line.
    A line of only whitespace of any kind (e.g. a no-break space) or of INVISIBLE
    characters (a lone U+FEFF) is blank. A column made only of INVISIBLE characters
    is kept as ``""``, so the caller can tell a word that vanished from a missing one.
    """
    if not line.strip():
        return []
    stripped = line.strip(" \t\r")
    if "\r" in stripped:
        raise ConllFormatError(
            source, lineno, "carriage return (\\r) inside a line: line ends must be LF or CRLF"
        )
    columns = [column.strip(INVISIBLE) for column in _COLUMN_SEPARATOR.split(stripped)]
    return columns if any(columns) else []


def split_documents(
    text: str, source: str | os.PathLike[str] = "<string>", n_sents: int = 0
) -> list[list[Sentence]]:
    """Group lines into documents of sentences of validated tokens.

    Lines are split on ``\\n`` only (the CR of a CRLF goes away, see
    `split_columns`), so line numbers in errors match what an editor shows. A
    leading BOM is dropped, so strings read without ``utf-8-sig`` parse the
    same. A token whose word is only zero-width or no-break characters is
    dropped, with one `InvisibleTokensWarning` per call giving the lines. Empty
    sentences and documents are dropped. A file without DOCSTART is cut into
    documents of ``n_sents`` sentences (0: one document).
    """
    documents: list[list[Sentence]] = []
    document: list[Sentence] = []
    sentence: Sentence = []
    valid_tags: set[str] = set()
    dropped: list[int] = []
    has_docstart = False
    open_label: str | None = None
    for lineno, line in enumerate(text.removeprefix(BOM).split("\n"), start=1):
        columns = split_columns(line, source, lineno)
        if columns and is_docstart(columns[0]):
            has_docstart = True
        if not columns or is_docstart(columns[0]):
            open_label = None
            if sentence:
                document.append(sentence)
                sentence = []
            if columns and document:
                documents.append(document)
                document = []
            continue
        if len(columns) < 2:
            raise ConllFormatError(
                source,
                lineno,
                f"expected at least 2 columns (word ... NER tag), found 1: {line.strip()!r}",
            )
        if not columns[-1]:
            raise ConllFormatError(
                source,
                lineno,
                f"the NER tag column holds only zero-width or no-break characters: {line.strip()!r}",
            )
        _check_tag(columns, source, lineno, valid_tags)
        if not columns[0]:
            dropped.append(lineno)
            continue
        open_label = check_entity_end(columns[-1], open_label, source, lineno)
        sentence.append((columns[0], columns[-1], lineno))
    if dropped:
        warnings.warn(InvisibleTokensWarning(source, dropped), stacklevel=2)
    if sentence:
        document.append(sentence)
    if document:
        documents.append(document)
    if not has_docstart and n_sents > 0 and documents:
        sentences = documents[0]
        documents = [sentences[i : i + n_sents] for i in range(0, len(sentences), n_sents)]
    return documents


def build_doc(vocab: Vocab, sentences: Sequence[Sentence]) -> Doc:
    """Make one Doc with sentence starts and entities set, all other tokens O.

    Every token gets an explicit IOB value so ``Doc.has_annotation("ENT_IOB")``
    is True and training treats unlabelled tokens as negatives, not as missing.
    """
    words: list[str] = []
    sent_starts: list[bool] = []
    iob: list[str] = []
    for sentence in sentences:
        tags = [tag for _, tag, _ in sentence]
        sent_iob = ["O"] * len(tags)
        for start, end, label in iob_to_spans(tags):
            sent_iob[start] = f"B-{label}"
            for i in range(start + 1, end):
                sent_iob[i] = f"I-{label}"
        words.extend(word for word, _, _ in sentence)
        sent_starts.extend([True] + [False] * (len(sentence) - 1))
        iob.extend(sent_iob)
    spaces = [True] * len(words)
    spaces[-1] = False
    return Doc(vocab, words=words, spaces=spaces, sent_starts=sent_starts, ents=iob)


def blank_english_vocab() -> Vocab:
    """The vocab of ``spacy.blank("en")``, built without constructing a Language.

    ``spacy.blank`` imports every installed spaCy entry point (including this
    project's own component package); converting data must not depend on that
    code importing cleanly, and the DocBin stores strings, not the vocab.
    """
    return create_vocab("en", English.Defaults)


def parse_conll(
    text: str, source: str | os.PathLike[str] = "<string>", vocab: Vocab | None = None, n_sents: int = 0
) -> list[Doc]:
    """Parse CoNLL text into one Doc per document (blank English vocab by default);
    without DOCSTART lines, one Doc per ``n_sents`` sentences (0: one Doc).

    Takes a string, not a path, so tests and other scripts can parse in-memory
    data; ``source`` only names the input in error messages.
    """
    documents = split_documents(text, source, n_sents)
    if not documents:
        raise ConllFormatError(source, None, "no tokens found (empty or only DOCSTART/blank lines)")
    if vocab is None:
        vocab = blank_english_vocab()
    return [build_doc(vocab, sentences) for sentences in documents]


def read_conll(path: str | os.PathLike[str], vocab: Vocab | None = None, n_sents: int = 0) -> list[Doc]:
    """Read and parse a CoNLL file; OSError (e.g. missing file) is left to the caller."""
    data = Path(path).read_bytes()
    return parse_conll(decode_conll(data, path), path, vocab, n_sents)


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


def _doc_iob2(doc: Doc) -> list[str]:
    """The Doc's entities as IOB2 tags (missing annotation counts as O)."""
    tags = ["O"] * len(doc)
    for ent in doc.ents:
        tags[ent.start] = f"B-{ent.label_}"
        for i in range(ent.start + 1, ent.end):
            tags[i] = f"I-{ent.label_}"
    return tags


def docs_to_conll(docs: Iterable[Doc]) -> str:
    """Write Docs back as four-column IOB2 CoNLL with DOCSTART lines.

    Used for round-trip tests; the POS and chunk columns are ``-X-``
    placeholders. Words that could not be read back unchanged (empty, with
    whitespace, with zero-width or no-break characters at an end, or looking
    like DOCSTART) raise ValueError.
    """
    lines: list[str] = []
    for doc in docs:
        lines.append(f"{DOCSTART} -X- -X- O")
        for i, (token, tag) in enumerate(zip(doc, _doc_iob2(doc), strict=True)):
            word = token.text
            if word.split() != [word] or word.strip(INVISIBLE) != word or is_docstart(word):
                raise ValueError(f"word {word!r} cannot be written as a CoNLL token")
            if i == 0 or token.is_sent_start:
                lines.append("")
            lines.append(f"{word} -X- -X- {tag}")
        lines.append("")
    return "\n".join(lines) + "\n"


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
        """Entities per label."""
        if self.docs is not None:
            return Counter(ent.label_ for doc in self.docs for ent in doc.ents)
        sentences = (sentence for document in self.documents or [] for sentence in document)
        return Counter(label for s in sentences for _, _, label in iob_to_spans([tag for _, tag, _ in s]))


def labels_missing_from_train(checked: Sequence[CheckedInput]) -> list[str]:
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
