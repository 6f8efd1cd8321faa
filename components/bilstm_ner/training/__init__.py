"""What `spacy train` reads through the config: the corpus reader (corpus.py),
the case augmenter (augment.py) and the teacher's targets for a taught
student (distillation.py), each registered with spaCy under `bilstm_ner.*`.

Nothing is imported here: each module is imported where it is used.
"""
