"""Make sure the corpus files the workflow converts are there.

    python scripts/get_data.py [TRAIN DEV TEST] [--no-verify-checksums]

Each file is either one of the CoNLL-2003 assets of project.yml (the default,
`assets/eng.train`, `assets/eng.testa`, `assets/eng.testb`), which is fetched
and checked as below, or any other file (your own data, `--vars.train_file`
etc.), which only has to exist: its format is the converter's business.

The CoNLL-2003 files, their sums and their public URLs are the `assets` of
project.yml, read from there so they are written down once. Where they come
from, in order:
1. the folder named by the environment variable CONLL2003_DIR (offline use);
2. assets/ itself, if an earlier run (or `spacy project assets`) put them there;
3. the asset's URL, when the machine is online.
A file that is missing everywhere, or whose checksum does not match, stops
the run with a message naming the file and what to do. vectors.py and
transformer.py fetch their wheels the same way (`fetch_one`, with their own
variables VECTORS_DIR and TRANSFORMER_DIR).

Why a script rather than weasel's `spacy project assets` (weasel 1.0.1, tried):
- an asset has one `url`. It may be a local path, and project.yml's `env:`
  can put a variable into it (`${env.conll_dir}/eng.train`), but an unset
  variable makes it "/eng.train": no "the local copy when CONLL2003_DIR is
  set, the download otherwise";
- a checksum that does not match, or a download that fails, is printed (✘)
  and the command exits 0, so `all` would go on to convert a damaged file;
  a file in assets/ with a wrong sum is not fetched again either;
- the smoke test's tiny files would need each sum made a var of its own and
  overridden, where one `--vars.checksums --no-verify-checksums` serves this
  script, vectors.py and transformer.py; and your own data files are no assets.
What is weasel's is used: the assets section is the one list of files, sums
and URLs (so `spacy project assets` fetches the same files), and the sums are
computed by its own `get_checksum`.
"""

import os
import shutil
import sys
import urllib.request
from pathlib import Path

import srsly
import typer
from weasel.util import get_checksum

ENV_VAR = "CONLL2003_DIR"
CONLL_FILES = ("eng.train", "eng.testa", "eng.testb")
CONLL_HINT = "the folder that holds eng.train, eng.testa and eng.testb"


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
    asset: dict[str, str], root: Path, verify: bool = True, env_var: str = ENV_VAR, hint: str = CONLL_HINT
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


def main(
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
        print(f"error: {err}", file=sys.stderr)
        raise typer.Exit(1) from None


if __name__ == "__main__":
    typer.run(main)
