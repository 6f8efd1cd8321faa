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
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from spacy.util import registry

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


# ---------------------------------------------------------------- training
#
# Training is a different case from inference: it owns its process, and on an
# idle machine torch's thread per core is worth having (on this project's
# 2-core machine the default config's update steps ran 1.34x as fast on two
# threads as on one). Beside anything else that computes, those threads wait
# for each other at every small LSTM step: beside one other single-thread
# training the update steps ran at 0.06x (docs/speed.md, "Training under
# load"). So by default a training uses the cores that are idle, measured
# again every few seconds during the run, between 1 and the usable cores: it
# takes both cores on a quiet machine and gives one back as soon as another
# process starts. OMP_WAIT_POLICY=PASSIVE was measured too: it softened the
# collapse (0.83x) but cost more quiet than one thread did.

TRAIN_ENV_VAR = "BILSTM_NER_TRAIN_THREADS"
AUTO = "auto"
TRAIN_THREADS_CALLBACK = "bilstm_ner.train_threads.v1"
# seconds between two measurements of what the other processes use
RECHECK_SECONDS = 5.0
# another process counts as holding a core from this share of one on
BUSY_SHARE = 0.3


def usable_cores() -> int:
    """Cores this process may run on (its affinity where the OS says), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def cpu_ticks(stat_path: str = "/proc/stat") -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from Linux's
    /proc/stat; None where it cannot be read (another OS)."""
    try:
        with open(stat_path) as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(values) < 5:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / hz, sum(values) / hz


def own_cpu_seconds() -> float:
    """CPU seconds (user + system, all threads) this process has used."""
    times = os.times()
    return times.user + times.system


def threads_for(others_busy_cores: float, cores: int) -> int:
    """Threads to train on when other processes keep `others_busy_cores` cores busy:
    the cores they leave, counting any use of BUSY_SHARE of a core or more as a core,
    at least 1."""
    taken = math.floor(max(0.0, others_busy_cores) + 1.0 - BUSY_SHARE)
    return max(1, cores - taken)


def resolve_training_threads(
    configured: int | str | None, environ: Mapping[str, str] | None = None
) -> tuple[int | str, str]:
    """The threads a training uses ("auto", or a number; 0 leaves torch's own
    setting) and where that came from, first found wins: `configured` when it
    is not "auto" (the config's [training.before_update] threads, set by
    --vars.train_threads), BILSTM_NER_TRAIN_THREADS, the user's OMP_NUM_THREADS,
    else "auto"."""
    environ = os.environ if environ is None else environ
    if configured is not None and configured != AUTO:
        if isinstance(configured, bool) or not isinstance(configured, int) or configured < 0:
            raise ValueError(
                f"train threads must be {AUTO!r} or a whole number >= 0 (0: torch's own setting), "
                f"got {configured!r}"
            )
        return configured, "the config's training.before_update.threads"
    for name in (TRAIN_ENV_VAR, "OMP_NUM_THREADS"):
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        if raw == AUTO and name == TRAIN_ENV_VAR:
            return AUTO, name
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value < 0:
            raise ValueError(f"{name} must be {AUTO!r} or a whole number >= 0, got {raw!r}")
        return value, name
    return AUTO, "the default"


class TrainingThreads:
    """spaCy's `before_update` callback that sets torch's threads for training.

    It runs on the training thread before every update step (torch's thread
    setting under OpenMP belongs to the thread that calls it). A fixed number
    is set once; "auto" measures, every RECHECK_SECONDS, the CPU time the
    machine spent outside this process and trains on the cores left idle.
    Every choice and every change is printed, once each."""

    def __init__(
        self,
        threads: int | str = AUTO,
        environ: Mapping[str, str] | None = None,
        machine: Callable[[], tuple[float, float] | None] = cpu_ticks,
        own: Callable[[], float] = own_cpu_seconds,
        cores: int | None = None,
    ) -> None:
        """`machine`, `own` and `cores` are what it measures (the machine's busy
        and total CPU seconds, this process's CPU seconds, the usable cores):
        Linux's figures unless a test gives others."""
        self.setting, self.source = resolve_training_threads(threads, environ)
        self.cores = usable_cores() if cores is None else cores
        self.machine, self.own = machine, own
        self._last_check: tuple[float, float, float] | None = None  # wall, machine busy, own
        self._next_check = 0.0
        self.current: int | None = None

    def __call__(self, nlp: Any = None, args: Mapping[str, Any] | None = None) -> None:
        if self.setting != AUTO:
            if self.current is None:
                self.current = int(self.setting) or torch.get_num_threads()
                if self.setting != USE_TORCH_SETTING:
                    torch.set_num_threads(int(self.setting))
                self._say(f"{self.current} torch thread(s), from {self.source}")
            return
        now = time.monotonic()
        if self.current is not None and now < self._next_check:
            return
        ticks = self.machine()
        if ticks is None:  # no /proc/stat: torch's own setting
            if self.current is None:
                self.current = torch.get_num_threads()
                self._say(f"{self.current} torch thread(s) (auto: the machine's load cannot be read here)")
            return
        sample = (now, ticks[0], self.own())
        previous, self._last_check = self._last_check, sample
        if previous is None:
            # the first step: how busy the machine was over a short look
            time.sleep(0.25)
            ticks_after = self.machine() or ticks
            later = (time.monotonic(), ticks_after[0], self.own())
            previous, self._last_check = sample, later
            sample = later
        wall = max(1e-6, sample[0] - previous[0])
        others = max(0.0, (sample[1] - previous[1]) - (sample[2] - previous[2])) / wall
        self._next_check = sample[0] + RECHECK_SECONDS
        chosen = threads_for(others, self.cores)
        if chosen != self.current:
            first = self.current is None
            self.current = chosen
            torch.set_num_threads(chosen)
            what = "" if first else "now "
            self._say(
                f"{what}{chosen} torch thread(s) (auto: other processes use {others:.1f} of {self.cores} "
                f"cores; set {TRAIN_ENV_VAR} or --vars.train_threads to fix a number)"
            )

    def _say(self, text: str) -> None:
        print(f"bilstm_ner trains on {text}", flush=True)


def make_training_threads(threads: int | str = AUTO) -> TrainingThreads:
    """The `bilstm_ner.train_threads.v1` callback ([training.before_update]):
    "auto" (the idle cores, re-measured during training) or a number of
    torch threads; BILSTM_NER_TRAIN_THREADS or OMP_NUM_THREADS win over "auto"."""
    return TrainingThreads(threads)


registry.callbacks(TRAIN_THREADS_CALLBACK)(make_training_threads)
