"""Speed and memory of this pipeline beside spaCy's built-in `ner`, measured in one run.

    python -m benchmarks.benchmark OURS BASELINE TEST_CORPUS [--rounds 5] [--torch-threads 1]
                                     [--busy 0,1,2] [--busy-rounds 3]

- Inference: both pipelines are loaded in one process and run over the same
  test documents with `nlp.pipe` (each pipeline's own batch size; the texts are
  tokenized beforehand, as `spacy benchmark speed` does, so the tokenizer is not
  timed), several rounds, alternating which goes first. Words/s is the median
  over rounds; the ratio is ours / baseline. Ours runs with `--torch-threads`
  (default 1: spaCy's ner computes on one core), and again with one torch thread
  per core for reference, and, when ours runs its LSTM with int8 weights (the
  default), loaded again with the float LSTM (`int8_lstm = false`): what the
  int8 weights give.
- Under load: both pipelines at their default settings (torch at its own
  default of one thread per core, bilstm_ner at its thread policy, one thread
  unless configured), quiet and with one and with two other busy processes
  (`--busy 0,1,2`: bounded busy loops, one core each, that the benchmark starts
  before and stops after each condition), alternating in each condition; ours
  also on torch's own threads (`torch_threads 0`, as before the policy), and,
  quiet, with torch already at one thread, which shows what switching torch's
  setting around each batch costs.
- spaCy's own `spacy benchmark speed` on each pipeline, as a cross-check.
- One long document (10k, 30k, 100k tokens by default) per pipeline, each in a
  fresh process: seconds, microseconds per token (flat when time grows
  linearly) and peak resident memory. The test set gets the same treatment, for
  its peak memory.
- Training throughput: words/s of the update steps of `spacy train`
  (spaCy's `train_while_improving` with each config's own batcher, evaluation
  left out), alternating between the two pipelines. spaCy's training logs do not
  give it: ConsoleLogger.v3's JSONL has no word counts nor timestamps.

Writes a Markdown table and the raw figures (JSON); prints the table. Figures
depend on the machine and on what else runs on it: the report names the CPU,
the cores and the load average before and after.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import typer

from benchmarks.reporting import comma_ints, machine_info, spread, write_report

DEFAULT_SIZES = (10_000, 30_000, 100_000)
OURS, BASELINE = "bilstm_ner", "spaCy ner"
# ours loaded again with int8_lstm = false, timed beside the default (int8) one
OURS_FLOAT = f"{OURS} (float LSTM)"
SPACY_BENCHMARK_LINE = re.compile(r"Mean: ([\d.]+) words/s \(95% CI: -?([\d.]+) \+([\d.]+)\)")


# ---------------------------------------------------------------- pure helpers


def alternation(names: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of the runs in each round: rotated by one every round, so
    no pipeline always goes first (or always follows the same one)."""
    names = list(names)
    return [names[r % len(names) :] + names[: r % len(names)] for r in range(rounds)]


def batch_label(batch_size: int) -> str:
    """How a batch size is named in the results: 0 is each pipeline's configured one."""
    return "config" if batch_size == 0 else str(batch_size)


def parse_spacy_benchmark(output: str) -> dict[str, float] | None:
    """Mean words/s and its 95% confidence interval from `spacy benchmark speed`'s output."""
    match = SPACY_BENCHMARK_LINE.search(output)
    if match is None:
        return None
    mean, low, high = (float(x) for x in match.groups())
    return {"mean": mean, "ci_low": mean - low, "ci_high": mean + high}


def long_document_text(texts: Sequence[str], n_chars: int) -> str:
    """The texts joined by newlines and repeated until at least n_chars long."""
    joined = "\n".join(texts)
    if not joined.strip():
        raise ValueError("the corpus has no text to build a long document from")
    return "\n".join([joined] * (n_chars // (len(joined) + 1) + 1))


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process since the last `reset_peak_rss`.

    Linux's VmHWM, which belongs to the process's own memory map; ru_maxrss
    would not do in a child, as it keeps the parent's peak across fork and exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def reset_peak_rss() -> bool:
    """Set the peak to the current resident memory (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- inference


def load(model: str | Path, torch_threads: int, config: dict[str, Any] | None = None):
    """spacy.load (with `config` overrides); torch_threads > 0 sets torch and the
    components' own thread setting (bilstm_ner's `torch_threads`, which it applies
    around its model call); 0 or less loads the pipeline at its defaults."""
    import spacy
    import torch

    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    nlp = spacy.load(model, config=config or {})
    if torch_threads > 0:
        set_component_threads(nlp, torch_threads)
    return nlp


def set_component_threads(nlp, n_threads: int | None) -> None:
    """Every component with a `torch_threads` setting (bilstm_ner) computes on n_threads
    (0: on whatever torch is set to; None: the component's default)."""
    for _, pipe in nlp.pipeline:
        if hasattr(pipe, "torch_threads"):
            pipe.torch_threads = n_threads


def component_threads(nlp) -> int | None:
    """The thread setting of the pipeline's bilstm_ner component(s), None without one."""
    settings = [pipe.torch_threads for _, pipe in nlp.pipeline if hasattr(pipe, "torch_threads")]
    return settings[0] if settings else None


def corpus_texts(corpus: Path, vocab) -> list[str]:
    from spacy.tokens import DocBin

    return [doc.text for doc in DocBin().from_disk(corpus).get_docs(vocab)]


def time_pipe(nlp, texts: Sequence[str], batch_size: int | None = None) -> dict[str, float]:
    """One pass of nlp.pipe over freshly tokenized docs: words, wall and CPU seconds."""
    docs = [nlp.make_doc(text) for text in texts]
    n_words = sum(len(doc) for doc in docs)
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in nlp.pipe(docs, batch_size=batch_size or nlp.batch_size):
        pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"words": n_words, "seconds": wall, "cpu_seconds": cpu, "words_per_second": n_words / wall}


def inference_rounds(
    runners: dict[str, Callable[[], dict[str, float]]], rounds: int, warmup: bool = True
) -> dict[str, dict[str, Any]]:
    """Run each runner once per round, in alternating order; collect words/s."""
    if warmup:
        for run in runners.values():
            run()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for order in alternation(list(runners), rounds):
        for name in order:
            runs[name].append(runners[name]())
    results = {}
    for name, measured in runs.items():
        results[name] = {
            "words": measured[0]["words"],
            "words_per_second": spread([m["words_per_second"] for m in measured]),
            "words_per_cpu_second": spread([m["words"] / m["cpu_seconds"] for m in measured]),
            "runs": measured,
        }
    return results


def spacy_benchmark_speed(
    model: str | Path, corpus: Path, torch_threads: int, batch_size: int
) -> dict | None:
    """`python -m spacy benchmark speed` on one pipeline (30 batches, no shuffling)."""
    env = dict(os.environ)
    if torch_threads > 0:
        env.update({"OMP_NUM_THREADS": str(torch_threads), "BILSTM_NER_TORCH_THREADS": str(torch_threads)})
    command = [sys.executable, "-m", "spacy", "benchmark", "speed", str(model), str(corpus)]
    command += ["--batches", "30", "--batch-size", str(batch_size), "--no-shuffle", "--warmup", "1"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    parsed = parse_spacy_benchmark(done.stdout)
    if parsed is None:
        print(f"spacy benchmark speed failed for {model}:\n{done.stdout[-1000:]}\n{done.stderr[-2000:]}")
        return None
    return {**parsed, "batch_size": batch_size, "command": " ".join(command[1:])}


# ---------------------------------------------------------------- scaling and memory


def probe(model: str, corpus: str, n_tokens: int | None, torch_threads: int) -> dict[str, float]:
    """In a fresh process: time one workload and report its peak memory.

    n_tokens None: the test set through nlp.pipe; otherwise one document of
    n_tokens tokens (the test texts joined and repeated).
    """
    nlp = load(model, torch_threads)
    texts = corpus_texts(Path(corpus), nlp.vocab)
    nlp.max_length = 10**9
    # warm-up, so that lazy set-up is not counted
    for _ in nlp.pipe(texts[:5]):
        pass
    if n_tokens is None:
        docs = [nlp.make_doc(text) for text in texts]
    else:
        text = long_document_text(texts, n_tokens * 8)
        while len(doc := nlp.make_doc(text)) < n_tokens:
            text = text + "\n" + text
        docs = [doc[:n_tokens].as_doc()]
        del doc, text
    n_words = sum(len(doc) for doc in docs)
    gc.collect()
    peak_reset = reset_peak_rss()
    loaded = current_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in nlp.pipe(docs, batch_size=nlp.batch_size):
        pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = peak_rss_mb()
    return {
        "tokens": n_words,
        "seconds": wall,
        "cpu_seconds": cpu,
        "microseconds_per_token": 1e6 * wall / n_words,
        "rss_before_mb": loaded,
        "peak_rss_mb": peak,
        # without a reset the peak may be the one of loading, not of this run
        "peak_extra_mb": max(0.0, peak - loaded) if peak_reset else None,
    }


def run_probe(model: str | Path, corpus: Path, n_tokens: int | None, torch_threads: int) -> dict[str, float]:
    """`probe` in a new spawned process (its own peak memory, no forked torch state)."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(probe, str(model), str(corpus), n_tokens, torch_threads).result()


def linearity(scaling: dict[int, dict[str, float]]) -> float | None:
    """Microseconds per token of the largest document over the smallest (1.0 = linear)."""
    if len(scaling) < 2:
        return None
    sizes = sorted(scaling)
    return scaling[sizes[-1]]["microseconds_per_token"] / scaling[sizes[0]]["microseconds_per_token"]


# ---------------------------------------------------------------- under load

# the rows of the under-load table: the pipelines at their defaults, and ours on torch's own threads
DEFAULTS, SPACY_DEFAULTS, TORCH_OWN = (
    f"{OURS} (defaults)",
    f"{BASELINE} (defaults)",
    f"{OURS}, torch_threads 0",
)
# quiet only: ours at its defaults with torch already at one thread (nothing to switch)
NO_SWITCH = f"{OURS} (defaults, torch already at 1)"


def busy_loop(seconds: float) -> None:
    """Keep one core busy for `seconds` at most: a stand-in for another job on the machine."""
    deadline = time.monotonic() + seconds
    spins = 0
    while time.monotonic() < deadline:
        spins += 1


@contextlib.contextmanager
def busy_processes(n: int, max_seconds: float = 1800.0) -> Iterator[list]:
    """`n` processes that each keep a core busy during the block; stopped at its end, and
    never running longer than `max_seconds` should this process die without stopping them."""
    context = get_context("spawn")
    processes = [context.Process(target=busy_loop, args=(max_seconds,), daemon=True) for _ in range(n)]
    for process in processes:
        process.start()
    try:
        if processes:
            time.sleep(1.0)  # past their start-up, spinning
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(10)


def under_load(
    pipelines: dict[str, Any],
    texts: Sequence[str],
    busy_counts: Sequence[int],
    rounds: int,
    cores: int,
    torch_own: bool = True,
) -> dict[str, Any]:
    """Words/s of both pipelines at their default settings with 0, 1, 2... other busy
    processes on the machine (started and stopped here), alternating in each condition.

    "Defaults": torch at its own default of one thread per core, and the component
    at its own thread setting (what `spacy.load` gives a user). With `torch_own`, ours
    also on torch's threads (torch_threads 0), the behaviour before the thread policy.
    Quiet, ours also with torch already at one thread: beside the defaults' row (torch
    at `cores`, so the component switches to one thread and back at every batch) it
    shows what the switching costs.
    """
    import torch

    ours = pipelines[OURS]

    def runner(
        name: str, torch_setting: int, component_setting: int | None
    ) -> Callable[[], dict[str, float]]:
        nlp = pipelines[OURS] if name != SPACY_DEFAULTS else pipelines[BASELINE]

        def run() -> dict[str, float]:
            torch.set_num_threads(torch_setting)
            if nlp is ours:
                set_component_threads(ours, component_setting)  # None: the component's default
            return time_pipe(nlp, texts, None)

        return run

    conditions: dict[str, Any] = {}
    for n_busy in busy_counts:
        runners = {
            DEFAULTS: runner(DEFAULTS, cores, None),
            SPACY_DEFAULTS: runner(SPACY_DEFAULTS, cores, None),
        }
        if torch_own:
            runners[TORCH_OWN] = runner(TORCH_OWN, cores, 0)
        if n_busy == 0:
            runners[NO_SWITCH] = runner(NO_SWITCH, 1, None)
        print(f"Under load: {n_busy} busy process(es), {rounds} rounds of {len(runners)} runs")
        load_before = os.getloadavg()
        with busy_processes(n_busy) as busy:
            measured = inference_rounds(runners, rounds)
            busy_alive = all(process.is_alive() for process in busy)
        set_component_threads(ours, None)
        median = {name: stats["words_per_second"]["median"] for name, stats in measured.items()}
        ratios = {name: median[name] / median[SPACY_DEFAULTS] for name in median if name != SPACY_DEFAULTS}
        conditions[str(n_busy)] = {
            "busy_processes": n_busy,
            "busy_alive_to_the_end": busy_alive,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "ours_threads": component_threads(ours),
            "rows": measured,
            "ratios_to_spacy": ratios,
        }
        if n_busy == 0:
            conditions[str(n_busy)]["switching_cost"] = median[NO_SWITCH] / median[DEFAULTS]
    torch.set_num_threads(cores)
    return conditions


# ---------------------------------------------------------------- training


class UpdateSteps:
    """The update steps of `spacy train` for one config, one at a time.

    spaCy's own `train_while_improving` drives them (batcher, dropout, gradient
    accumulation and optimizer from the config); evaluation is left out.
    """

    def __init__(self, config: Path, overrides: dict[str, Any]) -> None:
        from spacy import util
        from spacy.schemas import ConfigSchemaTraining
        from spacy.training.initialize import init_nlp
        from spacy.training.loop import create_train_batches, train_while_improving
        from thinc.api import fix_random_seed

        loaded = util.load_config(config, overrides=overrides, interpolate=False)
        self.nlp = init_nlp(loaded)
        resolved = self.nlp.config.interpolate()
        fix_random_seed(resolved["training"]["seed"] or 0)
        T = util.registry.resolve(resolved["training"], schema=ConfigSchemaTraining)
        (train_corpus,) = util.resolve_dot_names(resolved, [T["train_corpus"]])
        self.steps = train_while_improving(
            self.nlp,
            T["optimizer"],
            create_train_batches(self.nlp, train_corpus, T["batcher"], T["max_epochs"]),
            lambda: (0.0, {}),
            dropout=T["dropout"],
            eval_frequency=10**9,
            accumulate_gradient=T["accumulate_gradient"],
            patience=0,
            max_steps=0,
            exclude=T["frozen_components"],
            annotating_components=T["annotating_components"],
            before_update=T["before_update"],
        )

    def run(self, n_steps: int) -> dict[str, float]:
        """n_steps update steps: words seen, wall and CPU seconds."""
        words, wall, cpu = 0, 0.0, 0.0
        for _ in range(n_steps):
            start, start_cpu = time.perf_counter(), time.process_time()
            batch, _, _ = next(self.steps)
            wall += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
            words += sum(len(eg) for eg in batch)
        return {"words": words, "steps": n_steps, "seconds": wall, "cpu_seconds": cpu}


def training_throughput(
    configs: dict[str, Path], overrides: dict[str, dict[str, Any]], rounds: int, steps: int
) -> dict[str, dict[str, Any]]:
    """Words/s of the update steps of each config, alternating between them."""
    loops = {name: UpdateSteps(config, overrides.get(name, {})) for name, config in configs.items()}
    for loop in loops.values():
        loop.run(1)  # the first step also loads and shuffles the corpus
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in loops}
    for order in alternation(list(loops), rounds):
        for name in order:
            runs[name].append(loops[name].run(steps))
    return {
        name: {
            "words_per_second": spread([r["words"] / r["seconds"] for r in measured]),
            "words_per_cpu_second": spread([r["words"] / r["cpu_seconds"] for r in measured]),
            "words_per_batch": sum(r["words"] for r in measured) / sum(r["steps"] for r in measured),
            "steps": sum(r["steps"] for r in measured),
            "runs": measured,
        }
        for name, measured in runs.items()
    }


# ---------------------------------------------------------------- report


def _n(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def to_markdown(results: dict[str, Any]) -> str:
    """The report: machine, inference, spaCy's cross-check, long documents, training."""
    m = results["machine"]
    settings = results["settings"]
    inference = results["inference"]
    lines = ["# Speed and memory: bilstm_ner beside spaCy's built-in ner", ""]
    lines.append(
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['platform']}; "
        f"Python {m['python']}, spaCy {m['spacy']}, torch {m['torch']}. "
        f"Load average before / after: {_load(m['load_average'])} / {_load(results['load_average_after'])}."
    )
    lines.append("")
    lines.append(
        f"Test set `{settings['corpus']}`: {settings['docs']} docs, {settings['words']:,} words; "
        f"{settings['rounds']} rounds alternating the order, after one warm-up pass each; `nlp.pipe` "
        "over pre-tokenized Docs (the tokenizer is not timed). "
        f"bilstm_ner with {settings['torch_threads']} torch thread(s) unless said; "
        "spaCy's ner computes on one core."
    )
    own = settings["pipeline_batch_size"]
    lines += ["", "## Inference on the test set", ""]
    lines.append(
        "| batch size (docs) | pipeline | words/s (median) | min | max | words per CPU-second "
        "| peak RSS MB (+ over loaded) |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    memory = results.get("memory", {})
    for label, rows in inference.items():
        for name, r in rows.items():
            wps, cpu = r["words_per_second"], r["words_per_cpu_second"]
            mem = memory.get(name, {}).get("test set") if label == "config" else None
            mem_cell = f"{_n(mem['peak_rss_mb'])} (+{_n(mem['peak_extra_mb'])})" if mem else "–"
            size = f"config ({own.get(name.split(' (')[0], '?')})" if label == "config" else label
            lines.append(
                f"| {size} | {name} | {_n(wps['median'])} | {_n(wps['min'])} | {_n(wps['max'])} | "
                f"{_n(cpu['median'])} | {mem_cell} |"
            )
    lines.append("")
    first = next(iter(results["ratios"]))
    for label, ratio in results["ratios"].items():
        where = "each pipeline's configured batch size" if label == "config" else f"batches of {label} docs"
        text = f"Speed ratio at {where} (median words/s, {OURS} ÷ {BASELINE}): {ratio:.2f}×"
        target = " (issue 22: done when ≥ 2.0×, aim 2.5×, quiet, one thread)"
        lines.append(f"- **{text}**{target}" if label == first else f"- {text}")
    if "int8_speedup" in results:
        lines.append(
            f"- The LSTM's int8 weights (`int8_lstm = true`, the default): {OURS} ÷ {OURS_FLOAT} = "
            f"{results['int8_speedup']:.2f}×; without them {OURS_FLOAT} ÷ {BASELINE} = "
            f"{results['float_lstm_ratio']:.2f}×"
        )
    if results.get("under_load"):
        lines += under_load_markdown(results["under_load"], settings, m)
    if results.get("spacy_benchmark_speed"):
        lines += ["", "`spacy benchmark speed` (spaCy's own tool, run separately as a cross-check):", ""]
        lines.append("| pipeline | mean words/s | 95% CI | command |")
        lines.append("|---|---:|---:|---|")
        for name, r in results["spacy_benchmark_speed"].items():
            if r:
                lines.append(
                    f"| {name} | {_n(r['mean'])} | {_n(r['ci_low'])}–{_n(r['ci_high'])} | `{r['command']}` |"
                )
    if any(results.get("scaling", {}).values()):
        lines += ["", "## One long document", ""]
        lines.append("| pipeline | tokens | seconds | µs per token | peak RSS MB | + over loaded MB |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for name, sizes in results["scaling"].items():
            for size in sorted(sizes, key=int):
                r = sizes[size]
                lines.append(
                    f"| {name} | {r['tokens']:,} | {r['seconds']:.2f} | {r['microseconds_per_token']:.1f} | "
                    f"{_n(r['peak_rss_mb'])} | {_n(r['peak_extra_mb'])} |"
                )
        for name, ratio in results.get("linearity", {}).items():
            if ratio is not None:
                lines.append("")
                lines.append(
                    f"{name}: µs per token at the largest size ÷ at the smallest = {ratio:.2f} (1 = linear)."
                )
    if results.get("training"):
        lines += ["", "## Training throughput (update steps of `spacy train`)", ""]
        lines.append("| pipeline | words/s (median) | min | max | words per CPU-second | words per batch |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for name, r in results["training"].items():
            wps = r["words_per_second"]
            lines.append(
                f"| {name} | {_n(wps['median'])} | {_n(wps['min'])} | {_n(wps['max'])} | "
                f"{_n(r['words_per_cpu_second']['median'])} | {_n(r['words_per_batch'])} |"
            )
        lines.append("")
        lines.append(
            f"{settings['train_rounds']} rounds of {settings['train_steps']} steps each, alternating, "
            "after one step each; each config's own batcher (spaCy's compounds from 100 words a "
            "batch, so its early steps are small); dev evaluation is not included."
        )
    return "\n".join(lines) + "\n"


def under_load_markdown(conditions: dict[str, Any], settings: dict[str, Any], m: dict[str, Any]) -> list[str]:
    """The under-load section: one row per number of busy processes."""
    lines = ["", "## Under load: the default settings with other busy processes", ""]
    lines.append(
        f"Both pipelines as `spacy.load` gives them (torch at its default, {m['usable_cores']} threads on "
        f"this machine; bilstm_ner at its own thread setting), {settings['busy_rounds']} rounds alternating "
        "in each condition; the busy processes are loops this benchmark starts before and stops after "
        "each condition, one core each, besides whatever else ran on the machine (see the load averages)."
    )
    lines.append("")
    lines.append(
        f"| other busy processes | {OURS} words/s (defaults) | {BASELINE} words/s | ratio "
        f"| {OURS} on torch's threads (torch_threads 0) | ratio | load average before → after |"
    )
    lines.append("|---:|---:|---:|---:|---:|---:|---|")
    for condition in conditions.values():
        rows, ratios = condition["rows"], condition["ratios_to_spacy"]
        own = rows.get(TORCH_OWN)
        own_cells = f"{_n(own['words_per_second']['median'])} | {ratios[TORCH_OWN]:.2f}×" if own else "– | –"
        lines.append(
            f"| {condition['busy_processes']} | {_n(rows[DEFAULTS]['words_per_second']['median'])} "
            f"| {_n(rows[SPACY_DEFAULTS]['words_per_second']['median'])} | **{ratios[DEFAULTS]:.2f}×** "
            f"| {own_cells} | {_load(condition['load_average_before'][:1])} → "
            f"{_load(condition['load_average_after'][:1])} |"
        )
    quiet = conditions.get("0")
    lines.append("")
    lines.append(
        f"bilstm_ner computed on {next(iter(conditions.values()))['ours_threads']} torch thread(s) at its "
        "defaults (`torch_threads`, `BILSTM_NER_TORCH_THREADS`)."
    )
    if quiet and "switching_cost" in quiet:
        lines.append(
            "Switching torch's threads around each batch: ours at its defaults with torch already at one "
            f"thread (nothing to switch) ÷ with torch at {m['usable_cores']} (a switch and a restore per "
            f"batch): {quiet['switching_cost']:.3f} (1 = no cost)."
        )
    return lines


def _load(load: Sequence[float] | None) -> str:
    return "–" if not load else ", ".join(f"{x:.2f}" for x in load)


# ---------------------------------------------------------------- main


def run_benchmark(
    ours: Path,
    baseline: Path,
    corpus: Path,
    *,
    rounds: int = 5,
    batch_sizes: Sequence[int] = (0, 32),
    torch_threads: int = 1,
    all_threads: bool = True,
    sizes: Sequence[int] = DEFAULT_SIZES,
    spacy_cli: bool = True,
    spacy_cli_batch_size: int = 16,
    ours_config: Path | None = None,
    baseline_config: Path | None = None,
    train_corpus: Path | None = None,
    train_rounds: int = 3,
    train_steps: int = 10,
    config_overrides: dict[str, dict[str, Any]] | None = None,
    busy_counts: Sequence[int] = (0, 1, 2),
    busy_rounds: int = 3,
    busy_torch_own: bool = True,
    float_lstm: bool = True,
) -> dict[str, Any]:
    """Every measurement; see the module docstring."""
    import torch
    from bilstm_ner.layers.int8_lstm import float_lstm_overrides

    results: dict[str, Any] = {"machine": machine_info()}
    pipelines = {OURS: load(ours, torch_threads), BASELINE: load(baseline, torch_threads)}
    float_overrides = float_lstm_overrides(ours) if float_lstm else {}
    if float_overrides:
        pipelines[OURS_FLOAT] = load(ours, torch_threads, config=float_overrides)
    texts = corpus_texts(corpus, pipelines[OURS].vocab)
    cores = results["machine"]["usable_cores"] or 1

    threads = max(torch_threads, 1)

    def runner(name: str, batch_size: int, n_threads: int) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            torch.set_num_threads(n_threads)
            set_component_threads(pipelines[name], n_threads)
            return time_pipe(pipelines[name], texts, batch_size or None)

        return run

    runners: dict[tuple[str, str], Callable[[], dict[str, float]]] = {}
    for batch_size in batch_sizes:
        label = batch_label(batch_size)
        runners[(label, OURS)] = runner(OURS, batch_size, threads)
        runners[(label, BASELINE)] = runner(BASELINE, batch_size, threads)
        if batch_size == batch_sizes[0] and OURS_FLOAT in pipelines:
            runners[(label, OURS_FLOAT)] = runner(OURS_FLOAT, batch_size, threads)
        if batch_size == batch_sizes[0] and all_threads and cores > threads:
            runners[(label, f"{OURS} ({cores} torch threads)")] = runner(OURS, batch_size, cores)
    print(f"Inference: {len(texts)} docs, {rounds} rounds of {len(runners)} runs")
    measured = inference_rounds(runners, rounds)
    torch.set_num_threads(threads)
    results["inference"] = {}
    for (label, name), stats in measured.items():
        results["inference"].setdefault(label, {})[name] = stats
    results["ratios"] = {
        label: rows[OURS]["words_per_second"]["median"] / rows[BASELINE]["words_per_second"]["median"]
        for label, rows in results["inference"].items()
    }
    results["ratio"] = results["ratios"][batch_label(batch_sizes[0])]
    first_rows = results["inference"][batch_label(batch_sizes[0])]
    if OURS_FLOAT in first_rows:
        results["int8_speedup"] = (
            first_rows[OURS]["words_per_second"]["median"]
            / first_rows[OURS_FLOAT]["words_per_second"]["median"]
        )
        results["float_lstm_ratio"] = (
            first_rows[OURS_FLOAT]["words_per_second"]["median"]
            / first_rows[BASELINE]["words_per_second"]["median"]
        )
    results["settings"] = {
        "ours": str(ours),
        "baseline": str(baseline),
        "corpus": str(corpus),
        "docs": len(texts),
        "words": measured[(batch_label(batch_sizes[0]), OURS)]["words"],
        "rounds": rounds,
        "torch_threads": max(torch_threads, 1),
        "pipeline_batch_size": {name: nlp.batch_size for name, nlp in pipelines.items()},
        "sizes": list(sizes),
        "train_rounds": train_rounds,
        "train_steps": train_steps,
        "busy_rounds": busy_rounds,
    }
    pipelines.pop(OURS_FLOAT, None)
    if busy_counts:
        results["under_load"] = under_load(
            pipelines, texts, busy_counts, busy_rounds, cores, torch_own=busy_torch_own
        )
    pipelines.clear()
    gc.collect()

    if spacy_cli:
        print("spacy benchmark speed ...")
        results["spacy_benchmark_speed"] = {
            name: spacy_benchmark_speed(model, corpus, max(torch_threads, 1), spacy_cli_batch_size)
            for name, model in ((OURS, ours), (BASELINE, baseline))
        }

    print("Memory and long documents, one fresh process each ...")
    results["memory"], results["scaling"], results["linearity"] = {}, {}, {}
    for name, model in ((OURS, ours), (BASELINE, baseline)):
        results["memory"][name] = {"test set": run_probe(model, corpus, None, max(torch_threads, 1))}
        scaling = {size: run_probe(model, corpus, size, max(torch_threads, 1)) for size in sizes}
        results["scaling"][name] = scaling
        results["linearity"][name] = linearity(scaling)

    if ours_config and baseline_config and train_corpus and train_steps > 0:
        print("Training throughput ...")
        torch.set_num_threads(max(torch_threads, 1))
        paths = {"paths.train": str(train_corpus), "paths.dev": str(corpus)}
        overrides = {name: {**paths, **(config_overrides or {}).get(name, {})} for name in (OURS, BASELINE)}
        results["training"] = training_throughput(
            {OURS: ours_config, BASELINE: baseline_config}, overrides, train_rounds, train_steps
        )
    results["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return results


def main(
    ours: Path = typer.Argument(..., help="This project's trained pipeline"),
    baseline: Path = typer.Argument(..., help="spaCy's built-in ner, trained (configs/spacy_ner.cfg)"),
    corpus: Path = typer.Argument(..., help="Test documents (.spacy)"),
    output: Path = typer.Option(
        Path("metrics/benchmark.md"), help="Markdown report; the JSON goes beside it"
    ),
    rounds: int = typer.Option(5, help="Inference rounds per pipeline"),
    batch_sizes: str = typer.Option("0,32", help="nlp.pipe batch sizes in docs; 0: each pipeline's own"),
    torch_threads: int = typer.Option(1, help="torch threads for the main comparison"),
    all_threads: bool = typer.Option(True, help="Also time ours with one torch thread per core"),
    sizes: str = typer.Option(",".join(str(s) for s in DEFAULT_SIZES), help="Long-document sizes in tokens"),
    spacy_cli: bool = typer.Option(True, help="Also run `spacy benchmark speed` on both"),
    ours_config: Path = typer.Option(Path("configs/bilstm_ner.cfg")),
    baseline_config: Path = typer.Option(Path("configs/spacy_ner.cfg")),
    train_corpus: Path = typer.Option(Path("corpus/train.spacy")),
    train_rounds: int = typer.Option(3, help="Training rounds per pipeline"),
    train_steps: int = typer.Option(10, help="Update steps per training round; 0 skips training"),
    busy: str = typer.Option(
        "0,1,2", help="Other busy processes for the under-load comparison at default settings; '' skips it"
    ),
    busy_rounds: int = typer.Option(3, help="Rounds per pipeline in each under-load condition"),
    busy_torch_own: bool = typer.Option(True, help="Under load, also time ours on torch's own threads"),
    float_lstm: bool = typer.Option(True, help="Also time ours with int8_lstm = false, when it runs int8"),
) -> None:
    """Measure both pipelines side by side; write the report and its JSON."""
    results = run_benchmark(
        ours,
        baseline,
        corpus,
        rounds=rounds,
        batch_sizes=comma_ints(batch_sizes),
        torch_threads=torch_threads,
        all_threads=all_threads,
        sizes=comma_ints(sizes),
        spacy_cli=spacy_cli,
        ours_config=ours_config,
        baseline_config=baseline_config,
        train_corpus=train_corpus,
        train_rounds=train_rounds,
        train_steps=train_steps,
        busy_counts=comma_ints(busy),
        busy_rounds=busy_rounds,
        busy_torch_own=busy_torch_own,
        float_lstm=float_lstm,
    )
    write_report(to_markdown(results), results, output)


if __name__ == "__main__":
    typer.run(main)
