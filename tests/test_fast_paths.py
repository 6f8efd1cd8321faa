"""The inference shortcuts give what the plain computations give.

Each fast path (cached byte rows, rescaled forward-backward, token slices,
LSTM slices of windows) is compared with the straightforward computation it
replaces, so a speed-up can never change a prediction unnoticed.
"""

import numpy
import pytest
import spacy
from bilstm_ner import torch_encoder
from bilstm_ner.featurize import utf8_rows
from bilstm_ner.lattice import BILUOLattice
from bilstm_ner.pipeline import token_slices
from bilstm_ner.tag_scheme import biluo_tag_names
from spacy.attrs import ORTH
from spacy.tokens import Doc
from test_component import make_examples, new_nlp

TAGS = biluo_tag_names(["LOC", "MISC", "ORG", "PER"])


@pytest.mark.parametrize("n_chars", [1, 4, 8, 16])
def test_utf8_rows_match_spacy(n_chars: int) -> None:
    nlp = spacy.blank("en")
    words = ["a", "Ab", "Zürich", "東京都", "😀x", "", "x" * 5000, "naïve-ly", "Ab", "\u200b", "عربي"]
    doc = Doc(nlp.vocab, words=[w or " " for w in words])
    expected = doc.to_utf8_array(nr_char=n_chars)
    got = utf8_rows(doc.to_array(ORTH), nlp.vocab.strings, n_chars)
    assert got.shape == expected.shape
    assert (got == expected).all()
    # a second call reads the cache and must give the same
    assert (utf8_rows(doc.to_array(ORTH), nlp.vocab.strings, n_chars) == expected).all()


def random_scores(rng: numpy.random.Generator, lengths: list[int], scale: float) -> list[numpy.ndarray]:
    return [(rng.normal(size=(n, len(TAGS))) * scale).astype("float32") for n in lengths]


@pytest.mark.parametrize("scale", [0.5, 5.0, 200.0])
def test_scaled_alpha_beta_matches_log_space(scale: float) -> None:
    """scale 200 underflows the rescaled probabilities: the log-space fallback must answer."""
    lattice = BILUOLattice(TAGS)
    rng = numpy.random.default_rng(0)
    scores = random_scores(rng, [1, 7, 0, 40, 3, 120], scale)
    log_z, alphas, betas, _ = lattice.forward_backward(scores)
    fast_z, fast_alphas, fast_betas = lattice.alpha_beta(scores)
    for i, s in enumerate(scores):
        if len(s) == 0:
            assert len(fast_alphas[i]) == 0
            continue
        assert fast_z[i] == pytest.approx(log_z[i], rel=1e-6, abs=1e-6)
        reachable = alphas[i] > -1e3
        assert numpy.allclose(fast_alphas[i][reachable], alphas[i][reachable], rtol=1e-6, atol=1e-5)
        assert (fast_alphas[i][~reachable] < -1e3).all()
        live = betas[i] > -1e3
        assert numpy.allclose(fast_betas[i][live], betas[i][live], rtol=1e-6, atol=1e-5)


def test_token_slices_keep_order_and_bound_size() -> None:
    nlp = spacy.blank("en")
    docs = [Doc(nlp.vocab, words=["w"] * n) if n else Doc(nlp.vocab) for n in [3, 5, 0, 9, 2, 2, 20, 1]]
    slices = list(token_slices(docs, 8))
    assert [d for chunk in slices for d in chunk] == docs
    for chunk in slices:
        assert sum(len(d) for d in chunk) <= 8 or len(chunk) == 1


def test_lstm_slices_give_the_same_predictions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A document of many windows, read at once or a few windows at a time."""
    nlp = new_nlp()
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    text = " ".join(eg.reference.text for eg in examples) * 20
    ner = nlp.get_pipe("ner")
    doc = nlp.make_doc(text)
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 10**6)
    whole = ner.model_scores([doc])[0]
    monkeypatch.setattr(torch_encoder, "INFERENCE_WINDOWS", 2)
    sliced = ner.model_scores([doc])[0]
    assert numpy.allclose(whole, sliced, atol=1e-5)
