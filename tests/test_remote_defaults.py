"""The loader options open_sequence adds for a URL source (a network share) and not for a path."""

from __future__ import annotations

import inspect

from prefetcher import PrefetchingLoader
from prefetcher._sequence import _NETWORK_DEFAULTS, _network_defaults, _options_for


def _accepted() -> set[str]:
    return set(inspect.signature(PrefetchingLoader).parameters)


def test_network_defaults_are_the_documented_ones_the_loader_accepts() -> None:
    expected = {k: v for k, v in _NETWORK_DEFAULTS.items() if k in _accepted()}

    assert _network_defaults() == expected


def test_network_defaults_retry_connection_errors_and_hangs_only() -> None:
    # A corrupt image is an OSError (PIL.UnidentifiedImageError): retrying it reads it again.
    assert _NETWORK_DEFAULTS["retry_on"] == (ConnectionError, TimeoutError)


def test_url_source_gets_the_network_defaults() -> None:
    assert _options_for(True, {"cache_size": 3}) == {**_network_defaults(), "cache_size": 3}


def test_callers_options_win_over_the_network_defaults() -> None:
    options = dict.fromkeys(_NETWORK_DEFAULTS, "caller's")

    assert _options_for(True, options) == options


def test_local_source_keeps_the_loaders_defaults() -> None:
    assert _options_for(False, {"cache_size": 3}) == {"cache_size": 3}
