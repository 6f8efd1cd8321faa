"""A training augmenter that shows the model text cased unlike newswire.

A model trained on CoNLL-2003 alone learns that a capital letter marks a
name, and finds almost nothing in lowercased text (chat, queries,
transcripts) or in all-caps headlines. Mayhew et al. (2019) train a
BiLSTM-CRF on cased and lowercased copies of the data together and keep the
cased score while the lowercased one rises from near zero. spaCy's own
`spacy.lower_case.v1` only lowercases; this one also uppercases, so both
casings are seen. Each document is replaced, not duplicated: over the epochs
every document is seen in every casing in the given shares, and an epoch
costs what it did.
"""

import random
from collections.abc import Callable, Iterator

from spacy.language import Language
from spacy.training import Example
from spacy.util import registry

from .corpus import gold_tokens_doc

AUGMENTER = "bilstm_ner.case_augmenter.v1"


def recased_example(nlp: Language, example: Example, recase: Callable[[str], str]) -> Example:
    """The example with its text and its reference's words passed through `recase`,
    its entities and sentence starts kept token by token (`gold_tokens_doc`).
    Both sides are recased the same way, so they stay aligned even where a
    casing changes a word's length ("ß".upper() == "SS")."""
    recased = gold_tokens_doc(example.reference, recase, nlp.vocab, with_entities=True)
    return Example(nlp.make_doc(recase(example.text)), recased)


@registry.augmenters(AUGMENTER)
def create_case_augmenter(
    lower: float = 0.25, upper: float = 0.15
) -> Callable[[Language, Example], Iterator[Example]]:
    """Lowercase a share `lower` of the documents and uppercase a share `upper`;
    the rest pass unchanged. Use it on the training corpus only."""
    if lower < 0 or upper < 0 or lower + upper > 1:
        raise ValueError(
            f"[{AUGMENTER}] lower and upper are shares of the documents: each at least 0 and "
            f"together at most 1, got lower={lower}, upper={upper}"
        )

    def augment(nlp: Language, example: Example) -> Iterator[Example]:
        draw = random.random()
        if draw < lower:
            yield recased_example(nlp, example, str.lower)
        elif draw < lower + upper:
            yield recased_example(nlp, example, str.upper)
        else:
            yield example

    return augment
