"""`mix_width` / `mix_activation`: one layer that mixes the concatenated inputs
down to a narrower width before the LSTM (the speed lever of the vectors config)."""

from collections.abc import Callable
from pathlib import Path

import pytest
import spacy
import torch
from bilstm_ner import torch_encoder
from bilstm_ner.errors import IncompatibleWeightsError
from spacy.language import Language
from spacy.training import Example


def settings(**changes: object) -> torch_encoder.EncoderSettings:
    """A tiny encoder's settings: inputs 2 * 4 (hashed) + 3 * 2 (bytes) = 14 wide."""
    values = dict(
        rows=(50, 10), embed_width=4, n_chars=3, char_width=2, hidden_width=6, depth=1,
        dropout=0.0, word_dropout=0.0,
    )  # fmt: skip
    return torch_encoder.EncoderSettings(**{**values, **changes})


def inputs(n_windows: int = 4, length: int = 8) -> torch_encoder.EncoderInputs:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 10, (n_windows, length, 2, 2), generator=generator)
    chars = torch.randint(0, 256, (n_windows, length, 3), generator=generator)
    lengths = torch.sort(torch.randint(1, length + 1, (n_windows,), generator=generator), descending=True)[0]
    lengths[0] = length
    return torch_encoder.EncoderInputs(ids, chars, lengths, torch.zeros_like(ids[:, :, 0, 0]), 0)


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh"])
def test_the_lstm_reads_the_mixed_inputs(activation: str) -> None:
    """The LSTM is built mix_width wide and reads the mixing layer's outputs,
    activation applied, for every position of every window."""
    torch.manual_seed(0)
    encoder = torch_encoder.BiLSTMEncoder(settings(mix_width=5, mix_activation=activation)).eval()
    plain = torch_encoder.BiLSTMEncoder(settings()).eval()
    assert encoder.lstm.input_size == 5 and plain.lstm.input_size == 14
    batch = inputs()
    seen: list[torch.Tensor] = []
    mixed: list[torch.Tensor] = []
    encoder.lstm.register_forward_hook(lambda module, args, output: seen.append(args[0].data))
    encoder.mix.register_forward_hook(lambda module, args, output: mixed.append((args[0], output)))
    with torch.no_grad():
        outputs = encoder(batch)
    concatenated, mix_outputs = mixed[0]
    assert concatenated.shape[-1] == 14
    linear = encoder.mix[0](concatenated)
    expected = {"linear": linear, "relu": torch.relu(linear), "tanh": torch.tanh(linear)}[activation]
    torch.testing.assert_close(mix_outputs, expected)
    packed = torch.nn.utils.rnn.pack_padded_sequence(expected, batch.lengths, batch_first=True).data
    torch.testing.assert_close(seen[0], packed)
    if activation == "relu":
        assert (seen[0] >= 0).all() and (seen[0] > 0).any()
    assert outputs.shape == (4, 8, 12)


def test_without_mix_width_no_layer_is_added() -> None:
    """The default builds exactly the modules of before the option existed, so
    the weights of models trained then still fit."""
    encoder = torch_encoder.BiLSTMEncoder(settings())
    assert encoder.mix is None
    assert not any(name.startswith("mix") for name in encoder.state_dict())


def test_an_unknown_activation_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="mix_activation must be one of .*'gelu'"):
        torch_encoder.BiLSTMEncoder(settings(mix_width=5, mix_activation="gelu"))


def test_a_mixed_model_trains_round_trips_and_refuses_unmixed_weights(
    small_model: dict,
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[[Language], list[Example]],
    train_tiny: Callable[..., Language],
    tmp_path: Path,
) -> None:
    mixed_model = {**small_model, "mix_width": 12, "mix_activation": "relu"}
    nlp = train_tiny(make_tiny_nlp(model=mixed_model), tiny_examples(make_tiny_nlp(model=mixed_model)))
    examples = tiny_examples(nlp)
    assert nlp.evaluate(examples)["ents_f"] > 0.9
    text = "Mary Jones met Peter Brown in Berlin ."
    before = [(e.text, e.label_, e._.confidence) for e in nlp(text).ents]
    nlp.to_disk(tmp_path / "mixed")
    loaded = spacy.load(tmp_path / "mixed")
    assert [(e.text, e.label_, e._.confidence) for e in loaded(text).ents] == before
    assert loaded.get_pipe("ner").model.get_ref("encoder").shims[0]._model.mix is not None
    unmixed = make_tiny_nlp()
    with pytest.raises(IncompatibleWeightsError, match="lstm"):
        unmixed.get_pipe("ner").from_bytes(nlp.get_pipe("ner").to_bytes())
