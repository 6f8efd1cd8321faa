"""A PyTorch BiLSTM named-entity recognizer for spaCy.

Importing the package registers the `bilstm_ner` factory, its architecture
and its scorer; the package's entry points do the same lazily, so
`spacy.load` finds them without `--code`.
"""

from .architectures import build_bilstm_tagger
from .pipeline import BiLSTMEntityRecognizer, make_bilstm_ner
from .scoring import make_entity_scorer

__all__ = ["BiLSTMEntityRecognizer", "build_bilstm_tagger", "make_bilstm_ner", "make_entity_scorer"]
