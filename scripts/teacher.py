"""Train the teacher the chosen config learns from, or say that it needs none.

    python scripts/teacher.py CONFIG VECTORS OUTPUT [--seed N --max-steps N ...]

A config whose training corpus reads `paths.teacher` (the fast pipeline's,
configs/bilstm_ner_taught.cfg, the default with vectors) is taught by the
accurate pipeline (configs/bilstm_ner_accurate.cfg, with the transformer):
it is trained here into OUTPUT (model-best, model-last) before `train`. For
any other config (the accurate one itself, the from-scratch one) OUTPUT only
gets a note saying no teacher was needed, so the step costs nothing.
"""

from pathlib import Path

import srsly
import typer
from training_runs import (
    TEACHER_CONFIG,
    choose_config,
    reads_teacher,
    step_budget_overrides,
    train_timed,
    vectors_overrides,
)

NOTE = "NO_TEACHER.txt"


def main(
    config: str = typer.Argument(..., help="The config `train` trains (--vars.config: auto, a name, a path)"),
    vectors: Path = typer.Argument(..., help="Pipeline folder made by scripts/vectors.py"),
    output: Path = typer.Argument(..., help="Output folder of the teacher"),
    seed: int = typer.Option(0, help="Random seed"),
    max_steps: int = typer.Option(0, help="Training steps (0: the config's)"),
    train_path: Path = typer.Option(Path("corpus/train.spacy"), "--train"),
    dev_path: Path = typer.Option(Path("corpus/dev.spacy"), "--dev"),
    lang: str = typer.Option("en", help="The pipeline's language"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
) -> None:
    """Train the accurate pipeline as the teacher if CONFIG is taught by one."""
    student = choose_config(config, vectors)
    output.mkdir(parents=True, exist_ok=True)
    if not reads_teacher(student):
        (output / NOTE).write_text(f"{student} learns from no teacher: nothing was trained here.\n")
        print(f"{student} learns from no teacher")
        return
    (output / NOTE).unlink(missing_ok=True)
    overrides = {
        **step_budget_overrides(TEACHER_CONFIG, max_steps),
        "paths.train": str(train_path),
        "paths.dev": str(dev_path),
        "system.seed": seed,
        "nlp.lang": lang,
        **vectors_overrides(TEACHER_CONFIG, vectors),
    }
    print(f"teacher of {student}: {TEACHER_CONFIG} into {output}")
    seconds = train_timed(TEACHER_CONFIG, output, overrides, use_gpu=gpu_id)
    srsly.write_json(output / "train_seconds.json", {"seconds": seconds})


if __name__ == "__main__":
    typer.run(main)
