"""What the decoder and the lattice share (biluo_paths.py): grouping by length,
log-potentials of the BILUO rules, and sums along a path."""

import numpy
import pytest
from bilstm_ner import biluo_paths
from bilstm_ner.biluo_paths import FORBIDDEN, log_potentials, map_length_groups, path_sums
from bilstm_ner.decoding import ConstrainedDecoder
from bilstm_ner.lattice import BILUOLattice
from bilstm_ner.tag_scheme import biluo_tag_names, transition_masks


def test_groups_hold_similar_lengths_and_results_come_back_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(biluo_paths, "DECODE_GROUP", 2)
    lengths = [5, 0, 2, 9, 3, 0, 1]
    scores = [numpy.full((n, 3), float(i)) for i, n in enumerate(lengths)]
    groups: list[list[int]] = []

    def run_group(group: list[numpy.ndarray]) -> list[tuple[int, int]]:
        groups.append([len(s) for s in group])
        return [(len(s), int(s[0, 0])) for s in group]

    results = map_length_groups(scores, run_group, empty=None)
    # each document's own result, empty documents never passed on
    assert results == [(5, 0), None, (2, 2), (9, 3), (3, 4), None, (1, 6)]
    assert groups == [[1, 2], [3, 5], [9]]


def test_log_potentials_are_the_masks_in_log_space() -> None:
    tags = biluo_tag_names(["creative-work", "PER"])
    for potentials, mask in zip(log_potentials(tags), transition_masks(tags), strict=True):
        assert potentials.dtype == numpy.float32
        numpy.testing.assert_array_equal(potentials == 0.0, mask)
        numpy.testing.assert_array_equal(potentials == numpy.float32(FORBIDDEN), ~mask)


def test_path_sums_give_each_spans_total() -> None:
    rng = numpy.random.default_rng(0)
    scores = rng.normal(size=(6, 4)).astype("float32")
    path = numpy.array([0, 1, 3, 2, 0, 1])
    cumulative, starts, ends = path_sums(scores, path, [(1, 4, "X"), (5, 6, "Y")])
    assert cumulative.dtype == numpy.float64
    assert starts.tolist() == [1, 5] and ends.tolist() == [4, 6]
    expected = [scores[1, 1] + scores[2, 3] + scores[3, 2], scores[5, 1]]
    numpy.testing.assert_allclose(cumulative[ends] - cumulative[starts], expected, rtol=1e-6)


def test_decoder_and_lattice_of_no_documents() -> None:
    tags = biluo_tag_names(["PER"])
    assert ConstrainedDecoder(tags).decode([]) == []
    assert BILUOLattice(tags).alpha_beta([]) == ([], [], [])
    assert BILUOLattice(tags).forward_backward([]) == ([], [], [], [])
