"""The component package's layout (issue 23): the component and its architectures at the
top of components/bilstm_ner, the model's parts in layers/, what `spacy train` reads in
training/; and the files that must name each of its modules do."""

import importlib.metadata
import tomllib
from pathlib import Path

import srsly

REPO = Path(__file__).resolve().parent.parent
CODE = REPO / "components" / "bilstm_ner"


def module_files() -> set[str]:
    return {p.relative_to(REPO).as_posix() for p in CODE.rglob("*.py")}


def test_the_train_step_depends_on_every_module_file() -> None:
    """Editing or adding any module makes `train` due: its deps name each file (a folder
    dep would hash __pycache__ too), and none that is gone."""
    commands = {c["name"]: c for c in srsly.read_yaml(REPO / "project.yml")["commands"]}
    deps = {d for d in commands["train"]["deps"] if d.startswith("components/")}
    assert deps == module_files()


def test_pyproject_installs_every_subpackage() -> None:
    """A non-editable install of bilstm-ner (a wheel of it) carries only the packages
    pyproject.toml lists."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf8"))["tool"]["setuptools"]
    packages = {".".join(p.parent.relative_to(CODE.parent).parts) for p in CODE.rglob("__init__.py")}
    assert {"bilstm_ner", "bilstm_ner.layers", "bilstm_ner.corpora"} <= packages
    assert set(setuptools["packages"]) == packages


def test_every_entry_point_names_a_module_that_is_there() -> None:
    """pyproject.toml's entry points are module paths: each names an existing module, and
    the installed metadata (pip install -e) is that of pyproject.toml now."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf8"))["project"]
    declared = {
        (group, name, value)
        for group, points in project["entry-points"].items()
        for name, value in points.items()
    }
    declared |= {("console_scripts", name, value) for name, value in project["scripts"].items()}
    for _, _, value in declared:
        module = value.split(":")[0]
        path = CODE.parent / Path(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), value
    installed = {
        (point.group, point.name, point.value)
        for group in {g for g, _, _ in declared}
        for point in importlib.metadata.entry_points(group=group)
        if point.value.startswith("bilstm_ner")
    }
    assert installed == declared, "re-run: pip install -e '.[transformer]'"
