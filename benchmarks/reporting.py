"""What the measuring tools' reports share: the machine they ran on, how figures over
runs are summed up, comma-separated number options, and the files they write (the
Markdown table, its figures as JSON, the table printed).
"""

import json
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import srsly


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: the CPU, its cores, the versions and the load."""
    import spacy
    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "spacy": spacy.__version__,
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of a sample: how every figure over runs (seeds, rounds) is
    summarised in this project's reports."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def comma_ints(text: str) -> list[int]:
    """The integers of a comma-separated option ("0,32", "1, 8,32"), as project.yml's vars
    pass lists (`--vars.seeds 0,1,2`); blank items are skipped, so "" is the empty list
    (e.g. `--busy ''` skips a part of the benchmark)."""
    return [int(item) for item in text.split(",") if item.strip()]


def write_report(
    markdown: str, results: dict[str, Any], output: Path, json_output: Path | None = None
) -> None:
    """Write `markdown` to `output` and `results` to `json_output` (default: `output`
    with the suffix .json), then print the Markdown. Values JSON has no type for (paths,
    numpy scalars) are written as their strings rather than failing after a long
    measurement."""
    json_path = output.with_suffix(".json") if json_output is None else json_output
    for path in (output, json_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown, encoding="utf8")
    srsly.write_json(json_path, json.loads(json.dumps(results, default=str)))
    print(markdown)
