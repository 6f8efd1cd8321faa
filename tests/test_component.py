"""The bilstm_ner component: shapes, labels, edge cases, training and serialization."""

from collections.abc import Callable
from pathlib import Path

import numpy
import pytest
import spacy
from bilstm_ner.architectures import OUTPUT_LAYER
from bilstm_ner.errors import TrainingDivergedError
from bilstm_ner.layers.crf import biluo_tag_names
from bilstm_ner.layers.featurize import featurize_docs, sentence_starts, window_bounds
from confection import ConfigValidationError
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Adam


@pytest.fixture(scope="module")
def trained_nlp(
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[[Language], list[Example]],
    train_tiny: Callable[..., Language],
) -> Language:
    nlp = make_tiny_nlp()
    return train_tiny(nlp, tiny_examples(nlp), learn_rate=0.01, steps=40)


def entities(doc: Doc):
    return [(e.start, e.end, e.label_) for e in doc.ents]


def test_labels_are_entity_types(trained_nlp: Language) -> None:
    ner = trained_nlp.get_pipe("ner")
    assert ner.labels == ("LOC", "ORG", "PER")
    assert ner.label_data == ["LOC", "ORG", "PER"]
    assert len(ner.tag_names) == 1 + 4 * 3


def test_output_shape_per_doc(trained_nlp: Language) -> None:
    ner = trained_nlp.get_pipe("ner")
    docs = [
        trained_nlp.make_doc(t)
        for t in ["A b c", "", "One two three four five six seven eight nine ten eleven"]
    ]
    scores = ner.model.predict(docs)
    assert [s.shape for s in scores] == [(3, 13), (0, 13), (11, 13)]


def test_training_reduces_loss_and_learns(
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[[Language], list[Example]],
    entity_labels: tuple[str, ...],
) -> None:
    nlp = make_tiny_nlp()
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01, use_averages=False)
    first = nlp.update(examples, sgd=optimizer)["ner"]
    for _ in range(40):
        last = nlp.update(examples, sgd=optimizer)["ner"]
    assert last < first / 4
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] > 0.9
    assert set(scores["ents_per_type"]) == set(entity_labels)
    assert 0.9 < scores["ner_token_acc"] <= 1.0


def test_empty_and_whitespace_docs(trained_nlp: Language) -> None:
    docs = list(trained_nlp.pipe(["", "   ", "\n"]))
    assert all(len(doc.ents) == 0 for doc in docs)
    # an update on empty docs changes nothing and does not fail
    ner = trained_nlp.get_pipe("ner")
    empty = [Example(trained_nlp.make_doc(""), trained_nlp.make_doc(""))]
    assert ner.update(empty) == {"ner": 0.0}


def test_mixed_length_batch_matches_single_docs(trained_nlp: Language, train_data: list) -> None:
    texts = [t for t, _ in train_data] + ["", "Berlin", " ".join(["word"] * 50) + " John Smith ."]
    batched = [entities(doc) for doc in trained_nlp.pipe(texts, batch_size=16)]
    single = [entities(trained_nlp(text)) for text in texts]
    assert batched == single
    assert batched[0] == [(0, 2, "PER"), (4, 6, "LOC"), (9, 11, "ORG")]


def test_the_removed_objective_setting_is_refused(small_model: dict) -> None:
    """The CRF is the only objective: a config that still names one fails on
    spaCy's own check of the factory's settings, naming the setting."""
    nlp = spacy.blank("en")
    with pytest.raises(ConfigValidationError, match="objective"):
        nlp.add_pipe("bilstm_ner", config={"model": small_model, "objective": "crf"})


def test_confidence_is_the_probability_of_the_span(trained_nlp: Language) -> None:
    """Recomputed another way than the component does: the partition function
    of the paths forced through the span's tags over that of all paths."""
    ner = trained_nlp.get_pipe("ner")
    doc = trained_nlp("John Smith lives in New York .")
    assert doc.ents
    scores = ner.model_scores([doc])[0] / ner.temperature
    index = {tag: i for i, tag in enumerate(ner.tag_names)}
    for ent in doc.ents:
        n, label = len(ent), ent.label_
        tags = [f"U-{label}"] if n == 1 else [f"B-{label}"] + [f"I-{label}"] * (n - 2) + [f"L-{label}"]
        rows, columns = numpy.arange(ent.start, ent.end), [index[tag] for tag in tags]
        forced = scores.copy()
        forced[rows] = -1e9
        forced[rows, columns] = scores[rows, columns]
        (log_z, log_z_forced), *_ = ner.crf.lattices([scores, forced])
        expected = numpy.exp(log_z_forced - log_z)
        assert ent._.confidence == pytest.approx(expected, rel=1e-4, abs=1e-7)


def test_round_trip_to_disk_and_load(
    trained_nlp: Language, tmp_path: Path, train_data: list, entity_labels: tuple[str, ...]
) -> None:
    texts = [t for t, _ in train_data] + ["Peter Brown visited Acme Corp in Paris ."]
    before = [(entities(d), [e._.confidence for e in d.ents]) for d in trained_nlp.pipe(texts)]
    trained_nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    after = [(entities(d), [e._.confidence for e in d.ents]) for d in loaded.pipe(texts)]
    assert after == before
    assert loaded.get_pipe("ner").labels == entity_labels


def test_round_trip_bytes(trained_nlp: Language, make_tiny_nlp: Callable[..., Language]) -> None:
    text = "Mary Jones met Peter Brown in Berlin ."
    nlp2 = make_tiny_nlp()
    nlp2.get_pipe("ner").from_bytes(trained_nlp.get_pipe("ner").to_bytes())
    before, after = trained_nlp(text), nlp2(text)
    # the trained entities, so that a copy predicting nothing (or untrained weights) fails
    assert entities(after) == entities(before) == [(0, 2, "PER"), (3, 5, "PER"), (6, 7, "LOC")]
    assert [e._.confidence for e in after.ents] == [e._.confidence for e in before.ents]


def test_weights_for_other_labels_are_refused(
    trained_nlp: Language, tmp_path: Path, make_tiny_nlp: Callable[..., Language]
) -> None:
    ner = trained_nlp.get_pipe("ner")
    ner.to_disk(tmp_path / "ner")
    cfg = (tmp_path / "ner" / "cfg").read_text()
    (tmp_path / "ner" / "cfg").write_text(cfg.replace('"PER"', '"PER","MISC"'))
    with pytest.raises(ValueError, match="cfg and weights do not match"):
        make_tiny_nlp().get_pipe("ner").from_disk(tmp_path / "ner")


def test_add_label_after_initialize_is_refused(trained_nlp: Language) -> None:
    ner = trained_nlp.get_pipe("ner")
    assert ner.model.get_ref(OUTPUT_LAYER).get_dim("nO") == 13
    with pytest.raises(ValueError, match="already sized"):
        ner.add_label("MISC")


def test_initialize_with_explicit_labels(
    make_tiny_nlp: Callable[..., Language], tiny_examples: Callable[[Language], list[Example]]
) -> None:
    nlp = make_tiny_nlp()
    examples = tiny_examples(nlp)
    nlp.get_pipe("ner").initialize(lambda: examples, nlp=nlp, labels=["PER", "LOC", "ORG", "MISC"])
    assert nlp.get_pipe("ner").labels == ("PER", "LOC", "ORG", "MISC")


def test_initialize_without_labels_fails(make_tiny_nlp: Callable[..., Language]) -> None:
    nlp = make_tiny_nlp()
    unlabelled = [Example(nlp.make_doc("no entities here"), nlp.make_doc("no entities here"))]
    with pytest.raises(ValueError, match="E143"):
        nlp.initialize(lambda: unlabelled)


def test_window_bounds_respect_sentences_and_limit() -> None:
    assert window_bounds(0, numpy.array([]), 4) == []
    assert window_bounds(10, numpy.array([]), 4) == [(0, 4), (4, 8), (8, 10)]
    # sentences of 3, 3 and 4 tokens pack into windows of at most 6
    assert window_bounds(10, numpy.array([0, 3, 6]), 6) == [(0, 6), (6, 10)]
    # a long sentence is cut at fixed intervals
    assert window_bounds(9, numpy.array([0, 2]), 3) == [(0, 2), (2, 5), (5, 8), (8, 9)]


def test_featurize_places_every_token_once() -> None:
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(t) for t in ["a b c d e f g", "", "h i j", "k"]]
    batch = featurize_docs(docs, ["NORM", "SHAPE"], [100, 10], n_chars=4, window=3)
    assert batch.doc_lengths.tolist() == [7, 0, 3, 1]
    assert batch.lengths.tolist() == sorted(batch.lengths.tolist(), reverse=True)
    assert batch.lengths.sum() == 11 and batch.lengths.max() <= 3
    positions = set(zip(batch.rows.tolist(), batch.cols.tolist(), strict=False))
    assert len(positions) == 11
    assert all(c < batch.lengths[r] for r, c in positions)
    # the token "h" (doc 2, token 0) sits where rows/cols say, with its own bytes
    h = 7
    assert batch.chars[batch.rows[h], batch.cols[h], 0] == ord("h")


def test_raw_text_windows_follow_sentence_final_punctuation() -> None:
    nlp = spacy.blank("en")
    doc = nlp("Hello there. How are you? Fine!")
    assert sentence_starts(doc).tolist() == [3, 7]
    annotated = nlp.make_doc("a b c d")
    annotated[0].is_sent_start = True
    annotated[2].is_sent_start = True
    annotated[1].is_sent_start = False
    annotated[3].is_sent_start = False
    assert sentence_starts(annotated).tolist() == [0, 2]


def test_entities_stay_inside_the_docs_sentences(trained_nlp: Language) -> None:
    words = "John Smith lives in New York and works for Acme Corp .".split()
    assert (0, 2, "PER") in entities(trained_nlp(Doc(trained_nlp.vocab, words=words)))
    # a sentence boundary inside the name, as CoNLL's files sometimes have ("Ricky" / "Ponting")
    starts = [True, True] + [False] * (len(words) - 2)
    found = entities(trained_nlp(Doc(trained_nlp.vocab, words=words, sent_starts=starts)))
    assert all(not (start < 1 < end) for start, end, _ in found)
    # the boundary cuts "John Smith" only: the entities after it are still found
    assert {(4, 6, "LOC"), (9, 11, "ORG")} <= set(found)


def test_loss_gives_no_gradient_to_paths_across_sentences(
    make_tiny_nlp: Callable[..., Language], tiny_examples: Callable[[Language], list[Example]]
) -> None:
    nlp = make_tiny_nlp()
    nlp.initialize(lambda: tiny_examples(nlp))
    ner = nlp.get_pipe("ner")
    words = ["Ricky", "Ponting", "batted", "."]
    reference = Doc(nlp.vocab, words=words, ents=["B-PER", "B-PER", "O", "O"])
    predicted = Doc(nlp.vocab, words=words, sent_starts=[True, True, False, False])
    scores, _ = ner.model.begin_update([predicted])
    loss, [d_scores] = ner.get_loss([Example(predicted, reference)], scores)
    assert numpy.isfinite(loss)
    d_scores = ner.model.ops.to_numpy(d_scores)
    tags = ner.tag_names
    continuing = [i for i, t in enumerate(tags) if t[:2] in ("I-", "L-")]
    opening = [i for i, t in enumerate(tags) if t[:2] in ("B-", "I-")]
    assert numpy.abs(d_scores[1, continuing]).max() == 0.0
    assert numpy.abs(d_scores[0, opening]).max() == 0.0
    # without the boundary the same entries do get gradient
    free = Doc(nlp.vocab, words=words)
    scores, _ = ner.model.begin_update([free])
    _, [d_free] = ner.get_loss([Example(free, reference)], scores)
    assert numpy.abs(ner.model.ops.to_numpy(d_free)[1, continuing]).max() > 0.0


def test_the_crf_follows_the_labels(make_tiny_nlp: Callable[..., Language]) -> None:
    """It is rebuilt when the labels change."""
    ner = make_tiny_nlp().get_pipe("ner")
    ner.cfg["labels"] = ["PER"]
    assert ner.crf.tag_names == biluo_tag_names(["PER"])
    ner.cfg["labels"] = ["PER", "creative-work"]
    assert ner.crf.tag_names == ner.tag_names


def test_a_loss_that_is_not_finite_stops_training_as_diverged(
    make_tiny_nlp: Callable[..., Language], tiny_examples: Callable[[Language], list[Example]]
) -> None:
    nlp = make_tiny_nlp()
    examples = tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    output_layer = nlp.get_pipe("ner").model.get_ref(OUTPUT_LAYER)
    output_layer.set_param("b", output_layer.get_param("b") * numpy.nan)
    with pytest.raises(TrainingDivergedError, match=r"\[ner\] the loss is not finite \(nan\)"):
        nlp.update(examples, sgd=Adam(0.01, use_averages=False))


# Labels of other corpora: hyphens (WNUT's creative-work), lowercase, digits and underscores.
OTHER_LABELS_DATA = [
    ("Ada read Dune and bought a Kindle from Acme2B .", [(2, 3, "creative-work"), (6, 7, "product")]),
    ("Acme2B sells the Kindle .", [(0, 1, "B2B_ORG"), (3, 4, "product")]),
    ("Dune is a book .", [(0, 1, "creative-work")]),
]


def test_labels_with_hyphens_lowercase_and_digits_train_and_round_trip(
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[..., list[Example]],
    train_tiny: Callable[..., Language],
    tmp_path: Path,
) -> None:
    nlp = make_tiny_nlp()
    train_tiny(nlp, tiny_examples(nlp, OTHER_LABELS_DATA), learn_rate=0.02, steps=40)
    ner = nlp.get_pipe("ner")
    assert ner.labels == ("B2B_ORG", "creative-work", "product")
    assert "U-creative-work" in ner.tag_names
    text = OTHER_LABELS_DATA[0][0]
    assert entities(nlp(text)) == OTHER_LABELS_DATA[0][1]
    nlp.to_disk(tmp_path / "nlp")
    assert entities(spacy.load(tmp_path / "nlp")(text)) == entities(nlp(text))


@pytest.mark.parametrize(
    ("label", "reason"), [("", "cannot be empty"), (" ", "cannot be empty"), ("O", "outside")]
)
def test_a_label_that_cannot_work_is_refused_by_name(
    label: str, reason: str, make_tiny_nlp: Callable[..., Language]
) -> None:
    with pytest.raises(ValueError, match=f"invalid entity label {label!r}: .*{reason}"):
        make_tiny_nlp().get_pipe("ner").add_label(label)
