"""benchmarks.wheel_check: what counts as the wheel and its folder agreeing (the clean-venv
install itself is what tests/test_ship.py does for a tiny wheel)."""

from pathlib import Path

import pytest

from benchmarks.wheel_check import compare, find_wheel, package_name


def test_package_name_is_the_wheels_import_name() -> None:
    wheel = Path("packages/accurate/x/dist/en_conll03_bilstm_ner_accurate-0.1.0-py3-none-any.whl")
    assert package_name(wheel) == "en_conll03_bilstm_ner_accurate"


def test_same_entities_agree_and_the_confidence_gap_is_measured() -> None:
    ours = [[[0, 5, "PER", 0.91], [10, 15, "LOC", 0.5]], []]
    theirs = [[[10, 15, "LOC", 0.52], [0, 5, "PER", 0.91]], []]
    figures = compare(ours, theirs)
    assert figures["differing_entities"] == 0
    assert figures["folder_entities"] == figures["wheel_entities"] == 2
    assert figures["max_confidence_gap"] == pytest.approx(0.02)


def test_a_label_or_a_boundary_that_differs_counts_on_both_sides() -> None:
    ours = [[[0, 5, "PER", 0.9]], [[3, 8, "ORG", 0.7]]]
    theirs = [[[0, 5, "ORG", 0.9]], [[3, 9, "ORG", 0.7]]]
    assert compare(ours, theirs)["differing_entities"] == 4


def test_texts_out_of_step_are_refused() -> None:
    with pytest.raises(ValueError):
        compare([[]], [[], []])


def test_the_wheel_is_found_under_the_package_steps_folder(tmp_path: Path) -> None:
    wheel = tmp_path / "en_x-0.1.0" / "dist" / "en_x-0.1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"")
    assert find_wheel(tmp_path) == wheel
    assert find_wheel(wheel) == wheel
    (wheel.parent / "en_x-0.2.0-py3-none-any.whl").write_bytes(b"")
    with pytest.raises(SystemExit, match="found 2"):
        find_wheel(tmp_path)
