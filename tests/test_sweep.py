"""The hyperparameter sweep: search space -> config overrides, outputs, resuming, a tiny sweep."""

import csv
from pathlib import Path

import pytest
import spacy
from bilstm_ner.errors import TrainingDivergedError
from spacy.tokens import Doc, DocBin
from spacy.util import load_config, registry

# the sweep's own requirement (requirements-bench.txt), which .ci/run installs
optuna = pytest.importorskip("optuna", reason="the sweep needs optuna: pip install -r requirements-bench.txt")

from benchmarks import sweep  # noqa: E402
from benchmarks.sweep import (  # noqa: E402
    SearchSpace,
    config_defaults,
    optimizer_block,
    plot,
    requeue_interrupted,
    run_sweep,
    to_markdown,
    trial_overrides,
    write_csv,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "bilstm_ner.cfg"
PARAMS = {"optimizer": "SGD", "learn_rate": 0.05, "batch_size": 500, "dropout": 0.2, "hidden_width": 96}


def base_config(overrides: dict | None = None):
    return load_config(CONFIG, overrides=overrides or {}, interpolate=False)


@pytest.mark.parametrize("optimizer", ["Adam", "SGD", "RAdam"])
def test_overrides_give_a_config_that_resolves(optimizer: str) -> None:
    overrides = trial_overrides(
        {**PARAMS, "optimizer": optimizer}, base_config()["training"]["optimizer"], 100
    )
    assert overrides["training.batcher.size"] == 500
    assert overrides["components.ner.model.dropout"] == 0.2
    assert overrides["components.ner.model.hidden_width"] == 96
    assert (overrides["training.max_steps"], overrides["training.max_epochs"]) == (100, 0)
    assert overrides["training.eval_frequency"] == 100
    config = load_config(CONFIG, overrides=overrides)
    block = config["training"]["optimizer"]
    assert block["@optimizers"] == f"{optimizer}.v1"
    # the config's warmup_linear schedule (200 of 2500 steps), stretched to 100 steps
    assert block["learn_rate"] == {
        "@schedules": "warmup_linear.v1",
        "warmup_steps": 8,
        "total_steps": 100,
        "initial_rate": 0.05,
    }
    assert block["L2"] == 0.01 and block["grad_clip"] == 1.0 and block["use_averages"] is False
    assert ("beta1" in block) == (optimizer != "SGD")
    registry.resolve({"optimizer": block})


def test_a_constant_learn_rate_is_replaced() -> None:
    block = optimizer_block("SGD", 0.1, {"@optimizers": "Adam.v1", "learn_rate": 0.001, "beta1": 0.9}, 50)
    assert block == {"@optimizers": "SGD.v1", "learn_rate": 0.1}


def test_config_defaults_and_starting_points() -> None:
    defaults = config_defaults(base_config())
    assert defaults == {
        "optimizer": "Adam",
        "learn_rate": 0.003,
        "batch_size": 1500,
        "dropout": 0.5,
        "hidden_width": 192,
    }
    points = SearchSpace().starting_points(defaults)
    assert [p["optimizer"] for p in points] == ["Adam", "SGD", "RAdam"]
    # the config's rate where it is in the range, else the range's geometric middle
    assert [p[f"learn_rate_{p['optimizer']}"] for p in points] == [0.003, 0.1, 0.003]
    assert all(p["batch_size"] == 1500 and p["dropout"] == 0.5 and p["hidden_width"] == 192 for p in points)
    narrow = SearchSpace(batch_sizes=(100, 200), hidden_widths=(8,), dropout=(0.1, 0.2, 0.1))
    assert all(
        set(p) == {"optimizer", f"learn_rate_{p['optimizer']}"} for p in narrow.starting_points(defaults)
    )


def test_each_optimizer_has_its_own_learn_rate() -> None:
    fixed = {"optimizer": "SGD", "learn_rate_SGD": 0.5, "batch_size": 500, "dropout": 0.2, "hidden_width": 96}
    assert SearchSpace().suggest(optuna.trial.FixedTrial(fixed)) == {**PARAMS, "learn_rate": 0.5}


def test_interrupted_trials_are_queued_again_once() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    killed = study.ask()  # a trial left RUNNING by a killed process
    killed.suggest_categorical("optimizer", ["SGD", "Adam"])
    params = study.trials[0].params
    assert requeue_interrupted(study) == [0]
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert study.trials[1].state == optuna.trial.TrialState.WAITING
    assert requeue_interrupted(study) == []
    study.optimize(lambda trial: len(trial.suggest_categorical("optimizer", ["SGD", "Adam"])), n_trials=1)
    assert study.trials[1].params == params


def rows() -> list[dict]:
    def row(
        trial: int, optimizer: str, learn_rate: float, batch_size: int, f1: float, diverged=False
    ) -> dict:
        return {
            "trial": trial,
            "optimizer": optimizer,
            "learn_rate": learn_rate,
            "batch_size": batch_size,
            "dropout": 0.3,
            "hidden_width": 192,
            "dev_p": f1 + 0.01,
            "dev_r": f1 - 0.01,
            "dev_f1": f1,
            "seconds": 60.0 + trial,
            "diverged": diverged,
        }

    return [
        row(0, "Adam", 0.003, 1500, 0.71),
        row(1, "SGD", 0.1, 1500, 0.42),
        row(2, "RAdam", 0.004, 3000, 0.78),
        row(3, "SGD", 0.9, 500, 0.0, diverged=True),
    ]


def test_csv_has_one_row_per_trial(tmp_path: Path) -> None:
    write_csv(list(reversed(rows())), tmp_path / "sweep.csv")
    with (tmp_path / "sweep.csv").open(encoding="utf8") as file:
        read = list(csv.DictReader(file))
    assert [r["trial"] for r in read] == ["0", "1", "2", "3"]
    assert {
        "trial",
        "batch_size",
        "optimizer",
        "learn_rate",
        "dev_f1",
        "seconds",
        "dropout",
        "hidden_width",
    } <= set(read[0])
    assert read[2]["optimizer"] == "RAdam" and float(read[2]["dev_f1"]) == 0.78


def test_markdown_puts_the_best_on_top() -> None:
    context = {"config": "configs/bilstm_ner.cfg", "max_steps": 100, "seed": 0, "machine": "test box"}
    table = to_markdown(rows(), context)
    assert "**Best: RAdam, learn rate 0.004, batch size 3000 words" in table
    body = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [line.split(" | ")[1] for line in body] == ["2", "0", "1", "3"]
    assert body[0].startswith("| 1 | 2 | RAdam |") and "78.00" in body[0]
    assert "diverged" in body[-1]
    assert "test box" in table
    assert "No finished trials" in to_markdown([], context)


def test_plot_is_written(tmp_path: Path) -> None:
    plot(rows(), tmp_path / "sweep.png", 100)
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot([], tmp_path / "empty.png", 100)
    assert (tmp_path / "empty.png").stat().st_size > 0


SENTENCES = [
    (
        ["John", "Smith", "lives", "in", "New", "York", "."],
        ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"],
    ),
    (["Acme", "Corp", "hired", "Mary", "Jones", "."], ["B-ORG", "I-ORG", "O", "B-PER", "I-PER", "O"]),
    (["The", "German", "team", "won", "in", "Paris", "."], ["O", "B-MISC", "O", "O", "O", "B-LOC", "O"]),
]
SMALL_MODEL = {
    "components.ner.model.rows": [500, 100, 200, 50],
    "components.ner.model.embed_width": 16,
    "components.ner.model.n_chars": 4,
    "components.ner.model.char_width": 8,
    "components.ner.model.window": 8,
}
TINY_SPACE = SearchSpace(
    optimizers={"Adam": (1e-3, 1e-2), "SGD": (1e-2, 1e-1), "RAdam": (1e-3, 1e-2)},
    batch_sizes=(20, 40),
    dropout=(0.1, 0.2, 0.1),
    hidden_widths=(8, 16),
)


def write_docbin(path: Path, n_docs: int) -> None:
    vocab = spacy.blank("en").vocab
    docs = []
    for d in range(n_docs):
        words, tags = SENTENCES[d % len(SENTENCES)]
        docs.append(Doc(vocab, words=words, ents=tags))
    DocBin(docs=docs).to_disk(path)


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from scripts.assets import training_config

    root = tmp_path_factory.mktemp("sweep")
    write_docbin(root / "train.spacy", 6)
    write_docbin(root / "dev.spacy", 2)
    # the config the inputs step writes for a run without word vectors: it reads only the corpus
    training_config("fast", False, ROOT / "configs").to_disk(root / "config.cfg")
    overrides = {
        **SMALL_MODEL,
        "paths.train": str(root / "train.spacy"),
        "paths.dev": str(root / "dev.spacy"),
    }
    settings = {
        "config": root / "config.cfg",
        "output": root / "training",
        "metrics": root / "metrics",
        "max_steps": 3,
        "overrides": overrides,
        "space": TINY_SPACE,
    }
    first = run_sweep(n_trials=2, **settings)
    # a second run of the same sweep resumes it: 3 trials wanted, 2 finished
    resumed = run_sweep(n_trials=3, **settings)
    return {"root": root, "settings": settings, "first": first, "resumed": resumed}


def test_tiny_sweep_runs_and_resumes(tiny_sweep: dict) -> None:
    assert [r["optimizer"] for r in tiny_sweep["first"]] == ["Adam", "SGD"]
    resumed = tiny_sweep["resumed"]
    assert [r["trial"] for r in resumed] == [0, 1, 2]
    assert [r["optimizer"] for r in resumed] == ["Adam", "SGD", "RAdam"]
    for row in resumed:
        assert 0.0 <= row["dev_f1"] <= 1.0 and row["seconds"] > 0
        assert row["batch_size"] in (20, 40) and row["hidden_width"] in (8, 16)


def test_tiny_sweep_outputs(tiny_sweep: dict) -> None:
    metrics = tiny_sweep["root"] / "metrics"
    with (metrics / "sweep.csv").open(encoding="utf8") as file:
        assert len(list(csv.DictReader(file))) == 3
    assert "| 1 |" in (metrics / "sweep.md").read_text(encoding="utf8")
    assert (metrics / "sweep.png").stat().st_size > 0


def test_tiny_sweep_keeps_configs_and_scores_not_models(tiny_sweep: dict) -> None:
    folder = tiny_sweep["root"] / "training" / "steps-3"
    trials = sorted(p.name for p in folder.glob("trial-*"))
    assert trials == ["trial-000", "trial-001", "trial-002"]
    for name in trials:
        assert sorted(p.name for p in (folder / name).iterdir()) == [
            "config.cfg",
            "meta.json",
            "train_log.jsonl",
        ]
    config = load_config(folder / "trial-001" / "config.cfg")
    assert config["training"]["optimizer"]["@optimizers"] == "SGD.v1"
    assert config["training"]["max_steps"] == 3 and config["training"]["max_epochs"] == 0
    assert config["components"]["ner"]["model"]["embed_width"] == 16


def test_a_sweep_with_other_settings_is_refused(tiny_sweep: dict) -> None:
    with pytest.raises(ValueError, match="other settings"):
        run_sweep(n_trials=3, seed=1, **tiny_sweep["settings"])


def test_a_diverged_trial_scores_zero_and_other_errors_stop_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def diverge(*args, **kwargs):
        raise TrainingDivergedError("[ner] the loss is not finite (nan): training diverged")

    monkeypatch.setattr(sweep, "train_trial", diverge)
    settings = {"config": CONFIG, "max_steps": 3, "space": TINY_SPACE}
    rows = run_sweep(n_trials=1, output=tmp_path / "a", metrics=tmp_path / "a", **settings)
    assert [(r["dev_f1"], r["diverged"]) for r in rows] == [(0.0, True)]
    assert "| diverged |" in (tmp_path / "a" / "sweep.md").read_text(encoding="utf8")

    def fail(*args, **kwargs):
        raise ValueError("something else: training diverged")

    monkeypatch.setattr(sweep, "train_trial", fail)
    with pytest.raises(ValueError, match="something else: training diverged"):
        run_sweep(n_trials=1, output=tmp_path / "b", metrics=tmp_path / "b", **settings)
