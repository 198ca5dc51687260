"""The ``prefetcher`` command: ``demo``, ``scan`` and ``view``.

Subcommands import what they need when they run, so ``prefetcher --help`` stays quick and only
``prefetcher view`` ever imports Qt.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from prefetcher._cli_args import (
    DEMO_EPILOG,
    POSITION_HELP,
    SCAN_EPILOG,
    VIEW_EPILOG,
    Parser,
    ahead,
    index,
    positive_int,
    seconds,
)
from prefetcher._cli_common import (
    EXIT_INTERRUPTED,
    CLIError,
    LoaderOptions,
    OutputOptions,
)

__all__ = ["CLIError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``prefetcher`` command and its subcommands."""
    from prefetcher import __version__

    parser = Parser(
        prog="prefetcher",
        description="Load numbered files from a slow share with read-ahead.",
        epilog="Start with 'prefetcher demo'. Each command has its own --help.",
    )
    parser.add_argument("--version", action="version", version=f"prefetcher {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    # Shared options, declared once; each command takes the groups it needs as parents.
    common = Parser(add_help=False)
    # Also accepted after the subcommand; SUPPRESS keeps a --debug given before it.
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )
    loader = Parser(add_help=False)
    _add_loader_options(loader)
    output = Parser(add_help=False)
    output.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    output.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    demo = commands.add_parser(
        "demo",
        parents=[common, loader, output],
        help="the same loop over a slow share, without and with prefetching",
        description="Run the same loop (get frame n, work on it) twice over a simulated slow\n"
        "share: a plain loop, then through PrefetchingLoader; compare the times.",
        epilog=DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--frames",
        metavar="N",
        type=positive_int,
        default=None,
        help="frames to generate (default 150); with --source, use only the first N files",
    )
    demo.add_argument(
        "--latency",
        metavar="SECONDS",
        type=seconds,
        default=None,
        help="seconds each read costs (default 0.04; with --source, 0: your share is real)",
    )
    demo.add_argument(
        "--work",
        metavar="SECONDS",
        type=seconds,
        default=0.02,
        help="seconds of processing per frame in your loop (default 0.02)",
    )
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
    demo.set_defaults(handler=_run_demo)

    scan = commands.add_parser(
        "scan",
        parents=[common, loader, output],
        help="read every file of a sequence with prefetching; report errors and gaps",
        description="Read and decode every file of a sequence (directory, glob pattern,\n"
        "numbered template, fsspec URL) with prefetching; report throughput, the loader's\n"
        "statistics, the files that could not be read and the file numbers missing.",
        epilog=SCAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_source(scan, "directory, glob pattern, template, URL, or one file")
    _add_start(scan, "first position")
    scan.add_argument(
        "--stop",
        metavar="N",
        type=index,
        default=None,
        help="position to stop before (default: after the last file)",
    )
    scan.add_argument("--reverse", action="store_true", help="walk from the last file back")
    scan.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="read the frames in chunks on this Dask cluster (tcp://host:8786; the dask extra), "
        "each chunk read ahead by a loader of its own",
    )
    scan.add_argument(
        "--processes",
        metavar="N",
        type=positive_int,
        default=None,
        help="read the frames in chunks on N local processes (--workers stays the threads of "
        "each loader)",
    )
    scan.set_defaults(handler=_run_scan)

    view = commands.add_parser(
        "view",
        parents=[common, loader],
        help="show a sequence in a window (needs the qt extra)",
        description="Show a numbered sequence in a window, with prefetching.",
        epilog=VIEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_source(view, "directory, glob pattern or template")
    _add_start(view, "position shown first")
    view.add_argument(
        "--napari",
        action="store_true",
        help="open napari instead of the built-in viewer (needs the napari extra)",
    )
    view.set_defaults(handler=_run_view)
    return parser


def _add_source(command: argparse.ArgumentParser, what: str) -> None:
    # nargs="+": an unquoted glob expanded by the shell gets a clear message instead of
    # "unrecognized arguments" (see _one_source).
    command.add_argument("source", metavar="SOURCE", nargs="+", help=what)


def _add_start(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument(
        "--start",
        metavar="N",
        type=index,
        default=None,
        help=f"{what} ({POSITION_HELP}; default: the first file)",
    )


def _add_loader_options(command: argparse.ArgumentParser) -> None:
    """The loader's own settings, the same for every command that makes a loader."""
    command.add_argument(
        "--ahead",
        metavar="N|auto",
        type=ahead,
        default="auto",
        help="read-ahead window: N >= 0, or 'auto' to grow it on sequential access (default)",
    )
    command.add_argument(
        "--workers",
        metavar="N",
        type=positive_int,
        default=None,
        help="loader threads (default: the loader's own default)",
    )


def _one_source(args: argparse.Namespace) -> str:
    """The SOURCE argument; several mean the shell expanded a glob that was not quoted."""
    sources: list[str] = args.source
    if len(sources) == 1:
        return sources[0]
    directory = os.path.dirname(sources[0]) or "."
    extension = os.path.splitext(sources[0])[1]
    raise CLIError(
        f"got {len(sources)} paths for SOURCE: the shell expanded a glob pattern; quote it, "
        f"as in: prefetcher {args.command} '{directory}/*{extension}'",
        status=2,
    )


def _loader_options(args: argparse.Namespace) -> LoaderOptions:
    return LoaderOptions(ahead=args.ahead, workers=args.workers)


def _output_options(args: argparse.Namespace) -> OutputOptions:
    return OutputOptions(json=args.json, quiet=args.quiet)


def _run_demo(args: argparse.Namespace) -> int:
    from prefetcher._demo import DemoParams, run_demo

    params = DemoParams(
        frames=args.frames,
        latency=args.latency,
        work=args.work,
        pattern=args.pattern,
        source=args.source,
        loader=_loader_options(args),
        output=_output_options(args),
    )
    return run_demo(params)


def _run_scan(args: argparse.Namespace) -> int:
    from prefetcher._scan import ScanParams, run_scan

    if args.scheduler is not None and args.processes is not None:
        raise CLIError("give --scheduler or --processes, not both", status=2)
    params = ScanParams(
        source=_one_source(args),
        start=args.start,
        stop=args.stop,
        reverse=args.reverse,
        scheduler=args.scheduler,
        processes=args.processes,
        loader=_loader_options(args),
        output=_output_options(args),
    )
    return run_scan(params)


def _run_view(args: argparse.Namespace) -> int:
    from prefetcher._cli_view import ViewParams, run_view

    params = ViewParams(
        source=_one_source(args),
        start=args.start,
        napari=args.napari,
        loader=_loader_options(args),
    )
    return run_view(params)


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
    if args.command is None:  # "prefetcher" alone: what can it do?
        parser.print_help()
        return 0
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
