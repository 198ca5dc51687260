"""The ``prefetcher`` command's argument types, usage errors and help texts."""

from __future__ import annotations

import argparse
from typing import Literal, NoReturn

__all__ = [
    "DEMO_EPILOG",
    "POSITION_HELP",
    "SCAN_EPILOG",
    "VIEW_EPILOG",
    "Parser",
    "ahead",
    "index",
    "positive_int",
    "seconds",
]


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def index(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    # "nan" and "inf" parse as floats, but no sleep can take them.
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def ahead(text: str) -> int | Literal["auto"]:
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number >= 0 or 'auto', got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0 or 'auto', got {text!r}")
    return value


DEMO_EPILOG = """\
examples:
  prefetcher demo                              the default: 150 generated frames, 40 ms a read
  prefetcher demo --latency 0.1 --work 0.05    a slower share, more work per frame
  prefetcher demo --pattern random --ahead 4   random access: read-ahead cannot help
  prefetcher demo --source /mnt/share/run7     your own files (no latency added unless --latency)
  prefetcher demo --frames 30 --json           machine-readable result on stdout

The work per frame (--work) stands for the processing your own loop does on each frame
(step1(img); step2(img)); the demo spends it in time.sleep, like numpy or C code that releases
the GIL while it runs.
"""

SCAN_EPILOG = """\
examples:
  prefetcher scan /mnt/share/run7              every image file in a directory
  prefetcher scan '/mnt/share/run7/*.tif' --reverse
  prefetcher scan '/mnt/share/run7/{:05d}.tif' --start 100 --stop 200
  prefetcher scan 'smb://user:pw@host/share/run7/{}.png' --json

Quote a glob pattern or a template, so that the shell does not expand it. Unreadable files are
listed and the scan goes on; file numbers missing between the first file and the last are listed
too. The exit status is 1 when any file could not be read or is missing. A numbered template is
scanned from its lowest file number to its highest (as listed when the scan starts); --stop N
scans up to N, past the last file.
"""

VIEW_EPILOG = """\
examples:
  prefetcher view /mnt/share/run7
  prefetcher view '/mnt/share/run7/{}.png' --start 100 --ahead 8

Keys: Right/Left next/previous, PageDown/PageUp jump by 10, Home/End first/last file,
Esc, Q or Ctrl+Q quit (Ctrl-C in the terminal too). Needs the qt extra: pip install '.[qt]'
from a checkout.
"""

#: Positions: for a template the file number, else the place in natural order from 0.
POSITION_HELP = "a template's file number, or a directory's file counted from 0"
