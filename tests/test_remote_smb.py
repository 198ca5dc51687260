"""What only SMB has (a real smbd on a high port of 127.0.0.1); the shared behaviour of HTTP and
SMB: test_remote.py.

Skipped where smbd is not installed (``apt-get install samba``); .ci/run installs it.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from conftest import WriteImage
from servers import SambaServer

from prefetcher._sequence import open_sequence

pytest.importorskip("fsspec", reason="the remote extra: pip install 'prefetcher[remote]'")
pytest.importorskip("smbprotocol", reason="fsspec's SMB back end needs smbprotocol")

TIMEOUT = 30


@pytest.fixture
def run(samba_server: SambaServer, request: pytest.FixtureRequest) -> tuple[Path, str]:
    """A directory of this test's own on the share: (local path, its smb:// URL)."""
    name = request.node.name
    directory = samba_server.share_dir / name
    directory.mkdir()
    return directory, f"{samba_server.url}/{name}"


def test_missing_file_raises_file_not_found_naming_the_url_without_password(
    run: tuple[Path, str], samba_server: SambaServer
) -> None:
    _, url = run

    with (
        open_sequence(url + "/{}.png", ahead=0) as loader,
        pytest.raises(FileNotFoundError, match=rf"'{samba_server.public_url}/.*/4\.png'") as caught,
    ):
        loader.get(4, timeout=TIMEOUT)

    assert samba_server.password not in str(caught.value)


def test_file_url_given_as_directory_raises_value_error(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run
    write_image(directory / "1.png", 1)

    with pytest.raises(ValueError, match="is a file"):
        open_sequence(url + "/1.png")


def test_share_user_is_the_current_unix_user(samba_server: SambaServer) -> None:
    # The server adds the current user to its own password database: no account is created.
    assert samba_server.user == getpass.getuser()


def test_without_smbd_the_skip_reason_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import servers

    monkeypatch.setattr("shutil.which", lambda *args, **kwargs: None)

    assert "apt-get install samba" in (servers.smbd_missing_reason() or "")
