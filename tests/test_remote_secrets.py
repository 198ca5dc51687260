"""No secret in any output: a real smbd whose password contains ``@`` and ``:``, every source kind
(template, directory, glob, list) and every failure (missing file, server down, wrong password,
corrupt image); every message, note, cause and context, traceback text, log record (DEBUG),
``repr``, ``keys`` and ``stats()`` is scanned for any piece of the password.

The CLI (``scan``, with ``--json`` and ``--debug``) and HTTP (a password and a token in the URL,
a 404) are scanned too.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import servers
from conftest import WriteImage
from servers import HttpServer, SambaServer

from prefetcher import LoaderStats, open_sequence

pytest.importorskip("fsspec", reason="the remote extra: pip install 'prefetcher[remote]'")
pytest.importorskip("smbprotocol", reason="fsspec's SMB back end needs smbprotocol")

pytestmark = pytest.mark.slow

TIMEOUT = 20.0
PASSWORD = "Sec1@Ret2:Word3@Four4"
WRONG_PASSWORD = "Wrong5@Guess6:Seven7"
TOKEN = "TokenValue8"
# Every piece a masking that stops at the wrong "@" or ":" would leave in the text.
FRAGMENTS = ("Sec1", "Ret2", "Word3", "Four4", "Wrong5", "Guess6", "Seven7", TOKEN)

SOURCES = ("template", "directory", "glob", "list")
FAILURES = ("missing file", "corrupt image", "server down", "wrong password")


@pytest.fixture(scope="module")
def secret_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaServer]:
    reason = servers.smbd_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    share = tmp_path_factory.mktemp("secret-share")
    work = tmp_path_factory.mktemp("secret-work")
    with servers.samba_server(share, work, password=PASSWORD) as server:
        yield server


@pytest.fixture
def server(secret_server: SambaServer) -> Iterator[SambaServer]:
    """The module's smbd, running again after a test that killed it."""
    yield secret_server
    if secret_server.process.poll() is not None:
        secret_server.start_again()


@dataclass
class Run:
    directory: Path
    url: str  # the directory's URL, password and all

    def source(self, kind: str) -> str | list[str]:
        if kind == "list":
            return [f"{self.url}/{n}.png" for n in range(3)]
        return {
            "template": f"{self.url}/{{}}.png",
            "directory": self.url,
            "glob": f"{self.url}/*.png",
        }[kind]


@pytest.fixture
def run(server: SambaServer, request: pytest.FixtureRequest, write_image: WriteImage) -> Run:
    """Frames 0 and 1 and a corrupt 2.png in a directory of this test's own."""
    name = request.node.name.replace("[", "_").replace("]", "").replace(" ", "_")
    directory = server.share_dir / name
    write_image(directory / "0.png", 0)
    write_image(directory / "1.png", 1)
    (directory / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n but not an image")
    return Run(directory, f"{server.url}/{name}")


def _texts_of(exc: BaseException) -> list[str]:
    """Everything an exception can show: message, repr, notes, whole chain, traceback text."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), *getattr(current, "__notes__", [])]
        texts += [repr(arg) for arg in current.args]
        # The context too, even where it is suppressed: a debugger or an error tracker shows it.
        todo += [current.__cause__, current.__context__]
    return texts


def _log_texts(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter()
    texts = []
    for record in records:
        texts += [record.getMessage(), repr(record.args)]
        if record.exc_info:
            texts.append(formatter.formatException(record.exc_info))
    return texts


def _assert_no_secret(texts: list[str]) -> None:
    for text in texts:
        for fragment in FRAGMENTS:
            assert fragment not in text, f"{fragment!r} shown in: {text}"


def _fail(
    kind: str, failure: str, run: Run, server: SambaServer
) -> tuple[BaseException, list[str]]:
    """Make ``failure`` happen with a ``kind`` source; the exception and what else was shown."""
    shown: list[str] = []
    source = run.source(kind)
    if failure == "wrong password":
        wrong = server.url_for(password=WRONG_PASSWORD)
        source = (
            [url.replace(server.url, wrong) for url in source]
            if isinstance(source, list)
            else source.replace(server.url, wrong)
        )
    try:
        loader = open_sequence(source, ahead=2, retries=0)
    except Exception as exc:  # a listing needs the server: directories and globs fail here
        assert kind in ("directory", "glob"), f"{kind} source failed at open: {exc!r}"
        assert failure in ("wrong password",), f"{failure} failed at open: {exc!r}"
        return exc, shown
    with loader:
        shown += [repr(loader), repr(loader.keys), repr(loader.stats())]
        index = {"missing file": 1, "corrupt image": 2}.get(failure, 0)
        if failure == "missing file":
            (run.directory / "1.png").unlink()
        if failure == "server down":
            server.kill()
        with pytest.raises(Exception) as caught:
            loader.get(index, timeout=TIMEOUT)
        # Let the prefetches that will fail do so, so their DEBUG records are there to scan.
        _settle(loader.stats)
        shown += [repr(loader), repr(loader.keys), repr(loader.stats())]
    return caught.value, shown


def _settle(stats: Callable[[], LoaderStats]) -> None:
    import time

    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if stats().pending == 0:
            return
        time.sleep(0.01)
    raise TimeoutError("loads still running")


EXPECTED = {
    "missing file": FileNotFoundError,
    "corrupt image": OSError,
    "server down": ConnectionError,
    "wrong password": PermissionError,
}


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("kind", SOURCES)
def test_no_piece_of_the_password_in_any_output(
    kind: str,
    failure: str,
    run: Run,
    server: SambaServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)

    error, shown = _fail(kind, failure, run, server)

    assert isinstance(error, EXPECTED[failure]), repr(error)
    captured = capsys.readouterr()
    _assert_no_secret(
        _texts_of(error) + shown + _log_texts(caplog.records) + [captured.out, captured.err]
    )


def test_server_down_at_open_shows_no_secret(
    run: Run, server: SambaServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.kill()

    with pytest.raises(ConnectionError) as caught:
        open_sequence(run.source("directory"))

    _assert_no_secret(_texts_of(caught.value) + _log_texts(caplog.records))


def test_loader_keys_hold_urls_without_the_password(run: Run, server: SambaServer) -> None:
    with open_sequence(run.source("directory")) as loader:
        assert loader.keys is not None
        assert all(key.startswith(server.public_url + "/") for key in loader.keys)


@pytest.mark.parametrize("options", [["--json"], ["--debug"], []])
def test_cli_scan_shows_no_secret(run: Run, options: list[str]) -> None:
    (run.directory / "1.png").unlink()  # a missing frame of the template: one error to report
    template = f"{run.url}/{{}}.png"

    result = subprocess.run(
        [sys.executable, "-m", "prefetcher", "scan", *options, "--quiet", "--stop", "3", template],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert "2.png" in result.stdout + result.stderr  # the corrupt frame is reported
    _assert_no_secret([result.stdout, result.stderr])


def test_http_password_and_token_show_nowhere(
    http_server: HttpServer,
    write_image: WriteImage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("aiohttp", reason="fsspec's HTTP back end needs aiohttp")
    caplog.set_level(logging.DEBUG)
    write_image(http_server.root / "secret_http" / "0.png", 0)
    base = http_server.url.replace("http://", f"http://user:{PASSWORD}@")
    urls = [f"{base}/secret_http/{n}.png?token={TOKEN}" for n in (0, 1)]

    with open_sequence(urls, ahead=0) as loader:
        loader.get(0, timeout=TIMEOUT)
        with pytest.raises(FileNotFoundError) as caught:
            loader.get(1, timeout=TIMEOUT)
        shown = [repr(loader), repr(loader.keys), repr(loader.stats())]

    _assert_no_secret(_texts_of(caught.value) + shown + _log_texts(caplog.records))


def test_chained_url_reads_and_shows_no_secret(
    run: Run, server: SambaServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chained = f"simplecache::{run.url}"

    with open_sequence(chained) as listed:
        keys = repr(listed.keys)
    with open_sequence(chained + "/{}.png", ahead=0) as loader:
        assert loader.get(0, timeout=TIMEOUT).size == (8, 6)
        with pytest.raises(FileNotFoundError) as caught:
            loader.get(7, timeout=TIMEOUT)

    assert "simplecache::smb://" in str(caught.value)
    _assert_no_secret([keys, *_texts_of(caught.value), *_log_texts(caplog.records)])
