"""Secrets in URLs: find them, mask them in any text, and keep them out of what a loader shows.

A URL's password is its user info after the first ``:``, up to the *last* ``@`` before the first
``/``, ``?`` or ``#`` (so a password may contain ``@``); a chained fsspec URL
(``simplecache::smb://...``) is handled link by link. Query parameters that carry a secret
(``token``, ``sig``, ``signature``, ``key``, ``password``, ``access_token``, ``X-Amz-*``) count too.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "Secrets", "mask", "mask_logs_of", "public_url", "secrets_of"]

MASK = "***"

# A URL's scheme and authority, inside any text. The authority stops at the first "/", "?" or
# "#" (RFC 3986) and, since this also runs over error messages, at white space and quotes.
_AUTHORITY = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<authority>[^/?#\s'\"]*)")
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&;](?:token|sig|signature|key|password|passwd|access_token|x-amz-[a-z0-9-]+)=)"
    r"(?P<value>[^&#;\s'\"]*)",
    re.IGNORECASE,
)


def _split_authority(authority: str) -> tuple[str | None, str | None, str]:
    """``(user, password, host)`` of an authority; user info runs to its last ``@``."""
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return None, None, authority
    user, colon, password = userinfo.partition(":")
    return user, (password if colon else None), host


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every URL password and secret query value replaced by ``***``.

    ``secrets`` are values known to be secret (a password given in ``storage_options``): they are
    masked wherever they appear, in whatever form the text quotes them.

    Example:
        >>> mask("cannot read smb://root:p@ss:w0rd@host/share/1.png?token=abc&n=1")
        'cannot read smb://root:***@host/share/1.png?token=***&n=1'
    """

    def hide_password(match: re.Match[str]) -> str:
        user, password, host = _split_authority(match["authority"])
        if password is None:
            return match[0]
        return f"{match['scheme']}{user}:{MASK}@{host}"

    text = _AUTHORITY.sub(hide_password, text)
    text = _SECRET_PARAMETER.sub(lambda m: m["name"] + MASK, text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        # The forms an exception message may use: as it is, quoted into a URL, and as repr().
        for form in {secret, urllib.parse.quote(secret, safe=""), repr(secret)[1:-1]}:
            text = text.replace(form, MASK)
    return text


def public_url(url: str) -> str:
    """``url`` as a loader may show it: no password (the user name stays), secret values masked.

    Example:
        >>> public_url("simplecache::smb://root:p@ss@host:445/share/{}.png")
        'simplecache::smb://root@host:445/share/{}.png'
    """

    def drop_password(match: re.Match[str]) -> str:
        user, password, host = _split_authority(match["authority"])
        if password is None:
            return match[0]
        return f"{match['scheme']}{user}@{host}"

    url = _AUTHORITY.sub(drop_password, url)
    return _SECRET_PARAMETER.sub(lambda m: m["name"] + MASK, url)


def secrets_of(url: str, storage_options: Mapping[str, Any] | None = None) -> frozenset[str]:
    """Every secret value in ``url`` (passwords, secret query values) and in ``storage_options``
    (values of keys that name a password, token or key, at any depth)."""
    found: set[str] = set()
    for match in _AUTHORITY.finditer(url):
        _, password, _ = _split_authority(match["authority"])
        if password:
            found.update({password, urllib.parse.unquote(password)})
    found.update(m["value"] for m in _SECRET_PARAMETER.finditer(url) if m["value"])
    if storage_options:
        found.update(_secret_options(storage_options))
    return frozenset(found)


_SECRET_OPTION = re.compile(r"pass|secret|token|key|sig|cred", re.IGNORECASE)


def _secret_options(options: Mapping[str, Any]) -> Iterable[str]:
    for name, value in options.items():
        if isinstance(value, Mapping):
            yield from _secret_options(value)
        elif isinstance(value, str) and value and _SECRET_OPTION.search(str(name)):
            yield value


class Secrets:
    """What a sequence of URLs needs to be read but must never show: the URLs as given (with
    their passwords and tokens) behind the public ones, and the ``storage_options``.

    Its ``repr`` shows neither; it pickles, so a load that holds one runs in a process pool too.
    """

    __slots__ = ("_real", "_secrets", "storage_options")

    def __init__(self, storage_options: Mapping[str, Any] | None = None) -> None:
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        self._real: dict[str, str] = {}
        self._secrets: frozenset[str] = secrets_of("", self.storage_options)

    def add(self, url: str) -> str:
        """Remember ``url`` and return its public form (which :meth:`url` maps back)."""
        public = public_url(url)
        if public != url:
            self._real[public] = url
            self._secrets |= secrets_of(url)
        return public

    def add_pair(self, public: str, real: str) -> None:
        """Remember that ``public`` (derived from a public URL) is read as ``real``."""
        if public != real:
            self._real[public] = real

    def url(self, public: str) -> str:
        """The URL to read for ``public``, secrets and all."""
        return self._real.get(public, public)

    @property
    def values(self) -> frozenset[str]:
        """Every secret value known, for :func:`mask`."""
        return self._secrets

    def __repr__(self) -> str:
        return f"<Secrets urls={len(self._real)} storage_options={sorted(self.storage_options)}>"

    def __getstate__(self) -> tuple[dict[str, Any], dict[str, str], frozenset[str]]:
        return self.storage_options, self._real, self._secrets

    def __setstate__(self, state: tuple[dict[str, Any], dict[str, str], frozenset[str]]) -> None:
        self.storage_options, self._real, self._secrets = state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secrets):
            return NotImplemented
        return (self.storage_options, self._real) == (other.storage_options, other._real)

    __hash__ = None  # type: ignore[assignment]


class _MaskingFilter(logging.Filter):
    """Masks URL secrets in the records of a back end's logger (fsspec's HTTP back end logs every
    URL it fetches, password and token included, at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # A traceback of the back end's exception (fsspec's HTTP back end logs each failed
            # HEAD so) quotes the URL it failed on: kept as masked text, the exception dropped.
            text = record.exc_text or _FORMATTER.formatException(record.exc_info)
            shown = mask(text)
            if shown != text:
                record.exc_info, record.exc_text = None, shown
        return True


_FORMATTER = logging.Formatter()


# Guards _masked_loggers.
_filter_lock = threading.Lock()
_masked_loggers: set[str] = set()


def mask_logs_of(*names: str) -> None:
    """Mask URL secrets in what the loggers ``names`` record (once per logger).

    A filter on a logger sees only the records logged on that very logger, not those of its
    children, so every logger that logs URLs is named.
    """
    with _filter_lock:
        todo = [name for name in names if name not in _masked_loggers]
        _masked_loggers.update(todo)
    for name in todo:
        logging.getLogger(name).addFilter(_MaskingFilter())
