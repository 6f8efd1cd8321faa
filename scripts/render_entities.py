"""Render predicted and gold entities side by side, one row per sentence, as one HTML page.

    python scripts/render_entities.py training/fast/model-best corpus/test.spacy \
        --output metrics/entities.html --n-docs 10

`spacy evaluate --displacy-path` only renders components whose factory is
literally `ner`, so the project renders its own: displaCy's entity view (manual
mode) of each sentence, predictions on the left with their confidence, gold on
the right. A predicted entity that is not exactly a gold one (span and label)
is red and marked ✗; a gold entity that was not predicted exactly is red and
marked "missed". Sentences with any error have a red edge and are counted in
the header of their document.
"""

import html
from dataclasses import dataclass, field
from pathlib import Path

import spacy
import typer
from spacy import displacy
from spacy.tokens import Doc, DocBin

LABEL_COLORS = {"PER": "#aa9cfc", "ORG": "#7aecec", "LOC": "#feca74", "MISC": "#c7e9a0"}
# Colours for the labels of other corpora, given out in sorted label order.
PALETTE = ["#bfe1d9", "#e4e7d2", "#ffeb80", "#f0d0ff", "#9cc9cc", "#ffcc99", "#c8d6ff", "#d9fe74"]
OTHER_COLOR = "#ddd"
ERROR_COLOR = "#ff6b6b"
WRONG_MARK = "✗"
MISSED_MARK = "missed"

PAGE_STYLE = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
.legend mark { padding: 0.2em 0.5em; border-radius: 0.35em; margin-right: 0.4em; }
table.sents { border-collapse: collapse; width: 100%; table-layout: fixed; }
table.sents th { text-align: left; padding: 0.3em 0.6em; background: #f3f3f3; }
table.sents td { vertical-align: top; padding: 0.2em 0.6em; border-top: 1px solid #eee;
                 border-left: 5px solid transparent; }
table.sents tr.error td { border-left-color: #e53935; background: #fff5f5; }
table.sents td .entities { line-height: 2.4 !important; }
.counts { color: #555; font-size: 0.9em; }
.counts b.bad { color: #c62828; }
"""


@dataclass
class SentenceView:
    """One sentence's text and its entities, in characters relative to the sentence."""

    text: str
    predicted: list[tuple[int, int, str, float | None]] = field(default_factory=list)
    gold: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def wrong(self) -> list[tuple[int, int, str, float | None]]:
        gold = set(self.gold)
        return [p for p in self.predicted if p[:3] not in gold]

    @property
    def missed(self) -> list[tuple[int, int, str]]:
        predicted = {p[:3] for p in self.predicted}
        return [g for g in self.gold if g not in predicted]


@dataclass
class DocView:
    title: str
    sentences: list[SentenceView]


def doc_view(predicted: Doc, reference: Doc, title: str) -> DocView:
    """Cut a predicted doc and its gold reference (same text) into sentence views.

    Sentences are the reference's (the corpus keeps CoNLL's sentence breaks);
    entities are matched by character offsets, so the two tokenizations may differ.
    """
    if predicted.text != reference.text:
        raise ValueError(f"{title}: predicted and reference texts differ")
    if reference.has_annotation("SENT_START"):
        bounds = [(s.start_char, s.end_char) for s in reference.sents]
    else:
        bounds = [(0, len(reference.text))]
    predicted_ents = [
        (e.start_char, e.end_char, e.label_, getattr(e._, "confidence", None)) for e in predicted.ents
    ]
    gold_ents = [(e.start_char, e.end_char, e.label_) for e in reference.ents]
    sentences = []
    for start, end in bounds:
        view = SentenceView(reference.text[start:end])
        for s, e, label, confidence in predicted_ents:
            if start <= s < end:
                view.predicted.append((s - start, min(e, end) - start, label, confidence))
        for s, e, label in gold_ents:
            if start <= s < end:
                view.gold.append((s - start, min(e, end) - start, label))
        sentences.append(view)
    return DocView(title, sentences)


def render_spans(text: str, spans: list[tuple[int, int, str]], colors: dict[str, str]) -> str:
    """displaCy's entity markup of one text with the given (start, end, shown label) spans."""
    parsed = {
        "text": text,
        "ents": [{"start": s, "end": e, "label": label} for s, e, label in sorted(spans)],
        "title": None,
    }
    return displacy.render(parsed, style="ent", manual=True, page=False, options={"colors": colors})


def label_colors(labels: set[str]) -> dict[str, str]:
    """A colour per label: CoNLL-2003's own four first, then the palette for any
    other corpus's labels (grey once it runs out)."""
    colors = {label: color for label, color in LABEL_COLORS.items() if label in labels}
    others = sorted(labels - set(LABEL_COLORS))
    colors.update({label: PALETTE[i] if i < len(PALETTE) else OTHER_COLOR for i, label in enumerate(others)})
    return colors


def sentence_row(view: SentenceView, colors: dict[str, str], palette: dict[str, str] | None = None) -> str:
    wrong = set(view.wrong)
    missed = set(view.missed)
    predicted = []
    for span in view.predicted:
        start, end, label, confidence = span
        shown = label if confidence is None else f"{label} {confidence:.2f}"
        if span in wrong:
            shown = f"{shown} {WRONG_MARK}"
            colors[shown.upper()] = ERROR_COLOR
        else:
            colors.setdefault(shown.upper(), (palette or LABEL_COLORS).get(label, OTHER_COLOR))
        predicted.append((start, end, shown))
    gold = []
    for span in view.gold:
        start, end, label = span
        shown = f"{label} {MISSED_MARK}" if span in missed else label
        colors[shown.upper()] = (
            ERROR_COLOR if span in missed else (palette or LABEL_COLORS).get(label, OTHER_COLOR)
        )
        gold.append((start, end, shown))
    error = ' class="error"' if wrong or missed else ""
    return (
        f"<tr{error}><td>{render_spans(view.text, predicted, colors)}</td>"
        f"<td>{render_spans(view.text, gold, colors)}</td></tr>"
    )


def render_page(docs: list[DocView], title: str) -> str:
    """The whole HTML page: a legend, then one table per document."""
    colors: dict[str, str] = {}
    labels = {span[2] for d in docs for s in d.sentences for span in s.predicted + s.gold}
    palette = label_colors(labels)
    legend = " ".join(
        f'<mark style="background: {color}">{html.escape(label)}</mark>' for label, color in palette.items()
    )
    legend += (
        f' <mark style="background: {ERROR_COLOR}">predicted, wrong {WRONG_MARK}</mark>'
        f' <mark style="background: {ERROR_COLOR}">gold, {MISSED_MARK}</mark>'
    )
    n_wrong = sum(len(s.wrong) for d in docs for s in d.sentences)
    n_missed = sum(len(s.missed) for d in docs for s in d.sentences)
    n_predicted = sum(len(s.predicted) for d in docs for s in d.sentences)
    n_gold = sum(len(s.gold) for d in docs for s in d.sentences)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="legend">{legend}</p>',
        f'<p class="counts">{len(docs)} documents: {n_predicted} predicted entities '
        f'(<b class="bad">{n_wrong} wrong</b>), {n_gold} gold '
        f'(<b class="bad">{n_missed} missed</b>). Predicted labels show the confidence '
        "(<code>span._.confidence</code>).</p>",
    ]
    for doc in docs:
        wrong = sum(len(s.wrong) for s in doc.sentences)
        missed = sum(len(s.missed) for s in doc.sentences)
        bad_rows = sum(1 for s in doc.sentences if s.wrong or s.missed)
        parts.append(f"<h2>{html.escape(doc.title)}</h2>")
        parts.append(
            f'<p class="counts">{len(doc.sentences)} sentences, <b class="bad">{bad_rows} with errors'
            f"</b>: {wrong} wrong, {missed} missed</p>"
        )
        parts.append('<table class="sents"><tr><th>predicted</th><th>gold</th></tr>')
        parts.extend(sentence_row(s, colors, palette) for s in doc.sentences)
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def main(
    model: Path = typer.Argument(..., help="Pipeline folder or package name"),
    corpus: Path = typer.Argument(..., help="DocBin with gold entities (e.g. corpus/test.spacy)"),
    output: Path = typer.Option(Path("metrics/entities.html"), help="HTML file to write"),
    n_docs: int = typer.Option(10, help="How many documents, from the start of the corpus (0 = all)"),
) -> None:
    """Write predicted and gold entities of the first documents side by side to an HTML page."""
    nlp = spacy.load(model)
    references = list(DocBin().from_disk(corpus).get_docs(nlp.vocab))
    if n_docs > 0:
        references = references[:n_docs]
    predicted = nlp.pipe(ref.text for ref in references)
    views = [
        doc_view(pred, ref, f"{corpus.name}, document {i + 1}")
        for i, (pred, ref) in enumerate(zip(predicted, references, strict=True))
    ]
    page = render_page(views, f"Entities: {model.name} on {corpus.name} (predicted | gold)")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf8")
    n_bad = sum(1 for v in views for s in v.sentences if s.wrong or s.missed)
    print(f"Wrote {output}: {len(views)} documents, {n_bad} sentences with errors")


if __name__ == "__main__":
    typer.run(main)
