"""Annotate large inputs with a trained pipeline: one JSON line of entities per input line.

    python scripts/annotate.py MODEL INPUT OUTPUT [--batch-size 256] [--n-process N]
                               [--engine local|ray] [--format auto|jsonl|text]
                               [--input-format auto|txt|jsonl] [--skip-bad-lines]

A thin caller of the component's `bilstm_ner.annotate`, the same command as
`bilstm-ner-annotate` and `python -m bilstm_ner.annotate`: the code lives in
the component's package so that packaged pipelines carry it too
(`python -m en_<name>.annotate INPUT OUTPUT`). Its docstring and `--help` say
what the options do.
"""

from bilstm_ner.annotate import main

if __name__ == "__main__":
    main()
