"""Tools that measure the project rather than build it: speed beside spaCy's `ner`
(benchmark.py), the pipelines side by side (side_by_side.py), training under load
(training_under_load.py), the HTTP service under load (load_test.py), several seeds
(seeds.py), spaCy's `ner` trained on the same corpus (compare.py) and a hyperparameter
sweep (sweep.py). What their reports share is in reporting.py, how seeds and compare
train in trainings.py.

Each runs from the repository as `python -m benchmarks.NAME` (the project's commands
do), so they import each other as the package `benchmarks`. They train the config the
workflow's inputs step wrote (corpus/config.cfg; seeds and compare through its train step,
scripts/train.py) and score with the component's package (bilstm_ner.evaluation).
Their extra requirements: requirements-bench.txt.
"""
