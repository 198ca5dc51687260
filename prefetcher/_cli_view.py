"""``prefetcher view``: a sequence in a window, the built-in viewer's or napari's.

Qt is imported only here, when the command runs, and only after the checks that turn a missing
binding, a missing system library or a display Qt cannot open into one line of advice.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from prefetcher._cli_common import EXIT_INTERRUPTED, CLIError, LoaderOptions, describe_missing

__all__ = ["ViewParams", "run_view"]

# Modules whose absence means "Qt is not installed" rather than a broken prefetcher.
_QT_MODULES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6")


@dataclasses.dataclass(frozen=True)
class ViewParams:
    """What ``prefetcher view`` was asked to do."""

    source: str
    #: The position shown first; ``None``: the first file.
    start: int | None = None
    #: Open napari instead of the built-in viewer.
    napari: bool = False
    loader: LoaderOptions = dataclasses.field(default_factory=LoaderOptions)


def run_view(params: ViewParams) -> int:
    """Run ``prefetcher view``; return the exit status once the window is closed."""
    from prefetcher._qt_check import qt_problem

    viewer = _import_front_end(params.napari)
    # Qt aborts the whole process when its platform cannot start (no display, missing
    # libraries): try it in a child process first and say what is missing instead.
    problem = qt_problem()
    if problem is not None:
        raise CLIError(problem)
    try:
        start = 0 if params.napari and params.start is None else params.start
        options = params.loader
        status = viewer.run(
            params.source, start=start, ahead=options.ahead, workers=options.workers
        )
    except FileNotFoundError as exc:  # a source that is not there: a command-line mistake
        raise CLIError(describe_missing(exc), status=2) from exc
    except ValueError as exc:
        raise CLIError(str(exc), status=2) from exc
    if status == EXIT_INTERRUPTED:
        raise KeyboardInterrupt  # reported as every command reports Ctrl-C
    return int(status)


def _import_front_end(napari: bool) -> Any:
    """``prefetcher.napari`` or ``prefetcher.viewer``; an ImportError becomes advice."""
    from prefetcher._qt_check import missing_libraries, qt_problem

    extra = "napari" if napari else "qt"
    try:
        # Imported here, never at the top: no other command may import Qt.
        return importlib.import_module("prefetcher.napari" if napari else "prefetcher.viewer")
    except ImportError as exc:
        # PyQt5 installed but a system library missing (libGL on a bare container) also names
        # a Qt module: look for the library first, so the advice is apt-get, not pip.
        if missing_libraries(str(exc)):
            raise CLIError(qt_problem(str(exc)) or str(exc)) from exc
        if _is_missing_qt(exc):
            raise CLIError(
                f"prefetcher view needs Qt ({exc}); install it from the checkout with: "
                f"pip install '.[{extra}]'"
            ) from exc
        if napari:
            raise CLIError(
                f"prefetcher view --napari needs napari ({exc}); install it from the checkout "
                "with: pip install '.[napari]'"
            ) from exc
        raise


def _is_missing_qt(exc: ImportError) -> bool:
    if exc.name is not None and exc.name.split(".")[0] in _QT_MODULES:
        return True
    # qtpy raises QtBindingsNotFoundError (an ImportError without a name) when no binding works.
    return type(exc).__module__.split(".")[0] == "qtpy"
