"""The local-disk tier: bounded, surviving a restart, checked, and never failing a load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from prefetcher import DiskStats, open_sequence
from prefetcher._diskcache import DiskTier, pack, unpack

pytest.importorskip("diskcache", reason="the disk extra: pip install 'prefetcher[disk]'")

TIMEOUT = 30
CHILD_TIMEOUT = 60


def _value(item: object) -> int:
    return int(np.asarray(item).flat[0])


def _write_frame(path: Path, value: int, size: int = 200) -> Path:
    """A PNG of ``size`` x ``size`` noise (about 40 kB: diskcache keeps it as a file of its own)
    whose first pixel is ``value``."""
    pixels = np.random.default_rng(value).integers(0, 256, (size, size), dtype=np.uint8)
    pixels[0, 0] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _bump_mtime(path: Path) -> None:
    # A rewrite within the file system's timestamp granularity could keep the old mtime.
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))


def _read_all(paths: list[Path], cache: Path, **options: Any) -> tuple[list[int], DiskStats]:
    with open_sequence(paths, disk_cache=str(cache), ahead=0, **options) as loader:
        values = [_value(loader.get(n, timeout=TIMEOUT)) for n in range(len(paths))]
        stats = loader.stats().disk
    assert isinstance(stats, DiskStats)
    return values, stats


@pytest.fixture
def paths(tmp_path: Path) -> list[Path]:
    return [_write_frame(tmp_path / "share" / f"{n}.png", n) for n in range(4)]


def test_a_second_run_reads_every_file_from_the_local_disk(
    paths: list[Path], tmp_path: Path
) -> None:
    first, written = _read_all(paths, tmp_path / "cache")

    second, stats = _read_all(paths, tmp_path / "cache")

    assert first == second == [0, 1, 2, 3]
    assert (written.misses, written.writes) == (4, 4)
    assert (stats.hits, stats.misses) == (4, 0)


def test_without_check_files_a_file_gone_from_the_share_is_still_read_from_disk(
    paths: list[Path], tmp_path: Path
) -> None:
    _read_all(paths, tmp_path / "cache", check_files=False)
    for path in paths:
        path.write_bytes(b"")  # the share cannot give it any more

    values, stats = _read_all(paths, tmp_path / "cache", check_files=False)

    assert values == [0, 1, 2, 3] and stats.hits == 4


def test_a_rewritten_file_is_read_from_the_share_again(paths: list[Path], tmp_path: Path) -> None:
    _read_all(paths, tmp_path / "cache")
    _write_frame(paths[1], 99)
    _bump_mtime(paths[1])

    values, stats = _read_all(paths, tmp_path / "cache")

    assert values == [0, 99, 2, 3]
    assert (stats.hits, stats.misses) == (3, 1)


def test_a_truncated_cache_file_is_dropped_and_read_again(
    paths: list[Path], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _read_all(paths, cache)
    stored = list(cache.rglob("*.val"))
    assert len(stored) == 4  # diskcache keeps each large value in a file of its own
    for path in stored:
        with open(path, "r+b") as file:
            file.truncate(path.stat().st_size // 2)  # as a writer killed in the middle leaves it

    values, stats = _read_all(paths, cache)
    third, healed = _read_all(paths, cache)

    assert values == third == [0, 1, 2, 3]
    assert (stats.corrupt, stats.hits, stats.writes) == (4, 0, 4)
    assert (healed.hits, healed.corrupt) == (4, 0)


def test_a_damaged_value_is_never_returned(tmp_path: Path) -> None:
    packed = pack(b"frame bytes")
    flipped = packed[:-1] + bytes([packed[-1] ^ 1])

    assert unpack(packed) == b"frame bytes"
    assert unpack(flipped) is None
    assert unpack(packed[:-3]) is None
    assert unpack(b"") is None


def test_the_cache_stays_within_its_byte_bound(tmp_path: Path) -> None:
    frames = [_write_frame(tmp_path / "share" / f"{n}.png", n) for n in range(12)]
    bound = 5 * frames[0].stat().st_size

    _read_all(frames, tmp_path / "cache", disk_cache_bytes=bound)

    tier = DiskTier(str(tmp_path / "cache"), bound)
    try:
        kept = sum(tier.get(key) is not None for key in _keys(tier))
    finally:
        tier.close()
    on_disk = sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*.val"))
    assert 0 < kept < 12
    assert on_disk <= bound * 1.1  # diskcache culls after the write that crosses the bound


def _keys(tier: DiskTier) -> list[object]:
    import diskcache

    with diskcache.Cache(tier.directory) as cache:
        return list(cache.iterkeys())


def test_the_least_recently_used_file_is_evicted_first(tmp_path: Path) -> None:
    # Large frames: the bound counts the database too, which then weighs little.
    frames = [_write_frame(tmp_path / "share" / f"{n}.png", n, size=400) for n in range(6)]
    bound = int(3.5 * frames[0].stat().st_size)
    cache = tmp_path / "cache"
    _read_all(frames[:3], cache, disk_cache_bytes=bound)
    _read_all(frames[:1], cache, disk_cache_bytes=bound)  # 0 is now the most recently used

    _read_all(frames[3:5], cache, disk_cache_bytes=bound)
    _, stats = _read_all([frames[0]], cache, disk_cache_bytes=bound)

    assert stats.hits == 1


# The child of the full-disk tests: a file size limit makes every large write to the local disk
# fail (EFBIG), as a full disk does (ENOSPC): the same OSError path.
_FULL_DISK_CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys, warnings
    import numpy as np
    from prefetcher import open_sequence

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over the limit fails, not kills
    cache, limit, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with open_sequence(paths, disk_cache=cache, ahead=0) as loader:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = [int(np.asarray(loader.get(n, timeout=30)).flat[0]) for n in range(len(paths))]
        disk = loader.stats().disk
    print(json.dumps({
        "values": values,
        "warnings": [str(w.message) for w in caught],
        "enabled": disk.enabled,
        "errors": disk.errors,
    }))
    """
)


def _run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # The child gets the default SIGINT handler, not pytest's.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        stdout, stderr = process.communicate(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=CHILD_TIMEOUT)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_a_full_local_disk_disables_the_tier_with_one_warning_and_loads_go_on(
    paths: list[Path], tmp_path: Path
) -> None:
    limit = paths[0].stat().st_size // 2
    result = _run_child(_FULL_DISK_CHILD, str(tmp_path / "cache"), str(limit), *map(str, paths))

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["values"] == [0, 1, 2, 3]
    assert len(report["warnings"]) == 1 and "disabled" in report["warnings"][0]
    assert report["enabled"] is False and report["errors"] >= 1  # reads in flight fail too


_READER_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from prefetcher import open_sequence

    cache, paths = sys.argv[1], sys.argv[2:]
    with open_sequence(paths, disk_cache=cache, ahead=2) as loader:
        values = [int(np.asarray(loader.get(n, timeout=30)).flat[0]) for n in range(len(paths))]
    print(json.dumps(values))
    """
)


def test_processes_share_one_cache_directory_at_once(tmp_path: Path) -> None:
    frames = [_write_frame(tmp_path / "share" / f"{n}.png", n) for n in range(8)]
    args = [str(tmp_path / "cache"), *map(str, frames)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _READER_CHILD, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        for _ in range(3)
    ]
    outputs = []
    try:
        for child in children:
            stdout, stderr = child.communicate(timeout=CHILD_TIMEOUT)
            assert child.returncode == 0, stderr
            outputs.append(json.loads(stdout))
    finally:
        for child in children:
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                child.wait(timeout=CHILD_TIMEOUT)

    assert outputs == [list(range(8))] * 3
    _, stats = _read_all(frames, tmp_path / "cache")
    assert stats.hits == 8


def test_threads_of_one_loader_share_the_cache(tmp_path: Path) -> None:
    frames = [_write_frame(tmp_path / "share" / f"{n}.png", n) for n in range(10)]
    with open_sequence(
        frames, disk_cache=str(tmp_path / "cache"), ahead=4, max_workers=4
    ) as loader:
        assert [_value(item) for item in loader] == list(range(10))

    _, stats = _read_all(frames, tmp_path / "cache")
    assert stats.hits == 10


def test_disk_cache_bytes_must_be_positive(paths: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="disk_cache_bytes must be >= 1"):
        open_sequence(paths, disk_cache=str(tmp_path / "cache"), disk_cache_bytes=0)


# -- sources on a real SMB share (smbd on 127.0.0.1) -----------------------------------------


@pytest.fixture
def smb_run(samba_server: object, request: pytest.FixtureRequest) -> tuple[Path, str, str]:
    """(local directory on the share, its smb:// URL, the share's password)."""
    pytest.importorskip("smbprotocol", reason="fsspec's SMB back end needs smbprotocol")
    name = request.node.name
    directory = samba_server.share_dir / name  # type: ignore[attr-defined]
    directory.mkdir()
    return directory, f"{samba_server.url}/{name}", samba_server.password  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_second_run_over_smb_reads_from_the_local_disk(
    smb_run: tuple[Path, str, str], tmp_path: Path
) -> None:
    directory, url, password = smb_run
    for n in range(3):
        _write_frame(directory / f"{n}.png", n)
    cache = tmp_path / "cache"
    for _ in range(2):
        with open_sequence(url + "/{}.png", disk_cache=str(cache), ahead=0) as loader:
            values = [_value(loader.get(n, timeout=TIMEOUT)) for n in range(3)]
            stats = loader.stats().disk

    assert stats is not None
    assert values == [0, 1, 2] and stats.hits == 3
    stored = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    assert password.encode() not in stored  # keys hold the URL without its password


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["simplecache", "filecache"])
def test_chained_fsspec_urls_work_as_sources(
    smb_run: tuple[Path, str, str],
    tmp_path: Path,
    scheme: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fsspec.config

    directory, url, _ = smb_run
    for n in range(3):
        _write_frame(directory / f"{n}.png", n)
    # fsspec's own configuration: where its caching file system keeps its copies.
    monkeypatch.setitem(fsspec.config.conf, scheme, {"cache_storage": str(tmp_path / "fsspec")})
    chained = f"{scheme}::{url}"
    # One read at a time: the caching file systems copy a file in many requests, and
    # smbprotocol's session runs out of credits under concurrent ones (smbprotocol#312).
    one_at_a_time: dict[str, Any] = {"ahead": 0, "raw_ahead": 0}

    with open_sequence(chained + "/{}.png", **one_at_a_time) as template:
        assert [_value(template.get(n, timeout=TIMEOUT)) for n in range(3)] == [0, 1, 2]
    urls = [f"{chained}/{n}.png" for n in (2, 0)]
    with open_sequence(urls, disk_cache=str(tmp_path / "cache"), **one_at_a_time) as listed:
        assert [_value(item) for item in listed] == [2, 0]
