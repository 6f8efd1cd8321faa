"""Does the shipped wheel find what the trained folder finds? Checked in a clean venv.

    python -m benchmarks.wheel_check packages/fast training/fast/model-best corpus/test.spacy

(`spacy project run check_wheel`; the first argument is a wheel, or the folder the package
step wrote it under.)

Makes a new venv (with pip, none of this environment's packages), installs
`torch==2.13.0` and the wheel into it as a user would (`pip install torch==2.13.0 WHEEL`:
pinning torch keeps pip from pulling a CUDA build), loads the package by name from `/` so
nothing of the checkout is importable, and runs the raw texts of the corpus through it.
Here, the folder the wheel was built from runs the same texts with the project's package.
Prints how many entities each found, how many differ in span or label, and the largest
difference in confidence; exits 1 when any entity differs. One thread each, so both run
the same kernels.
"""

import json
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import spacy
import typer

from benchmarks.benchmark import corpus_texts

# what runs inside the clean venv: the package loaded by name, each text's entities
TAG_BY_NAME = """
import json, sys
import spacy
nlp = spacy.load(sys.argv[1])
texts = json.load(open(sys.argv[2]))
print(json.dumps([[[e.start_char, e.end_char, e.label_, e._.confidence] for e in doc.ents]
                  for doc in nlp.pipe(texts)]))
"""


def find_wheel(path: Path) -> Path:
    """`path` itself when it is a file, else the one wheel under it (the package step's folder)."""
    if path.is_file():
        return path
    wheels = sorted(path.glob("**/dist/*.whl"))
    if len(wheels) != 1:
        sys.exit(f"Expected one wheel under {path}/**/dist/, found {len(wheels)}: name the wheel itself")
    return wheels[0]


def package_name(wheel: Path) -> str:
    """The import name of a pipeline wheel: its file name up to the version."""
    return wheel.name.split("-")[0]


def clean_venv(folder: Path, wheel: Path, torch: str) -> Path:
    """A venv holding only what `pip install torch==VERSION WHEEL` brings; its python."""
    venv.create(folder, with_pip=True, symlinks=True)
    python = folder / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"torch=={torch}", str(wheel.resolve())],
        check=True,
    )
    return python


def wheel_entities(python: Path, name: str, texts: list[str], scratch: Path) -> list[list[list]]:
    texts_file = scratch / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf8")
    result = subprocess.run(
        [str(python), "-c", TAG_BY_NAME, name, str(texts_file)],
        cwd="/",
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"The wheel's package {name} did not run in the clean venv:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(ours: list[list[list]], theirs: list[list[list]]) -> dict[str, float]:
    """Entities found by each, those that differ in span or label, the largest confidence gap."""
    differ = 0
    gap = 0.0
    for doc_ours, doc_theirs in zip(ours, theirs, strict=True):
        spans_ours = {tuple(e[:3]): e[3] for e in doc_ours}
        spans_theirs = {tuple(e[:3]): e[3] for e in doc_theirs}
        differ += len(spans_ours.keys() ^ spans_theirs.keys())
        for span in spans_ours.keys() & spans_theirs.keys():
            gap = max(gap, abs(spans_ours[span] - spans_theirs[span]))
    return {
        "folder_entities": sum(map(len, ours)),
        "wheel_entities": sum(map(len, theirs)),
        "differing_entities": differ,
        "max_confidence_gap": gap,
    }


def main(
    wheel: Path = typer.Argument(..., exists=True, help="The pipeline's wheel, or a folder holding it"),
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="The folder it was built from"),
    corpus: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .spacy file: its raw texts"),
    torch_version: str = typer.Option("2.13.0", "--torch", help="The torch version pinned in the venv"),
    output: Path | None = typer.Option(None, help="Write the figures as JSON here"),
) -> None:
    import torch

    torch.set_num_threads(1)
    wheel = find_wheel(wheel)
    nlp = spacy.load(model)
    texts = corpus_texts(corpus, nlp.vocab)
    ours = [
        [[e.start_char, e.end_char, e.label_, e._.confidence] for e in doc.ents] for doc in nlp.pipe(texts)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        python = clean_venv(Path(scratch) / "venv", wheel, torch_version)
        theirs = wheel_entities(python, package_name(wheel), texts, Path(scratch))
    figures = {"wheel": str(wheel), "model": str(model), "texts": len(texts), **compare(ours, theirs)}
    print(json.dumps(figures, indent=2))
    if output:
        output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf8")
    if figures["differing_entities"]:
        sys.exit(1)


if __name__ == "__main__":
    typer.run(main)
