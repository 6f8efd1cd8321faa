"""The thread policy: where the number comes from, that predict computes on it,
and that torch's own setting is back after every call (issue 22, item 1)."""

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import spacy
import torch
from bilstm_ner import torch_threads as policy
from bilstm_ner.pipeline import BiLSTMEntityRecognizer
from bilstm_ner.torch_threads import ENV_VAR, limited_torch_threads, resolve_torch_threads


@pytest.fixture
def torch_at_two() -> Iterator[None]:
    """torch set to 2 threads for the test (as a user's own setting would be),
    whatever OMP_NUM_THREADS the tests run with; the previous setting after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def threads_inside_predict(ner: BiLSTMEntityRecognizer, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets torch's thread count each time the model is called."""
    seen: list[int] = []
    real = ner.model_scores

    def spy(docs):
        seen.append(torch.get_num_threads())
        return real(docs)

    monkeypatch.setattr(ner, "model_scores", spy)
    return seen


def test_the_number_comes_from_the_setting_then_the_environment_then_one() -> None:
    assert resolve_torch_threads(None, {}) == 1
    assert resolve_torch_threads(None, {ENV_VAR: " 3 "}) == 3
    assert resolve_torch_threads(None, {ENV_VAR: ""}) == 1
    assert resolve_torch_threads(2, {ENV_VAR: "3"}) == 2  # the component's own setting wins
    assert resolve_torch_threads(0, {}) == 0
    for bad in ("two", "-1", "1.5"):
        with pytest.raises(ValueError, match=ENV_VAR):
            resolve_torch_threads(None, {ENV_VAR: bad})
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="torch_threads must be a whole number"):
            resolve_torch_threads(bad, {})


def test_the_block_sets_and_restores_torch_even_on_an_error(torch_at_two: None) -> None:
    with limited_torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError, match="inside"):
        with limited_torch_threads(1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == 2
    with limited_torch_threads(0):
        assert torch.get_num_threads() == 2  # 0: torch's own setting, untouched


def test_the_first_change_is_logged_once(torch_at_two: None, monkeypatch, caplog) -> None:
    monkeypatch.setattr(policy, "_announced", False)
    with caplog.at_level(logging.INFO, logger="bilstm_ner"):
        for _ in range(3):
            with limited_torch_threads(1):
                pass
    messages = [r.getMessage() for r in caplog.records if r.name == "bilstm_ner"]
    assert len(messages) == 1
    assert "1 torch thread" in messages[0] and "set to 2" in messages[0] and ENV_VAR in messages[0]


def test_predict_computes_on_one_thread_by_default_and_gives_torch_back(
    model_dir: Path, torch_at_two: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    nlp = spacy.load(model_dir)
    ner = nlp.get_pipe("ner")
    assert ner.torch_threads == 1
    seen = threads_inside_predict(ner, monkeypatch)
    docs = list(nlp.pipe(["John Smith lives in Paris .", "Acme Corp rose ."] * 3, batch_size=2))
    assert seen == [1, 1, 1]
    assert torch.get_num_threads() == 2
    assert any(doc.ents for doc in docs)


def test_config_and_environment_change_it(
    model_dir: Path, torch_at_two: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, "2")
    torch.set_num_threads(1)
    from_env = spacy.load(model_dir)
    assert from_env.get_pipe("ner").torch_threads == 2
    seen = threads_inside_predict(from_env.get_pipe("ner"), monkeypatch)
    from_env("Paris is big .")
    assert seen == [2] and torch.get_num_threads() == 1
    # the config's setting wins over the environment; 0 keeps torch's own setting
    own = spacy.load(model_dir, config={"components": {"ner": {"torch_threads": 0}}})
    ner = own.get_pipe("ner")
    assert ner.torch_threads == 0
    seen = threads_inside_predict(ner, monkeypatch)
    own("Paris is big .")
    assert seen == [1]
    ner.torch_threads = 2
    own("Paris is big .")
    assert seen == [1, 2] and torch.get_num_threads() == 1
    with pytest.raises(ValueError, match=r"\[ner\] torch_threads must be"):
        ner.torch_threads = -2
    monkeypatch.setenv(ENV_VAR, "many")
    with pytest.raises(ValueError, match=ENV_VAR):
        spacy.load(model_dir)


def test_a_pipeline_saved_before_the_setting_loads_with_the_default(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    old = tmp_path / "old"
    spacy.load(model_dir).to_disk(old)
    config = (old / "config.cfg").read_text(encoding="utf8")
    assert "torch_threads = null" in config
    (old / "config.cfg").write_text(config.replace("torch_threads = null\n", ""), encoding="utf8")
    assert spacy.load(old).get_pipe("ner").torch_threads == 1


def test_the_same_entities_on_one_and_two_threads(model_dir: Path, torch_at_two: None) -> None:
    texts = [
        "John Smith lives in New York and works for Acme Corp .",
        "Mary Jones met Peter Brown in Berlin .",
    ]
    results = {}
    for n in (1, 2):
        nlp = spacy.load(model_dir, config={"components": {"ner": {"torch_threads": n}}})
        results[n] = [
            [(e.start, e.end, e.label_, e._.confidence) for e in doc.ents] for doc in nlp.pipe(texts)
        ]
    assert results[1] and any(results[1])
    for one, two in zip(results[1], results[2], strict=True):
        assert [e[:3] for e in one] == [e[:3] for e in two]
        assert [e[3] for e in one] == pytest.approx([e[3] for e in two], abs=1e-5)


# ---------------------------------------------------------------- training (issue 33, part 1)


class FakeMachine:
    """What TrainingThreads measures, driven by the test: other processes keep
    `others` cores busy; this process uses `own_rate` CPU seconds a second."""

    def __init__(self, others: float, own_rate: float = 1.0) -> None:
        self.others, self.own_rate, self.start = others, own_rate, time.monotonic()

    def machine(self) -> tuple[float, float]:
        elapsed = time.monotonic() - self.start
        return (self.others + self.own_rate) * elapsed, 2.0 * elapsed

    def own(self) -> float:
        return self.own_rate * (time.monotonic() - self.start)


def test_training_threads_come_from_the_setting_then_the_environment_then_auto() -> None:
    assert policy.resolve_training_threads("auto", {}) == ("auto", "the default")
    assert policy.resolve_training_threads(None, {"OMP_NUM_THREADS": "1"})[0] == 1
    assert policy.resolve_training_threads("auto", {policy.TRAIN_ENV_VAR: "3", "OMP_NUM_THREADS": "1"})[0] == 3
    assert policy.resolve_training_threads(2, {"OMP_NUM_THREADS": "1"})[0] == 2  # --vars.train_threads wins
    assert policy.resolve_training_threads("auto", {policy.TRAIN_ENV_VAR: "auto", "OMP_NUM_THREADS": "1"})[0] == "auto"
    with pytest.raises(ValueError, match="OMP_NUM_THREADS"):
        policy.resolve_training_threads("auto", {"OMP_NUM_THREADS": "many"})
    with pytest.raises(ValueError, match="train threads"):
        policy.resolve_training_threads(-2, {})


def test_another_process_holding_a_share_of_a_core_takes_it() -> None:
    assert policy.threads_for(0.0, 2) == 2
    assert policy.threads_for(0.2, 2) == 2
    assert policy.threads_for(0.5, 2) == 1
    assert policy.threads_for(1.0, 4) == 3
    assert policy.threads_for(3.5, 2) == 1  # never fewer than one


@pytest.mark.parametrize(("others", "expected"), [(0.0, 2), (1.0, 1)])
def test_auto_trains_on_the_cores_the_other_processes_leave(
    others: float, expected: int, torch_at_two: None, capsys: pytest.CaptureFixture
) -> None:
    fake = FakeMachine(others)
    callback = policy.TrainingThreads("auto", environ={}, machine=fake.machine, own=fake.own, cores=2)
    callback(None, {"step": 0, "epoch": 0})
    assert torch.get_num_threads() == expected
    assert f"bilstm_ner trains on {expected} torch thread(s) (auto" in capsys.readouterr().out


def test_auto_gives_a_core_back_when_another_process_starts(
    monkeypatch: pytest.MonkeyPatch, torch_at_two: None, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(policy, "RECHECK_SECONDS", 0.0)
    fake = FakeMachine(0.0)
    callback = policy.TrainingThreads("auto", environ={}, machine=fake.machine, own=fake.own, cores=2)
    callback()
    assert torch.get_num_threads() == 2
    fake.others = 1.0  # from now on
    fake.start = time.monotonic()
    callback._last_check = (time.monotonic(), 0.0, 0.0)
    time.sleep(0.2)
    callback()
    assert torch.get_num_threads() == 1
    assert "now 1 torch thread(s)" in capsys.readouterr().out


def test_a_fixed_number_is_set_once_and_said(torch_at_two: None, capsys: pytest.CaptureFixture) -> None:
    callback = policy.TrainingThreads("auto", environ={"OMP_NUM_THREADS": "1"})
    callback()
    callback()
    assert torch.get_num_threads() == 1
    assert capsys.readouterr().out.count("from OMP_NUM_THREADS") == 1


def test_every_bilstm_config_trains_under_the_policy() -> None:
    from scripts.assets import training_config

    configs = Path(__file__).parent.parent / "configs"
    for name in ["fast", *(p.stem for p in (configs / "variants").glob("*.cfg"))]:
        for with_vectors in (True, False):
            before_update = training_config(name, with_vectors, configs)["training"]["before_update"]
            assert before_update["@callbacks"] == policy.TRAIN_THREADS_CALLBACK, name
            assert before_update["threads"] == "auto", name
