"""Reading CoNLL-style NER files into Docs, and writing Docs back as such files.

Why not ``spacy convert -c ner``: it recognises a document boundary only when the
line reads exactly ``-DOCSTART- -X- O O`` (CoNLL-2003's test file spells it
otherwise, so its 231 documents become 10-sentence chunks), and it stops on the
harmless variations found in the wild. This reader keeps one ``Doc`` per
``-DOCSTART-`` document with the sentence boundaries, reads IOB1, IOB2 and BILUO
(spaCy's own ``iob_to_biluo`` takes all three), tolerates CRLF, a BOM, tabs, 2 or 4
columns, blank lines holding a tab, and zero-width and no-break characters around
tokens, and refuses anything else with a `ConllFormatError` that names the file and
line and says what to do; so is an ``L-X`` that no ``B-X`` (or IOB1's ``I-X``) opens,
not repaired (a line was lost, or ``U-X`` was meant). A file without ``-DOCSTART-`` is
cut into documents of ``n_sents`` sentences, as ``spacy convert -n`` does.

The workflow's `convert` step (scripts/convert.py) writes DocBins with it; a user of
the packaged pipeline scores it on a CoNLL file through it (evaluation.py).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from spacy.lang.en import English
from spacy.tokens import Doc, DocBin
from spacy.training.iob_utils import biluo_to_iob, doc_to_biluo_tags, iob_to_biluo
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
    carries where, so a command line can print one line per file.
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
    """The input is not valid CoNLL; carries where, so a command line can say so in one line."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


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


def iob_tags(doc: Doc, missing: str = OUTSIDE) -> list[str]:
    """The doc's entities as one IOB2 tag per token ("B-PER", "I-PER", "O"), `missing`
    where the token's entity annotation is unknown."""
    return [missing if tag == "-" else tag for tag in biluo_to_iob(doc_to_biluo_tags(doc, missing="-"))]


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
    Each sentence's tags go through spaCy's ``iob_to_biluo`` and ``biluo_to_iob``,
    so an entity never runs across a sentence break.
    """
    words: list[str] = []
    sent_starts: list[bool] = []
    iob: list[str] = []
    for sentence in sentences:
        words.extend(word for word, _, _ in sentence)
        sent_starts.extend([True] + [False] * (len(sentence) - 1))
        iob.extend(biluo_to_iob(iob_to_biluo([tag for _, tag, _ in sentence])))
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

    Takes a string, not a path, so in-memory data parses too; ``source`` only names
    the input in error messages.
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


def read_docs(path: str | os.PathLike[str], vocab: Vocab, n_sents: int = DEFAULT_N_SENTS) -> list[Doc]:
    """The gold documents of a corpus file: a DocBin (``.spacy``, as the workflow's
    `convert` step writes them) or CoNLL-style text (`read_conll`)."""
    if Path(path).suffix == ".spacy":
        return list(DocBin().from_disk(path).get_docs(vocab))
    return read_conll(path, vocab, n_sents)


def docs_to_conll(docs: Iterable[Doc]) -> str:
    """Write Docs back as four-column IOB2 CoNLL with DOCSTART lines.

    The POS and chunk columns are ``-X-`` placeholders. Words that could not be
    read back unchanged (empty, with whitespace, with zero-width or no-break
    characters at an end, or looking like DOCSTART) raise ValueError.
    """
    lines: list[str] = []
    for doc in docs:
        lines.append(f"{DOCSTART} -X- -X- O")
        for i, (token, tag) in enumerate(zip(doc, iob_tags(doc), strict=True)):
            word = token.text
            if word.split() != [word] or word.strip(INVISIBLE) != word or is_docstart(word):
                raise ValueError(f"word {word!r} cannot be written as a CoNLL token")
            if i == 0 or token.is_sent_start:
                lines.append("")
            lines.append(f"{word} -X- -X- {tag}")
        lines.append("")
    return "\n".join(lines) + "\n"
