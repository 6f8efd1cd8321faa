"""Remember a run's settings, and refuse a run that would silently retrain over them.

    python scripts/run_settings.py training/fast/settings.json --model training/fast/trained/model-best \\
        [--new-run true] train_file=data/train.txt dev_file=... max_steps=1000 name=my_ner ...

The first step of `all`. weasel reads a setting from `--vars.NAME VALUE` or, when the
command line leaves it out, from project.yml's `vars`: nothing carries a run's
`--vars` over to the next one. So a user who trained on their own files and then types
`spacy project run all` alone would convert CoNLL-2003 and train over their model. This
step writes the settings of each run to RECORD (its output, so weasel skips it when
nothing changed), and stops a run, before any other step, when a setting that the last
run named with `--vars` is now left out (it falls back to project.yml's default) while
that run's model is there. The message says how to go on: the command with the last
run's `--vars`, `--vars.new_run true` to train with the defaults and replace the model,
and how to keep the settings for good (project.yml's `vars`, or weasel's
`WEASEL_CONFIG_OVERRIDES` for a shell).

A setting named with a new value (`--vars.max_steps 5000`) is a choice, not an
omission, and passes; so does a default edited in project.yml, since the last run
did not name that setting either. Each config's run has its own folder, so its own
record: a run of another config is not an omission.

The commands it prints run as printed: weasel's `run` takes the project folder as its
second argument, so a `--vars...` right after `all` would be read as that folder; they
name it (`.`), and tests/test_printed_commands.py parses them with weasel's own CLI.

A RECORD that is there while project.lock is not (outputs copied from another clone, or
the lock deleted) gets a note: weasel decides which steps are done from the hashes it
keeps in project.lock, so without it every step runs again.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import srsly
import typer

RUN_COMMAND = "python -m spacy project run all ."
LOCK_FILE = "project.lock"
TRUE = {"true", "1", "yes", "on"}


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """NAME=VALUE arguments as a dict (a VALUE may hold "=")."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}")
        settings[name] = value
    return settings


def project_defaults(project_dir: Path, names: list[str]) -> dict[str, str]:
    """project.yml's `vars` for `names`, as strings, the way weasel writes them into a command."""
    values = srsly.read_yaml(project_dir / "project.yml").get("vars", {})
    # weasel writes a string as it is and other values as JSON (false, not False)
    return {
        name: values[name] if isinstance(values[name], str) else srsly.json_dumps(values[name])
        for name in names
        if name in values
    }


def overrides(settings: dict[str, str], defaults: dict[str, str]) -> dict[str, str]:
    """The settings that differ from the defaults: those a run named with --vars."""
    return {name: value for name, value in settings.items() if defaults.get(name) != value}


def fallen_back(current: dict[str, str], defaults: dict[str, str], record: dict) -> list[str]:
    """Settings the last run named with --vars that this run leaves to their default."""
    last, last_defaults = record.get("settings", {}), record.get("defaults", {})
    named_last_time = overrides(last, last_defaults)
    return [
        name
        for name in current
        if name in named_last_time and current[name] == defaults.get(name) and current[name] != last[name]
    ]


def vars_arguments(settings: dict[str, str]) -> str:
    return " ".join(f"--vars.{name} {shlex.quote(value)}" for name, value in settings.items())


def refusal(record_path: Path, model: Path, current: dict, defaults: dict, record: dict) -> str:
    """What the refused run says: what would happen, and the commands that go on."""
    names = fallen_back(current, defaults, record)
    last = record["settings"]
    before = ", ".join(f"{name}={last[name]}" for name in names)
    now = ", ".join(f"{name}={current[name]}" for name in names)
    # the last run's --vars, with any this run names on top
    go_on = {**overrides(last, record.get("defaults", {})), **overrides(current, defaults)}
    return "\n".join(
        [
            f"error: {model} was trained with {before} (named with --vars, recorded in {record_path});",
            f"this run leaves {'it' if len(names) == 1 else 'them'} out, so project.yml's default "
            f"{now} would apply and train a new model over it. Nothing was changed.",
            "To go on with that model's settings, name them again:",
            f"  {RUN_COMMAND} {vars_arguments(go_on)}",
            "To train with the defaults and replace the model:",
            f"  {RUN_COMMAND} --vars.new_run true",
            "To keep your settings for good, write them under `vars` in project.yml, or for a shell:",
            f"  export WEASEL_CONFIG_OVERRIDES={shlex.quote(vars_arguments(go_on))}",
        ]
    )


def lock_note(record_path: Path) -> str:
    """Why the steps of a run whose outputs are there run again: no project.lock."""
    return (
        f"note: {record_path} is from an earlier run, but there is no {LOCK_FILE}: weasel decides "
        f"which steps are done from the hashes it keeps in {LOCK_FILE}, so every step runs again "
        f"(and `--dry` lists inputs of earlier steps as missing). Outputs copied from another clone "
        f"(corpus/, training/, metrics/, packages/) count as done only with that clone's {LOCK_FILE}."
    )


def main(
    record_path: Path = typer.Argument(..., metavar="RECORD", help="JSON file of the settings (written)"),
    settings: list[str] = typer.Argument(..., metavar="NAME=VALUE...", help="This run's settings"),
    model: list[Path] = typer.Option([], help="A model this run would retrain (refuse if it exists)"),
    new_run: str = typer.Option("false", help="true: accept settings that fall back to their defaults"),
    project_dir: Path = typer.Option(Path("."), help="Folder holding project.yml"),
) -> None:
    """Record this run's settings; refuse if one the last run named falls back to its default."""
    current = parse_settings(settings)
    defaults = project_defaults(project_dir, list(current))
    if record_path.is_file() and new_run.strip().lower() not in TRUE:
        record = srsly.read_json(record_path)
        models = [path for path in model if path.exists()]
        if models and fallen_back(current, defaults, record):
            print(refusal(record_path, models[0], current, defaults, record), file=sys.stderr)
            raise typer.Exit(1)
    if record_path.is_file() and not (project_dir / LOCK_FILE).is_file():
        print(lock_note(record_path))
    record_path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(record_path, {"settings": current, "defaults": defaults})
    named = overrides(current, defaults)
    listed = ", ".join(f"{name}={value}" for name, value in named.items()) or "none, all defaults"
    print(f"{record_path}: this run's settings (named with --vars: {listed})")


if __name__ == "__main__":
    typer.run(main)
