"""Serve a trained pipeline over HTTP: POST /ents {"texts": [...]}, GET /health.

    python scripts/serve.py MODEL [--port 8000] [--host 127.0.0.1] [--workers 1] ...

A thin caller of the component's `bilstm_ner.serve`, the same command as
`bilstm-ner-serve` and `python -m bilstm_ner.serve`: the code lives in the
component's package so that packaged pipelines carry it too
(`python -m en_<name>.serve`). Its docstring and `--help` say what the options do.
"""

from bilstm_ner.serve import main

if __name__ == "__main__":
    main()
