"""Serve the demo page (scripts/demo_app.py) on localhost until Ctrl-C.

    python scripts/demo.py training/fast/model-best --port 8501

`python -m spacy project run demo` runs this with `--vars.demo_model` (a
pipeline folder or an installed package, e.g. the wheel built by `package`)
and `--vars.demo_port`. The pipeline is checked first, so a missing model is
one clear line rather than a traceback in the browser; then this process
becomes the Streamlit server (exec), so Ctrl-C, or a signal to its pid, stops
the server itself.
"""

import os
import sys
from pathlib import Path

import spacy
import typer

APP = Path(__file__).resolve().parent / "demo_app.py"


def model_exists(model: str) -> bool:
    """A pipeline folder (it has a config.cfg) or an installed pipeline package."""
    return (Path(model) / "config.cfg").is_file() or spacy.util.is_package(model)


def streamlit_command(model: str, host: str, port: int, threshold: float) -> list[str]:
    """The Streamlit server's command line: bound to `host`, no browser opened, no
    usage statistics sent, no file watcher (the page does not change while served),
    no developer menu (no "Deploy" button)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
        "--",
        model,
        "--threshold",
        str(threshold),
    ]


def main(
    model: str = typer.Argument("training/fast/model-best", help="Pipeline folder or installed package name"),
    port: int = typer.Option(8501, help="Port on localhost"),
    host: str = typer.Option("localhost", help="Address to bind (localhost: this machine only)"),
    threshold: float = typer.Option(0.5, help="Initial confidence threshold of the page's slider"),
) -> None:
    """Check the pipeline, print the page's address, then run the Streamlit server."""
    if not model_exists(model):
        typer.echo(
            f"No pipeline at '{model}': run `python -m spacy project run all` first, or name a pipeline "
            "folder or installed package with --vars.demo_model",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"Demo of {model} at http://{host}:{port} (Ctrl-C stops it)", nl=True)
    sys.stdout.flush()
    command = streamlit_command(model, host, port, threshold)
    os.execv(command[0], command)


if __name__ == "__main__":
    typer.run(main)
