"""The registered architecture: its settings come from EncoderSettings alone,
and the settings removed in issue #23 load only with the values that meant "off"."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy
import pytest
import spacy
from bilstm_ner.architectures import RETIRED_SETTINGS
from bilstm_ner.torch_encoder import EncoderSettings
from confection import ConfigValidationError
from spacy.language import Language
from spacy.training import Example
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
    assert "doc_memory" in small_model and "doc_memory" not in required


def test_a_misspelt_or_mistyped_setting_is_refused_by_the_config() -> None:
    nlp = spacy.blank("en")
    with pytest.raises(ConfigValidationError, match="hiden_width"):
        nlp.add_pipe("bilstm_ner", name="ner", config={"model": {"hiden_width": 8}})
    with pytest.raises(ConfigValidationError, match="hidden_width"):
        nlp.add_pipe("bilstm_ner", name="ner", config={"model": {"hidden_width": "wide"}})


@pytest.mark.parametrize(
    ("name", "value"), [("mix_width", 256), ("mix_activation", "relu"), ("vectors_dropout", 0.2)]
)
def test_a_retired_setting_that_asks_for_its_feature_is_refused(name: str, value: object) -> None:
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=f"{name} = .*removed"):
        nlp.add_pipe("bilstm_ner", name="ner", config={"model": {name: value}})


def test_a_pipeline_saved_with_the_retired_settings_off_loads_and_predicts_the_same(
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[[Language], list[Example]],
    train_tiny: Callable[..., Language],
    tmp_path: Path,
) -> None:
    """Pipelines saved before issue #23 have the retired settings in config.cfg,
    with the values that switched them off (mix_activation "linear")."""
    nlp = make_tiny_nlp()
    train_tiny(nlp, tiny_examples(nlp), steps=10)
    nlp.to_disk(tmp_path / "pipeline")
    config_file = tmp_path / "pipeline" / "config.cfg"
    text = config_file.read_text(encoding="utf8")
    lines = [line for line in text.splitlines() if line.split(" =")[0] not in RETIRED_SETTINGS]
    old = {"vectors_dropout": "null", "mix_width": "null", "mix_activation": '"linear"'}
    at = lines.index("[components.ner.model]") + 1
    lines[at:at] = [f"{name} = {value}" for name, value in old.items()]
    config_file.write_text("\n".join(lines) + "\n", encoding="utf8")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.config["components"]["ner"]["model"]["mix_activation"] == "linear"
    texts = ["Mary Jones met Peter Brown in Berlin .", "Shares of Acme Corp rose in London ."]
    for before, after in zip(nlp.pipe(texts), loaded.pipe(texts), strict=True):
        assert [(e.start, e.end, e.label_) for e in after.ents] == [
            (e.start, e.end, e.label_) for e in before.ents
        ]
        numpy.testing.assert_array_equal(
            [e._.confidence for e in after.ents], [e._.confidence for e in before.ents]
        )
    state = loaded.get_pipe("ner").model.get_ref("encoder").shims[0]._model.state_dict()
    assert not any(key.startswith("mix") for key in state)
