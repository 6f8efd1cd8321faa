"""The BILUO tag scheme the tagger predicts, and which tag may follow which.

The model scores one BILUO tag per token; entity spans come out of a decoder
that is only allowed to walk valid tag sequences, so every prediction is a
well-formed set of non-overlapping spans.
"""

from collections.abc import Iterable

import numpy

OUTSIDE = "O"
PREFIXES = ("B", "I", "L", "U")


def biluo_tag_names(labels: Iterable[str]) -> list[str]:
    """Tag names in a fixed order: "O", then B/I/L/U for each label in the given order.

    The order decides the model's output rows, so it depends only on the labels
    stored in the component's cfg.
    """
    return [OUTSIDE] + [f"{prefix}-{label}" for label in labels for prefix in PREFIXES]


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '')."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, _, label = tag.partition("-")
    return prefix, label


def transition_masks(
    tag_names: list[str],
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Boolean masks of the valid BILUO moves.

    Returns (allowed[prev, next], allowed_first[tag], allowed_last[tag]).
    B-X and I-X must be followed by I-X or L-X; everything else (O, L-*, U-*)
    must be followed by O, B-* or U-*.
    """
    n_tags = len(tag_names)
    parts = [split_tag(tag) for tag in tag_names]
    opens = numpy.array([prefix in ("O", "B", "U") for prefix, _ in parts])
    closes = numpy.array([prefix in ("O", "L", "U") for prefix, _ in parts])
    allowed = numpy.zeros((n_tags, n_tags), dtype=bool)
    for i, (prev_prefix, prev_label) in enumerate(parts):
        if prev_prefix in ("B", "I"):
            for j, (next_prefix, next_label) in enumerate(parts):
                allowed[i, j] = next_prefix in ("I", "L") and next_label == prev_label
        else:
            allowed[i] = opens
    return allowed, opens.copy(), closes


def tag_index(tag_names: list[str]) -> dict[str, int]:
    """Map from tag name to its row in the model's output."""
    return {tag: i for i, tag in enumerate(tag_names)}
