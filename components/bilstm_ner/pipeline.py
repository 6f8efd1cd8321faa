"""The `bilstm_ner` pipeline component: a BiLSTM tagger that sets `doc.ents`.

The model scores BILUO tags per token; a constrained Viterbi decoder turns the
scores into valid, non-overlapping entity spans, and each span gets a
confidence in `span._.confidence`. Existing entities on an incoming Doc are
replaced: the component predicts all of `doc.ents`, as spaCy's `ner` does
when it is the only entity source in a pipeline.

The static word vectors and word attributes the model reads are those of the
pipeline the component was made in (`static_vectors`, `self.vocab`), not the docs'
vocab's: sourced into another pipeline (`add_pipe("ner", source=...)`), whose vocab
has other vectors or none and may normalize words otherwise, it reads what it was
trained with, and saved there it carries its vectors table in its own folder.
"""

import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy
import srsly
import torch
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import get_lang_class
from spacy.vectors import Vectors
from spacy.vocab import Vocab, create_vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate, torch2xp
from thinc.types import Floats2d

from .architectures import OUTPUT_LAYER
from .errors import ComponentLoadError, CorruptWeightsError, IncompatibleWeightsError, TrainingDivergedError
from .layers.crf import (
    BILUOCRF,
    OUTSIDE,
    biluo_tag_names,
    path_to_spans,
    sentence_constraints,
    span_probabilities,
    tag_index,
    within_sentences,
)
from .layers.featurize import reading_lexicon
from .layers.torch_converters import refuse_averaging
from .torch_threads import limited_torch_threads, resolve_torch_threads

FACTORY = "bilstm_ner"
CONFIDENCE = "confidence"
MISSING = -1
# Model attribute holding the labels the output layer was sized for.
TRAINED_LABELS = "bilstm_ner_labels"
# Tokens per model call at inference (see BiLSTMEntityRecognizer.model_scores).
PREDICT_TOKENS = 4096
# The component's own vocab (vectors and lookups), in its folder when it carries it.
CARRIED_VOCAB = "carried_vocab"
# cfg key: the size of the static vectors the model was trained with (keys, rows, width).
VECTORS_SIZE = "static_vectors"
# What the scores are divided by before confidences are computed, until a fit on
# held-out data (calibration.py) says otherwise.
DEFAULT_TEMPERATURE = 1.0

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "bilstm_ner.BiLSTMTagger.v1"
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [20000, 5000, 10000, 2000]
embed_width = 64
n_chars = 16
char_width = 16
hidden_width = 192
depth = 1
dropout = 0.5
word_dropout = 0.3
window = 64
doc_memory = true
int8_lstm = true
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]

if not Span.has_extension(CONFIDENCE):
    Span.set_extension(CONFIDENCE, default=None)


@Language.factory(
    FACTORY,
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", f"span._.{CONFIDENCE}"],
    default_config={
        "model": DEFAULT_MODEL,
        "scorer": {"@scorers": "bilstm_ner.entity_scorer.v1"},
        "torch_threads": None,
    },
    default_score_weights={
        "ents_f": 1.0,
        "ents_p": 0.0,
        "ents_r": 0.0,
        "ents_per_type": None,
        "ner_token_acc": 0.0,
    },
)
def make_bilstm_ner(
    nlp: Language,
    name: str,
    model: Model[list[Doc], list[Floats2d]],
    scorer: Callable | None,
    torch_threads: int | None,
) -> "BiLSTMEntityRecognizer":
    """Create a BiLSTM entity recognizer (factory "bilstm_ner").

    It trains on whole tag sequences with a CRF (layers/crf.py), normalised over the
    valid BILUO paths, and gives exact span probabilities as confidences.
    torch_threads: torch threads at inference (see torch_threads.py); null:
    BILSTM_NER_TORCH_THREADS, else 1; 0: torch's own setting. A run-time
    setting: it changes no weight, and is not read in training.
    """
    return BiLSTMEntityRecognizer(nlp.vocab, model, name, scorer=scorer, torch_threads=torch_threads)


def token_slices(docs: Sequence[Doc], max_tokens: int) -> Iterable[list[Doc]]:
    """Consecutive runs of docs, in order, of at most max_tokens tokens each
    (a longer doc makes a run of its own)."""
    chunk: list[Doc] = []
    n_tokens = 0
    for doc in docs:
        if chunk and n_tokens + len(doc) > max_tokens:
            yield chunk
            chunk, n_tokens = [], 0
        chunk.append(doc)
        n_tokens += len(doc)
    if chunk:
        yield chunk


@dataclass
class EntityPrediction:
    """What `predict` found in one doc: (start, end, label) token spans and a
    confidence for each."""

    spans: list[tuple[int, int, str]]
    confidences: numpy.ndarray


class BiLSTMEntityRecognizer(TrainablePipe):
    """Named entity recognition by BILUO tagging with constrained decoding."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model[list[Doc], list[Floats2d]],
        name: str = FACTORY,
        *,
        scorer: Callable | None = None,
        torch_threads: int | None = None,
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.torch_threads = torch_threads  # type: ignore[assignment]  # resolved by the setter
        self.cfg: dict[str, Any] = {"labels": [], "temperature": DEFAULT_TEMPERATURE}
        self._crf: BILUOCRF | None = None
        # the vocab the component was trained in, when it came with its folder (own_vocab)
        self._carried_vocab: Vocab | None = None
        # id of each other vocab the docs came from -> whether it reads words otherwise
        self._other_vocabs: dict[int, bool] = {}

    @property
    def labels(self) -> tuple[str, ...]:
        """The entity types (PER, LOC, ...), not the tags of the scheme."""
        return tuple(self.cfg["labels"])

    @property
    def torch_threads(self) -> int:
        """torch threads `predict` computes on (the model and the CRF), set around
        them only and restored after; 0: whatever torch is set to (see torch_threads.py)."""
        return self._torch_threads

    @torch_threads.setter
    def torch_threads(self, value: int | None) -> None:
        """A number >= 0, or None for BILSTM_NER_TORCH_THREADS, else 1."""
        try:
            self._torch_threads = resolve_torch_threads(value)
        except ValueError as err:
            raise ValueError(f"[{self.name}] {err}") from err

    @property
    def label_data(self) -> list[str]:
        return list(self.labels)

    @property
    def tag_names(self) -> list[str]:
        return biluo_tag_names(self.labels)

    @property
    def crf(self) -> BILUOCRF:
        """The CRF over valid BILUO paths of the current labels: decoding,
        forward-backward and the loss (rebuilt when the labels change)."""
        if self._crf is None or self._crf.tag_names != self.tag_names:
            self._crf = BILUOCRF(self.tag_names)
        return self._crf

    # --- the vocab the model reads (issue 35: sourcing into another pipeline) ---
    @property
    def own_vocab(self) -> Vocab:
        """The vocab whose static vectors and word attributes (NORM, ...) the model reads:
        the one the component was made with, i.e. its own pipeline's (or the copy its
        folder carried), never the docs'. spaCy's `add_pipe(source=...)` hands the
        component over with its vocab, so in a pipeline with other vectors or none, or
        another `lexeme_norm` table (en_core_web_sm's maps "colour" to "color"), it
        reads what it was trained with."""
        return self._carried_vocab if self._carried_vocab is not None else self.vocab

    @property
    def static_vectors(self) -> Vectors:
        return self.own_vocab.vectors

    @property
    def reads_static_vectors(self) -> bool:
        return any(node.attrs.get("include_static_vectors") for node in self.model.walk())

    def _note_vocab(self, vocab: Vocab) -> None:
        """Remember a vocab the docs came from that is not the component's own (it was
        sourced into that pipeline), and whether it reads words otherwise (other vectors
        or lookups): then that pipeline, saved, would not hold what the model reads, and
        to_disk carries the component's own vocab."""
        own = self.own_vocab
        if vocab is not own and id(vocab) not in self._other_vocabs:
            self._other_vocabs[id(vocab)] = (
                self.reads_static_vectors and vocab.vectors != own.vectors
            ) or vocab.lookups.to_bytes() != own.lookups.to_bytes()

    @property
    def carries_vocab(self) -> bool:
        """Whether to_disk writes the component's own vocab (its vectors and lookups) into
        its folder: it was loaded with it, or has run in a pipeline whose vocab reads
        words otherwise."""
        return self._carried_vocab is not None or any(self._other_vocabs.values())

    def _vectors_size(self) -> dict[str, int]:
        rows, width = self.static_vectors.shape
        return {"keys": int(self.static_vectors.n_keys), "rows": int(rows), "width": int(width)}

    def _check_vectors(self, source: str) -> None:
        """After loading: the vectors the model will read are the size it was trained
        with, or a ComponentLoadError saying what to do (a pipeline that sourced the
        component and was saved before the component annotated a text there holds
        neither the vectors nor the component's copy of them)."""
        trained = self.cfg.get(VECTORS_SIZE)
        if not trained or not self.reads_static_vectors or self._vectors_size() == trained:
            return
        found = self._vectors_size()
        held = (
            "no vectors"
            if not found["rows"]
            else f"other vectors ({found['keys']:,} keys, {found['rows']:,} x {found['width']})"
        )
        raise ComponentLoadError(
            f"[{self.name}] cannot load the component from {source}: its model reads the static word "
            f"vectors it was trained with ({trained['keys']:,} keys, {trained['rows']:,} x "
            f"{trained['width']}), but this pipeline's vocab holds {held}, and the component's folder "
            "does not carry them. A pipeline that took the component with add_pipe(source=...) and was "
            "saved before the component "
            "annotated a text there is such a pipeline. Source the component when you load instead: "
            f'nlp = spacy.load(PIPELINE, exclude=["{self.name}"]); nlp.add_pipe("{self.name}", '
            "source=spacy.load(TRAINED_PIPELINE)) (it reads the trained pipeline's vectors); or, if "
            "this pipeline has no vectors of its own, give it the trained pipeline's before saving: "
            "nlp.vocab.vectors = spacy.load(TRAINED_PIPELINE).vocab.vectors"
        )

    # --- end of the static vectors ---

    def predict(self, docs: Iterable[Doc]) -> list[EntityPrediction]:
        """Entity spans (start, end, label) and their confidences for each doc.
        An entity never crosses a sentence boundary the Doc has, as with
        spaCy's `ner` (see crf.within_sentences)."""
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            return [EntityPrediction([], numpy.zeros((0,), dtype="float32")) for _ in docs]
        self._note_vocab(docs[0].vocab)
        # the CRF's forward-backward computes in torch too
        with limited_torch_threads(self.torch_threads):
            return self.decode_scores(self.sentence_scores(docs))

    def sentence_scores(self, docs: list[Doc]) -> list[numpy.ndarray]:
        """The model's scores for each doc, every path that would carry an entity
        across a sentence boundary of the Doc forbidden (crf.within_sentences)."""
        tag_names = self.tag_names
        return [
            within_sentences(s, doc.to_array(SENT_START) == 1, tag_names)
            for doc, s in zip(docs, self.model_scores(docs), strict=True)
        ]

    # --- confidence calibration (issue 5; fitting and measures in calibration.py) ---
    @property
    def temperature(self) -> float:
        """What the scores are divided by before confidences are computed: fitted
        on dev (calibration.recalibrate) and saved in cfg. Spans do not depend on it."""
        return float(self.cfg.get("temperature", DEFAULT_TEMPERATURE))

    def decode_scores(
        self, scores: list[numpy.ndarray], temperature: float | None = None
    ) -> list[EntityPrediction]:
        """Spans from each doc's (n_tokens, n_tags) scores, and confidences from
        the scores divided by `temperature` (default: the one in cfg)."""
        temperature = self.temperature if temperature is None else float(temperature)
        if not temperature > 0:
            raise ValueError(f"[{self.name}] the temperature must be positive, got {temperature}")
        tag_names = self.tag_names
        paths = self.crf.decode(scores)
        scaled = [s / temperature for s in scores]
        log_z, alphas, betas = self.crf.lattices(scaled)
        predictions = []
        for i, path in enumerate(paths):
            spans = path_to_spans(tag_names, path)
            confidences = span_probabilities(scaled[i], alphas[i], betas[i], log_z[i], path, spans)
            predictions.append(EntityPrediction(spans, confidences))
        return predictions

    # --- end of confidence calibration ---

    def model_scores(self, docs: list[Doc]) -> list[numpy.ndarray]:
        """The model's (n_tokens, n_tags) scores for each doc.

        Docs go through the model in consecutive slices of about PREDICT_TOKENS
        tokens, whatever nlp.pipe's batch size: a slice's arrays stay in cache
        and their memory is reused, where one big batch allocates (and
        page-faults) hundreds of MB per call and runs about 1.5x slower. A doc's
        scores do not depend on the other docs of its slice.

        `model.predict` streams each slice through the encoder (see
        architectures.predict_scores): memory does not grow by about 10 KB per
        token for a long doc, since the output layer is applied to each slice
        of LSTM outputs as it comes.
        """
        scores: list[numpy.ndarray] = []
        with reading_lexicon(self.own_vocab):
            for chunk in token_slices(docs, PREDICT_TOKENS):
                scores.extend(self.model.ops.to_numpy(s) for s in self.model.predict(chunk))
        return scores

    def set_annotations(self, docs: Iterable[Doc], predictions: list[EntityPrediction]) -> None:
        """Replace each doc's entities by the predicted spans, with confidences."""
        for doc, prediction in zip(docs, predictions, strict=True):
            ents = [Span(doc, start, end, label=label) for start, end, label in prediction.spans]
            doc.set_ents(ents, default="outside")
            for ent, confidence in zip(doc.ents, prediction.confidences.tolist(), strict=True):
                ent._.set(CONFIDENCE, confidence)

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optimizer | None = None,
        losses: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """Learn from a batch of examples; returns the updated losses."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "BiLSTMEntityRecognizer.update")
        docs = [eg.predicted for eg in examples]
        if not any(len(doc) for doc in docs):
            return losses
        set_dropout_rate(self.model, drop)
        with reading_lexicon(self.own_vocab):
            scores, backprop_scores = self.model.begin_update(docs)
        loss, d_scores = self.get_loss(examples, scores)
        if not numpy.isfinite(loss):
            raise TrainingDivergedError(f"[{self.name}] the loss is not finite ({loss}): training diverged")
        backprop_scores(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def finish_update(self, sgd: Optimizer) -> None:
        """Update the weights; an optimizer with `use_averages = true` is refused
        (torch_converters.AVERAGES_REFUSED says why). spacy train calls this after
        each batch's `update`, so such a config stops at its first step."""
        refuse_averaging(sgd, self.name)
        super().finish_update(sgd)

    def get_loss(self, examples: Iterable[Example], scores: list[Floats2d]) -> tuple[float, list[Floats2d]]:
        """-log P(gold path) over the valid paths (layers/crf.py) and its gradient w.r.t.
        the logits, averaged over the tokens with a known gold tag, computed in
        torch on the scores' device. Tokens whose gold tag is unknown (missing or
        misaligned annotation) are left free. As in `predict`, paths that carry
        an entity across a sentence boundary of the input Doc are not valid.
        """
        validate_examples(examples, "BiLSTMEntityRecognizer.get_loss")
        tag_names = self.tag_names
        index = tag_index(tag_names)
        truths = [
            numpy.array([index.get(tag or "", MISSING) for tag in eg.get_aligned_ner()], dtype="int64")
            for eg in examples
        ]
        n_known = max(1, sum(int((t != MISSING).sum()) for t in truths))
        forbidden = [
            sentence_constraints(eg.predicted.to_array(SENT_START) == 1, tag_names) for eg in examples
        ]
        total, grads = self.crf.loss_and_gradient([torch.as_tensor(s) for s in scores], truths, forbidden)
        d_scores = [torch2xp((grad / n_known).float(), ops=self.model.ops) for grad in grads]
        return total / n_known, d_scores

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Language | None = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        """Take the labels (from `labels` or the examples), then size the output layer."""
        validate_get_examples(get_examples, "BiLSTMEntityRecognizer.initialize")
        if labels is not None:
            for label in labels:
                self.add_label(label)
        else:
            found = set()
            for example in get_examples():
                for ent in example.reference.ents:
                    found.add(ent.label_)
            for label in sorted(found):
                self.add_label(label)
        self._require_labels()
        doc_sample = [eg.predicted for eg in islice(get_examples(), 10)]
        self.model.get_ref(OUTPUT_LAYER).set_dim("nO", len(self.tag_names))
        # Saved with the weights, so loading can tell when cfg lists other labels.
        self.model.attrs[TRAINED_LABELS] = list(self.labels)
        with reading_lexicon(self.own_vocab):
            self.model.initialize(X=doc_sample)
        if self.reads_static_vectors:
            self.cfg[VECTORS_SIZE] = self._vectors_size()

    def add_label(self, label: str) -> int:
        """Add an entity type; only possible before the output layer is sized.

        Any label spaCy's own `ner` takes works (`creative-work`, `product`,
        `B2B_ORG`): a tag name splits on its first hyphen only (crf.split_tag), so
        hyphens inside the label are safe. Refused: an empty label, and "O",
        which is the outside tag and would be read back as no entity.
        """
        if not isinstance(label, str):
            raise ValueError(f"[{self.name}] labels must be strings, got {label!r}")
        if not label.strip():
            raise ValueError(f"[{self.name}] invalid entity label {label!r}: a label cannot be empty")
        if label == OUTSIDE:
            raise ValueError(
                f"[{self.name}] invalid entity label {label!r}: 'O' is the tag of tokens outside any entity"
            )
        if label in self.cfg["labels"]:
            return 0
        if self.model.get_ref(OUTPUT_LAYER).has_dim("nO"):
            raise ValueError(
                f"[{self.name}] cannot add label {label!r}: the model is already sized for "
                f"{list(self.labels)}; train a new component to change the labels"
            )
        self.cfg["labels"] = self.cfg["labels"] + [label]
        return 1

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """cfg and weights, and the component's own vocab when it carries it."""
        data = super().to_bytes(exclude=exclude)
        if not self.carries_vocab:
            return data
        msg = srsly.msgpack_loads(data)
        msg[CARRIED_VOCAB] = self.own_vocab.to_bytes(exclude=["strings"])
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "BiLSTMEntityRecognizer":
        """Load cfg and weights; a ComponentLoadError (a ValueError) naming the
        component if they cannot be read or do not fit."""
        try:
            super().from_bytes(bytes_data, exclude=exclude)
            carried = srsly.msgpack_loads(bytes_data).get(CARRIED_VOCAB)
            if carried is not None:
                self._carried_vocab = self._new_vocab().from_bytes(carried, exclude=["strings"])
        except Exception as err:
            raise self._load_error("bytes", err, lambda: srsly.msgpack_loads(bytes_data)["model"]) from err
        self._check_shape()
        self._check_vectors("bytes")
        return self

    def to_disk(self, path, *, exclude: Iterable[str] = tuple()) -> None:
        """cfg and weights, and the component's own vocab (folder `carried_vocab`: its
        vectors and lookups) when it carries it: in a pipeline that sourced it, whose
        vocab reads words otherwise."""
        super().to_disk(path, exclude=exclude)
        carried = Path(path) / CARRIED_VOCAB
        shutil.rmtree(carried, ignore_errors=True)
        if self.carries_vocab:
            self.own_vocab.to_disk(carried, exclude=["strings"])

    def _new_vocab(self) -> Vocab:
        """An empty vocab of the component's language, with its word attribute rules."""
        return create_vocab(self.vocab.lang, get_lang_class(self.vocab.lang).Defaults)

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()) -> "BiLSTMEntityRecognizer":
        """Load cfg and weights from a folder; OSError for missing files, a
        ComponentLoadError (a ValueError) naming the component and folder for
        damaged or incompatible ones, or when the pipeline lacks the vectors the
        model reads and the folder does not carry them."""
        try:
            super().from_disk(path, exclude=exclude)
            carried = Path(path) / CARRIED_VOCAB
            if carried.is_dir():
                self._carried_vocab = self._new_vocab().from_disk(carried, exclude=["strings"])
        except OSError as err:
            raise type(err)(f"[{self.name}] cannot load the component from {path}: {err}") from err
        except Exception as err:
            raise self._load_error(str(path), err, lambda: (Path(path) / "model").read_bytes()) from err
        self._check_shape()
        self._check_vectors(str(path))
        return self

    def _load_error(self, source: str, err: Exception, read_model: Callable[[], bytes]) -> ComponentLoadError:
        """What went wrong, said so a user knows what to fix, as the error type
        code can tell apart: the torch weights say so themselves
        (torch_converters.load_torch_weights); otherwise saved data that thinc
        can read but not load into this model was made by another config."""
        if isinstance(err, ComponentLoadError):
            kind: type[ComponentLoadError] = type(err)
        else:
            kind = IncompatibleWeightsError if is_thinc_model_data(read_model) else CorruptWeightsError
        if kind is IncompatibleWeightsError:
            problem = (
                "the saved weights do not fit the model built from the config: a model setting "
                "(e.g. hidden_width, embed_width, rows, doc_memory) differs from the one they were "
                "trained with"
            )
        else:
            problem = "the saved data is truncated or corrupt"
        text = str(err)
        detail = " ".join(line.strip() for line in text.splitlines()[:2] if line.strip())[:300]
        return kind(
            f"[{self.name}] cannot load the component from {source}: {problem} "
            f"({type(err).__name__}: {detail or 'no details'})"
        )

    def _check_shape(self) -> None:
        """Fail loudly if the saved weights do not match the saved labels."""
        output_layer = self.model.get_ref(OUTPUT_LAYER)
        if output_layer.has_dim("nO") and output_layer.get_dim("nO") != len(self.tag_names):
            raise ValueError(
                f"[{self.name}] the saved model has {output_layer.get_dim('nO')} outputs but its "
                f"labels {list(self.labels)} need {len(self.tag_names)}: cfg and weights do not match"
            )
        trained = self.model.attrs.get(TRAINED_LABELS)
        if trained is not None and list(trained) != list(self.labels):
            raise ValueError(
                f"[{self.name}] the saved weights were trained for the labels {list(trained)} but cfg "
                f"lists {list(self.labels)}: cfg and weights do not match"
            )


def is_thinc_model_data(read: Callable[[], bytes]) -> bool:
    """Whether `read()` gives a thinc model's serialized form (a msgpack dict with
    thinc's keys), whatever model it belongs to; False if it cannot be read."""
    try:
        data = srsly.msgpack_loads(read())
    except Exception:
        return False
    return isinstance(data, dict) and {"nodes", "attrs", "params", "shims"} <= data.keys()
