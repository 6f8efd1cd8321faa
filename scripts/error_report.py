"""Where the model goes wrong: every gold and predicted entity of a test set sorted into one
kind, and pages that show them.

    python scripts/error_report.py training/fast/model-best corpus/test.spacy --train corpus/train.spacy \
        --output metrics/fast/errors.md --html metrics/fast/errors.html --entities metrics/fast/entities.html

F1 says how often the model is exactly right; this says what happens otherwise.
The pipeline reads the gold tokens (bilstm_ner.evaluation's predict_on_gold_tokens),
so gold and predicted entities are spans over the same tokens, and an entity is right
as the evaluation counts it (entity_outcome):

- correct: a predicted entity with the gold entity's span and label;
- wrong type: a predicted entity with the same span but another label;
- wrong boundary: no entity with the same span, but one that overlaps it (with
  the right type or another; the right type with a wrong boundary usually means
  a name was cut short or run on);
- missed: a gold entity that no prediction overlaps;
- spurious: a predicted entity that no gold entity overlaps.

Every gold entity is exactly one of correct, wrong type, wrong boundary (right or
other type) or missed; every predicted entity exactly one of correct, wrong type,
wrong boundary or spurious. So each side's counts add up to its total, and the
test of this module checks that on hand-made documents. The report also has a
label confusion table, the recall of names seen and unseen in training, and real
examples of each kind of error with their sentence and the model's confidence.

Two HTML pages, drawn by displaCy's entity view (`spacy evaluate --displacy-path`
only draws components named `ner`): examples of each kind of error (--html), and
the first documents sentence by sentence (--entities), predictions with their
confidence on the left, gold on the right; a predicted entity that is not right is
red and marked ✗, a gold entity that was not found red and marked "missed".
"""

import html
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import spacy
import srsly
import typer
from bilstm_ner.evaluation import entity_outcome, entity_texts, predict_on_gold_tokens, recall_by_novelty
from spacy import displacy
from spacy.tokens import Doc, DocBin, Span

CORRECT = "correct"
WRONG_TYPE = "wrong type"
BOUNDARY_SAME_TYPE = "wrong boundary, right type"
BOUNDARY_OTHER_TYPE = "wrong boundary, other type"
MISSED = "missed"
SPURIOUS = "spurious"
GOLD_KINDS = (CORRECT, WRONG_TYPE, BOUNDARY_SAME_TYPE, BOUNDARY_OTHER_TYPE, MISSED)
PREDICTED_KINDS = (CORRECT, WRONG_TYPE, BOUNDARY_SAME_TYPE, BOUNDARY_OTHER_TYPE, SPURIOUS)
ERROR_KINDS = (WRONG_TYPE, BOUNDARY_SAME_TYPE, BOUNDARY_OTHER_TYPE, MISSED, SPURIOUS)
GOLD = "gold"
PREDICTED = "predicted"
# Column/row of the confusion table for "no entity on the other side".
NONE = "none"
# Tokens of context shown on each side of an example's entity.
CONTEXT_TOKENS = 12
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


@dataclass(frozen=True)
class Judgement:
    """One entity (gold or predicted) and what became of it.

    `other_*` describe the entity of the other side it was matched with (same
    span, else the one overlapping it most), if any. `confidence` is the model's
    confidence in the predicted entity of the pair (this one or its partner)."""

    doc: int
    side: str
    start: int
    end: int
    label: str
    text: str
    kind: str
    other_start: int | None = None
    other_end: int | None = None
    other_label: str | None = None
    confidence: float | None = None


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def _partner(ent: Span, others: Sequence[Span]) -> Span | None:
    """The entity of `others` with the same span, else the one overlapping `ent` most, else None."""
    for other in others:
        if (other.start, other.end) == (ent.start, ent.end):
            return other
    best = max(others, key=lambda other: _overlap(ent, other), default=None)
    return best if best is not None and _overlap(ent, best) > 0 else None


def _kind(ent: Span, other_doc: Doc, partner: Span | None, unmatched: str) -> str:
    if entity_outcome((ent.start, ent.end, ent.label_), other_doc):
        return CORRECT
    if partner is None:
        return unmatched
    if (partner.start, partner.end) == (ent.start, ent.end):
        return WRONG_TYPE
    return BOUNDARY_SAME_TYPE if partner.label_ == ent.label_ else BOUNDARY_OTHER_TYPE


def _confidence(span: Span | None) -> float | None:
    if span is None or not Span.has_extension("confidence"):
        return None
    value = span._.confidence
    return None if value is None else float(value)


def judge_doc(index: int, gold: Doc, predicted: Doc) -> list[Judgement]:
    """Judge every gold and every predicted entity of one document (same tokens on both sides)."""
    if len(gold) != len(predicted):
        raise ValueError(f"document {index}: {len(gold)} gold tokens but {len(predicted)} predicted")
    judgements = []
    for side, ents, other_doc, unmatched in (
        (GOLD, gold.ents, predicted, MISSED),
        (PREDICTED, predicted.ents, gold, SPURIOUS),
    ):
        for ent in ents:
            partner = _partner(ent, other_doc.ents)
            judgements.append(
                Judgement(
                    doc=index,
                    side=side,
                    start=ent.start,
                    end=ent.end,
                    label=ent.label_,
                    text=ent.text,
                    kind=_kind(ent, other_doc, partner, unmatched),
                    other_start=None if partner is None else partner.start,
                    other_end=None if partner is None else partner.end,
                    other_label=None if partner is None else partner.label_,
                    confidence=_confidence(ent if side == PREDICTED else partner),
                )
            )
    return judgements


def judge(gold_docs: Sequence[Doc], predicted_docs: Sequence[Doc]) -> list[Judgement]:
    """Judge the entities of every document pair, in order."""
    return [
        j
        for i, (gold, predicted) in enumerate(zip(gold_docs, predicted_docs, strict=True))
        for j in judge_doc(i, gold, predicted)
    ]


def count_kinds(judgements: Iterable[Judgement]) -> dict[str, dict[str, dict[str, int]]]:
    """{side: {label: {kind: count}}}, with the label "all" summing the types."""
    counts: dict[str, dict[str, Counter]] = {GOLD: {}, PREDICTED: {}}
    for j in judgements:
        counts[j.side].setdefault(j.label, Counter())[j.kind] += 1
        counts[j.side].setdefault("all", Counter())[j.kind] += 1
    kinds = {GOLD: GOLD_KINDS, PREDICTED: PREDICTED_KINDS}
    return {
        side: {label: {k: by_label[label][k] for k in kinds[side]} for label in sorted(by_label)}
        for side, by_label in counts.items()
    }


def confusion(judgements: Iterable[Judgement]) -> dict[str, dict[str, int]]:
    """{gold label: {predicted label: count}}: each gold entity once, under the label
    of the prediction matched to it (same span, else most overlap) or NONE (missed);
    spurious predictions are the row NONE. A row sums to that type's gold entities."""
    table: dict[str, Counter] = {}
    for j in judgements:
        if j.side == GOLD:
            table.setdefault(j.label, Counter())[j.other_label or NONE] += 1
        elif j.kind == SPURIOUS:
            table.setdefault(NONE, Counter())[j.label] += 1
    return {row: dict(counts) for row, counts in table.items()}


def context(doc: Doc, j: Judgement) -> str:
    """The entity in its sentence (at most CONTEXT_TOKENS tokens each side), the gold
    span in **bold**, the predicted one in [brackets]: Markdown, one line."""
    gold_span = (j.start, j.end) if j.side == GOLD else (j.other_start, j.other_end)
    predicted_span = (j.start, j.end) if j.side == PREDICTED else (j.other_start, j.other_end)
    sentence = doc[j.start].sent if doc.has_annotation("SENT_START") else doc[:]
    first = max(sentence.start, j.start - CONTEXT_TOKENS)
    last = min(sentence.end, j.end + CONTEXT_TOKENS)
    # Where both spans open or close on one token, the outer one's marker goes outside,
    # so that equal and nested spans read right (gold outside on equal spans).
    spans = [(gold_span, "**", "**"), (predicted_span, "[", "]")]
    spans = [(s, o, c) for s, o, c in spans if s[0] is not None]
    outer_first = sorted(spans, key=lambda item: (item[0][0], -item[0][1]))
    words = []
    for i in range(first, last):
        word = doc[i].text.replace("*", "\\*").replace("[", "\\[").replace("|", "\\|")
        for (s, _), opener, _closer in reversed(outer_first):
            if i == s:
                word = opener + word
        for (_, e), _opener, closer in reversed(outer_first):
            if i == e - 1:
                word += closer
        words.append(word)
    return ("… " if first > sentence.start else "") + " ".join(words) + (" …" if last < sentence.end else "")


def pick_examples(judgements: Sequence[Judgement], kind: str, n: int, seed: int = 0) -> list[Judgement]:
    """`n` examples of one kind: the most confident ones where the model predicted
    something (confident mistakes say most), a seeded random sample of the missed."""
    members = [j for j in judgements if j.kind == kind and j.side == (GOLD if kind == MISSED else PREDICTED)]
    if kind == MISSED:
        members = random.Random(seed).sample(members, len(members))
    else:
        members = sorted(members, key=lambda j: -(j.confidence or 0.0))
    # one example per distinct mistake: sports tables repeat the same headings
    picked: dict[tuple, Judgement] = {}
    for j in members:
        picked.setdefault((j.text, j.label, j.other_label), j)
        if len(picked) == n:
            break
    return list(picked.values())


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def format_report(
    judgements: Sequence[Judgement],
    gold_docs: Sequence[Doc],
    title: str,
    novelty: dict | None = None,
    n_examples: int = 5,
) -> str:
    """The whole Markdown report; `novelty`: the evaluation's recall_by_novelty."""
    counts = count_kinds(judgements)
    n_gold = sum(counts[GOLD].get("all", {}).values())
    n_pred = sum(counts[PREDICTED].get("all", {}).values())
    lines = [f"# {title}", ""]
    lines += [
        f"{n_gold} gold entities, {n_pred} predicted, on the corpus's own tokens. Each gold entity is "
        "exactly one of the gold kinds, each predicted entity one of the predicted kinds "
        "(see scripts/error_report.py).",
        "",
        "## All types",
        "",
    ]
    gold_all = counts[GOLD].get("all", {})
    pred_all = counts[PREDICTED].get("all", {})
    rows = []
    for kind in (CORRECT, WRONG_TYPE, BOUNDARY_SAME_TYPE, BOUNDARY_OTHER_TYPE, MISSED, SPURIOUS):
        g = gold_all.get(kind) if kind in GOLD_KINDS else None
        p = pred_all.get(kind) if kind in PREDICTED_KINDS else None
        rows.append(
            [
                kind,
                "–" if g is None else g,
                "–" if g is None else _pct(g, n_gold),
                "–" if p is None else p,
                "–" if p is None else _pct(p, n_pred),
            ]
        )
    rows.append(["**total**", n_gold, "", n_pred, ""])
    lines += _table(["kind", "gold", "share", "predicted", "share"], rows)
    for side, kinds in ((GOLD, GOLD_KINDS), (PREDICTED, PREDICTED_KINDS)):
        lines += ["", f"## Per type, {side} entities (by {side} label)", ""]
        rows = [
            [label, sum(c.values()), *(f"{c[k]} ({_pct(c[k], sum(c.values()))})" for k in kinds)]
            for label, c in counts[side].items()
            if label != "all"
        ]
        lines += _table(["type", "total", *kinds], rows)
    matrix = confusion(judgements)
    types = sorted(({label for row in matrix.values() for label in row} | set(matrix)) - {NONE})
    columns = [*types, NONE]
    lines += [
        "",
        "## Label confusion",
        "",
        "Rows: gold type; columns: the type of the prediction matched to it (same span, else the one "
        f"overlapping it most); `{NONE}` column: missed; `{NONE}` row: spurious predictions.",
        "",
    ]
    rows = [
        [f"**{row}**", *("–" if row == col == NONE else matrix[row].get(col, 0) for col in columns)]
        for row in columns
        if row in matrix
    ]
    lines += _table(["gold \\ predicted", *columns], rows)
    if novelty is not None:
        lines += [
            "",
            "## Names seen and unseen in training",
            "",
            "Recall (exactly right) of gold entities whose text is an entity text of the training data, "
            "and of the others.",
            "",
        ]
        lines += _table(
            ["type", "seen R", "seen n", "unseen R", "unseen n"],
            [
                [
                    label,
                    f"{100 * groups['seen']['r']:.2f}",
                    groups["seen"]["n"],
                    f"{100 * groups['unseen']['r']:.2f}",
                    groups["unseen"]["n"],
                ]
                for label, groups in novelty.items()
            ],
        )
    lines += [
        "",
        "## Examples",
        "",
        "Gold span in **bold**, predicted span in [brackets]. The most confident errors of each kind "
        "(a random sample of the missed).",
    ]
    for kind in ERROR_KINDS:
        examples = pick_examples(judgements, kind, n_examples)
        lines += ["", f"### {kind}", ""]
        if not examples:
            lines.append("None.")
        for j in examples:
            gold_label = j.label if j.side == GOLD else j.other_label
            pred_label = j.label if j.side == PREDICTED else j.other_label
            confidence = "" if j.confidence is None else f" {j.confidence:.2f}"
            what = f"gold {gold_label or NONE}, predicted {pred_label or NONE}{confidence}"
            lines.append(f"- {context(gold_docs[j.doc], j)} ({what})")
    return "\n".join(lines) + "\n"


def _example_row(doc: Doc, j: Judgement) -> str:
    """One example as a table row: its sentence with the predicted entity (label and
    confidence), and again with the gold one; the side in error (the prediction, or the
    gold entity when it was missed) drawn red."""
    sentence = doc[j.start].sent if doc.has_annotation("SENT_START") else doc[:]
    offset = sentence.start_char

    def chars(start: int | None, end: int | None) -> tuple[int, int] | None:
        if start is None or end is None:
            return None
        return doc[start].idx - offset, doc[end - 1].idx + len(doc[end - 1]) - offset

    own = chars(j.start, j.end)
    other = chars(j.other_start, j.other_end)
    predicted, gold = (own, other) if j.side == PREDICTED else (other, own)
    predicted_label = j.label if j.side == PREDICTED else j.other_label
    gold_label = j.label if j.side == GOLD else j.other_label
    confidence = "" if j.confidence is None else f" {j.confidence:.2f}"
    cells = []
    for span, label, suffix, in_error in (
        (predicted, predicted_label, confidence, j.kind != MISSED),
        (gold, gold_label, "", j.kind == MISSED),
    ):
        spans = []
        colors: dict[str, str] = {}
        if span is not None and label is not None:
            shown = f"{label}{suffix}"
            colors[shown.upper()] = ERROR_COLOR if in_error else LABEL_COLORS.get(label, OTHER_COLOR)
            spans.append((*span, shown))
        cells.append(render_spans(sentence.text, spans, colors))
    return f'<tr class="error"><td>{cells[0]}</td><td>{cells[1]}</td></tr>'


def format_html(
    judgements: Sequence[Judgement], gold_docs: Sequence[Doc], title: str, n_examples: int
) -> str:
    """An HTML page of examples of each kind of error, drawn by displaCy: predicted | gold."""
    counts = count_kinds(judgements)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        '<p class="counts">The most confident errors of each kind (a random sample of the missed), '
        "predicted entity with its confidence on the left, gold on the right. Counts and tables: "
        "errors.md.</p>",
    ]
    for kind in ERROR_KINDS:
        side = GOLD if kind == MISSED else PREDICTED
        total = counts[side].get("all", {}).get(kind, 0)
        examples = pick_examples(judgements, kind, n_examples)
        parts.append(f"<h2>{html.escape(kind)}</h2>")
        parts.append(f'<p class="counts">{total} {side} entities; {len(examples)} shown.</p>')
        parts.append('<table class="sents"><tr><th>predicted</th><th>gold</th></tr>')
        parts.extend(_example_row(gold_docs[j.doc], j) for j in examples)
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def summary(judgements: Sequence[Judgement], novelty: dict | None = None) -> dict:
    """The report's figures as JSON-able data (counts, confusion, seen/unseen recall)."""
    data: dict = {"counts": count_kinds(judgements), "confusion": confusion(judgements)}
    if novelty is not None:
        data["seen_unseen"] = novelty
    return data


# ---------------------------------------------------------------- the documents, sentence by sentence


@dataclass
class SentenceView:
    """One sentence's text and its entities, in characters relative to the sentence:
    predicted ones (label, confidence, right) and gold ones (label, found)."""

    text: str
    predicted: list[tuple[int, int, str, float | None, bool]]
    gold: list[tuple[int, int, str, bool]]

    @property
    def wrong(self) -> list[tuple[int, int, str, float | None, bool]]:
        return [p for p in self.predicted if not p[4]]

    @property
    def missed(self) -> list[tuple[int, int, str, bool]]:
        return [g for g in self.gold if not g[3]]


@dataclass
class DocView:
    title: str
    sentences: list[SentenceView]


def doc_view(gold: Doc, predicted: Doc, title: str) -> DocView:
    """A gold doc and the predictions on its own tokens, cut into the gold's sentences."""
    if [t.text for t in gold] != [t.text for t in predicted]:
        raise ValueError(f"{title}: predicted and gold tokens differ")
    sentences = list(gold.sents) if gold.has_annotation("SENT_START") else [gold[:]]
    views = []
    for sent in sentences:
        offset = sent.start_char
        views.append(
            SentenceView(
                sent.text,
                [
                    (e.start_char - offset, e.end_char - offset, e.label_, _confidence(e), bool(right))
                    for e in predicted.ents
                    if sent.start <= e.start < sent.end
                    for right in [entity_outcome((e.start, e.end, e.label_), gold)]
                ],
                [
                    (e.start_char - offset, e.end_char - offset, e.label_, bool(found))
                    for e in gold.ents
                    if sent.start <= e.start < sent.end
                    for found in [entity_outcome((e.start, e.end, e.label_), predicted)]
                ],
            )
        )
    return DocView(title, views)


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


def sentence_row(view: SentenceView, colors: dict[str, str], palette: dict[str, str]) -> str:
    predicted = []
    for start, end, label, confidence, right in view.predicted:
        shown = label if confidence is None else f"{label} {confidence:.2f}"
        shown = shown if right else f"{shown} {WRONG_MARK}"
        colors[shown.upper()] = palette.get(label, OTHER_COLOR) if right else ERROR_COLOR
        predicted.append((start, end, shown))
    gold = []
    for start, end, label, found in view.gold:
        shown = label if found else f"{label} {MISSED_MARK}"
        colors[shown.upper()] = palette.get(label, OTHER_COLOR) if found else ERROR_COLOR
        gold.append((start, end, shown))
    error = ' class="error"' if view.wrong or view.missed else ""
    return (
        f"<tr{error}><td>{render_spans(view.text, predicted, colors)}</td>"
        f"<td>{render_spans(view.text, gold, colors)}</td></tr>"
    )


def render_page(docs: list[DocView], title: str) -> str:
    """The page of the first documents: a legend, then one table per document."""
    colors: dict[str, str] = {}
    palette = label_colors({span[2] for d in docs for s in d.sentences for span in s.predicted + s.gold})
    legend = " ".join(
        f'<mark style="background: {color}">{html.escape(label)}</mark>' for label, color in palette.items()
    )
    legend += (
        f' <mark style="background: {ERROR_COLOR}">predicted, wrong {WRONG_MARK}</mark>'
        f' <mark style="background: {ERROR_COLOR}">gold, {MISSED_MARK}</mark>'
    )
    sentences = [s for d in docs for s in d.sentences]
    n_wrong, n_missed, n_predicted, n_gold = (
        sum(len(getattr(s, kind)) for s in sentences) for kind in ("wrong", "missed", "predicted", "gold")
    )
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
        wrong, missed = (sum(len(getattr(s, k)) for s in doc.sentences) for k in ("wrong", "missed"))
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
    model: str = typer.Argument(..., help="Pipeline folder or package name"),
    corpus: Path = typer.Argument(..., help="DocBin with the gold documents (e.g. corpus/test.spacy)"),
    output: Path = typer.Option(Path("metrics/errors.md"), help="Markdown report to write"),
    json_output: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON here"),
    train: Path | None = typer.Option(None, help="Training DocBin: recall of names seen / unseen in it"),
    n_examples: int = typer.Option(5, help="Examples shown per kind of error"),
    html_output: Path | None = typer.Option(
        None, "--html", help="Also write an HTML page of examples of each kind (displaCy), here"
    ),
    n_html_examples: int = typer.Option(25, help="Examples per kind of error on the HTML page"),
    entities: Path | None = typer.Option(
        None, help="Also write the first documents, predicted beside gold, to this HTML page"
    ),
    n_docs: int = typer.Option(10, help="Documents on the --entities page, from the corpus's start (0: all)"),
) -> None:
    """Sort every gold and predicted entity of the corpus into correct or a kind of error."""
    nlp = spacy.load(model)
    gold_docs = list(DocBin().from_disk(corpus).get_docs(nlp.vocab))
    predicted_docs = predict_on_gold_tokens(nlp, gold_docs)
    novelty = None
    if train is not None:
        seen = entity_texts(list(DocBin().from_disk(train).get_docs(nlp.vocab)))
        novelty = recall_by_novelty(gold_docs, predicted_docs, seen)
    judgements = judge(gold_docs, predicted_docs)
    title = f"Errors of {Path(model).name} on {corpus.name}"
    report = format_report(judgements, gold_docs, title, novelty=novelty, n_examples=n_examples)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report, encoding="utf8")
    if json_output is not None:
        srsly.write_json(json_output, summary(judgements, novelty))
    if html_output is not None:
        html_output.write_text(format_html(judgements, gold_docs, title, n_html_examples), encoding="utf8")
    if entities is not None:
        shown = list(zip(gold_docs, predicted_docs, strict=True))[: n_docs or None]
        views = [doc_view(g, p, f"{corpus.name}, document {i + 1}") for i, (g, p) in enumerate(shown)]
        page = render_page(views, f"Entities: {Path(model).name} on {corpus.name} (predicted | gold)")
        entities.write_text(page, encoding="utf8")
    counts = count_kinds(judgements)
    for side in (GOLD, PREDICTED):
        total = sum(counts[side].get("all", {}).values())
        parts = ", ".join(f"{kind} {n}" for kind, n in counts[side].get("all", {}).items())
        print(f"{side} entities {total}: {parts}")
    print(f"Wrote {output}")


if __name__ == "__main__":
    typer.run(main)
