"""The accurate pipeline's transformer context: windows past the model's positions,
pooling, the training cache, and a pipeline that carries the transformer."""

import shutil

import numpy
import pytest
import spacy
import torch
from bilstm_ner.layers.transformer_context import (
    build_transformer_context,
    fitting_encodings,
    normalized_key,
    piece_batches,
    pool_batch,
)
from spacy.tokens import Doc


@pytest.fixture
def context_layer(tiny_transformer):
    def make(**settings):
        layer = build_transformer_context(str(tiny_transformer), **{"layers": 2, **settings})
        layer.initialize()
        return layer

    return make


def context_model(small_model, path, **settings) -> dict:
    context = {
        "@architectures": "bilstm_ner.TransformerContext.v1",
        "path": str(path),
        "layers": 2,
        "window": 16,
        "max_pieces": 64,
        **settings,
    }
    return {**small_model, "context": context, "context_width": 8}


def test_a_window_longer_than_the_model_is_cut_into_runs_that_fit(context_layer):
    tokenizer = context_layer().shims[0]._model.tokenizer
    words = ["Paris", "xylophone", "Acme"] * 30
    runs = fitting_encodings(tokenizer, words, 0, 20)
    assert len(runs) > 1
    assert all(len(encoding.ids) <= 20 for _, encoding in runs)
    covered = []
    for offset, encoding in runs:
        ids = {w for w in encoding.word_ids if w is not None}
        covered += [offset + w for w in sorted(ids)]
    assert covered == list(range(len(words)))


def test_every_word_of_a_document_past_max_pieces_gets_its_own_features(context_layer):
    layer = context_layer(window=500, max_pieces=24)
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["John", "lives", "in", "Paris", "quietly"] * 40)
    (features,) = layer.predict([doc])
    assert features.shape == (200, 2, 16)
    assert numpy.abs(features.astype("float32")).sum(axis=(1, 2)).min() > 0


def test_pooling_takes_the_first_piece_or_the_mean_of_a_words_pieces():
    # two rows of a batch, two layers: [CLS] w0 ##w0 w1 [SEP] and [CLS] w0 [SEP] padding padding
    states = [
        torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3) * (layer + 1) for layer in range(2)
    ]
    word_ids = [[None, 0, 0, 1, None], [None, 0, None]]
    first = pool_batch(states, word_ids, "first")
    mean = pool_batch(states, word_ids, "mean")
    assert [a.shape for a in first] == [(2, 2, 3), (1, 2, 3)] == [a.shape for a in mean]
    assert all(a.dtype == numpy.float16 for a in first + mean)
    for layer, state in enumerate(states):
        hidden = state.numpy()
        numpy.testing.assert_allclose(first[0][:, layer], hidden[0, [1, 3]])
        numpy.testing.assert_allclose(mean[0][:, layer], numpy.stack([hidden[0, 1:3].mean(0), hidden[0, 3]]))
        numpy.testing.assert_allclose(first[1][:, layer], hidden[1, [1]])
        numpy.testing.assert_allclose(mean[1][:, layer], hidden[1, [1]])


def test_a_word_without_pieces_gets_zeros():
    states = [torch.ones(1, 4, 2)]
    (pooled,) = pool_batch(states, [[None, 0, 2, None]], "first")  # word 1 is whitespace: no piece
    numpy.testing.assert_array_equal(pooled[:, 0], [[1, 1], [0, 0], [1, 1]])


def test_batches_of_pieces_stay_within_their_budget():
    lengths = [50, 40, 40, 10, 10, 10, 3]
    batches = piece_batches(lengths, 100)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert all(len(b) * lengths[b[0]] <= 100 or len(b) == 1 for b in batches)


def test_casings_of_a_window_share_one_key_with_an_uncased_tokenizer(context_layer):
    tokenizer = context_layer().shims[0]._model.tokenizer
    words = ["John", "Smith", "lives", "in", "Paris"]
    assert normalized_key(tokenizer, words) == normalized_key(tokenizer, [w.upper() for w in words])
    assert normalized_key(tokenizer, words) != normalized_key(tokenizer, words[::-1])


def test_only_a_training_call_switches_the_cache_on(context_layer):
    layer = context_layer()
    doc = Doc(spacy.blank("en").vocab, words=["Paris", "is", "big"])
    cache = layer.shims[0]._model.cache
    layer.predict([doc])
    assert len(cache.entries) == 0
    layer([doc], is_train=True)
    assert len(cache.entries) == 1
    cached = layer.predict([doc])[0]
    layer.shims[0]._model.cache.entries.clear()
    numpy.testing.assert_array_equal(cached, layer.predict([doc])[0])


def test_the_cache_drops_the_least_recent_windows_past_its_size(context_layer):
    layer = context_layer(cache_words=5)
    vocab = spacy.blank("en").vocab
    cache = layer.shims[0]._model.cache
    for words in (["Paris", "is"], ["big", "city"], ["John", "lives"]):
        layer([Doc(vocab, words=words)], is_train=True)
    assert cache.n_words <= 5
    assert normalized_key(layer.shims[0]._model.tokenizer, ["Paris", "is"]) not in cache.entries


def test_a_missing_transformer_folder_says_what_to_do(tmp_path):
    layer = build_transformer_context(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=r"spacy project run inputs \. --vars.config accurate"):
        layer.initialize()


def test_the_trained_pipeline_carries_the_transformer(
    tmp_path, tiny_transformer, make_tiny_nlp, small_model, tiny_examples, train_tiny, train_data
):
    copy = shutil.copytree(tiny_transformer, tmp_path / "transformer")
    nlp = make_tiny_nlp(model=context_model(small_model, copy))
    train_tiny(nlp, tiny_examples(nlp), steps=30)
    encoder = nlp.get_pipe("ner").model.get_ref("encoder").shims[0]._model
    assert encoder.context_projection is not None
    # the mix of layers is learnt
    assert not torch.allclose(encoder.context_mix, torch.zeros_like(encoder.context_mix))
    texts = [text for text, _ in train_data]
    before = [[(e.start_char, e.end_char, e.label_, e._.confidence) for e in d.ents] for d in nlp.pipe(texts)]
    assert any(before)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(copy)  # loading must not need the folder it was trained from
    loaded = spacy.load(tmp_path / "pipeline")
    after = [
        [(e.start_char, e.end_char, e.label_, e._.confidence) for e in d.ents] for d in loaded.pipe(texts)
    ]
    assert [[s[:3] for s in d] for d in after] == [[s[:3] for s in d] for d in before]
    numpy.testing.assert_allclose(
        [s[3] for d in after for s in d], [s[3] for d in before for s in d], rtol=1e-4
    )
    from_bytes = spacy.blank("en")
    from_bytes.add_pipe("bilstm_ner", name="ner", config={"model": context_model(small_model, copy)})
    from_bytes.from_bytes(nlp.to_bytes())
    again = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in from_bytes.pipe(texts)]
    assert again == [[s[:3] for s in d] for d in before]


def test_the_context_changes_what_the_model_predicts(
    tiny_transformer, make_tiny_nlp, small_model, tiny_examples, train_tiny
):
    """The transformer's features reach the scores: zeroing the projection changes them."""
    nlp = make_tiny_nlp(model=context_model(small_model, tiny_transformer))
    train_tiny(nlp, tiny_examples(nlp), steps=5)
    ner = nlp.get_pipe("ner")
    doc = nlp.make_doc("Mary Jones lives in Paris .")
    scores = ner.model_scores([doc])[0]
    projection = ner.model.get_ref("encoder").shims[0]._model.context_projection
    with torch.no_grad():
        projection.weight.zero_()
        projection.bias.zero_()
    assert not numpy.allclose(scores, ner.model_scores([doc])[0])
