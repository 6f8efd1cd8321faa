"""Property tests for the CoNLL reader (bilstm_ner.corpora.conll): round trips and robustness
on arbitrary input."""

from __future__ import annotations

import re

from bilstm_ner.corpora import conll
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, Span

VOCAB = conll.blank_english_vocab()
LABELS = ["PER", "LOC", "ORG", "MISC", "X-Y"]
VALID_TAG = re.compile(r"(?:O|[BILU]-\S+)\Z")
FAST = settings(max_examples=100, deadline=None)

# Words as CoNLL can hold them: non-empty, no whitespace, not a DOCSTART marker, no
# zero-width or no-break character at either end (the reader strips those).
words = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=6).filter(
    lambda w: w.split() == [w] and w.strip(conll.INVISIBLE) == w and not conll.is_docstart(w)
)

# A sentence is a list of chunks: a plain word (label None) or an entity of 1-3 words.
chunk = st.tuples(st.one_of(st.none(), st.sampled_from(LABELS)), st.lists(words, min_size=1, max_size=3))
sentence = st.lists(chunk, min_size=1, max_size=5)
document = st.lists(sentence, min_size=1, max_size=4)


def build(sentences: list[list[tuple[str | None, list[str]]]]) -> Doc:
    """Make the expected Doc directly with spaCy (independent of the converter's own builder)."""
    tokens: list[str] = []
    starts: list[bool] = []
    ents: list[tuple[int, int, str]] = []
    for sent in sentences:
        first = True
        for label, chunk_words in sent:
            if label is None:
                chunk_words = chunk_words[:1]
            else:
                ents.append((len(tokens), len(tokens) + len(chunk_words), label))
            for word in chunk_words:
                tokens.append(word)
                starts.append(first)
                first = False
    doc = Doc(VOCAB, words=tokens, sent_starts=starts)
    doc.set_ents([Span(doc, s, e, label=lab) for s, e, lab in ents], default="outside")
    return doc


def summary(doc: Doc) -> tuple[list[str], list[bool | None], list[tuple[int, int, str]]]:
    """What must survive a round trip: words, sentence starts, entity spans."""
    return (
        [t.text for t in doc],
        [t.is_sent_start for t in doc],
        [(e.start, e.end, e.label_) for e in doc.ents],
    )


@FAST
@given(docs=st.lists(document, min_size=1, max_size=3), tabs=st.booleans(), crlf=st.booleans())
def test_roundtrip_docs_to_conll_and_back(
    docs: list[list[list[tuple[str | None, list[str]]]]], tabs: bool, crlf: bool
) -> None:
    expected = [build(d) for d in docs]
    text = conll.docs_to_conll(expected)
    if tabs:  # words hold no whitespace, so this only changes separators
        text = text.replace(" ", "\t")
    if crlf:
        text = text.replace("\n", "\r\n")
    from_text = conll.parse_conll(text, "roundtrip", VOCAB)
    from_bytes = conll.parse_conll(conll.decode_conll(text.encode("utf-8")), "roundtrip", VOCAB)
    assert [summary(d) for d in from_text] == [summary(d) for d in expected]
    assert [summary(d) for d in from_bytes] == [summary(d) for d in expected]
    assert all(d.has_annotation("ENT_IOB") for d in from_text)


# Arbitrary tags, weighted towards the interesting valid ones (I-X after B-Y etc.).
tags = st.one_of(
    st.sampled_from(
        ["O", "B-PER", "I-PER", "L-PER", "U-PER", "B-LOC", "I-LOC", "I-ORG"]
        + ["B-X", "I-X", "B-", "I-", "E-PER", "B-O"]
    ),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=5).filter(
        lambda t: t.split() == [t] and t.strip(conll.INVISIBLE) == t
    ),
)
# A U+FEFF at the very start of a file is a byte-order mark by definition and is
# dropped, so fuzzed words (one may open the file) do not start with it.
line_words = words.filter(lambda w: not w.startswith(conll.BOM))
line_item = st.one_of(
    st.tuples(st.just("token"), line_words, tags, st.integers(min_value=0, max_value=2)),
    st.just(("blank",)),
    st.just(("docstart",)),
)


def render(items: list[tuple]) -> str:
    """Lines for the items: tokens with 2-4 columns, blank lines, DOCSTART lines."""
    lines = []
    for item in items:
        if item[0] == "token":
            _, word, tag, extra = item
            lines.append(" ".join([word, *["-X-"] * extra, tag]))
        elif item[0] == "blank":
            lines.append("")
        else:
            lines.append("-DOCSTART- -X- O O")
    return "\n".join(lines) + "\n"


def first_problem(items: list[tuple]) -> tuple[int, str] | None:
    """The first line the reader must refuse, and why: a tag that is not one, or an L-X
    that no B-X or I-X opens (issue 35); None for a valid file."""
    previous = "O"
    for index, item in enumerate(items):
        if item[0] != "token":
            previous = "O"
            continue
        tag = item[2]
        if not VALID_TAG.match(tag) or tag[2:] == "O":
            return index, "invalid"
        if tag[:1] == "L" and not (previous[:1] in ("B", "I") and previous[2:] == tag[2:]):
            return index, "lone end"
        previous = tag
    return None


def reference_entity_count(items: list[tuple]) -> int:
    """Entity starts by the stated rule, computed token by token without spans."""
    count, previous = 0, "O"
    for item in items:
        if item[0] != "token":
            previous = "O"  # sentence and document boundaries end entities
            continue
        tag = item[2]
        # spaCy's rule (iob_to_biluo): I-X and L-X go on with an entity of X open before them
        still_open = previous != "O" and previous[2:] == tag[2:]
        if tag[:1] in ("B", "U") or (tag[:1] in ("I", "L") and not still_open):
            count += 1
        previous = tag
    return count


@FAST
@given(items=st.lists(line_item, max_size=40))
def test_arbitrary_tag_sequences_never_crash(items: list[tuple]) -> None:
    text = render(items)
    token_items = [it for it in items if it[0] == "token"]
    problem = first_problem(items)
    try:
        docs = conll.parse_conll(text, "fuzz", VOCAB)
    except conll.ConllFormatError as err:
        if problem:
            index, kind = problem
            assert err.line == index + 1  # first bad line, 1-based
            assert ("invalid NER tag" if kind == "invalid" else "ends an entity that no") in err.message
        else:
            assert not token_items and err.line is None
        return
    assert problem is None
    assert sum(len(d) for d in docs) == len(token_items)
    assert [t.text for d in docs for t in d] == [it[1] for it in token_items]
    assert sum(len(d.ents) for d in docs) == reference_entity_count(items)
    token_tags = iter(it[2] for it in token_items)
    for doc in docs:
        assert len(doc) > 0
        assert doc.has_annotation("ENT_IOB")
        doc_tags = [next(token_tags) for _ in doc]
        end_of_previous = 0
        for ent in doc.ents:
            assert end_of_previous <= ent.start < ent.end <= len(doc)  # valid, sorted, no overlap
            assert not any(doc[i].is_sent_start for i in range(ent.start + 1, ent.end))  # one sentence
            assert all(tag[2:] == ent.label_ for tag in doc_tags[ent.start : ent.end])
            end_of_previous = ent.end
        outside = set(range(len(doc))) - {i for e in doc.ents for i in range(e.start, e.end)}
        assert all(doc_tags[i] == "O" for i in outside)


@FAST
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_refuse_cleanly(data: bytes) -> None:
    try:
        docs = conll.parse_conll(conll.decode_conll(data, "fuzz"), "fuzz", VOCAB)
    except conll.ConllFormatError as err:
        assert err.path == "fuzz"
        assert err.line is None or 1 <= err.line <= data.count(b"\n") + 1
        return
    assert docs and all(len(d) > 0 and d.has_annotation("ENT_IOB") for d in docs)
