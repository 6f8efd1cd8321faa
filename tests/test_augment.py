"""The case augmenter `bilstm_ner.case_augmenter.v1`: recased copies of the
training documents must keep every annotation token by token, or the model
would learn entities on the wrong words."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import spacy
from bilstm_ner.corpora.augment import AUGMENTER, create_case_augmenter, recased_example
from bilstm_ner.corpora.corpus import create_corpus_reader
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

WORDS = ["John", "Smith", "walked", "down", "Straße", "Road", ".", "He", "met", "Acme", "."]
SPACES = [True] * (len(WORDS) - 2) + [False, False]
SENT_STARTS = [i in (0, 7) for i in range(len(WORDS))]
# "Straße Road" is a LOC whose first word grows when uppercased ("STRASSE").
ENTS = [(0, 2, "PER"), (4, 6, "LOC"), (9, 10, "ORG")]


@pytest.fixture
def nlp() -> Language:
    return spacy.blank("en")


@pytest.fixture
def seeded_random() -> Iterator[None]:
    """The augmenter draws from the module-level `random`: seed it, then give
    the other tests their state back."""
    state = random.getstate()
    random.seed(1234)
    yield
    random.setstate(state)


def make_reference(nlp: Language) -> Doc:
    doc = Doc(nlp.vocab, words=WORDS, spaces=SPACES, sent_starts=SENT_STARTS)
    doc.ents = [Span(doc, start, end, label=label) for start, end, label in ENTS]
    return doc


def make_example(nlp: Language) -> Example:
    """An example as spacy.Corpus.v1 builds one: the tokenizer's doc of the text, and the gold."""
    reference = make_reference(nlp)
    return Example(nlp.make_doc(reference.text), reference)


def spans(doc: Doc) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.label_) for e in doc.ents]


def only(
    nlp: Language, augment: Callable[[Language, Example], Iterator[Example]], example: Example
) -> Example:
    """The one example the augmenter yields for `example`."""
    out = list(augment(nlp, example))
    assert len(out) == 1, "the augmenter replaces a document, it never duplicates or drops one"
    return out[0]


def test_lower_one_lowercases_everything_and_keeps_annotations(nlp: Language) -> None:
    augment = create_case_augmenter(lower=1.0, upper=0.0)
    example = make_example(nlp)
    for _ in range(5):
        out = only(nlp, augment, example)
        assert out.predicted.text == example.text.lower()
        assert [t.text for t in out.reference] == [w.lower() for w in WORDS]
        assert out.reference.text == example.reference.text.lower()
        assert spans(out.reference) == ENTS
        # the aligned gold tags on the predicted tokens follow the recased words
        assert out.get_aligned_ner() == example.get_aligned_ner()


def test_upper_one_uppercases_and_keeps_entities_aligned_when_words_grow(nlp: Language) -> None:
    """ "Straße".upper() == "STRASSE": longer, so character offsets shift; the
    entities must still sit on the same tokens of both sides."""
    augment = create_case_augmenter(lower=0.0, upper=1.0)
    example = make_example(nlp)
    out = only(nlp, augment, example)
    assert out.predicted.text == example.text.upper()
    assert "STRASSE" in [t.text for t in out.reference]
    assert [t.text for t in out.reference] == [w.upper() for w in WORDS]
    assert spans(out.reference) == ENTS
    assert [e.text for e in out.reference.ents] == ["JOHN SMITH", "STRASSE ROAD", "ACME"]
    assert out.get_aligned_ner() == example.get_aligned_ner()
    assert not out.predicted.ents  # the input side carries no gold


@pytest.mark.parametrize("recase", [str.lower, str.upper])
def test_recasing_keeps_sentence_starts(nlp: Language, recase: Callable[[str], str]) -> None:
    """The loss and the decoder forbid entities across a sentence boundary
    (crf.within_sentences): a recased document must keep its boundaries."""
    out = recased_example(nlp, make_example(nlp), recase)
    assert out.reference.has_annotation("SENT_START")
    assert [t.is_sent_start for t in out.reference] == SENT_STARTS


def test_corpus_reader_gold_copy_keeps_sentence_starts_when_augmented(nlp: Language, tmp_path: Path) -> None:
    path = tmp_path / "tiny.spacy"
    DocBin(docs=[make_reference(nlp)]).to_disk(path)
    reader = create_corpus_reader(path, tokens="gold", augmenter=create_case_augmenter(lower=1.0, upper=0.0))
    (example,) = list(reader(nlp))
    assert [t.is_sent_start for t in example.predicted] == SENT_STARTS


def test_unknown_tags_and_unset_sentence_starts_stay_unknown(nlp: Language) -> None:
    """A partly annotated reference (entity tags missing on some tokens, sentence starts
    set on some): the recased copy must not turn "unknown" into "O" or "no boundary",
    which would teach the model negatives nobody annotated."""
    words = ["Mary", "met", "Bob", ".", "Then", "rain"]
    reference = Doc(
        nlp.vocab,
        words=words,
        sent_starts=[True, False, None, None, True, None],
        ents=["B-PER", "O", "", "", "O", "O"],
    )
    out = recased_example(nlp, Example(nlp.make_doc(reference.text), reference), str.upper)
    assert [t.ent_iob_ for t in out.reference] == ["B", "O", "", "", "O", "O"]
    assert [t.is_sent_start for t in out.reference] == [True, False, None, None, True, None]
    assert out.get_aligned_ner() == ["U-PER", "O", None, None, "O", "O"]


def test_recased_example_keeps_the_whitespace(nlp: Language) -> None:
    """The recased reference must keep the tokens' trailing spaces, or its text
    would no longer be the recased text."""
    out = recased_example(nlp, make_example(nlp), str.upper)
    assert [bool(t.whitespace_) for t in out.reference] == SPACES
    assert out.reference.text == out.predicted.text


def test_zero_shares_yield_the_same_example(nlp: Language) -> None:
    augment = create_case_augmenter(lower=0.0, upper=0.0)
    example = make_example(nlp)
    for _ in range(20):
        assert only(nlp, augment, example) is example


def test_shares_of_each_casing(nlp: Language, seeded_random: None) -> None:
    augment = create_case_augmenter(lower=0.3, upper=0.2)
    example = make_example(nlp)
    draws = 2000
    kinds: Counter[str] = Counter()
    for _ in range(draws):
        out = only(nlp, augment, example)
        if out is example:
            kinds["unchanged"] += 1
        elif out.predicted.text == example.text.lower():
            kinds["lower"] += 1
        elif out.predicted.text == example.text.upper():
            kinds["upper"] += 1
        else:
            kinds["other"] += 1
    assert kinds["other"] == 0
    assert kinds["lower"] / draws == pytest.approx(0.3, abs=0.04)
    assert kinds["upper"] / draws == pytest.approx(0.2, abs=0.04)
    assert kinds["unchanged"] / draws == pytest.approx(0.5, abs=0.04)


@pytest.mark.parametrize(
    ("lower", "upper"),
    [(-0.1, 0.0), (0.0, -0.5), (0.7, 0.4), (1.5, 0.0)],
)
def test_invalid_shares_raise(lower: float, upper: float) -> None:
    with pytest.raises(ValueError, match=r"shares of the documents: each at least 0 and together at most 1"):
        create_case_augmenter(lower=lower, upper=upper)


def test_shares_summing_to_one_are_valid(nlp: Language) -> None:
    augment = create_case_augmenter(lower=0.5, upper=0.5)
    assert only(nlp, augment, make_example(nlp)).predicted.text != make_example(nlp).text


def test_registered_with_spacy() -> None:
    assert spacy.util.registry.augmenters.get(AUGMENTER) is create_case_augmenter
    augment = spacy.util.registry.resolve({"a": {"@augmenters": AUGMENTER, "lower": 1.0, "upper": 0.0}})["a"]
    nlp = spacy.blank("en")
    assert only(nlp, augment, make_example(nlp)).predicted.text == make_example(nlp).text.lower()


def test_registered_through_the_entry_point_in_a_fresh_process() -> None:
    """A config names the augmenter in a process that never imported
    bilstm_ner: spaCy must find it through the package's entry point."""
    code = f"import sys, spacy\nf = spacy.util.registry.augmenters.get({AUGMENTER!r})\nprint(f.__module__)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "bilstm_ner.corpora.augment"


def test_corpus_reader_with_augmenter(nlp: Language, tmp_path: Path) -> None:
    path = tmp_path / "tiny.spacy"
    DocBin(docs=[make_reference(nlp), make_reference(nlp)]).to_disk(path)
    reader = create_corpus_reader(path, tokens="both", augmenter=create_case_augmenter(lower=1.0, upper=0.0))
    examples = list(reader(nlp))
    assert len(examples) == 4  # each document once with the gold tokens, once with the tokenizer's
    lowered = [w.lower() for w in WORDS]
    for i, example in enumerate(examples):
        assert example.predicted.text == example.predicted.text.lower() == example.reference.text
        assert example.reference.text == make_reference(nlp).text.lower()
        assert [t.text for t in example.reference] == lowered
        assert spans(example.reference) == ENTS
        assert example.get_aligned_ner() == [
            "B-PER",
            "L-PER",
            "O",
            "O",
            "B-LOC",
            "L-LOC",
            "O",
            "O",
            "O",
            "U-ORG",
            "O",
        ]
        if i % 2 == 0:  # the gold-token copy: the predicted side has the gold's own words
            assert [t.text for t in example.predicted] == lowered
