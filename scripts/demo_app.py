"""The demo page (Streamlit, spacy-streamlit): type text, see the entities with their confidences.

Started by scripts/demo.py (`python -m spacy project run demo`), which runs

    streamlit run scripts/demo_app.py -- MODEL --threshold 0.5

The entities are drawn by spacy-streamlit's `visualize_ner` (displaCy with a
label filter) in manual mode, so that each label can carry its confidence
(`span._.confidence`, shown where displaCy shows a knowledge-base id). A
slider hides entities under a confidence threshold: the confidences are
calibrated on dev (metrics/calibration.md), so 0.5 hides those the model
itself thinks more likely wrong than right. A table lists the entities shown.
"""

import argparse
from collections.abc import Sequence
from pathlib import Path

import spacy
import streamlit as st
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy_streamlit import visualize_ner

# The colours of metrics/entities.html (scripts/error_report.py), for the CoNLL types.
LABEL_COLORS = {"PER": "#aa9cfc", "ORG": "#7aecec", "LOC": "#feca74", "MISC": "#c7e9a0"}
# The text the page opens with, and its entities as a person marks them. A first look should
# not show a confident error: the older example (Airbus, Toulouse) did, Airbus as MISC at 0.96.
# Checked with trained pipelines by tests/test_demo.py (DEMO_TEST_MODEL, or training/fast).
EXAMPLE_TEXT = (
    "Angela Merkel flew to Paris on Tuesday to meet Emmanuel Macron, and the two leaders then "
    "travelled to Brussels for talks with officials of the European Commission and Volkswagen."
)
EXAMPLE_ENTITIES = [
    ("Angela Merkel", "PER"),
    ("Paris", "LOC"),
    ("Emmanuel Macron", "PER"),
    ("Brussels", "LOC"),
    ("European Commission", "ORG"),
    ("Volkswagen", "ORG"),
]
KEY = "demo"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The NER demo page (run it through scripts/demo.py)")
    parser.add_argument("model", help="Pipeline folder or installed package name")
    parser.add_argument("--threshold", type=float, default=0.5, help="Initial confidence threshold")
    return parser.parse_args(argv)


@st.cache_resource
def load_pipeline(model: str) -> Language:
    """Loaded once per server, shared by every session of the page."""
    return spacy.load(model)


def entity_labels(nlp: Language) -> list[str]:
    """The labels of the components that set doc.ents."""
    labels: set[str] = set()
    for name in nlp.pipe_names:
        if "doc.ents" in nlp.get_pipe_meta(name).assigns:
            labels.update(nlp.pipe_labels.get(name, []))
    return sorted(labels)


def confidence(ent: Span) -> float | None:
    """The entity's confidence, None for a pipeline that sets none."""
    value = ent._.confidence if Span.has_extension("confidence") else None
    return None if value is None else float(value)


def kept_entities(doc: Doc, threshold: float) -> list[Span]:
    """The entities at or above the threshold (all of them when there are no confidences)."""
    return [ent for ent in doc.ents if (value := confidence(ent)) is None or value >= threshold]


def displacy_doc(doc: Doc, ents: Sequence[Span]) -> dict:
    """displaCy's manual input for the entities, the confidence in the kb_id slot after the label."""
    rendered = []
    for ent in ents:
        value = confidence(ent)
        item = {"start": ent.start_char, "end": ent.end_char, "label": ent.label_}
        if value is not None:
            item.update(kb_id=f"{value:.2f}", kb_url="#")
        rendered.append(item)
    return {"text": doc.text, "ents": rendered, "title": None}


def table_rows(ents: Sequence[Span]) -> list[dict]:
    """One row per entity, for the table under the text."""
    return [
        {
            "text": ent.text,
            "label": ent.label_,
            "confidence": "–" if confidence(ent) is None else f"{confidence(ent):.2f}",
            "start": ent.start_char,
            "end": ent.end_char,
        }
        for ent in ents
    ]


def page(model: str, threshold: float) -> None:
    st.set_page_config(page_title="CoNLL-2003 NER demo", layout="wide")
    st.title("Named entities with confidences")
    nlp = load_pipeline(model)
    labels = entity_labels(nlp)
    shown = Path(model).name if Path(model).exists() else model
    st.caption(f"Pipeline `{shown}` ({', '.join(nlp.pipe_names)}); labels: {', '.join(labels)}.")
    text = st.text_area("Text", EXAMPLE_TEXT, height=120, key=f"{KEY}_text")
    threshold = st.slider(
        "Confidence threshold",
        0.0,
        1.0,
        threshold,
        0.01,
        help="Entities the model is less sure of than this are hidden. Confidences are calibrated on "
        "dev: of the entities shown with 0.80, about 80% are right.",
        key=f"{KEY}_threshold",
    )
    doc = nlp(text)
    kept = kept_entities(doc, threshold)
    hidden = len(doc.ents) - len(kept)
    st.write(f"{len(kept)} of {len(doc.ents)} entities shown ({hidden} under the threshold).")
    visualize_ner(
        [displacy_doc(doc, kept)],
        labels=labels,
        manual=True,
        show_table=False,
        title=None,
        colors=LABEL_COLORS,
        key=KEY,
    )
    selected = st.session_state.get(f"{KEY}_ner_label_select", labels)
    rows = table_rows([ent for ent in kept if ent.label_ in selected])
    st.subheader("Entities")
    if rows:
        # st.table, not st.dataframe: a plain HTML table, readable without scrolling (and by the test)
        st.table(rows)
    else:
        st.write("No entity at this threshold.")


if __name__ == "__main__":
    import sys

    args = parse_args(sys.argv[1:])
    page(args.model, args.threshold)
