"""Entity scores plus token accuracy, from spaCy's scorer registry.

`spacy train`, `spacy evaluate` and meta.json get the usual ents_p/r/f and
ents_per_type (exact span and label match, as conlleval counts), and beside
them `ner_token_acc`: the share of tokens whose BILUO tag is right, the figure
the project's first notebooks quoted.
"""

from collections.abc import Iterable
from typing import Any

from spacy.scorer import get_ner_prf
from spacy.training import Example
from spacy.training.iob_utils import doc_to_biluo_tags
from spacy.util import registry


def score_entities(examples: Iterable[Example], **kwargs: Any) -> dict[str, Any]:
    """ents_p, ents_r, ents_f, ents_per_type and ner_token_acc over the examples."""
    examples = list(examples)
    scores = get_ner_prf(examples, **kwargs)
    correct = total = 0
    for example in examples:
        gold = example.get_aligned_ner()
        predicted = doc_to_biluo_tags(example.predicted, missing="O")
        for gold_tag, predicted_tag in zip(gold, predicted, strict=False):
            if gold_tag is None or gold_tag == "-":
                continue
            total += 1
            correct += gold_tag == predicted_tag
    scores["ner_token_acc"] = correct / total if total else None
    return scores


@registry.scorers("bilstm_ner.entity_scorer.v1")
def make_entity_scorer():
    """Registered scorer named in the component's default config."""
    return score_entities
