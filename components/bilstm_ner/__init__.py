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
from .training.augment import create_case_augmenter
from .training.corpus import create_corpus_reader
from .training.distillation import create_teacher_corpus

__all__ = [
    "BiLSTMEntityRecognizer",
    "create_case_augmenter",
    "build_bilstm_tagger",
    "build_transformer_context",
    "build_word_table",
    "create_corpus_reader",
    "create_teacher_corpus",
    "make_bilstm_ner",
    "make_entity_scorer",
]
