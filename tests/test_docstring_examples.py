"""The examples in the docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path
from types import ModuleType

import pytest

import prefetcher

PACKAGE = Path(prefetcher.__file__).parent


def runnable_examples(module: ModuleType) -> int:
    """How many examples ``module``'s docstrings hold, leaving out those marked to skip."""
    return sum(
        not example.options.get(doctest.SKIP)  # those need files or a share
        for test in doctest.DocTestFinder().find(module)
        for example in test.examples
    )


def modules_with_examples() -> list[str]:
    """The modules with at least one example that runs here."""
    names = sorted(path.stem for path in PACKAGE.glob("*.py") if ">>> " in path.read_text())
    return [n for n in names if runnable_examples(importlib.import_module(f"prefetcher.{n}"))]


def test_the_examples_are_found() -> None:
    assert {"_loader", "_waiting", "_readahead", "_sizeof"} <= set(modules_with_examples())


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"prefetcher.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted == runnable_examples(module)
