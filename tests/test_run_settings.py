"""scripts/run_settings.py, the first step of `all`: a run's settings are recorded, and a run
that leaves out a setting the last one named with --vars is refused while that run's model
is there (issue 24). The whole workflow's case is in test_project_smoke.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import srsly
import typer
from typer.testing import CliRunner

from scripts import run_settings

PROJECT = """\
vars:
  train_file: "assets/eng.train"
  max_steps: 2500
  new_run: false
"""
DEFAULTS = {"train_file": "assets/eng.train", "max_steps": "2500"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project.yml").write_text(PROJECT, encoding="utf8")
    return tmp_path


def run(project: Path, settings: dict[str, str], new_run: str = "false") -> typer.testing.Result:
    """The step as project.yml runs it: record, model, --new-run, NAME=VALUE pairs."""
    app = typer.Typer(add_completion=False)
    app.command()(run_settings.main)
    args = [str(project / "training" / "settings.json"), *(f"{k}={v}" for k, v in settings.items())]
    args += ["--model", str(project / "training" / "model-best"), "--new-run", new_run]
    return CliRunner().invoke(app, [*args, "--project-dir", str(project)])


def record(project: Path) -> dict:
    return srsly.read_json(project / "training" / "settings.json")


def train_model(project: Path) -> None:
    (project / "training" / "model-best").mkdir(parents=True)


OWN = {"train_file": "data/train.txt", "max_steps": "1000"}


def test_the_first_run_records_its_settings_and_what_it_named(project: Path) -> None:
    result = run(project, OWN)
    assert result.exit_code == 0, result.output
    assert record(project) == {"settings": OWN, "defaults": DEFAULTS}
    assert "named with --vars: train_file=data/train.txt, max_steps=1000" in result.stdout


def test_leaving_out_what_the_last_run_named_is_refused_while_its_model_is_there(project: Path) -> None:
    assert run(project, OWN).exit_code == 0
    train_model(project)
    before = (project / "training" / "settings.json").read_bytes()
    result = run(project, {"train_file": "assets/eng.train", "max_steps": "1000"})
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"error: {project / 'training' / 'model-best'} was trained with train_file=data/train.txt "
        f"(named with --vars, recorded in {project / 'training' / 'settings.json'});"
    )
    assert "default train_file=assets/eng.train would apply" in lines[1]
    assert (
        "  python -m spacy project run all . --vars.train_file data/train.txt --vars.max_steps 1000" in lines
    )
    assert "  python -m spacy project run all . --vars.new_run true" in lines
    assert any("WEASEL_CONFIG_OVERRIDES=" in line for line in lines)
    assert (project / "training" / "settings.json").read_bytes() == before


def test_all_settings_left_out_are_named_and_new_ones_kept_in_the_command(project: Path) -> None:
    assert run(project, OWN).exit_code == 0
    train_model(project)
    result = run(project, {"train_file": "assets/eng.train", "max_steps": "2500", "seed": "3"})
    assert result.exit_code == 1
    assert "trained with train_file=data/train.txt, max_steps=1000" in result.stderr
    assert "--vars.train_file data/train.txt --vars.max_steps 1000 --vars.seed 3" in result.stderr


@pytest.mark.parametrize("case", ["same settings", "a new value named", "no model yet", "new_run true"])
def test_runs_that_pass(case: str, project: Path) -> None:
    assert run(project, OWN).exit_code == 0
    if case != "no model yet":
        train_model(project)
    settings, new_run = dict(OWN), "false"
    if case == "a new value named":
        settings["max_steps"] = "5000"
    elif case in ("no model yet", "new_run true"):
        settings = dict(DEFAULTS)
        new_run = "True" if case == "new_run true" else "false"
    result = run(project, settings, new_run)
    assert result.exit_code == 0, result.output
    assert record(project)["settings"] == settings


def test_a_default_edited_in_project_yml_is_not_an_omission(project: Path) -> None:
    """The last run did not name max_steps: a new default in project.yml applies."""
    first = {"train_file": "data/train.txt", "max_steps": "2500"}
    assert run(project, first).exit_code == 0
    train_model(project)
    (project / "project.yml").write_text(PROJECT.replace("2500", "4000"), encoding="utf8")
    result = run(project, {**first, "max_steps": "4000"})
    assert result.exit_code == 0, result.output
    assert record(project)["defaults"]["max_steps"] == "4000"


def test_a_record_without_project_lock_says_why_every_step_runs_again(project: Path) -> None:
    """A run folder copied without project.lock: weasel reruns every step, and the first
    step says why where the user sees it (issue 35)."""
    assert run(project, OWN).exit_code == 0
    result = run(project, OWN)
    assert result.exit_code == 0, result.output
    note = result.stdout.splitlines()[0]
    assert note.startswith(f"note: {project / 'training' / 'settings.json'} is from an earlier run")
    assert "no project.lock" in note and "every step runs again" in note
    (project / "project.lock").write_text("{}\n", encoding="utf8")
    assert "project.lock" not in run(project, OWN).stdout


def test_the_first_run_gets_no_lock_note(project: Path) -> None:
    assert "note:" not in run(project, OWN).stdout


def test_project_yml_records_every_var_that_decides_what_all_writes() -> None:
    """The settings step names every var that a step of `all` reads (the run's name, the
    licence, ... : what decides its outputs), so the guard sees each one left out; only
    `checksums` (checking, not output), `new_run` (the guard's own switch) and
    `train_threads` (how fast, not what: a run-time setting) are not."""
    import re

    project = srsly.read_yaml(Path(__file__).resolve().parent.parent / "project.yml")
    commands = {command["name"]: command for command in project["commands"]}
    used = {
        var
        for name in project["workflows"]["all"]
        for line in commands[name]["script"]
        for var in re.findall(r"\$\{vars\.(\w+)\}", line)
    }
    settings = " ".join(commands["settings"]["script"])
    recorded = set(re.findall(r"(\w+)=\$\{vars\.\1\}", settings))
    assert used - recorded == {"checksums", "new_run", "train_threads"}
    assert {"name", "version", "data_license", "config"} <= recorded
