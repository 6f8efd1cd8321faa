"""Shared pytest setup: make ``scripts/`` importable and locate the CoNLL-2003 data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
if str(SCRIPTS) not in sys.path:
    # Scripts are plain files, not a package; tests import them as modules.
    sys.path.insert(0, str(SCRIPTS))


@pytest.fixture(scope="session")
def conll_dir() -> Path:
    """The CoNLL-2003 folder (``CONLL2003_DIR`` or ``<repo>/../shared/conll2003``); skip if absent."""
    path = Path(os.environ.get("CONLL2003_DIR") or REPO.parent / "shared" / "conll2003")
    if not path.is_dir():
        pytest.skip(f"CoNLL-2003 data folder not found: {path}")
    return path
