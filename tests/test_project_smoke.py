"""The whole `spacy project run all` workflow on a tiny corpus, for a few steps."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
from weasel.cli.run import project_run

ROOT = Path(__file__).resolve().parent.parent

SENTENCES = [
    [
        ("John", "I-PER"),
        ("Smith", "I-PER"),
        ("lives", "O"),
        ("in", "O"),
        ("New", "I-LOC"),
        ("York", "I-LOC"),
        (".", "O"),
    ],
    [("Acme", "I-ORG"), ("Corp", "I-ORG"), ("hired", "O"), ("Mary", "I-PER"), ("Jones", "I-PER"), (".", "O")],
    [
        ("The", "O"),
        ("German", "I-MISC"),
        ("team", "O"),
        ("won", "O"),
        ("in", "O"),
        ("Paris", "I-LOC"),
        (".", "O"),
    ],
]


def write_tiny_conll(path: Path, n_docs: int) -> None:
    lines = []
    for d in range(n_docs):
        lines += ["-DOCSTART- -X- -X- O", ""]
        for s in range(3):
            for word, tag in SENTENCES[(d + s) % len(SENTENCES)]:
                lines.append(f"{word} NNP I-NP {tag}")
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf8")


def run_overrides(root: Path) -> dict[str, str | int]:
    """The tiny settings the smoke run uses (and a rerun check must use too)."""
    return {
        "vars.checksums": "--no-verify-checksums",
        "vars.max_steps": 12,
        "vars.max_epochs": 3,
        "vars.vectors": str(root.parent / "tiny_vectors.txt"),
    }


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    # the component's code and pyproject.toml are deps of train (the installed package runs)
    for name in ["project.yml", "configs", "scripts", "components", "pyproject.toml"]:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    data = tmp_path_factory.mktemp("conll")
    for name, n_docs in [("eng.train", 6), ("eng.testa", 2), ("eng.testb", 2)]:
        write_tiny_conll(data / name, n_docs)
    # a tiny word2vec-style text file stands in for en_core_web_md's table
    vectors_file = root.parent / "tiny_vectors.txt"
    words = sorted({word for sentence in SENTENCES for word, _ in sentence})
    rows = [
        " ".join([word, *(f"{(i + 1) * (j - 1.5) / 20:.2f}" for j in range(4))])
        for i, word in enumerate(words)
    ]
    vectors_file.write_text("\n".join(rows) + "\n", encoding="utf8")
    old = os.environ.get("CONLL2003_DIR")
    os.environ["CONLL2003_DIR"] = str(data)
    try:
        project_run(
            root,
            "all",
            overrides=run_overrides(root),
        )
    finally:
        if old is None:
            del os.environ["CONLL2003_DIR"]
        else:
            os.environ["CONLL2003_DIR"] = old
    return root


def test_workflow_writes_corpus_model_and_metrics(project_dir: Path) -> None:
    from spacy.tokens import DocBin
    from spacy.training import Corpus

    nlp = spacy.blank("en")
    n_docs = {
        split: len(list(DocBin().from_disk(project_dir / "corpus" / f"{split}.spacy").get_docs(nlp.vocab)))
        for split in ("train", "dev", "test")
    }
    assert n_docs == {"train": 6, "dev": 2, "test": 2}
    # the metrics are model-best's own scores on each split, recomputed here
    best = spacy.load(project_dir / "training" / "model-best")
    for split in ("dev", "test"):
        metrics = srsly.read_json(project_dir / "metrics" / f"{split}.json")
        scores = best.evaluate(Corpus(project_dir / "corpus" / f"{split}.spacy")(best))
        assert metrics["ents_f"] == pytest.approx(scores["ents_f"])
        assert metrics["ner_token_acc"] == pytest.approx(scores["ner_token_acc"])
        assert metrics["ents_per_type"].keys() == scores["ents_per_type"].keys()
    table = (project_dir / "metrics" / "scores.md").read_text()
    assert "token accuracy" in table and "dev F" in table and "test F" in table
    meta = srsly.read_json(project_dir / "training" / "model-best" / "meta.json")
    assert "ents_per_type" in meta["performance"]
    conll = srsly.read_json(project_dir / "metrics" / "test_conlleval.json")
    assert {"lower", "upper", "per_type"} <= set(conll)
    assert (project_dir / "training" / "train_log.jsonl").stat().st_size > 0


def test_model_loads_from_another_folder(project_dir: Path, tmp_path: Path) -> None:
    code = (
        "import spacy, sys; nlp = spacy.load(sys.argv[1]); "
        "doc = nlp('John Smith lives in New York .'); "
        "print(nlp.pipe_names, [(e.text, e.label_) for e in doc.ents])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(project_dir / "training" / "model-best")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "['ner']" in result.stdout


def test_finished_steps_are_skipped(project_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "convert", str(project_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Skipping 'convert'" in result.stdout


def test_vectors_step_feeds_the_vectors_config(project_dir: Path) -> None:
    """With --vars.vectors, train used the vectors config, and the pipeline carries the table."""
    config = spacy.util.load_config(project_dir / "training" / "model-best" / "config.cfg")
    assert config["components"]["ner"]["model"]["include_static_vectors"] is True
    assert config["corpora"]["train"]["augmenter"]["@augmenters"] == "bilstm_ner.case_augmenter.v1"
    nlp = spacy.load(project_dir / "training" / "model-best")
    assert nlp.vocab.vectors.shape == (17, 4)
    assert nlp.vocab["Paris"].has_vector


def test_a_second_run_skips_every_step_until_the_code_changes(project_dir: Path) -> None:
    """No step writes into another's outputs, so after `all` every step is up to
    date; editing the component's code makes `train` due again."""
    from weasel.cli.run import check_rerun
    from weasel.util import load_project_config

    config = load_project_config(project_dir, overrides=run_overrides(project_dir))
    commands = {c["name"]: c for c in config["commands"]}
    due = [name for name in config["workflows"]["all"] if check_rerun(project_dir, commands[name])]
    assert due == []
    code = project_dir / "components" / "bilstm_ner" / "decoding.py"
    original = code.read_text(encoding="utf8")
    try:
        code.write_text(original + "\n# edited\n", encoding="utf8")
        assert check_rerun(project_dir, commands["train"])
        assert not check_rerun(project_dir, commands["convert"])
    finally:
        code.write_text(original, encoding="utf8")


def test_error_report_counts_add_up_to_the_test_set(project_dir: Path) -> None:
    """metrics/errors.json (beside errors.md): each gold entity of the test set is counted
    once under one kind, each predicted entity too."""
    from bilstm_ner.corpus import gold_tokens_doc
    from spacy.tokens import DocBin

    nlp = spacy.load(project_dir / "training" / "model-best")
    gold_docs = list(DocBin().from_disk(project_dir / "corpus" / "test.spacy").get_docs(nlp.vocab))
    predicted_docs = list(nlp.pipe(gold_tokens_doc(doc) for doc in gold_docs))
    counts = srsly.read_json(project_dir / "metrics" / "errors.json")["counts"]
    assert sum(counts["gold"]["all"].values()) == sum(len(doc.ents) for doc in gold_docs) > 0
    assert sum(counts["predicted"].get("all", {}).values()) == sum(len(doc.ents) for doc in predicted_docs)
    assert "## Label confusion" in (project_dir / "metrics" / "errors.md").read_text()
    assert "<h2>missed</h2>" in (project_dir / "metrics" / "errors.html").read_text()
    assert "| **accuracy** |" in (project_dir / "metrics" / "test_tokens.md").read_text()
