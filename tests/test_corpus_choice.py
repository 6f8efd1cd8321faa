"""What the corpus vars decide besides the converter and the `data` step (tests/test_get_data.py):
the vectors `auto` picks per language, and the step budget that `max_steps` scales."""

from pathlib import Path

from scripts.train import step_budget_overrides
from scripts.assets import resolve_auto

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"


def test_vectors_auto_is_the_english_table_only_for_english() -> None:
    assert resolve_auto("auto", "en") == "en_core_web_md"
    assert resolve_auto("auto", "de") == "none"
    assert resolve_auto("vectors/cc.de.300.vec.gz", "de") == "vectors/cc.de.300.vec.gz"


def test_the_configs_own_budget_changes_nothing() -> None:
    """CoNLL-2003's run (2,500 steps) keeps the committed values."""
    assert step_budget_overrides(CONFIGS / "bilstm_ner.cfg", 2500) == {
        "training.max_steps": 2500,
        "training.eval_frequency": 250,
        "training.optimizer.learn_rate.total_steps": 2500,
        "training.optimizer.learn_rate.warmup_steps": 200,
    }


def test_a_short_run_scores_dev_and_decays_within_its_steps() -> None:
    overrides = step_budget_overrides(CONFIGS / "bilstm_ner.cfg", 1000)
    assert overrides["training.eval_frequency"] == 100
    assert overrides["training.optimizer.learn_rate.total_steps"] == 1000
    assert overrides["training.optimizer.learn_rate.warmup_steps"] == 80
    assert step_budget_overrides(CONFIGS / "bilstm_ner.cfg", 5)["training.eval_frequency"] == 1
    assert step_budget_overrides(CONFIGS / "bilstm_ner.cfg", 0) == {}
