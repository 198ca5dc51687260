"""The ``prefetcher`` command: ``demo``, ``scan`` and ``view``.

Subcommands import what they need when they run, so ``prefetcher --help`` stays quick and only
``prefetcher view`` ever imports Qt.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Literal, NoReturn

__all__ = ["CLIError", "main"]

#: Exit status of a command interrupted by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """An error the user can fix: shown as one line on stderr, with no traceback.

    Args:
        message: What went wrong, naming the option or path.
        status: The exit status: 2 for a bad command line, 1 for a problem met while running.
    """

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def _index(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    # "nan" and "inf" parse as floats, but no sleep can take them.
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _ahead(text: str) -> int | Literal["auto"]:
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


_DEMO_EPILOG = """\
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

_SCAN_EPILOG = """\
examples:
  prefetcher scan /mnt/share/run7              every image file in a directory
  prefetcher scan '/mnt/share/run7/*.tif' --reverse
  prefetcher scan '/mnt/share/run7/{:05d}.tif' --start 100 --stop 200
  prefetcher scan 'smb://user:pw@host/share/run7/{}.png' --json

A numbered template without --stop is scanned from --start (default: 0, or 1 when there is no
file 0) up to the first file that does not exist. Unreadable files are listed and the scan goes
on; the exit status is 1 when any file could not be read.
"""

_VIEW_EPILOG = """\
examples:
  prefetcher view /mnt/share/run7
  prefetcher view '/mnt/share/run7/{}.png' --start 1 --ahead 8

Keys: Right/Left next/previous, PageDown/PageUp jump by 10, Home/End. Needs the qt extra:
pip install 'prefetcher[qt]'.
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``prefetcher`` command and its subcommands."""
    from prefetcher import __version__

    parser = _Parser(
        prog="prefetcher",
        description="Load numbered files from a slow share with read-ahead.",
        epilog="Start with 'prefetcher demo'. Each command has its own --help.",
    )
    parser.add_argument("--version", action="version", version=f"prefetcher {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    # Also accepted after the subcommand; SUPPRESS keeps a --debug given before it.
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="the same loop over a slow share, without and with prefetching",
        description="Run the same loop (get frame n, work on it) twice over a simulated slow\n"
        "share: a plain loop, then through PrefetchingLoader; compare the times.",
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--frames",
        metavar="N",
        type=_positive_int,
        default=None,
        help="frames to generate (default 150); with --source, use only the first N files",
    )
    demo.add_argument(
        "--latency",
        metavar="SECONDS",
        type=_seconds,
        default=None,
        help="seconds each read costs (default 0.04; with --source, 0: your share is real)",
    )
    demo.add_argument(
        "--work",
        metavar="SECONDS",
        type=_seconds,
        default=0.02,
        help="seconds of processing per frame in your loop (default 0.02)",
    )
    _add_loader_options(demo)
    demo.add_argument(
        "--pattern",
        choices=("forward", "backward", "viewer", "random"),
        default="forward",
        help="order of the frames: forward (default), backward, viewer (a person browsing: "
        "runs forward, steps back, page jumps) or random (where read-ahead cannot help)",
    )
    demo.add_argument(
        "--source",
        metavar="PATH",
        help="use your own files (a directory or glob pattern) instead of generated frames",
    )
    demo.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(handler=_run_demo)

    scan = commands.add_parser(
        "scan",
        parents=[common],
        help="read every frame of a sequence with prefetching and report errors",
        description="Read and decode every frame of a sequence (directory, glob pattern,\n"
        "numbered template, fsspec URL) with prefetching; report throughput, the loader's\n"
        "statistics and the files that could not be read.",
        epilog=_SCAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument(
        "source", metavar="SOURCE", help="directory, glob pattern, template, URL, or one file"
    )
    scan.add_argument(
        "--start",
        metavar="N",
        type=_index,
        default=None,
        help="first index (default 0; for a template, 1 when there is no file 0)",
    )
    scan.add_argument(
        "--stop",
        metavar="N",
        type=_index,
        default=None,
        help="index to stop before (default: the end)",
    )
    scan.add_argument("--reverse", action="store_true", help="walk from the last frame back")
    _add_loader_options(scan)
    scan.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    scan.add_argument("--quiet", action="store_true", help="no progress bar")
    scan.set_defaults(handler=_run_scan)

    view = commands.add_parser(
        "view",
        parents=[common],
        help="show a sequence in a window (needs the qt extra)",
        description="Show a numbered sequence in a window, with prefetching.",
        epilog=_VIEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    view.add_argument("source", metavar="SOURCE", help="directory, glob pattern or template")
    view.add_argument(
        "--start", metavar="N", type=_index, default=0, help="index shown first (default 0)"
    )
    _add_loader_options(view)
    view.set_defaults(handler=_run_view)
    return parser


def _add_loader_options(command: argparse.ArgumentParser) -> None:
    """The loader's own settings, the same for every command that makes a loader."""
    command.add_argument(
        "--ahead",
        metavar="N|auto",
        type=_ahead,
        default="auto",
        help="read-ahead window: N >= 0, or 'auto' to grow it on sequential access (default)",
    )
    command.add_argument(
        "--workers",
        metavar="N",
        type=_positive_int,
        default=None,
        help="loader threads (default: the loader's own default)",
    )


def _run_demo(args: argparse.Namespace) -> int:
    from prefetcher._demo import run_demo

    return run_demo(args)


def _run_scan(args: argparse.Namespace) -> int:
    from prefetcher._scan import run_scan

    return run_scan(args)


# Modules whose absence means "Qt is not installed" rather than a broken prefetcher.
_QT_MODULES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6")


def _run_view(args: argparse.Namespace) -> int:
    try:
        # Imported here, never at the top: no other command may import Qt.
        viewer = importlib.import_module("prefetcher._viewer")
    except ImportError as exc:
        if _is_missing_qt(exc):
            raise CLIError(
                f"prefetcher view needs Qt ({exc}); install it with: pip install 'prefetcher[qt]'"
            ) from exc
        raise
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        # Qt would abort the whole process with a core dump; say what is missing instead.
        raise CLIError("no display to open a window on (DISPLAY is not set)")
    try:
        status = viewer.run(args.source, start=args.start, ahead=args.ahead, workers=args.workers)
    except FileNotFoundError as exc:  # a bad source, found before any window opens
        raise CLIError(describe_missing(exc)) from exc
    return int(status)


def describe_missing(exc: FileNotFoundError) -> str:
    """A FileNotFoundError as one line without the "[Errno 2]" prefix."""
    if exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename!r}"
    return str(exc)


def _is_missing_qt(exc: ImportError) -> bool:
    if exc.name is not None and exc.name.split(".")[0] in _QT_MODULES:
        return True
    # qtpy raises QtBindingsNotFoundError (an ImportError without a name) when no binding works.
    return type(exc).__module__.split(".")[0] == "qtpy"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``prefetcher`` command line and return its exit status.

    Args:
        argv: The arguments after the program name; ``None`` takes them from ``sys.argv``.

    Returns:
        0 on success, 1 when the command failed (or found errors), 2 for a bad command line,
        130 when interrupted by Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse has printed them
        return _exit_status(exc.code)
    handler: Callable[[argparse.Namespace], int] = args.handler
    prog = f"prefetcher {args.command}"
    try:
        return handler(args)
    except KeyboardInterrupt:
        # The command's own `with` blocks have closed its loader (no thread is left) by now.
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`prefetcher scan ... | head`): say nothing more,
        # and stop Python from complaining about stdout when it flushes at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except CLIError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.status
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"{prog}: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1
