"""Which copy of the component's code registered the `bilstm_ner` factory, and whether it is ours.

spaCy keeps one global registry of factories: every pipeline this project
packages ships a copy of the component's modules, and a second copy that
registers `bilstm_ner` from other files is spaCy's error E004. So a packaged
pipeline's `__init__` calls `load_component_code` instead of importing its
modules: the first copy registers the factory; a later one whose code is the
same (same digest of the module files, its subpackages' too) leaves it and
shares that code; a later one whose code differs stops with
`ComponentCodeConflict`, naming both copies, rather than running a model on
code other than the code it was trained with.

Only spaCy and the standard library are imported here (no registrations), so
the check runs before any of the component's own modules is imported.
"""

import hashlib
import importlib
import importlib.metadata
from collections.abc import Sequence
from pathlib import Path

from spacy.language import Language
from spacy.util import registry

FACTORY = "bilstm_ner"


class ComponentCodeConflict(ImportError):
    """Two packages carry different code for the `bilstm_ner` factory; one process can run only one."""


def module_files(folder: Path) -> list[str]:
    """The component's module files under `folder`, as sorted relative paths
    ("pipeline.py", "layers/crf.py"): the package's own and those of its
    subpackages (folders with an `__init__.py`, at any depth, their `__init__.py`
    included); the package's own `__init__.py` is left out. Folders that are
    not packages (the pipeline's data folder in a packaged pipeline) are not read.
    """
    found = []
    for path in folder.iterdir():
        if path.is_dir() and (path / "__init__.py").is_file():
            found += [f"{path.name}/{name}" for name in module_files(path)] + [f"{path.name}/__init__.py"]
        elif path.suffix == ".py" and path.name != "__init__.py" and path.is_file():
            found.append(path.name)
    return sorted(found)


def code_digest(folder: Path) -> str:
    """sha256 of the component's modules in `folder` and its subpackages
    (relative paths and bytes, sorted by path; see module_files).

    The top-level `__init__.py` is left out: each package writes its own, while
    the modules, which decide what the model computes, are copied unchanged.
    """
    digest = hashlib.sha256()
    for name in module_files(folder):
        digest.update(name.encode("utf8") + b"\0" + (folder / name).read_bytes() + b"\0")
    return digest.hexdigest()


CODE_DIGEST = code_digest(Path(__file__).parent)


def registered_copy() -> tuple[str, str | None] | None:
    """The package whose code registered the factory, and that code's digest (None when
    that package predates the digest); None when the factory is not registered.

    A `spacy_factories` entry point for the factory (the project's own
    `bilstm_ner` package, installed editable) is loaded first: spaCy would
    load it anyway when the pipeline's Language is made, after any copy
    registered here, and fail with E004.
    """
    for entry_point in importlib.metadata.entry_points(group="spacy_factories", name=FACTORY):
        entry_point.load()
    if not Language.has_factory(FACTORY):
        return None
    factory = registry.factories.get(Language.get_factory_name(FACTORY))
    home = factory.__module__.rpartition(".")[0]
    try:
        return home, importlib.import_module(f"{home}.code_identity").CODE_DIGEST
    except (ImportError, AttributeError):
        return home, None


def load_component_code(package: str, modules: Sequence[str]) -> str:
    """Register the factory from `package`'s copy of `modules`, or share the copy
    already registered if its code is the same; return the package in use.
    `modules` are named relative to `package`, a subpackage's with a dot
    (`pipeline`, `layers.crf`), and imported in that order.

    Raises ComponentCodeConflict when the registered copy's code differs (or is
    too old to tell), naming both packages and what to do.
    """
    registered = registered_copy()
    if registered is None:
        for module in modules:
            importlib.import_module(f"{package}.{module}")
        return package
    home, digest = registered
    if digest == CODE_DIGEST:
        return home
    theirs = f"code {digest[:12]}" if digest else "code from before code digests (an older package)"
    raise ComponentCodeConflict(
        f"[{FACTORY}] {package} carries the bilstm_ner component's code {CODE_DIGEST[:12]}, but this "
        f"process already runs the factory from {home} ({theirs}). spaCy holds one factory per "
        "name per process, and running this pipeline on other code than it was trained with could "
        "silently change its predictions. Load the two pipelines in separate processes, or package "
        "both with the same version of the component (scripts/package.py)."
    )
