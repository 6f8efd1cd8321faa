"""The registered architecture: its settings come from EncoderSettings alone,
and the settings removed in issue #23 are refused."""

from __future__ import annotations

import dataclasses

import pytest
import spacy
from bilstm_ner.layers.torch_encoder import EncoderSettings
from confection import ConfigValidationError
from spacy.util import registry


def test_every_encoder_setting_is_a_config_setting_with_its_default(small_model: dict) -> None:
    """A filled config lists each EncoderSettings field, with the field's default
    where the config gave none."""
    optional = {f.name for f in dataclasses.fields(EncoderSettings) if f.default is not dataclasses.MISSING}
    required = {name: value for name, value in small_model.items() if name not in optional}
    model = registry.fill({"model": required})["model"]
    for field in dataclasses.fields(EncoderSettings):
        expected = small_model[field.name] if field.default is dataclasses.MISSING else field.default
        assert model[field.name] == expected, field.name
    # the config was given none of the optional settings: fill added each one
    assert optional and not optional & set(required) and optional <= set(model)


def test_a_misspelt_or_mistyped_setting_is_refused_by_the_config() -> None:
    nlp = spacy.blank("en")
    with pytest.raises(ConfigValidationError, match="hiden_width"):
        nlp.add_pipe("bilstm_ner", name="ner", config={"model": {"hiden_width": 8}})
    with pytest.raises(ConfigValidationError, match="hidden_width"):
        nlp.add_pipe("bilstm_ner", name="ner", config={"model": {"hidden_width": "wide"}})


@pytest.mark.parametrize(("name", "value"), [("mix_width", 64), ("mix_activation", "relu"), ("vectors_dropout", 0.1)])
def test_a_removed_setting_is_refused_by_the_config(name: str, value: object) -> None:
    """Settings that lost on dev were removed (issue #23), not kept as no-ops: given a value
    such a setting would have taken, the config refuses the name itself."""
    nlp = spacy.blank("en")
    with pytest.raises(ConfigValidationError, match=rf"-> {name}\tunexpected argument: '{name}'"):
        nlp.add_pipe("bilstm_ner", name="ner", config={"model": {name: value}})
