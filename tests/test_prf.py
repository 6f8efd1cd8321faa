"""scripts/prf.py: spaCy's entity scores as {"p", "r", "f"}, and their Markdown cells."""

from prf import from_spacy, markdown_cells


def test_from_spacy_reads_the_overall_entity_scores() -> None:
    scores = {"ents_p": 0.5, "ents_r": 0.25, "ents_f": 1 / 3, "ents_per_type": {}, "speed": 10.0}
    assert from_spacy(scores) == {"p": 0.5, "r": 0.25, "f": 1 / 3}
    # nothing to score: spaCy says None, and so does this
    assert from_spacy({"ents_p": None, "ents_r": None, "ents_f": None}) == {"p": None, "r": None, "f": None}


def test_markdown_cells_are_percentages_in_p_r_f_order() -> None:
    assert markdown_cells({"f": 0.9056, "r": 0.9011, "p": 0.9102}) == "91.02 | 90.11 | 90.56"
    assert markdown_cells(None) == markdown_cells({}) == " – | – | – "
