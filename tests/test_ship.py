"""Issue 5 ("Ship it"): calibrated confidences, the entity page, the training
plot, and a wheel that loads by name without this checkout."""

import json
import os
import shutil
import site as site_module
import subprocess
import sys
import sysconfig
import venv
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from bilstm_ner import calibration
from bilstm_ner.calibration import (
    expected_calibration_error,
    fit_temperature,
    judge,
    log_loss,
    recalibrate,
    reliability_bins,
    score_corpus,
    threshold_curve,
)
from bilstm_ner.corpora.conll import docs_to_conll
from bilstm_ner.evaluation import evaluate
from scripts.error_report import LABEL_COLORS, PALETTE, doc_view, label_colors, render_page
from scripts.package import config_suffix, requirement_name, wheel_requirements
from scripts.plot_training import plot, read_log
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example


REPO = Path(__file__).resolve().parent.parent

# This module's own sentences, not conftest's `train_data`: the tiny pipeline
# below learns these three.
TRAIN_DATA = [
    ("John Smith lives in New York .", [(0, 2, "PER"), (4, 6, "LOC")]),
    ("Acme Corp hired Mary Jones .", [(0, 2, "ORG"), (3, 5, "PER")]),
    ("Paris is far from Berlin .", [(0, 1, "LOC"), (4, 5, "LOC")]),
]


# ---------------------------------------------------------------- calibration maths


def test_ece_of_a_hand_computed_case() -> None:
    # bin [0.2, 0.3): 2 entities, mean conf 0.25, precision 0.5 -> gap 0.25
    # bin [0.9, 1.0]: 2 entities, mean conf 0.95, precision 1.0 -> gap 0.05
    confidences = numpy.array([0.2, 0.3 - 1e-9, 0.9, 1.0])
    correct = numpy.array([True, False, True, True])
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.5 * 0.25 + 0.5 * 0.05)
    bins = reliability_bins(confidences, correct)
    assert [b.count for b in bins] == [0, 0, 2, 0, 0, 0, 0, 0, 0, 2]  # 1.0 falls in the last bin
    assert bins[9].precision == 1.0 and bins[9].mean_confidence == pytest.approx(0.95)
    assert numpy.isnan(bins[0].precision)


def test_ece_is_small_when_calibrated_and_large_when_overconfident() -> None:
    rng = numpy.random.default_rng(0)
    confidences = rng.uniform(0, 1, 50_000)
    honest = rng.uniform(0, 1, confidences.shape) < confidences
    assert expected_calibration_error(confidences, honest) < 0.01
    overconfident = rng.uniform(0, 1, confidences.shape) < confidences**3
    assert expected_calibration_error(confidences, overconfident) > 0.15


def test_bins_reject_bad_input() -> None:
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        reliability_bins(numpy.array([0.5, 1.2]), numpy.array([True, False]))
    with pytest.raises(ValueError, match="1 confidences but 2 correctness flags"):
        reliability_bins(numpy.array([0.5]), numpy.array([True, False]))
    assert expected_calibration_error(numpy.array([]), numpy.array([], dtype=bool)) == 0.0


def test_fit_temperature_recovers_the_true_one() -> None:
    rng = numpy.random.default_rng(1)
    logits = rng.normal(2.0, 3.0, 20_000)
    true_temperature = 2.5
    correct = rng.uniform(0, 1, logits.shape) < 1 / (1 + numpy.exp(-logits / true_temperature))

    def confidences_at(t: float) -> numpy.ndarray:
        return 1 / (1 + numpy.exp(-logits / t))

    fitted = fit_temperature(confidences_at, correct)
    assert fitted == pytest.approx(true_temperature, rel=0.1)
    assert log_loss(confidences_at(fitted), correct) < log_loss(confidences_at(1.0), correct)
    assert expected_calibration_error(confidences_at(fitted), correct) < 0.02


def test_threshold_curve() -> None:
    confidences = numpy.array([0.95, 0.9, 0.6, 0.4])
    correct = numpy.array([True, True, False, True])
    low, high = threshold_curve(confidences, correct, n_gold=5, thresholds=[0.0, 0.8])
    assert (low.kept, low.precision, low.recall) == (4, 0.75, 0.6)
    assert (high.kept, high.precision, high.recall) == (2, 1.0, 0.4)
    assert high.f_score == pytest.approx(2 * 1.0 * 0.4 / 1.4)


# ---------------------------------------------------------------- the component's temperature


@pytest.fixture(scope="module")
def tiny_model(small_model: dict) -> dict:
    """The shared tiny model config made smaller still (doc memory on, as there)."""
    return {
        **small_model,
        "rows": [300, 50, 100, 30],
        "embed_width": 8,
        "char_width": 4,
        "hidden_width": 8,
        "word_dropout": 0.0,
        "window": 16,
    }


@pytest.fixture(scope="module")
def tiny_nlp(
    tiny_model: dict,
    make_tiny_nlp: Callable[..., Language],
    tiny_examples: Callable[..., list[Example]],
    train_tiny: Callable[..., Language],
) -> Language:
    nlp = make_tiny_nlp(model=tiny_model)
    return train_tiny(nlp, tiny_examples(nlp, TRAIN_DATA), learn_rate=0.02, steps=30)


@pytest.fixture(scope="module")
def tiny_model_dir(tiny_nlp: Language, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "model"
    tiny_nlp.get_pipe("ner").cfg["temperature"] = 1.5
    tiny_nlp.to_disk(path)
    tiny_nlp.get_pipe("ner").cfg["temperature"] = 1.0
    return path


def test_temperature_changes_confidences_not_spans(tiny_nlp: Language) -> None:
    ner = tiny_nlp.get_pipe("ner")
    docs = [tiny_nlp.make_doc(text) for text, _ in TRAIN_DATA]
    scores = [ner.model.ops.to_numpy(s) for s in ner.model.predict(docs)]
    sharp = ner.decode_scores(scores, 0.5)
    plain = ner.decode_scores(scores, 1.0)
    soft = ner.decode_scores(scores, 4.0)
    for a, b, c in zip(sharp, plain, soft, strict=True):
        assert a.spans == b.spans == c.spans
        assert len(b.spans)
        assert ((c.confidences >= 0) & (c.confidences <= 1)).all()
        # a confident span (> 0.5) gets less confident when the scores are flattened
        confident = b.confidences > 0.5
        assert (c.confidences[confident] < b.confidences[confident]).all()
        assert (a.confidences[confident] >= b.confidences[confident] - 1e-6).all()
    with pytest.raises(ValueError, match="temperature"):
        ner.decode_scores(scores, 0.0)


def test_temperature_survives_serialization(
    tiny_nlp: Language, tiny_model_dir: Path, tiny_model: dict
) -> None:
    loaded = spacy.load(tiny_model_dir)
    assert loaded.get_pipe("ner").temperature == 1.5
    text = TRAIN_DATA[0][0]
    ner = tiny_nlp.get_pipe("ner")
    ner.cfg["temperature"] = 1.5
    try:
        want = [(e.text, e.label_, e._.confidence) for e in tiny_nlp(text).ents]
    finally:
        ner.cfg["temperature"] = 1.0
    got = [(e.text, e.label_, e._.confidence) for e in loaded(text).ents]
    assert [g[:2] for g in got] == [w[:2] for w in want]
    assert [g[2] for g in got] == pytest.approx([w[2] for w in want], abs=1e-5)
    from_bytes = spacy.blank("en")
    from_bytes.add_pipe("bilstm_ner", name="ner", config={"model": tiny_model})
    from_bytes.from_bytes(loaded.to_bytes())
    assert from_bytes.get_pipe("ner").temperature == 1.5


def write_dev(examples: list[Example], path: Path) -> Path:
    """The tiny examples' gold documents as a DocBin, the dev set of a calibration fit."""
    docbin = DocBin()
    for example in examples:
        docbin.add(example.reference)
    docbin.to_disk(path)
    return path


def test_fit_command_writes_the_temperature(
    tiny_model_dir: Path, tmp_path: Path, tiny_examples: Callable[..., list[Example]]
) -> None:
    nlp = spacy.load(tiny_model_dir)
    dev = write_dev(tiny_examples(nlp, TRAIN_DATA), tmp_path / "dev.spacy")
    ner = nlp.get_pipe("ner")
    scored = score_corpus(ner, [eg.reference for eg in tiny_examples(nlp, TRAIN_DATA)])
    confidences, correct = judge(ner, scored)
    assert len(confidences) == len(correct) and scored.n_gold == 6
    result = subprocess.run(
        [sys.executable, "-m", "bilstm_ner.calibration", "fit", str(tiny_model_dir), str(dev)],
        capture_output=True,
        text=True,
        check=True,
    )
    # a handful of entities is too few to fit: the saved temperature is kept, and said so
    assert "too few to fit" in result.stdout
    assert srsly.read_json(tiny_model_dir / "ner" / "cfg")["temperature"] == 1.5


def test_fit_into_calibrates_a_copy_and_leaves_the_source(
    tiny_model_dir: Path, tmp_path: Path, tiny_examples: Callable[..., list[Example]]
) -> None:
    """The workflow's calibrate step writes training/model-best from train's output
    with --into: train's outputs must stay byte for byte as train left them."""
    nlp = spacy.load(tiny_model_dir)
    dev = write_dev(tiny_examples(nlp, TRAIN_DATA), tmp_path / "dev.spacy")
    source_cfg = tiny_model_dir / "ner" / "cfg"
    before = (source_cfg.read_bytes(), source_cfg.stat().st_mtime_ns)
    copy = tmp_path / "calibrated"
    (copy / "stale").mkdir(parents=True)  # an older copy is replaced, not merged into
    subprocess.run(
        [sys.executable, "-m", "bilstm_ner.calibration", "fit", str(tiny_model_dir), str(dev)]
        + ["--into", str(copy)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (source_cfg.read_bytes(), source_cfg.stat().st_mtime_ns) == before
    assert not (copy / "stale").exists()
    assert "temperature" in srsly.read_json(copy / "ner" / "cfg")
    text = "John Smith visited Paris ."
    calibrated = spacy.load(copy)
    assert [(e.text, e.label_) for e in calibrated(text).ents] == [(e.text, e.label_) for e in nlp(text).ents]


# ---------------------------------------------------------------- entity page and training plot


def test_entity_page_marks_errors_side_by_side() -> None:
    nlp = spacy.blank("en")
    words = ["Ann", "visited", "<Big>", "Apple", "in", "Rome", "."]
    spaces = [True] * 6 + [False]
    reference = Doc(nlp.vocab, words=words, spaces=spaces, sent_starts=[True] + [False] * 6)
    reference.ents = [
        Span(reference, 0, 1, "PER"),
        Span(reference, 3, 4, "ORG"),
        Span(reference, 5, 6, "LOC"),
    ]
    predicted = Doc(nlp.vocab, words=words, spaces=spaces)
    predicted.ents = [Span(predicted, 0, 1, "PER"), Span(predicted, 2, 4, "ORG")]
    for ent, confidence in zip(predicted.ents, [0.97, 0.41], strict=True):
        ent._.confidence = confidence
    clean = Doc(nlp.vocab, words=["Bob", "slept", "."], spaces=[True, False, False])
    clean.ents = [Span(clean, 0, 1, "PER")]
    clean_predicted = Doc(nlp.vocab, words=["Bob", "slept", "."], spaces=[True, False, False])
    clean_predicted.ents = [Span(clean_predicted, 0, 1, "PER")]
    views = [doc_view(reference, predicted, "doc one"), doc_view(clean, clean_predicted, "doc two")]
    (sentence,) = views[0].sentences
    assert sentence.wrong == [(12, 23, "ORG", pytest.approx(0.41), False)]
    assert sorted(sentence.missed) == [(18, 23, "ORG", False), (27, 31, "LOC", False)]
    assert not views[1].sentences[0].wrong and not views[1].sentences[0].missed
    page = render_page(views, "Test <page>")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "PER 0.97" in page and "ORG 0.41 ✗" in page
    assert "LOC missed" in page and "ORG missed" in page
    assert page.count('<tr class="error">') == 1
    assert "Test &lt;page&gt;" in page and "&lt;Big&gt;" in page and "<Big>" not in page
    assert '<b class="bad">1 wrong</b>' in page and '<b class="bad">2 missed</b>' in page
    with pytest.raises(ValueError, match="mismatch: predicted and gold tokens differ"):
        doc_view(reference, clean_predicted, "mismatch")


def test_labels_of_any_corpus_get_their_own_colours() -> None:
    colors = label_colors({"product", "PER", "creative-work"})
    assert colors == {"PER": LABEL_COLORS["PER"], "creative-work": PALETTE[0], "product": PALETTE[1]}


def test_training_plot_from_a_jsonl_log(tmp_path: Path) -> None:
    log = tmp_path / "train_log.jsonl"
    rows = [
        {
            "epoch": 0,
            "step": 0,
            "losses": {"ner": 2.0},
            "scores": {"ents_f": 1.0, "ents_p": 2.0, "ents_r": 0.5},
        },
        {
            "epoch": 1,
            "step": 100,
            "losses": {"ner": 50.0},
            "scores": {"ents_f": 70.0, "ents_p": 72.0, "ents_r": 68.0},
        },
        {
            "epoch": 2,
            "step": 300,
            "losses": {"ner": 20.0},
            "scores": {"ents_f": 80.0, "ents_p": 81.0, "ents_r": 79.0},
        },
    ]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    parsed = read_log(log)
    assert parsed.steps == [0, 100, 300]
    assert parsed.losses["ner"] == pytest.approx([2.0, 0.5, 0.1])  # per update since the previous row
    assert parsed.scores["ents_f"] == [1.0, 70.0, 80.0]
    output = tmp_path / "curve.png"
    plot(parsed, output, "test")
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and output.stat().st_size > 10_000
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="has no training log rows"):
        read_log(empty)


# ---------------------------------------------------------------- the code tree the wheel carries


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf8")
    return root


TREE = {
    "__init__.py": "from .pipeline import make\n",
    "pipeline.py": "from .layers.crf import decode\nfrom .corpora import corpus\n",
    "errors.py": "",
    "layers/__init__.py": "",
    "layers/crf.py": "from ..errors import *\nfrom . import featurize\n",
    "layers/featurize.py": "import numpy\n",
    "corpora/__init__.py": "",
    "corpora/corpus.py": "from ..layers.featurize import x\nfrom .. import errors\n",
}


def test_code_modules_ship_the_subpackages_with_their_init(tmp_path: Path) -> None:
    from scripts.package import code_modules

    root = write_tree(tmp_path / "code", TREE)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "pipeline.cpython-311.pyc").write_bytes(b"")
    assert [p.as_posix() for p in code_modules(root)] == sorted(set(TREE) - {"__init__.py"})


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("layers/crf.py", "from ...outside import x\n", "relative import of a module not in"),
        ("layers/crf.py", "from ..nowhere import x\n", "relative import of a module not in"),
        # errors.py is one level up, not in layers/
        ("layers/crf.py", "from .errors import x\n", "relative import of a module not in"),
        ("corpora/corpus.py", "from .. import nowhere\n", "relative import of a module not in"),
        ("layers/crf.py", "from bilstm_ner.errors import x\n", "imports bilstm_ner.errors"),
        ("corpora/corpus.py", "import scripts.package\n", "imports scripts.package"),
        ("helpers/util.py", "", "has no __init__.py"),
    ],
)
def test_code_modules_refuse_what_the_package_would_break(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    from scripts.package import code_modules

    root = write_tree(tmp_path / "code", {**TREE, name: text})
    with pytest.raises(SystemExit, match=message):
        code_modules(root)


def test_code_digest_covers_the_subpackages_and_not_the_top_init(tmp_path: Path) -> None:
    """The digest two packaged copies compare: a subpackage's module is part of it (also a
    subpackage's __init__), the top-level __init__ (each package writes its own) and
    folders that are not packages (a packaged pipeline's data) are not."""
    from bilstm_ner.code_identity import code_digest, module_files

    first = write_tree(tmp_path / "first", TREE)
    assert module_files(first) == sorted(set(TREE) - {"__init__.py"})
    digest = code_digest(first)
    copy = write_tree(tmp_path / "copy", {**TREE, "__init__.py": "# a packaged pipeline's own\n"})
    write_tree(copy, {"en_x-0.0.1/ner/model.py": "data, not code\n", "en_x-0.0.1/meta.json": "{}"})
    assert code_digest(copy) == digest
    for name in ("layers/crf.py", "corpora/__init__.py", "pipeline.py"):
        edited = write_tree(tmp_path / name.replace("/", "_"), {**TREE, name: TREE[name] + "# edited\n"})
        assert code_digest(edited) != digest, name
    moved = {**TREE, "layers/errors.py": TREE["errors.py"]}
    del moved["errors.py"]
    assert code_digest(write_tree(tmp_path / "moved", moved)) != digest  # the same bytes elsewhere


def test_the_project_package_and_its_digest_agree_with_the_wheel_layout() -> None:
    """The installed package's digest is over what scripts/package.py ships."""
    from bilstm_ner.code_identity import CODE_DIGEST, code_digest, module_files

    from scripts.package import code_modules

    code = REPO / "components" / "bilstm_ner"
    assert module_files(code) == [p.as_posix() for p in code_modules(code)]
    assert CODE_DIGEST == code_digest(code)


# ---------------------------------------------------------------- the wheel

PACKAGE_NAME = "tiny_ship"
# what the packaged pipeline tags, and the folder it was built from must tag the same
TAGGED_TEXTS = [text for text, _ in TRAIN_DATA] + ["Mary Smith flew from Berlin to New York with Acme Corp ."]
LOAD_AND_TAG = f"""
import importlib.util, json, sys
import spacy
nlp = spacy.load("en_tiny_ship")
ner = nlp.get_pipe("ner")
doc = nlp("John Smith lives in New York .")
print(json.dumps({{
    "component_module": type(ner).__module__,
    "project_package_importable": importlib.util.find_spec("bilstm_ner") is not None,
    "temperature": ner.temperature,
    "ents": [[e.text, e.label_, e._.confidence] for e in doc.ents],
    "tagged": [[[e.start_char, e.end_char, e.label_, e._.confidence] for e in d.ents]
               for d in nlp.pipe({TAGGED_TEXTS!r})],
}}))
"""


def build_wheel(
    model: Path, output: Path, name: str, code: Path, cwd: Path, extra: tuple[str, ...] = ()
) -> Path:
    """`model` packaged by scripts/package.py as en_NAME 0.0.1 with the component's
    code from `code` (no build isolation: offline and fast); `extra`: more options."""
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "package.py"),
            str(model),
            str(output),
            "--name",
            name,
            "--version",
            "0.0.1",
            "--code",
            str(code),
            "--pyproject",
            str(REPO / "pyproject.toml"),
            "--no-isolation",
            *extra,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    (path,) = (output / f"en_{name}-0.0.1" / "dist").glob("*.whl")
    return path


@pytest.fixture(scope="module")
def test_metrics(
    tiny_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_examples: Callable[..., list[Example]],
) -> Path:
    """metrics/test.json and metrics/test_conlleval.json as `evaluate` writes them, measured
    on the tiny pipeline's own sentences (spaCy's scorer, and exact match on gold tokens)."""
    nlp = spacy.load(tiny_model_dir)
    examples = tiny_examples(nlp, TRAIN_DATA)
    metrics = tmp_path_factory.mktemp("metrics")
    srsly.write_json(metrics / "test.json", nlp.evaluate(examples))
    gold = [example.reference for example in examples]
    srsly.write_json(metrics / "test_conlleval.json", evaluate(nlp, gold, train=gold))
    return metrics


@pytest.fixture(scope="module")
def wheel(tiny_model_dir: Path, test_metrics: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline packaged by scripts/package.py as the project's package step does:
    test scores from metrics/, trained on the CoNLL-2003 asset with en_core_web_md's vectors
    (whose source the vectors step's folder lists)."""
    from scripts.assets import vectors_sources

    output = tmp_path_factory.mktemp("packages")
    code = REPO / "components" / "bilstm_ner"
    # the vectors step's folder names the vectors' source in its meta
    vectors = tmp_path_factory.mktemp("vectors")
    srsly.write_json(vectors / "meta.json", {"sources": vectors_sources("en_core_web_md", "en", vectors)})
    extra = (
        "--metrics",
        str(test_metrics),
        "--train-file",
        "assets/eng.train",
        "--vectors",
        str(vectors),
    )
    extra += ("--project-dir", str(REPO))
    return build_wheel(tiny_model_dir, output, PACKAGE_NAME, code, tmp_path_factory.mktemp("cwd"), extra)


def test_wheel_meta_has_description_licences_sources_and_test_scores(
    wheel: Path, test_metrics: Path, tmp_path: Path
) -> None:
    """Issue 24: the meta says what the pipeline is, under which terms, and how it scored
    on test (not the dev score of training time); the package's README shows how to load
    it and what it scores; `spacy info` on the installed package prints it all."""
    from scripts.package import CONLL_SOURCE

    archive = zipfile.ZipFile(wheel)
    meta = json.loads(archive.read("en_tiny_ship/meta.json"))
    spacy_scores = srsly.read_json(test_metrics / "test.json")
    conll = srsly.read_json(test_metrics / "test_conlleval.json")
    assert meta["license"] == "MIT"
    assert meta["description"].startswith("Named-entity recognizer (LOC, ORG, PER): the bilstm_ner component")
    assert "trained on CoNLL-2003" in meta["description"]
    assert f"Test F1: {100 * spacy_scores['ents_f']:.2f} on spaCy's tokens" in meta["description"]
    data, vectors = meta["sources"]
    assert data == CONLL_SOURCE and "research use" in data["license"] and "RCV1" in data["license"]
    assert vectors["name"].startswith("Explosion Vectors")
    assert (
        vectors["license"].startswith("CC0 (the vectors")
        and "the en_core_web_md package: MIT" in vectors["license"]
    )
    performance = meta["performance"]
    assert performance["ents_f"] == spacy_scores["ents_f"]
    assert performance["ents_per_type"] == spacy_scores["ents_per_type"]
    assert (
        performance["conll_ents_f"] == conll["f"] and performance["conll_ents_per_type"] == conll["per_type"]
    )
    assert set(meta["test_scores"]) == {"spaCy's tokens", "the corpus's own tokens"}
    assert (
        f"PER F {100 * conll['per_type']['PER']['f']:.2f}" in meta["test_scores"]["the corpus's own tokens"]
    )
    # the package's README (the wheel's long description), generated by spacy package from the meta
    metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert 'nlp = spacy.load("en_tiny_ship")' in metadata
    assert "pip install torch==2.13.0 en_tiny_ship-0.0.1-py3-none-any.whl" in metadata
    assert "| **all (micro)** |" in metadata and "| PER |" in metadata
    assert "### Licences" in metadata and "research use" in metadata
    assert "**Warning:** only 0.0% of the test entities" in metadata  # every test name is a training one
    licences = {Path(n).name for n in archive.namelist() if ".dist-info/licenses/" in n}
    assert licences == {"LICENSE", "LICENSES_SOURCES"}
    # spacy info, on the installed package
    target = install_target(wheel, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "info", "en_tiny_ship"],
        cwd="/",
        env={**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = " ".join(result.stdout.split())
    for shown in (
        "Named-entity recognizer (LOC, ORG, PER)",
        "MIT",
        "CoNLL-2003",
        "RCV1",
        "CC0",
        "test_scores",
    ):
        assert shown in printed, shown
    assert meta["test_scores"]["spaCy's tokens"] in printed


def test_wheel_carries_the_code_and_declares_torch_not_the_project(wheel: Path) -> None:
    """Every module of the component's package, its subpackages' too, at the same place
    under the pipeline's package (setuptools leaves out a subpackage it is not told of);
    the top-level __init__ is the pipeline's own."""
    names = zipfile.ZipFile(wheel).namelist()
    modules = {
        n.removeprefix("en_tiny_ship/") for n in names if n.startswith("en_tiny_ship/") and n.endswith(".py")
    }
    code = REPO / "components" / "bilstm_ner"
    shipped = {p.relative_to(code).as_posix() for p in code.rglob("*.py")}
    assert {"layers/__init__.py", "layers/crf.py", "corpora/__init__.py", "corpora/corpus.py"} <= shipped
    assert modules == shipped
    archive = zipfile.ZipFile(wheel)
    for module in shipped - {"__init__.py"}:
        assert archive.read(f"en_tiny_ship/{module}") == (code / module).read_bytes(), module
    assert b"load_component_code(__name__" in archive.read("en_tiny_ship/__init__.py")
    requirements = {requirement_name(r) for r in wheel_requirements(wheel) if "extra ==" not in r}
    assert {"spacy", "torch", "thinc"} <= requirements
    assert "bilstm-ner" not in requirements
    assert not {"fastapi", "uvicorn"} & requirements  # the service's are an extra, not needed to load
    serve_extra = {requirement_name(r) for r in wheel_requirements(wheel) if 'extra == "serve"' in r}
    assert serve_extra == {"fastapi", "uvicorn"}


def test_packaging_again_into_the_same_folder_ships_only_the_code_of_now(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A second `package` of the same name and version into the same folder (the
    project's `packages/`) after the code changed: nothing of the first build's code is
    left in the wheel (setuptools' build/ folder would otherwise keep the old modules,
    e.g. flat ones from before the layout, and the copy's digest would no longer be the code's)."""
    code = REPO / "components" / "bilstm_ner"
    before = tmp_path / "before" / "bilstm_ner"
    shutil.copytree(code, before, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(before / "layers" / "crf.py", before / "crf.py")  # as the flat layout had it
    (before / "layers" / "retired.py").write_text("RETIRED = True\n", encoding="utf8")
    output = tmp_path / "packages"
    first = build_wheel(tiny_model_dir, output, "tiny_again", before, tmp_path)
    assert {"en_tiny_again/crf.py", "en_tiny_again/layers/retired.py"} <= set(
        zipfile.ZipFile(first).namelist()
    )
    wheel = build_wheel(tiny_model_dir, output, "tiny_again", code, tmp_path)
    modules = {
        n.removeprefix("en_tiny_again/")
        for n in zipfile.ZipFile(wheel).namelist()
        if n.startswith("en_tiny_again/") and n.endswith(".py")
    }
    assert modules == {p.relative_to(code).as_posix() for p in code.rglob("*.py")}


def test_wheel_serves_over_http_without_the_project(wheel: Path, tmp_path: Path) -> None:
    """`python -m en_tiny_ship.serve --port P` (MODEL: the package) in a site without
    the project's package: /health, then /ents with the package's entities."""
    import httpx

    from benchmarks.load_test import free_port, wait_until_healthy

    python = isolated_site(tmp_path)
    target = install_target(wheel, tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [str(python), "-m", "en_tiny_ship.serve", "--port", str(port)],
        cwd="/",
        env={"PYTHONPATH": str(target), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", server, timeout=120)
        response = httpx.post(
            f"http://127.0.0.1:{port}/ents", json={"texts": ["John Smith lives in New York ."]}
        )
        assert response.status_code == 200
        (doc,) = response.json()["docs"]
        assert doc["ents"], "the tiny model finds its training entities"
        assert all(doc["text"][e["start"] : e["end"]] == e["text"] for e in doc["ents"])
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert "en_tiny_ship loaded" in output and "RuntimeWarning" not in output


def isolated_site(tmp_path: Path) -> Path:
    """A venv whose site-packages links to everything the test's environment has
    except the project's own `bilstm_ner` package (its code, metadata and entry
    points): what a clean install of spaCy and torch looks like, without downloads."""
    env = tmp_path / "venv"
    venv.create(env, with_pip=False, symlinks=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))
    # every site folder of the test's environment: a venv's own and, with
    # --system-site-packages, the base one's; the first of a name wins, as on sys.path
    for ours in map(Path, site_module.getsitepackages()):
        for entry in ours.iterdir():
            lowered = entry.name.lower()
            if "bilstm_ner" in lowered or "bilstm-ner" in lowered or (site / entry.name).exists():
                continue
            (site / entry.name).symlink_to(entry)
    return env / "bin" / "python"


def install_target(wheel: Path, tmp_path: Path) -> Path:
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def run_from_root(python: Path | str, target: Path, code: str = "", *args: str) -> dict:
    """Run `code` (default LOAD_AND_TAG) with `python` from / with only `target` on the
    path, so nothing of the repository is importable; its last line of output, as JSON."""
    result = subprocess.run(
        [str(python), "-c", code or LOAD_AND_TAG, *args],
        cwd="/",
        env={"PYTHONPATH": str(target), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_entities(loaded: dict, model_dir: Path) -> None:
    """The packaged pipeline's entities and confidences are those of the folder it was
    built from, loaded here with the project's own package."""
    assert loaded["temperature"] == 1.5
    assert loaded["ents"], "the tiny model finds its training entities"
    for _, label, confidence in loaded["ents"]:
        assert label in {"PER", "LOC", "ORG"}
        assert 0.0 <= confidence <= 1.0
    nlp = spacy.load(model_dir)
    expected = [[[e.start_char, e.end_char, e.label_] for e in doc.ents] for doc in nlp.pipe(TAGGED_TEXTS)]
    assert [[ent[:3] for ent in doc] for doc in loaded["tagged"]] == expected
    assert sum(map(len, expected)) >= len(TAGGED_TEXTS)
    confidences = [e._.confidence for doc in nlp.pipe(TAGGED_TEXTS) for e in doc.ents]
    assert [ent[3] for doc in loaded["tagged"] for ent in doc] == pytest.approx(confidences, abs=1e-6)


def test_wheel_loads_by_name_without_the_project(wheel: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    python = isolated_site(tmp_path)
    loaded = run_from_root(python, install_target(wheel, tmp_path))
    assert not loaded["project_package_importable"]
    assert loaded["component_module"] == "en_tiny_ship.pipeline"  # the copy inside the wheel
    check_entities(loaded, tiny_model_dir)


def test_wheel_loads_beside_the_installed_project_package(
    wheel: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """With the project's package installed too, its entry points own the factory:
    the packaged model uses it rather than registering a second copy (spaCy E004)."""
    loaded = run_from_root(sys.executable, install_target(wheel, tmp_path))
    assert loaded["project_package_importable"]
    assert loaded["component_module"] == "bilstm_ner.pipeline"
    check_entities(loaded, tiny_model_dir)


def test_wheel_runs_the_annotation_without_the_project(wheel: Path, tmp_path: Path) -> None:
    """The wheel carries the annotation command: `python -m en_tiny_ship.annotate`, MODEL
    defaulting to the package itself, where the project's package is not installed."""
    python = isolated_site(tmp_path)
    target = install_target(wheel, tmp_path)
    source = tmp_path / "in.jsonl"
    rows = ['{"id": 1, "text": "John Smith lives in New York ."}', "", '{"id": 3, "text": "Paris is far ."}']
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    outputs = {}
    for name, model in (("default", []), ("named", ["en_tiny_ship"])):
        output = tmp_path / name / "out.jsonl"
        result = subprocess.run(
            [str(python), "-m", "en_tiny_ship.annotate", *model, str(source), str(output)],
            cwd="/",
            env={"PYTHONPATH": str(target), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "RuntimeWarning" not in result.stderr  # __init__ does not import the command
        outputs[name] = output.read_text(encoding="utf-8")
    assert outputs["default"] == outputs["named"]
    records = [json.loads(line) for line in outputs["default"].splitlines()]
    assert [r.get("id") for r in records] == [1, None, 3]
    assert records[1] == {"ents": []}
    assert records[0]["ents"], "the tiny model finds its training entities"
    for ent in records[0]["ents"]:
        assert ent["label"] in {"PER", "LOC", "ORG"} and 0.0 <= ent["confidence"] <= 1.0


USE_THE_WHEEL = """
import json, sys
import spacy
from en_tiny_ship.calibration import recalibrate
from en_tiny_ship.evaluation import evaluate
nlp = spacy.load("en_tiny_ship")
scores = evaluate(nlp, sys.argv[1], casings=True)
fit = recalibrate(nlp, sys.argv[2])
print(json.dumps({"scores": scores, "fit": fit, "set": nlp.get_pipe("ner").temperature}))
"""


def mixed_dev(nlp: Language, examples: list[Example], copies: int = 10) -> list[Doc]:
    """Copies of the tiny examples' gold documents, every other copy with labels the
    model cannot match: enough entities, some right and some wrong, for a fit."""
    swap = {"PER": "ORG", "ORG": "LOC", "LOC": "PER"}
    docs = []
    for copy in range(copies):
        for example in examples:
            reference = example.reference.copy()
            if copy % 2:
                reference.ents = [Span(reference, e.start, e.end, swap[e.label_]) for e in reference.ents]
            docs.append(reference)
    return docs


def test_a_user_of_the_wheel_scores_and_recalibrates_it_on_conll_files(
    wheel: Path, tiny_model_dir: Path, tmp_path: Path, tiny_examples: Callable[..., list[Example]]
) -> None:
    """Without the project, on CoNLL files: the package's `evaluation` and `calibration`
    modules, called from Python (docs/packaging.md) and as commands, give what the
    project's own package gives for the pipeline folder the wheel was built from."""
    python = isolated_site(tmp_path)
    target = install_target(wheel, tmp_path)
    nlp = spacy.load(tiny_model_dir)
    test_file, dev_file = tmp_path / "test.txt", tmp_path / "dev.txt"
    test_file.write_text(docs_to_conll([eg.reference for eg in tiny_examples(nlp, TRAIN_DATA)]))
    dev_file.write_text(docs_to_conll(mixed_dev(nlp, tiny_examples(nlp, TRAIN_DATA))))
    expected_scores = evaluate(nlp, test_file, casings=True)
    expected_fit = recalibrate(nlp, dev_file)
    assert expected_fit["fitted"] and expected_fit["temperature"] != 1.5, "the dev file must be fit"
    used = run_from_root(python, target, USE_THE_WHEEL, str(test_file), str(dev_file))
    assert used["scores"] == expected_scores  # ratios of counts: the same to the bit
    assert used["scores"]["f"] > 0.5, "the tiny model finds its training entities"
    assert used["fit"] == pytest.approx(expected_fit, rel=1e-6)
    assert used["set"] == used["fit"]["temperature"]
    env = {"PYTHONPATH": str(target), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    mine, scores = tmp_path / "mine", tmp_path / "scores.json"
    for command in (
        ["evaluation", "en_tiny_ship", str(test_file), "--casings", "--output", str(scores)],
        ["calibration", "fit", "en_tiny_ship", str(dev_file), "--into", str(mine)],
    ):
        result = subprocess.run(
            [str(python), "-m", f"en_tiny_ship.{command[0]}", *command[1:]],
            cwd="/",
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "RuntimeWarning" not in result.stderr  # __init__ does not import the command
    assert srsly.read_json(scores) == srsly.json_loads(srsly.json_dumps(expected_scores))  # as written
    # a folder: loaded where the package has registered the component (imported first)
    load_mine = (
        "import json, spacy, sys, en_tiny_ship; "
        "print(json.dumps(spacy.load(sys.argv[1]).get_pipe('ner').cfg))"
    )
    calibrated = run_from_root(python, target, load_mine, str(mine))
    assert calibrated["temperature"] == pytest.approx(expected_fit["temperature"], rel=1e-6)


def test_cross_fitted_ece_judges_each_half_with_the_other_halfs_temperature(
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_examples: Callable[..., list[Example]],
) -> None:
    nlp = spacy.load(tiny_model_dir)
    ner = nlp.get_pipe("ner")
    scored = score_corpus(ner, mixed_dev(nlp, tiny_examples(nlp, TRAIN_DATA), copies=4))
    # too few entities per half: no figure rather than a meaningless one
    assert calibration.cross_fitted(ner, scored) is None
    monkeypatch.setattr(calibration, "MIN_ENTITIES_TO_FIT", 1)
    seen: list[int] = []
    real_fit = calibration.fit_temperature

    def spy(confidences_at, correct, **kwargs):
        seen.append(len(correct))
        return real_fit(confidences_at, correct, **kwargs)

    monkeypatch.setattr(calibration, "fit_temperature", spy)
    _, correct = judge(ner, scored, 1.0)
    if correct.all() or not correct.any():
        pytest.fail("the tiny model should get some entities right and some wrong at temperature 1")
    result = calibration.cross_fitted(ner, scored)
    assert result is not None
    ece, temperatures = result
    assert 0.0 <= ece <= 1.0 and len(temperatures) == 2
    # each fit saw one half of the entities, not all of them
    assert len(seen) == 2 and all(n < len(correct) for n in seen)


# ---------------------------------------------------------------- two packaged pipelines in one process

LOAD_TWO = """
import json, sys
import spacy
first = spacy.load(sys.argv[1])
try:
    second = spacy.load(sys.argv[2])
except ImportError as err:
    print(json.dumps({"error": type(err).__name__, "message": str(err)}))
    raise SystemExit(0)
print(json.dumps({
    "modules": [type(nlp.get_pipe("ner")).__module__ for nlp in (first, second)],
    "ents": [[e.label_ for e in nlp("John Smith lives in New York .").ents] for nlp in (first, second)],
}))
"""


@pytest.fixture(scope="module")
def side_by_side(
    wheel: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """An isolated site with en_tiny_ship, en_tiny_twin (the same code, another package)
    and en_tiny_other (the component's code with one line changed) installed."""
    root = tmp_path_factory.mktemp("side_by_side")
    output = root / "packages"
    code = REPO / "components" / "bilstm_ner"
    twin = build_wheel(tiny_model_dir, output, "tiny_twin", code, root)
    edited = root / "edited" / "bilstm_ner"
    shutil.copytree(code, edited, ignore=shutil.ignore_patterns("__pycache__"))
    crf = edited / "layers" / "crf.py"  # a subpackage's module: the digest must see it
    crf.write_text(crf.read_text(encoding="utf8") + "\n# another version\n", encoding="utf8")
    other = build_wheel(tiny_model_dir, output, "tiny_other", edited, root)
    target = root / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
        + [str(wheel), str(twin), str(other)],
        check=True,
        capture_output=True,
    )
    return isolated_site(root), target


def load_two(python: Path, target: Path, first: str, second: str) -> dict:
    return run_from_root(python, target, LOAD_TWO, first, second)


def test_two_packaged_pipelines_with_the_same_code_load_side_by_side(side_by_side: tuple[Path, Path]) -> None:
    """No E004: the second package shares the first one's copy of the component."""
    loaded = load_two(*side_by_side, "en_tiny_ship", "en_tiny_twin")
    assert loaded["modules"] == ["en_tiny_ship.pipeline", "en_tiny_ship.pipeline"]
    assert loaded["ents"][0] and loaded["ents"][0] == loaded["ents"][1]


def test_a_package_with_other_code_says_so_by_name(side_by_side: tuple[Path, Path]) -> None:
    """Other code for the same factory is refused, naming both packages, not E004 and not shared."""
    loaded = load_two(*side_by_side, "en_tiny_ship", "en_tiny_other")
    assert loaded["error"] == "ComponentCodeConflict"
    assert "en_tiny_other" in loaded["message"] and "en_tiny_ship" in loaded["message"]
    assert "E004" not in loaded["message"]


@pytest.mark.parametrize(
    "config, suffix",
    [
        ("fast", ""),
        ("auto", ""),
        ("accurate", "_accurate"),
        ("bilstm_ner_accurate", "_accurate"),
        ("bilstm_ner_taught", "_taught"),
        ("configs/my-own.cfg", "_my_own"),
    ],
)
def test_a_config_other_than_the_default_names_its_package(config: str, suffix: str) -> None:
    """The fast and the accurate wheel get distinct names, so both install (issue 35)."""
    assert config_suffix(config) == suffix

