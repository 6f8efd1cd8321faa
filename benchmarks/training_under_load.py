"""Training under load: update-step words/s of a config quiet, beside one busy
process, and beside one other training, for several torch thread settings.

    python -m benchmarks.training_under_load corpus/vectors [--config CFG] [--glove corpus/glove]
        [--settings default,one,torch] [--steps 30] [--output metrics/training_under_load]

Each measurement is a fresh process (thread settings and OpenMP's environment
are read when torch loads), which initializes the config as `spacy train`
does, runs a few warm-up steps, then times `--steps` update steps of spaCy's
own training loop (`train_while_improving`, evaluation left out). The load is
started and stopped by the benchmark itself: a busy loop on one core, or
another training of the same config on one torch thread (what a second run,
`seeds` or a sweep trial is). Settings:

- default: what `spacy train` does with the config when the user sets
  nothing (its [training.before_update] callback bilstm_ner.train_threads.v1,
  "auto": the idle cores, measured again every few seconds);
- one: one torch thread (OMP_NUM_THREADS=1);
- torch: torch's own default, one thread per core (the policy switched off);
- passive: torch's default with OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads
  sleep instead of spinning);
- idle: as many threads as cores were idle at start, fixed for the run.

Each setting's figure is the median over `--rounds` rounds, the settings
alternating within a load condition, so slow drift on a shared machine hits
all alike. Ratios are against the same setting's quiet figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.reporting import machine_info, write_report

# run as a module from the repository (the parent and the trainings it starts)
MODULE = "benchmarks.training_under_load"
SETTINGS = ("default", "one", "torch", "passive", "idle")
LOADS = ("quiet", "busy", "training")


def setting_environment(setting: str) -> dict[str, str]:
    """The environment a measured training starts with: the user's, minus any
    thread variables (the setting decides them), plus what the setting names."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.pop("BILSTM_NER_TRAIN_THREADS", None)
    if setting == "one":
        env["OMP_NUM_THREADS"] = "1"
    elif setting in ("torch", "passive"):
        env["BILSTM_NER_TRAIN_THREADS"] = "0"  # the policy leaves torch alone
        if setting == "passive":
            env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def worker(args: argparse.Namespace) -> None:
    """One measured (or endless, for --forever) training in this process, with the
    config's own [training.before_update] thread policy, as `spacy train` runs it."""
    if args.setting == "idle":
        from bilstm_ner.torch_threads import TRAIN_ENV_VAR, cpu_ticks, usable_cores

        before = cpu_ticks()
        time.sleep(0.5)
        after = cpu_ticks()
        busy = (after[0] - before[0]) / 0.5 if before and after else 0.0
        os.environ[TRAIN_ENV_VAR] = str(max(1, round(usable_cores() - busy)))
    import torch

    from benchmarks.benchmark import UpdateSteps

    overrides = {
        "paths.vectors": args.vectors,
        "paths.train": args.train,
        "paths.dev": args.dev,
        "system.seed": args.seed,
        **({"paths.glove": args.glove} if args.glove else {}),
    }
    loop = UpdateSteps(Path(args.config), overrides)
    if args.forever:
        Path(args.ready).touch()
        for _ in loop.steps:
            pass
        return
    loop.run(args.warmup)
    measured = loop.run(args.steps)
    result = {
        "words": measured["words"],
        "seconds": measured["seconds"],
        "cpu_seconds": measured["cpu_seconds"],
        "words_per_second": measured["words"] / measured["seconds"],
        "torch_threads": torch.get_num_threads(),
    }
    Path(args.result).write_text(json.dumps(result))


def measure(args: argparse.Namespace, setting: str, result: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", MODULE, args.vectors, "--worker", "--setting", setting]
    command += ["--result", str(result)]
    command += ["--config", args.config, "--train", args.train, "--dev", args.dev]
    command += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    command += ["--glove", args.glove] if args.glove else []
    subprocess.run(command, env=setting_environment(setting), check=True, stdout=subprocess.DEVNULL)
    return json.loads(result.read_text())


def start_load(args: argparse.Namespace, load: str, scratch: Path) -> subprocess.Popen | None:
    """The other process of a load condition, running once this returns."""
    if load == "quiet":
        return None
    if load == "busy":
        process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
        return process
    ready = scratch / "other_ready"
    ready.unlink(missing_ok=True)
    command = [sys.executable, "-m", MODULE, args.vectors, "--worker", "--forever", "--setting", "one"]
    command += ["--config", args.config, "--train", args.train, "--dev", args.dev, "--ready", str(ready)]
    command += ["--seed", "1"] + (["--glove", args.glove] if args.glove else [])
    env = setting_environment("one")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ready.exists():  # past its initialization: training
        if process.poll() is not None:
            raise RuntimeError("the other training stopped before it started training")
        time.sleep(0.5)
    time.sleep(3.0)
    return process


def stop_load(process: subprocess.Popen | None) -> None:
    if process is not None:
        process.terminate()
        process.wait(30)


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = args.settings.split(",")
    loads = args.loads.split(",")
    scratch = Path(args.output).with_suffix(".tmp")
    scratch.mkdir(parents=True, exist_ok=True)
    figures: dict[str, dict[str, list[dict[str, Any]]]] = {load: {s: [] for s in settings} for load in loads}
    started = time.time()
    for load in loads:
        other = start_load(args, load, scratch)
        try:
            for round_index in range(args.rounds):
                order = settings if round_index % 2 == 0 else list(reversed(settings))
                for setting in order:
                    measured = measure(args, setting, scratch / "result.json")
                    measured["load_average"] = os.getloadavg()
                    figures[load][setting].append(measured)
                    print(
                        f"{load:9s} {setting:8s} round {round_index}: {measured['words_per_second']:,.0f} "
                        f"words/s on {measured['torch_threads']} thread(s)",
                        flush=True,
                    )
        finally:
            stop_load(other)
    summary = {
        load: {
            setting: statistics.median(r["words_per_second"] for r in runs) for setting, runs in per.items()
        }
        for load, per in figures.items()
    }
    return {
        "machine": {**machine_info(), "load_average_at_end": os.getloadavg()},
        "config": args.config,
        "steps": args.steps,
        "rounds": args.rounds,
        "seconds": time.time() - started,
        "median_words_per_second": summary,
        "runs": figures,
    }


def to_markdown(results: dict[str, Any]) -> str:
    summary = results["median_words_per_second"]
    loads = list(summary)
    settings = list(summary[loads[0]])
    lines = [
        "# Training under load",
        "",
        f"Update-step words/s of `{results['config']}` ({results['steps']} steps after warm-up, median of "
        f"{results['rounds']} rounds; {results['machine']['cores']} cores). Ratio: against the same "
        "setting quiet.",
        "",
        "| setting | " + " | ".join(f"{load} words/s | ratio" for load in loads) + " |",
        "|---|" + "---:|---:|" * len(loads),
    ]
    for setting in settings:
        quiet = summary.get("quiet", {}).get(setting)
        cells = []
        for load in loads:
            value = summary[load][setting]
            cells.append(f"{value:,.0f} | {value / quiet:.2f}" if quiet else f"{value:,.0f} | –")
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("vectors", help="the vectors pipeline folder (corpus/vectors)")
    parser.add_argument("--config", default="corpus/config.cfg", help="the inputs step's config")
    parser.add_argument("--train", default="corpus/train.spacy")
    parser.add_argument("--dev", default="corpus/dev.spacy")
    parser.add_argument(
        "--glove", default=None, help="the word table folder (corpus/glove), for a config that reads it"
    )
    parser.add_argument("--settings", default="default,one,torch")
    parser.add_argument("--loads", default=",".join(LOADS))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="metrics/training_under_load")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--forever", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setting", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    results = run(args)
    write_report(to_markdown(results), results, Path(args.output).with_suffix(".md"))


if __name__ == "__main__":
    main()
