"""Positions and file numbers, from names alone (no file is read)."""

from __future__ import annotations

import doctest

from prefetcher import _numbering
from prefetcher._numbering import Numbering, file_number, gaps
from prefetcher._template import parse_template


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_numbering)
    assert (result.attempted > 0, result.failed) == (True, 0)


def test_file_number_is_the_last_run_of_digits_in_the_name() -> None:
    assert file_number("/run7/img_2026_0007.png") == 7


def test_file_number_ignores_digits_in_the_directory() -> None:
    assert file_number("/run7/last.png") is None


def test_gaps_of_a_complete_run_are_empty() -> None:
    assert gaps([3, 1, 2]) == ()


def test_gaps_are_the_runs_missing_between_lowest_and_highest() -> None:
    assert gaps([1, 2, 6, 8]) == ((3, 5), (7, 7))


def test_numbering_of_keys_starts_at_position_0_whatever_the_first_number() -> None:
    numbering = Numbering.of_keys(["/r/5.png", "/r/6.png"])
    assert (numbering.first_position, numbering.number(0), numbering.last_position) == (0, 5, 1)


def test_numbering_of_template_positions_are_file_numbers() -> None:
    template = parse_template("/r/{:03d}.png")
    assert template is not None
    numbering = Numbering.of_template(template, [4, 2, 9])
    assert (numbering.first_position, numbering.last_position) == (2, 9)
    assert (numbering.name(7), numbering.label(7)) == ("007.png", "007.png (file 7)")
    assert numbering.missing_count == 5


def test_numbering_of_template_without_files_has_no_last_position() -> None:
    template = parse_template("{}.png")
    assert template is not None
    assert Numbering.of_template(template, []).last_position is None
