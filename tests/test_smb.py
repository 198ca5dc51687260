"""The SMB layer's own interface, without a server: URLs to servers and credentials."""

from __future__ import annotations

import pytest

pytest.importorskip("smbprotocol", reason="fsspec's SMB back end needs smbprotocol")

from prefetcher._smb import smb_server
from prefetcher._smb_url import is_smb_url


def test_password_with_at_and_colon_is_read_from_the_url() -> None:
    server, path = smb_server("smb://root:Sec1@Ret2:Word3@10.0.0.5:4445/share/run/1.png")

    credentials = server.credentials
    assert (credentials.host, credentials.port) == ("10.0.0.5", 4445)
    assert (credentials.username, credentials.password) == ("root", "Sec1@Ret2:Word3")
    assert path == "/share/run/1.png"


def test_percent_encoded_password_and_workgroup() -> None:
    server, _ = smb_server("smb://LAB;anna:a%2Fb%25c@host/share/1.png")

    assert server.credentials.username == "anna"
    assert server.credentials.password == "a/b%c"
    assert server.credentials.port == 445


def test_storage_options_fill_in_what_the_url_leaves_out() -> None:
    server, _ = smb_server("smb://anna@host/share/1.png", {"password": "pw", "port": 1445})

    assert (server.credentials.password, server.credentials.port) == ("pw", 1445)


def test_one_server_per_host_port_user_and_password() -> None:
    first, _ = smb_server("smb://root:one@127.0.0.1:1/s/1.png")
    again, _ = smb_server("smb://root:one@127.0.0.1:1/s/2.png")
    other, _ = smb_server("smb://root:two@127.0.0.1:1/s/1.png")

    assert again is first
    assert other is not first
    # Each has its own file system and pool: a wrong password never borrows a right one's session.
    assert other.fs is not first.fs


def test_server_repr_shows_no_password() -> None:
    server, _ = smb_server("smb://root:Sec1@Ret2@127.0.0.1:1/s/1.png")

    assert "Sec1" not in repr(server)
    assert "Ret2" not in repr(server.credentials)


def test_only_plain_smb_urls_are_smb_urls() -> None:
    assert is_smb_url("SMB://host/share")
    assert not is_smb_url("simplecache::smb://host/share")
    assert not is_smb_url("/mnt/smb://x")
