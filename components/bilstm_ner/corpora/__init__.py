"""What `spacy train` reads through the config: the corpus reader (corpus.py) and
the case augmenter (augment.py), each registered with spaCy under `bilstm_ner.*`.

Nothing is imported here: each module is imported where it is used.
"""
