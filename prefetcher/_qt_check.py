"""Can Qt open a window here? Asked in a child process, since Qt aborts the process that fails.

On a bare Linux machine (a container, WSL, a server) Qt's ``xcb`` platform plugin aborts with
"could not load the Qt platform plugin" when a system library is missing, and names it only with
``QT_DEBUG_PLUGINS=1``. :func:`qt_problem` starts Qt in a child with that variable set and turns
what it printed into one line naming the Debian packages to install.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

__all__ = ["debian_packages", "missing_libraries", "qt_problem"]

#: Seconds the child may take to start Qt (a cold start of PyQt5 takes about one).
PROBE_TIMEOUT = 60

_PROBE = (
    "from qtpy.QtWidgets import QApplication\n"
    "app = QApplication(['prefetcher'])\n"
    "print(app.platformName())\n"
)
_MISSING_LIBRARY = re.compile(r"(lib[A-Za-z0-9_.+-]+?\.so(?:\.[0-9]+)*): cannot open shared object")

# Debian package names that the rule in debian_packages does not give.
_PACKAGES = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libX11-xcb.so.1": "libx11-xcb1",
}


def missing_libraries(text: str) -> list[str]:
    """The shared libraries that ``text`` (the dynamic loader's messages) says it cannot open.

    >>> missing_libraries("libxcb-icccm.so.4: cannot open shared object file: No such file")
    ['libxcb-icccm.so.4']
    """
    seen: dict[str, None] = {}
    for name in _MISSING_LIBRARY.findall(text):
        seen[name] = None
    return list(seen)


def debian_packages(libraries: list[str]) -> list[str]:
    """The Debian packages that ship ``libraries`` (by Debian's naming rule for libraries).

    >>> debian_packages(["libxcb-icccm.so.4", "libxkbcommon-x11.so.0", "libGL.so.1"])
    ['libxcb-icccm4', 'libxkbcommon-x11-0', 'libgl1']
    """
    packages: dict[str, None] = {}
    for library in libraries:
        package = _PACKAGES.get(library)
        if package is None:
            stem, _, version = library.partition(".so")
            major = version.lstrip(".").split(".")[0]
            # Debian policy: the soname's name plus its major version, with a hyphen between two
            # digits ("libxkbcommon-x11" + "0" -> "libxkbcommon-x11-0").
            separator = "-" if stem[-1:].isdigit() and major else ""
            package = f"{stem}{separator}{major}".lower().replace("_", "-")
        packages[package] = None
    return list(packages)


def qt_problem(import_error: str | None = None) -> str | None:
    """``None`` when Qt can open a window here, else one line saying what to install.

    Args:
        import_error: The message of an ImportError raised while importing Qt in this process,
            to read instead of starting a child.
    """
    if import_error is not None:
        return _describe(import_error, "Qt cannot be imported")
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display to open a window on (DISPLAY is not set)"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            env={**os.environ, "QT_DEBUG_PLUGINS": "1"},
        )
    except subprocess.TimeoutExpired:
        return f"Qt did not start within {PROBE_TIMEOUT} s"
    if done.returncode == 0:
        return None
    return _describe(done.stderr, "Qt cannot start")


def _describe(text: str, what: str) -> str | None:
    libraries = missing_libraries(text)
    if libraries:
        packages = " ".join(debian_packages(libraries))
        return (
            f"{what}: missing {', '.join(libraries)}; on Debian or Ubuntu: "
            f"sudo apt-get install {packages}"
        )
    if not text:
        return None
    # No library named: Qt's first complaint ("could not connect to display :99") says the most;
    # the ones after it ("Could not load the Qt platform plugin") follow from it.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    complaints = [line for line in lines if "could not" in line.lower() or "error" in line.lower()]
    reason = complaints[0] if complaints else (lines[-1] if lines else "")
    return f"{what}: {reason}" if reason else f"{what}"
