"""Tools that measure the project rather than build it: speed beside spaCy's `ner`
(benchmark.py), the pipelines side by side (side_by_side.py), the HTTP service under
load (load_test.py), several seeds (seeds.py), spaCy's `ner` trained on the same corpus
(compare.py) and a hyperparameter sweep (sweep.py). What their reports share is in
reporting.py.

Each runs from the repository as `python -m benchmarks.NAME` (the project's commands
do), so they import each other as the package `benchmarks`. They train through the
workflow's own train step (scripts/train.py) and score with the component's package
(bilstm_ner.evaluation). Their extra requirements: requirements-bench.txt.
"""
