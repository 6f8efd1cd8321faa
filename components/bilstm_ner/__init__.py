"""A PyTorch BiLSTM named-entity recognizer for spaCy.

Importing the package registers the `bilstm_ner` factory, its architecture,
its scorer and its corpus reader; the package's entry points do the same lazily, so
`spacy.load` finds them without `--code`.
"""

from .architectures import build_bilstm_tagger
from .layers.transformer_context import build_transformer_context
from .layers.word_table import build_word_table
from .pipeline import BiLSTMEntityRecognizer, make_bilstm_ner
from .scoring import make_entity_scorer
from .corpora.augment import create_case_augmenter
from .corpora.corpus import create_corpus_reader

__all__ = [
    "BiLSTMEntityRecognizer",
    "create_case_augmenter",
    "build_bilstm_tagger",
    "build_transformer_context",
    "build_word_table",
    "create_corpus_reader",
    "make_bilstm_ner",
    "make_entity_scorer",
]
