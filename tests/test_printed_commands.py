"""Every `spacy project run` command that a doc or a message prints runs as printed
(issue 35): each is parsed by weasel's own command line (spaCy's `project run`, a click
command), from the project folder, without running anything. A `--vars...` right after
the command's name is read as the project folder and fails (`dir '--vars.x' does not
exist`); a var or a command project.yml does not have is refused here too.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import srsly
import typer
import typer.main

REPO = Path(__file__).resolve().parent.parent
PROJECT = srsly.read_yaml(REPO / "project.yml")
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# a command in inline code, a message's backticks or a config's comment
INLINE = re.compile(r"`((?:python -m )?spacy project run [^`]+)`")
LEADING_ENV = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S+\s+)+")


def block_commands(text: str) -> list[str]:
    """The `spacy project run` lines of a page's fenced code blocks, continuation lines
    joined and comments dropped."""
    commands, in_block, pending = [], False, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block, pending = not in_block, ""
            continue
        if not in_block:
            continue
        line = pending + line
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        command = LEADING_ENV.sub("", line.split(" #")[0].strip())
        if re.match(r"(python -m )?spacy project run\b", command):
            commands.append(command)
    return commands


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for every command in README.md, docs/, configs/ and the code's messages."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf8")
        found += [(page.name, command) for command in block_commands(text)]
        found += [(page.name, " ".join(m.split())) for m in INLINE.findall(text)]
    sources = [*(REPO / "configs").glob("*.cfg"), *(REPO / "scripts").glob("*.py")]
    sources += (REPO / "components").rglob("*.py")
    for source in sorted(sources):
        found += [
            (source.name, " ".join(m.split())) for m in INLINE.findall(source.read_text(encoding="utf8"))
        ]
    return found


def refusal_commands() -> list[str]:
    """The commands the settings guard prints when it stops a run."""
    from scripts import run_settings

    record = {
        "settings": {"train_file": "data/train.txt", "name": "my_ner", "data_license": "CC BY 4.0"},
        "defaults": {"train_file": "assets/eng.train", "name": "conll03_bilstm_ner", "data_license": ""},
    }
    current = {"train_file": "assets/eng.train", "name": "conll03_bilstm_ner", "data_license": ""}
    text = run_settings.refusal(
        Path("training/fast/settings.json"), Path("m"), current, record["defaults"], record
    )
    commands = [line.strip() for line in text.splitlines() if "spacy project run" in line]
    assert len(commands) == 2
    return commands


def parse(command: str) -> tuple[str, Path, dict[str, str]]:
    """The command's project command (or workflow), folder and --vars as weasel's CLI reads
    them; click's error (as pytest's failure) if it cannot."""
    from spacy.cli import app
    from weasel.util import parse_config_overrides

    words = shlex.split(command)
    words = words[words.index("run") + 1 :]
    run = typer.main.get_command(app).commands["project"].commands["run"]  # type: ignore[attr-defined]
    try:
        ctx = run.make_context("run", words)
    except Exception as err:  # click's usage errors (typer carries its own copy of click)
        pytest.fail(f"{command!r}: {getattr(err, 'format_message', err.__str__)()}")
    overrides = parse_config_overrides(ctx.args)
    return ctx.params["subcommand"], Path(ctx.params["project_dir"]), overrides


COMMANDS = documented_commands()


def test_the_docs_print_commands_to_check() -> None:
    where = {name for name, _ in COMMANDS}
    assert {"README.md", "own_data.md", "accurate.md"} <= where
    assert any("--vars.config accurate" in command for _, command in COMMANDS)


@pytest.mark.parametrize("where,command", COMMANDS, ids=[f"{w}: {c}" for w, c in COMMANDS])
def test_a_printed_command_parses_as_printed(
    where: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    name, project_dir, overrides = parse(command)
    assert project_dir.resolve() == REPO
    assert name in {c["name"] for c in PROJECT["commands"]} | set(PROJECT["workflows"]), name
    unknown = [key for key in overrides if not key.startswith("vars.") or key[5:] not in PROJECT["vars"]]
    assert not unknown, f"{where}: {command!r} names vars project.yml does not have: {unknown}"


def test_the_guards_advice_parses_as_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    go_on, new_run = refusal_commands()
    assert parse(go_on)[2] == {
        "vars.train_file": "data/train.txt",
        "vars.name": "my_ner",
        "vars.data_license": "CC BY 4.0",
    }
    assert parse(new_run)[2] == {"vars.new_run": True}


def test_a_command_without_the_project_folder_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the check catches: the form the issue found in own_data.md and the guard."""
    monkeypatch.chdir(REPO)
    with pytest.raises(pytest.fail.Exception, match="does not exist"):
        parse("python -m spacy project run all --vars.new_run true")
