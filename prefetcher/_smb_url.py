"""Which server, credentials and path an ``smb://`` URL names."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from typing import Any

__all__ = ["Credentials", "is_smb_url", "parse_smb_url"]

_DEFAULT_PORT = 445


def is_smb_url(url: str) -> bool:
    """Whether ``url`` is a plain ``smb://`` URL (not chained, such as ``simplecache::smb://``)."""
    return url[:6].lower() == "smb://" and "::" not in url


@dataclasses.dataclass(frozen=True)
class Credentials:
    """One server (``host``, ``port``) and the user name and password to log on to it with."""

    host: str
    port: int
    username: str | None
    password: str | None = dataclasses.field(repr=False)

    @property
    def address(self) -> str:
        """``host:port``, as error messages name the server."""
        return f"{self.host}:{self.port}"


def parse_smb_url(url: str, storage_options: Mapping[str, Any]) -> tuple[Credentials, str]:
    """The server and credentials of an ``smb://`` URL, and the path fsspec uses (``/share/x``).

    ``storage_options`` (``username``, ``password``, ``port``) fill in what the URL leaves out.
    """
    rest = url[len("smb://") :]
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, path = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    username: str | None = None
    password: str | None = None
    if at:
        user, colon, secret = userinfo.partition(":")
        # A workgroup in the URL: "workgroup;user".
        username = urllib.parse.unquote(user.rpartition(";")[2]) or None
        password = urllib.parse.unquote(secret) if colon else None
    host, colon, port_text = hostport.rpartition(":")
    if not colon or "]" in port_text:
        host, port_text = hostport, ""
    host = host.strip("[]")
    port = int(port_text) if port_text else int(storage_options.get("port") or _DEFAULT_PORT)
    username = username or storage_options.get("username")
    password = password if password is not None else storage_options.get("password")
    return Credentials(host, port, username, password), urllib.parse.unquote(path) or "/"
