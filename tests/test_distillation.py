"""Teaching the fast pipeline: the soft-target loss and the reader that attaches
a teacher's tag distributions."""

import numpy
import pytest
from bilstm_ner.layers.crf import BILUOCRF, biluo_tag_names
from bilstm_ner.training.distillation import SOFT_TARGETS, create_teacher_corpus

TAGS = biluo_tag_names(("LOC", "PER"))


def random_case(seed: int, n_tokens: int = 6):
    rng = numpy.random.default_rng(seed)
    scores = rng.normal(size=(n_tokens, len(TAGS)))
    truth = numpy.array([TAGS.index(t) for t in ["U-PER", "O", "B-LOC", "L-LOC", "O", "O"]][:n_tokens])
    crf = BILUOCRF(TAGS)
    teacher = crf.marginals([rng.normal(size=(n_tokens, len(TAGS))) * 2])[0]
    return crf, scores, truth, teacher


def test_the_soft_loss_gradient_matches_finite_differences():
    crf, scores, truth, teacher = random_case(0)
    weight = 0.4

    def loss(s):
        return crf.loss_and_gradient([s], [truth], [(teacher, weight)])[0]

    _, (grad,) = crf.loss_and_gradient([scores], [truth], [(teacher, weight)])
    grad = grad.numpy()
    numeric = numpy.zeros_like(scores)
    for index in numpy.ndindex(scores.shape):
        step = numpy.zeros_like(scores)
        step[index] = 1e-5
        numeric[index] = (loss(scores + step) - loss(scores - step)) / 2e-5
    numpy.testing.assert_allclose(grad, numeric, atol=1e-6)


def test_weight_zero_is_the_gold_loss_and_a_teacher_equal_to_the_model_gives_no_teacher_gradient():
    crf, scores, truth, teacher = random_case(1)
    gold_loss, (gold_grad,) = crf.loss_and_gradient([scores], [truth])
    loss, (grad,) = crf.loss_and_gradient([scores], [truth], [(teacher, 0.0)])
    assert loss == pytest.approx(gold_loss)
    numpy.testing.assert_allclose(grad.numpy(), gold_grad.numpy())
    model_marginals = crf.marginals([scores])[0]
    _, (grad,) = crf.loss_and_gradient([scores], [truth], [(model_marginals, 1.0)])
    numpy.testing.assert_allclose(grad.numpy(), 0.0, atol=1e-9)


def test_the_reader_attaches_the_teachers_marginals(
    tmp_path, make_tiny_nlp, tiny_examples, train_tiny, entity_labels
):
    teacher = make_tiny_nlp()
    train_tiny(teacher, tiny_examples(teacher), steps=10)
    teacher.to_disk(tmp_path / "teacher")
    student = make_tiny_nlp(seed=1)
    examples = tiny_examples(student)
    read = create_teacher_corpus(
        lambda nlp: iter(examples), str(tmp_path / "teacher"), weight=0.3, batch_size=3
    )
    seen = list(read(student))
    assert len(seen) == len(examples)
    expected = teacher.get_pipe("ner").tag_marginals([teacher.make_doc(eg.predicted.text) for eg in examples])
    for example, marginals in zip(seen, expected, strict=True):
        names, attached, weight = example.predicted.user_data[SOFT_TARGETS]
        assert list(names) == biluo_tag_names(entity_labels)
        assert weight == 0.3
        numpy.testing.assert_allclose(attached.sum(axis=1), 1.0, atol=1e-5)
        numpy.testing.assert_allclose(attached, marginals, atol=1e-5)


def test_a_student_learns_from_the_soft_targets_and_refuses_other_tags(
    tmp_path, make_tiny_nlp, tiny_examples, train_tiny
):
    teacher = make_tiny_nlp()
    train_tiny(teacher, tiny_examples(teacher), steps=10)
    teacher.to_disk(tmp_path / "teacher")
    student = make_tiny_nlp(seed=1)
    examples = tiny_examples(student)
    read = create_teacher_corpus(lambda nlp: iter(examples), str(tmp_path / "teacher"), weight=1.0)
    taught = list(read(student))
    student.initialize(lambda: taught)
    ner = student.get_pipe("ner")
    scores = ner.model.predict([eg.predicted for eg in taught])
    loss, grads = ner.get_loss(taught, scores)
    teacher_marginals = [eg.predicted.user_data[SOFT_TARGETS][1] for eg in taught]
    own = ner.tag_marginals([eg.predicted for eg in taught])
    n_tokens = sum(len(eg.predicted) for eg in taught)
    for grad, mine, theirs in zip(grads, own, teacher_marginals, strict=True):
        numpy.testing.assert_allclose(grad * n_tokens, mine - theirs, atol=1e-4)
    names, marginals, weight = taught[0].predicted.user_data[SOFT_TARGETS]
    taught[0].predicted.user_data[SOFT_TARGETS] = (names[:-1] + ("U-XYZ",), marginals, weight)
    with pytest.raises(ValueError, match="differ from the student"):
        ner.get_loss(taught, scores)


@pytest.mark.parametrize("cache", [True, False])
def test_the_teacher_runs_once_per_distinct_input_across_passes(
    tmp_path, monkeypatch, make_tiny_nlp, tiny_examples, train_tiny, cache
):
    """spaCy reads the training corpus in initialize and again every epoch: with
    the memo the teacher sees each input once, its lowercased copy counting as
    another input; without it, once per pass."""
    from bilstm_ner.pipeline import BiLSTMEntityRecognizer

    teacher = make_tiny_nlp()
    train_tiny(teacher, tiny_examples(teacher), steps=10)
    teacher.to_disk(tmp_path / "teacher")
    student = make_tiny_nlp(seed=1)
    examples = tiny_examples(student)
    lowered = [type(eg)(student.make_doc(eg.predicted.text.lower()), eg.reference) for eg in examples[:2]]
    seen_docs = []
    original = BiLSTMEntityRecognizer.tag_marginals

    def counting(self, docs, **kwargs):
        docs = list(docs)
        seen_docs.extend(doc.text for doc in docs)
        return original(self, docs, **kwargs)

    monkeypatch.setattr(BiLSTMEntityRecognizer, "tag_marginals", counting)
    read = create_teacher_corpus(
        lambda nlp: iter(examples + lowered), str(tmp_path / "teacher"), batch_size=2, cache=cache
    )
    first = [eg.predicted.user_data[SOFT_TARGETS][1] for eg in read(student)]
    second = [eg.predicted.user_data[SOFT_TARGETS][1] for eg in read(student)]
    n_inputs = len(examples) + len(lowered)
    assert len(seen_docs) == (n_inputs if cache else 2 * n_inputs)
    assert sorted(set(seen_docs)) == sorted({eg.predicted.text for eg in examples + lowered})
    for a, b in zip(first, second, strict=True):
        numpy.testing.assert_allclose(a, b)
    # the lowercased copy has marginals of its own, not its original's
    assert not numpy.allclose(first[0], first[len(examples)])
