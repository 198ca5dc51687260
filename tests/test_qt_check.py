"""What ``prefetcher view`` says when Qt cannot start: the Debian packages to install."""

from __future__ import annotations

import doctest

from prefetcher import _qt_check
from prefetcher._qt_check import debian_packages, missing_libraries

# What PyQt5's xcb plugin prints with QT_DEBUG_PLUGINS=1 on a Debian machine without the xcb
# libraries (the plugin's path shortened).
XCB_FAILURE = """\
QFactoryLoader::QFactoryLoader() checking directory path ".../Qt5/plugins/platforms" ...
Cannot load library .../plugins/platforms/libqxcb.so: (libxcb-icccm.so.4: cannot open shared \
object file: No such file or directory)
QLibraryPrivate::loadPlugin failed on ".../libqxcb.so" : "Cannot load library .../libqxcb.so: \
(libxcb-icccm.so.4: cannot open shared object file: No such file or directory)"
qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.
"""


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_qt_check)
    assert (result.attempted > 0, result.failed) == (True, 0)


def test_missing_library_is_read_from_qt_debug_output_once() -> None:
    assert missing_libraries(XCB_FAILURE) == ["libxcb-icccm.so.4"]


def test_import_error_of_pyqt5_names_libgl() -> None:
    message = "libGL.so.1: cannot open shared object file: No such file or directory"
    assert debian_packages(missing_libraries(message)) == ["libgl1"]


def test_debian_names_of_the_xcb_libraries_pyqt5_needs() -> None:
    libraries = [
        "libxcb-keysyms.so.1",
        "libxcb-render-util.so.0",
        "libxcb-xinerama.so.0",
        "libxcb-image.so.0",
        "libxcb-xkb.so.1",
        "libglib-2.0.so.0",
    ]
    assert debian_packages(libraries) == [
        "libxcb-keysyms1",
        "libxcb-render-util0",
        "libxcb-xinerama0",
        "libxcb-image0",
        "libxcb-xkb1",
        "libglib2.0-0",
    ]


def test_problem_names_the_libraries_and_the_apt_get_line() -> None:
    problem = _qt_check._describe(XCB_FAILURE, "Qt cannot start")
    assert problem == (
        "Qt cannot start: missing libxcb-icccm.so.4; on Debian or Ubuntu: "
        "sudo apt-get install libxcb-icccm4"
    )
