"""Reading corpora: CoNLL-style files into Docs (conll.py), the training corpus reader
(corpus.py) and the case augmenter (augment.py); the last two are registered with spaCy
under `bilstm_ner.*`, for `spacy train` to read through the config.

Nothing is imported here: each module is imported where it is used.
"""
