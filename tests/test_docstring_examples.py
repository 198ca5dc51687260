"""The examples in the public docstrings run and print what they say."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from prefetcher import (
    _aio,
    _loader,
    _notes,
    _planning,
    _pool,
    _retry,
    _sizeof,
    _slow_share,
    _stats,
)


@pytest.mark.parametrize(
    "module", [_aio, _loader, _notes, _planning, _pool, _retry, _sizeof, _slow_share, _stats]
)
def test_docstring_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
