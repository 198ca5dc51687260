"""Opening an :class:`ImageSequence`: the tiers' options, their defaults, and the two stages.

:func:`open_files` builds the fetch stage (raw bytes, over the local-disk tier when there is one)
and the decode stage over it for files; :func:`open_pages` the same for the pages of a TIFF.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._credentials import Secrets
from ._diskcache import DiskTier
from ._fetch import Fetched, FetchFile, fetched_size
from ._image_sequence import ImageSequence
from ._image_stages import AsIs, DecodeImage, Files, Paths, ReadImage, RecordingFetch, Records
from ._loader import PrefetchingLoader
from ._remote import is_url
from ._template import Template

__all__ = [
    "DEFAULT_DISK_CACHE_BYTES",
    "DEFAULT_RAW_AHEAD",
    "DEFAULT_RAW_BYTES",
    "open_files",
    "open_pages",
]

#: Default byte budget of the raw-bytes tier (``open_sequence(raw_bytes=...)``).
DEFAULT_RAW_BYTES = 256 * 2**20
#: Default read-ahead of the raw-bytes tier, beyond the front of the decoded window: chosen with
#: ``python benchmarks/tiers.py`` (docs/tiers.rst). With ``ahead=0`` it defaults to 0 instead.
DEFAULT_RAW_AHEAD = 8
#: Default bound of the local-disk tier (``open_sequence(disk_cache_bytes=...)``).
DEFAULT_DISK_CACHE_BYTES = 4 * 2**30
# The raw tier is bounded by bytes; its count bound only has to stay out of the way.
_RAW_CACHE_ITEMS = 4096
# Threads of the fetch stage when the caller sets no max_workers: as many as the decode stage's
# default window (16) plus one can ask for at once. Each decode load waits for one fetch, so
# fewer would make the decode stage's read-ahead wait in line for a read.
_FETCH_WORKERS = 17
# Reads in flight at once from a URL source when the caller sets no max_workers. One SMB session
# serves every thread, and smbprotocol fails a request when the session has run out of credits
# (smbprotocol#312): 17 reads of 800 kB frames at once did, on a loopback smbd
# (benchmarks/tiers.py --smb); 4 did not.
_FETCH_WORKERS_REMOTE = 4
# The options of the tiers, which the decode stage's PrefetchingLoader does not take.
_TIER_OPTIONS = ("raw_bytes", "raw_ahead", "disk_cache", "disk_cache_bytes", "check_files")


def open_files(
    *,
    keys: tuple[str, ...] | None,
    template: Template | None,
    relist: Callable[[], tuple[str, ...]] | None,
    mode: str | None,
    as_array: bool,
    secrets: Secrets,
    real: Template | None,
    options: Mapping[str, Any],
) -> ImageSequence[Any, Any]:
    """The :class:`ImageSequence` for :func:`~prefetcher.open_sequence`'s resolved files.

    ``keys`` (public paths) or ``template`` (public) name the files; ``options`` are the
    caller's, network defaults included, tier options among them.
    """
    options = dict(options)
    opened_with = {k: v for k, v in options.items() if k not in _TIER_OPTIONS}
    raw_bytes = options.pop("raw_bytes", DEFAULT_RAW_BYTES)
    # ahead=0 means no read-ahead at all, unless raw_ahead asks for some.
    raw_ahead = options.pop("raw_ahead", 0 if options.get("ahead") == 0 else DEFAULT_RAW_AHEAD)
    disk_cache = options.pop("disk_cache", None)
    disk_cache_bytes = options.pop("disk_cache_bytes", DEFAULT_DISK_CACHE_BYTES)
    check_files = options.pop("check_files", None)
    if isinstance(raw_bytes, bool) or not isinstance(raw_bytes, int):
        raise TypeError(f"raw_bytes must be an int, got {raw_bytes!r}")
    if raw_bytes < 0:
        raise ValueError(f"raw_bytes must be >= 0 (0 disables the tier), got {raw_bytes}")
    if raw_ahead != "auto" and (
        isinstance(raw_ahead, bool) or not isinstance(raw_ahead, int) or raw_ahead < 0
    ):
        raise ValueError(f"raw_ahead must be an int >= 0 or 'auto', got {raw_ahead!r}")
    first = template.format(0) if template is not None else (keys[0] if keys else "")
    remote = is_url(first)
    disk = None if disk_cache is None else DiskTier(os.fspath(disk_cache), disk_cache_bytes)
    if check_files is None:
        # On a share a stat is a round trip of its own, and a whole-file read is otherwise one:
        # by default only where a stale copy would outlive the loader (on the local disk).
        check_files = not remote or disk is not None
    fetch = FetchFile(template, disk, bool(check_files), secrets, real)
    records = Records()
    paths = None if keys is None else Paths(keys)
    raw_options: dict[str, Any] = (
        {"ahead": raw_ahead, "cache_size": _RAW_CACHE_ITEMS, "max_bytes": raw_bytes}
        if raw_bytes
        # Off: a pass-through stage that keeps nothing ("larger than the budget").
        else {"ahead": 0, "cache_size": 1, "max_bytes": 1}
    )
    try:
        stage: PrefetchingLoader[Any, Fetched] = PrefetchingLoader(
            RecordingFetch(fetch, records),
            paths,
            sizeof=fetched_size,
            **_fetch_options(options, remote=remote),
            **raw_options,
        )
        return ImageSequence(
            stage,
            DecodeImage(fetch, records, mode, as_array),
            template=template,
            files=Files(fetch, records, paths, relist),
            disk=disk,
            reader=ReadImage(fetch, mode, as_array),
            opened_with=opened_with,
            **options,
        )
    except BaseException:
        if disk is not None:
            disk.close()
        raise


def open_pages(
    load: Callable[[Any], Any], keys: Sequence[Any], **options: Any
) -> ImageSequence[Any, Any]:
    """An :class:`ImageSequence` over the pages of a multi-page TIFF (``open_tiff``'s
    ``loader_type``).

    A page is read by its own byte range and decoded in one call, so there are no raw bytes to
    keep: the fetch stage loads pages and keeps none, the decode stage keeps them decoded.
    """
    options = dict(options)
    if options.pop("disk_cache", None) is not None:
        raise ValueError("disk_cache does not apply to a multi-page TIFF (pages are read by range)")
    for name in _TIER_OPTIONS:
        options.pop(name, None)
    opened_with = dict(options)
    stage: PrefetchingLoader[Any, Any] = PrefetchingLoader(
        load,
        keys,
        ahead=0,
        cache_size=1,
        max_bytes=1,
        **_fetch_options(options, remote=bool(keys) and is_url(str(keys[0].path))),
    )
    # The fetch stage's load is the whole work: nothing of it to overlap with a neighbour's.
    return ImageSequence(
        stage,
        AsIs(),
        reader=load,
        opened_with=opened_with,
        demand_reads_first=False,
        **options,
    )


def _fetch_options(options: dict[str, Any], *, remote: bool) -> dict[str, Any]:
    """The fetch stage's share of ``options`` (``executor`` is taken out of them).

    The caller's executor runs the reads: the decode stage's loads call the fetch stage, so
    they must run in this process's threads. The fetch stage has ``load_timeout`` too, so that
    a decode worker waiting for a read that hangs is let go; retries are the decode stage's
    alone (each of its attempts reads again), or they would multiply.
    """
    fetch: dict[str, Any] = {
        "executor": options.pop("executor", None),
        "max_workers": options.get("max_workers")
        or (_FETCH_WORKERS_REMOTE if remote else _FETCH_WORKERS),
    }
    if options.get("load_timeout") is not None:
        fetch["load_timeout"] = options["load_timeout"]
    return fetch
