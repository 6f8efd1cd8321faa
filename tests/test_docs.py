"""README.md and docs/: the README stays a five-minute read whose command tables are
`spacy project document`'s, and no relative link in them points nowhere (issue 23).

Links and headings are read with markdown-it-py (the parser behind rich, which spaCy's
CLI, typer, requires), so a `[x](y)` inside code is not taken for a link.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from weasel.cli.document import MARKER_END, MARKER_START, project_document

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
MAX_README_LINES = 200
START = MARKER_START.format(tag="WEASEL")
END = MARKER_END.format(tag="WEASEL")


def parse(path: Path) -> list:
    return MarkdownIt("commonmark").enable("table").parse(path.read_text(encoding="utf8"))


def links(path: Path) -> list[str]:
    """Every link and image target in the page, in order."""
    targets = []
    for token in parse(path):
        for child in token.children or []:
            if child.type == "link_open":
                targets.append(str(child.attrs["href"]))
            elif child.type == "image":
                targets.append(str(child.attrs["src"]))
    return targets


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lowercased, punctuation dropped,
    spaces as hyphens, a repeated one numbered."""
    tokens = parse(path)
    seen: dict[str, int] = {}
    found = set()
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = "".join(child.content for child in tokens[i + 1].children or [])
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def test_readme_is_short() -> None:
    n_lines = len(README.read_text(encoding="utf8").splitlines())
    assert n_lines <= MAX_README_LINES, f"README.md has {n_lines} lines; move detail to docs/"


def test_readme_block_is_what_spacy_project_document_writes(tmp_path: Path) -> None:
    """weasel replaces only the text between its markers: they must be there once each,
    and what is between them must be what project.yml gives now."""
    text = README.read_text(encoding="utf8")
    assert text.count(START) == 1 and text.count(END) == 1
    committed = text[text.index(START) : text.index(END) + len(END)]
    fresh = tmp_path / "block.md"
    project_document(REPO, fresh)
    assert committed == fresh.read_text(encoding="utf8").strip(), (
        "regenerate: python -m spacy project document . --output README.md"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue
        path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif parts.fragment and path.suffix == ".md" and parts.fragment not in anchors(path):
            broken.append(f"{target}: no heading #{parts.fragment} in {path.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading: `code`\n", encoding="utf8")
    page.write_text(
        "[ok](there.md#a-heading-code) [gone](missing.md) `[code](nowhere.md)` [web](https://x.org)\n",
        encoding="utf8",
    )
    assert links(page) == ["there.md#a-heading-code", "missing.md", "https://x.org"]
    assert anchors(tmp_path / "there.md") == {"a-heading-code"}


def test_readme_loads_the_wheel_first_and_a_folder_only_inside_the_clone() -> None:
    """The first way the README shows to load the model works anywhere: the installed
    wheel, by name; a `training/...` folder is shown as working inside the clone only
    (issue 35)."""
    text = README.read_text(encoding="utf8")
    loads = re.findall(r"""spacy\.load\(["']([^"']+)["']\)""", text)
    assert loads and "/" not in loads[0], loads
    for match in re.finditer(r"""spacy\.load\(["']training/[^"']+["']\)""", text):
        assert "clone" in text[max(0, match.start() - 150) : match.end() + 150]


def test_readme_results_table_names_each_pipelines_wheel() -> None:
    rows = [line for line in README.read_text(encoding="utf8").splitlines() if line.startswith("| wheel")]
    assert len(rows) == 1
    assert "`en_conll03_bilstm_ner`" in rows[0] and "`en_conll03_bilstm_ner_accurate`" in rows[0]
