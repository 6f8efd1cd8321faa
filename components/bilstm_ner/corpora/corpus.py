"""A training corpus reader that can keep the annotators' tokens.

spaCy's `spacy.Corpus.v1` gives the model either the text re-tokenized by the
pipeline's tokenizer (`gold_preproc = false`), or the gold tokens cut into
one Example per sentence (`gold_preproc = true`). Neither is what this model
needs to be scored on CoNLL's own tokens, conlleval's measure: its
document-level word memory wants whole documents, and spaCy's tokenizer
splits many CoNLL tokens ("1996-08-30", "Anglo-Dutch", "S.AFRICA") that
conlleval hands over whole, so a model trained only on spaCy's tokens meets
token shapes at test time it never saw in training, and gold entities whose
edges fall inside a spaCy token are dropped from its training signal.

`bilstm_ner.Corpus.v1` reads a DocBin like spaCy's reader and gives whole
documents with the gold tokens ("gold"), the tokenizer's ("tokenizer", as
`spacy.Corpus.v1` does), or each document once with each ("both").
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from spacy.language import Language
from spacy.tokens import Doc, Token
from spacy.training import Corpus, Example
from spacy.util import registry
from spacy.vocab import Vocab

READER = "bilstm_ner.Corpus.v1"
Tokens = Literal["gold", "tokenizer", "both"]


def gold_tokens_doc(
    reference: Doc,
    recase: Callable[[str], str] | None = None,
    vocab: Vocab | None = None,
    with_entities: bool = False,
) -> Doc:
    """A fresh Doc with the reference's words, spaces and sentence boundaries
    (when it has them), and nothing else: the input conlleval's figure is
    computed on, for training (`gold_tokens_example`) and scoring
    (scripts/conlleval.py) alike. `recase` (e.g. str.lower) rewrites every
    word, to score the same tokens cased otherwise; the words are recased one
    by one, so the tokens stay the reference's even where a casing changes a
    word's length ("ß".upper() == "SS"). `vocab` (default: the reference's)
    puts the copy in another pipeline's vocab.
    `with_entities` also copies the entity tags token by token, unknown ones
    staying unknown: the recased references of the case augmenter.

    Built from the words rather than through `Example.to_dict`, whose round
    trip turns sentence starts into a parse of one-token sentences and then
    loses them. A token whose sentence start is unset stays unset."""
    sent_starts = [t.is_sent_start for t in reference] if reference.has_annotation("SENT_START") else None
    return Doc(
        reference.vocab if vocab is None else vocab,
        words=[t.text if recase is None else recase(t.text) for t in reference],
        spaces=[bool(t.whitespace_) for t in reference],
        sent_starts=sent_starts,
        ents=[entity_tag(t) for t in reference] if with_entities else None,
    )


def entity_tag(token: Token) -> str:
    """The token's IOB tag as Doc(ents=...) takes it: "B-PER", "I-PER", "O", or "" (unknown)."""
    return f"{token.ent_iob_}-{token.ent_type_}" if token.ent_type_ else token.ent_iob_


def gold_tokens_example(example: Example) -> Example:
    """The example again, its input the reference's own words, spaces and
    sentence boundaries (when it has them), as conlleval's input has them.

    With the boundaries, the loss and the decoder both forbid entities that
    cross one (crf.within_sentences), so the few CoNLL names that a
    sentence break cuts in two ("Ricky" / "Ponting") are two entities to the
    model as to the gold, rather than a signal to split ordinary names."""
    return Example(gold_tokens_doc(example.reference), example.reference)


@registry.readers(READER)
def create_corpus_reader(
    path: Path | None,
    tokens: Tokens = "gold",
    limit: int = 0,
    max_length: int = 0,
    augmenter: Callable[[Language, Example], Iterator[Example]] | None = None,
) -> Callable[[Language], Iterator[Example]]:
    """Whole documents from a DocBin, with the gold tokens, the pipeline
    tokenizer's, or both (see the module's docstring). limit, max_length and
    augmenter are `spacy.Corpus.v1`'s."""
    if tokens not in ("gold", "tokenizer", "both"):
        raise ValueError(f"[{READER}] tokens must be 'gold', 'tokenizer' or 'both', got {tokens!r}")
    if path is None:
        raise ValueError(f"[{READER}] no path given: set [paths] train / dev")
    corpus = Corpus(path, gold_preproc=False, limit=limit, max_length=max_length, augmenter=augmenter)

    def read(nlp: Language) -> Iterator[Example]:
        for example in corpus(nlp):
            if tokens in ("gold", "both"):
                yield gold_tokens_example(example)
            if tokens in ("tokenizer", "both"):
                yield example

    return read
