"""How many torch threads the component computes on at inference, and how it says so.

torch starts with one intra-op thread per core. That is fastest on an idle
machine and collapses when other processes share the cores (a server, a
notebook beside a training, `nlp.pipe(n_process=...)`, a cluster node): the
threads wait for each other at every small LSTM step. Measured on this
project's 2-core machine with other jobs running, the default threads gave
0.79x spaCy's `ner` and one thread 1.85x (README, "Speed"). spaCy's own
components never start threads, so the component defaults to one.

torch's setting belongs to the process (to each OS thread under OpenMP), and
may be the user's own choice (`torch.set_num_threads`, `OMP_NUM_THREADS`):
the component sets its number only around its own forward pass
(`limited_torch_threads`) and puts the previous value back after, so torch
code outside the component sees the user's setting. Switching costs well
under a microsecond per call, once per batch of `nlp.pipe`.

Where the number comes from, first found wins: the component's
`torch_threads` setting (config `[components.ner] torch_threads`, or the
attribute), the environment variable `BILSTM_NER_TORCH_THREADS`, else 1.
0 leaves torch's own setting alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping

import torch

ENV_VAR = "BILSTM_NER_TORCH_THREADS"
DEFAULT_TORCH_THREADS = 1
# 0: compute on whatever torch is set to in this process
USE_TORCH_SETTING = 0

logger = logging.getLogger("bilstm_ner")
_announced = False


def resolve_torch_threads(configured: int | None, environ: Mapping[str, str] | None = None) -> int:
    """The number of threads to use: `configured` unless None, else the
    environment variable, else DEFAULT_TORCH_THREADS. A negative number, or an
    environment value that is not a whole number, is a ValueError naming it."""
    if configured is not None:
        if isinstance(configured, bool) or not isinstance(configured, int) or configured < 0:
            raise ValueError(
                f"torch_threads must be a whole number >= 0 (0: torch's own setting), got {configured!r}"
            )
        return configured
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_TORCH_THREADS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{ENV_VAR} must be a whole number >= 0 (0: torch's own setting), got {raw!r}")
    return value


@contextlib.contextmanager
def limited_torch_threads(n_threads: int) -> Iterator[None]:
    """torch on `n_threads` intra-op threads inside the block, the previous
    setting restored after (even on an error). 0, or torch already at that
    number: nothing is changed. The first change in a process is logged once
    (logger "bilstm_ner", level INFO)."""
    previous = torch.get_num_threads()
    if n_threads == USE_TORCH_SETTING or n_threads == previous:
        yield
        return
    _announce(n_threads, previous)
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _announce(n_threads: int, previous: int) -> None:
    global _announced
    if _announced:
        return
    _announced = True
    logger.info(
        "bilstm_ner computes on %d torch thread(s) at inference; torch is set to %d in this "
        "process and gets that back after each call. Change it with the component's torch_threads "
        "setting or %s (0: torch's own setting).",
        n_threads,
        previous,
        ENV_VAR,
    )
