"""Positions and file numbers: which file ``get(n)`` reads, its number, the numbers missing.

A *position* is the ``n`` of ``loader.get(n)``. A *file number* is the number in a file's name.
For a numbered template they are the same (``get(7)`` reads ``7.png``); for a directory, glob or
list, position ``i`` is the i-th file in natural order, so ``get(0)`` reads ``1.png`` when the
numbering starts at 1.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prefetcher._credentials import public_url
from prefetcher._remote import is_url, list_url, url_filesystem
from prefetcher._template import Template

__all__ = ["Numbering", "file_number", "gaps", "list_template_numbers", "template_numbering"]

_DIGITS = re.compile(r"[0-9]+")


def file_number(path: str) -> int | None:
    """The number of a file: the last run of digits in its name, extension left out.

    >>> file_number("/run7/frame_00012.tif"), file_number("scan.0003.png"), file_number("a.png")
    (12, 3, None)
    """
    stem = os.path.splitext(_base_name(path))[0]
    runs = _DIGITS.findall(stem)
    return int(runs[-1]) if runs else None


def gaps(numbers: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """The runs of numbers missing between the lowest and the highest, as ``(first, last)`` pairs.

    >>> gaps([1, 2, 5, 7, 8])
    ((3, 4), (6, 6))
    """
    present = sorted(set(numbers))
    return tuple((low + 1, high - 1) for low, high in itertools.pairwise(present) if high > low + 1)


@dataclasses.dataclass(frozen=True)
class Numbering:
    """How the positions of a sequence map to its files and their numbers.

    Built by :func:`~prefetcher.open_sequence` (``loader.numbering``); nothing here reads a file.
    """

    #: The template of an open-ended sequence, or ``None`` for a directory, glob or list.
    template: Template | None
    #: The base name of the file at each position (empty for a template).
    names: tuple[str, ...]
    #: The file number of each position (of a template: the numbers of the files that existed
    #: when the numbering was made, sorted).
    numbers: tuple[int | None, ...]
    #: Whether ``numbers`` are all the files (``False``: a template whose directory could not be
    #: listed; ``numbers`` then holds only the first file number found by trying).
    listed: bool = True

    @classmethod
    def of_keys(cls, keys: Sequence[object]) -> Numbering:
        """The numbering of a sequence of paths, from their names alone."""
        names = tuple(_base_name(str(key)) for key in keys)
        return cls(None, names, tuple(file_number(name) for name in names))

    @classmethod
    def of_template(
        cls, template: Template, existing: Iterable[int], *, listed: bool = True
    ) -> Numbering:
        """The numbering of a template whose existing files have the numbers ``existing``.

        With ``listed=False``, ``existing`` holds the first file number only and the last one is
        unknown.
        """
        return cls(template, (), tuple(sorted(set(existing))), listed)

    @property
    def open_ended(self) -> bool:
        """Whether the sequence is a template, with no last position of its own."""
        return self.template is not None

    @property
    def first_position(self) -> int:
        """The first position worth reading: 0, or a template's lowest existing file number."""
        if self.template is None:
            return 0
        known = self._template_numbers()
        return known[0] if known else 0

    @property
    def last_position(self) -> int | None:
        """The last position: the last file, or a template's highest existing file number."""
        if self.template is None:
            return len(self.names) - 1
        known = self._template_numbers()
        return known[-1] if known and self.listed else None

    @property
    def missing(self) -> tuple[tuple[int, int], ...]:
        """The file numbers missing between the first and the last file, as ``(first, last)``."""
        if self.template is not None:
            return gaps(self._template_numbers()) if self.listed else ()
        return gaps(n for n in self.numbers if n is not None)

    @property
    def missing_count(self) -> int:
        """How many file numbers :attr:`missing` holds."""
        return sum(last - first + 1 for first, last in self.missing)

    def name(self, position: int) -> str:
        """The base name of the file at ``position``."""
        if self.template is not None:
            return _base_name(self.template.format(position))
        return self.names[position]

    def number(self, position: int) -> int | None:
        """The file number of ``position`` (``None`` for a file without digits in its name)."""
        if self.template is not None:
            return position
        return self.numbers[position]

    def label(self, position: int) -> str:
        """``position`` as people read it: ``7.png (file 7)``, ``7.png (file 7, position 6)``."""
        number = self.number(position)
        if number is None:
            return f"{self.name(position)} (position {position})"
        if number == position:
            return f"{self.name(position)} (file {number})"
        return f"{self.name(position)} (file {number}, position {position})"

    def _template_numbers(self) -> tuple[int, ...]:
        return tuple(n for n in self.numbers if n is not None)


def list_template_numbers(
    template: Template, storage_options: Mapping[str, Any] | None = None
) -> tuple[int, ...] | None:
    """The numbers of the files of ``template`` that exist now, from one directory listing.

    ``None`` when the directory cannot be listed (an HTTP server without index pages, a field in a
    directory name): the numbering is then known only by trying files one by one.
    """
    if "/" in template.suffix or os.sep in template.suffix:
        return None
    directory, base_prefix = _split_dir(template.prefix)
    in_directory = Template(template.text, base_prefix, template.suffix, template.spec)
    try:
        names = _list_names(directory, storage_options)
    except (OSError, ValueError, ImportError):
        return None
    found = (in_directory.number_of(name) for name in names)
    return tuple(sorted(n for n in found if n is not None))


def template_numbering(
    template: Template, real: Template, storage_options: Mapping[str, Any]
) -> Numbering:
    """The :class:`Numbering` of ``template`` from one listing of ``real`` (the same template,
    password and all), or, where its directory cannot be listed, from whether file 0 exists."""
    numbers = list_template_numbers(real, storage_options)
    if numbers is not None:
        return Numbering.of_template(template, numbers)
    # Not listable: numbering starts at 0, or at 1 when there is no file 0; the end is unknown.
    first = 0 if _exists(real.format(0), storage_options) else 1
    return Numbering.of_template(template, [first], listed=False)


def _exists(path: str, storage_options: Mapping[str, Any]) -> bool:
    if is_url(path):
        try:
            fs, fs_path = url_filesystem(path, storage_options)
            return bool(fs.exists(fs_path))
        except Exception:
            return False
    return os.path.exists(path)


def _split_dir(prefix: str) -> tuple[str, str]:
    cut = max(prefix.rfind("/"), prefix.rfind(os.sep))
    if cut < 0:
        return "", prefix
    return prefix[: cut + 1], prefix[cut + 1 :]


def _list_names(directory: str, storage_options: Mapping[str, Any] | None) -> list[str]:
    if is_url(directory):
        return list_url(directory, storage_options, name=public_url(directory))
    with os.scandir(directory or ".") as entries:
        return [entry.name for entry in entries]


def _base_name(path: str) -> str:
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1].rsplit(os.sep, 1)[-1] or path
