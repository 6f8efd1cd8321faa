"""Teaching the fast pipeline with the accurate one: the teacher's tag
distributions as soft targets.

`bilstm_ner.TeacherCorpus.v1` wraps a training corpus reader. It runs a
trained teacher pipeline (the accurate one, with the transformer) on each
example as the student will see it, after the reader's tokenization and the
case augmentation, and attaches the teacher's per-token BILUO marginals
(exact, from its CRF) to the example's input Doc. The component's loss then
pulls the student's marginals towards a mix of the gold tags and the teacher's
(crf.BILUOCRF.loss_and_gradient): the gradient of the cross-entropy
between path distributions is the difference of their marginals.

The teacher runs at training time only, so the student pays nothing for it at
inference. Its marginals are a function of the input alone (the teacher is
trained and frozen), so the reader keeps them for the run, keyed by the input's
words, spaces and sentence starts: each distinct input (a document, its
lowercased and its uppercased copy) is run through the teacher once. spaCy
reads the training corpus once in `initialize` (for the labels) and then once
per epoch: without the memo, the first pass and every epoch would pay the
transformer again. It costs 4 bytes per token and tag (CoNLL-2003's training
set with both case copies: about 40 MB); `cache = false` turns it off for a
corpus too large to keep. Nothing of the teacher is
saved with the student: the reader is training configuration, which
`spacy.load` never builds.
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from ..layers.cpu_precision import float_overrides
from ..layers.transformer_context import enable_cache
from .corpus import gold_tokens_doc

TEACHER_READER = "bilstm_ner.TeacherCorpus.v1"
# Doc.user_data key of the soft targets: (tag names, (n_tokens, n_tags) marginals, weight)
SOFT_TARGETS = "bilstm_ner_soft_targets"


def load_teacher(path: str | Path) -> tuple[Language, str]:
    """The teacher pipeline and the name of its bilstm_ner component."""
    import spacy

    from ..pipeline import BiLSTMEntityRecognizer

    teacher = spacy.load(path, config=float_overrides(path))
    names = [name for name, pipe in teacher.pipeline if isinstance(pipe, BiLSTMEntityRecognizer)]
    if not names:
        raise ValueError(f"[{TEACHER_READER}] the teacher {path} has no bilstm_ner component")
    enable_cache(teacher.get_pipe(names[0]).model)
    return teacher, names[0]


@registry.readers(TEACHER_READER)
def create_teacher_corpus(
    corpus: Callable[[Language], Iterable[Example]],
    teacher: str,
    weight: float = 0.5,
    temperature: float = 1.0,
    batch_size: int = 64,
    cache: bool = True,
) -> Callable[[Language], Iterator[Example]]:
    """The examples of `corpus`, each with the teacher's tag marginals.

    teacher: a trained pipeline folder or package with a bilstm_ner component
        and the same labels as the student;
    weight: share of the teacher in the targets (0: gold only, 1: teacher only);
    temperature: divides the teacher's scores before its marginals are taken;
    cache: keep each distinct input's marginals for the run (the module's docstring).
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"[{TEACHER_READER}] weight must lie in [0, 1], got {weight}")
    if not temperature > 0:
        raise ValueError(f"[{TEACHER_READER}] temperature must be positive, got {temperature}")
    loaded: dict[str, tuple[Language, str]] = {}
    memo: dict[tuple, numpy.ndarray] = {}

    def read(nlp: Language) -> Iterator[Example]:
        if "teacher" not in loaded:
            loaded["teacher"] = load_teacher(teacher)
        teacher_nlp, name = loaded["teacher"]
        pipe = teacher_nlp.get_pipe(name)
        stream = iter(corpus(nlp))
        while batch := list(islice(stream, batch_size)):
            keys = [input_key(eg.predicted) for eg in batch]
            # without the cache, the marginals live for this batch only
            known = memo if cache else {}
            todo = [i for i, key in enumerate(keys) if key not in known]
            if todo:
                # the student's input tokens in the teacher's vocab (its vectors)
                docs = [gold_tokens_doc(batch[i].predicted, vocab=teacher_nlp.vocab) for i in todo]
                marginals = pipe.tag_marginals(docs, temperature=temperature)
                for i, marginal in zip(todo, marginals, strict=True):
                    known[keys[i]] = marginal.astype("float32")
            for example, key in zip(batch, keys, strict=True):
                example.predicted.user_data[SOFT_TARGETS] = (
                    tuple(pipe.tag_names),
                    known[key],
                    float(weight),
                )
                yield example

    return read


def input_key(doc: Doc) -> tuple:
    """What the teacher's marginals depend on: the words, their spaces and the
    sentence starts (the transformer's windows and the decoder's boundaries)."""
    starts = tuple(bool(t.is_sent_start) for t in doc) if doc.has_annotation("SENT_START") else None
    return tuple(t.text for t in doc), tuple(bool(t.whitespace_) for t in doc), starts


def soft_targets(doc: Doc, tag_names: list[str]) -> tuple[numpy.ndarray, float] | None:
    """The teacher's marginals and weight attached to doc, or None; a ValueError
    if the teacher's tags differ from the student's."""
    found = doc.user_data.get(SOFT_TARGETS)
    if found is None:
        return None
    names, marginals, weight = found
    if list(names) != list(tag_names):
        raise ValueError(
            f"[{TEACHER_READER}] the teacher's tags {list(names)} differ from the student's "
            f"{list(tag_names)}: train the teacher on the same labels"
        )
    if marginals.shape != (len(doc), len(tag_names)):
        raise ValueError(
            f"[{TEACHER_READER}] soft targets of shape {marginals.shape} for a doc of {len(doc)}"
        )
    return marginals, weight
