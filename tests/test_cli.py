"""The ``prefetcher`` command line: ``demo``, ``scan``, ``view``, in-process and as a subprocess."""

from __future__ import annotations

import importlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import prefetcher
from prefetcher import _cli_common, _demo, _demo_frames, _scan
from prefetcher._cli import main

WriteImage = Callable[..., Path]

# Small and quick: a few tiny frames, a few milliseconds a read.
TINY_DEMO = ["demo", "--frames", "8", "--latency", "0.002", "--work", "0.004", "--quiet"]
QT_MODULES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6")


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every temporary file of the test (in-process and subprocess) at an empty directory."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    # tempfile caches the directory it picked first; forget it so TMPDIR counts in-process too.
    monkeypatch.setattr(tempfile, "tempdir", None)
    return directory


@pytest.fixture
def sequence(tmp_path: Path, write_image: WriteImage) -> Path:
    """A directory of six good frames ``1.png .. 6.png``."""
    directory = tmp_path / "seq"
    for n in range(1, 7):
        write_image(directory / f"{n}.png", n)
    return directory


def corrupt(path: Path) -> Path:
    """Cut a PNG short, as an interrupted copy would."""
    path.write_bytes(path.read_bytes()[:40])
    return path


def non_daemon_threads() -> set[threading.Thread]:
    """Threads that would keep the interpreter alive (the loader's workers are such threads)."""
    return {t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()}


def run_subprocess(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prefetcher", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def table_row(table: str, label: str) -> list[str]:
    """The cells of the table row whose label is ``label`` (the label itself left out)."""
    # The table's header row has no label; the demo's settings come before it.
    for line in table.splitlines():
        if line.startswith(label) and (label or line.startswith(" ")):
            return line[len(label) :].split()
    raise AssertionError(f"no row {label!r} in:\n{table}")


# --- demo -----------------------------------------------------------------------------------------


def test_demo_prints_table_of_both_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(TINY_DEMO) == 0
    out = capsys.readouterr().out
    assert table_row(out, "")[:2] == ["plain", "loop"]
    for label in ("wall time", "frames/s", "time waiting", "hits", "waits", "misses", "speed-up"):
        assert label in out


def test_demo_prefetching_run_finds_frames_loading_or_ready(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(TINY_DEMO) == 0
    out = capsys.readouterr().out
    plain_misses, fetched_misses = map(int, table_row(out, "misses (not started)"))
    assert plain_misses == 8
    # Read ahead, frame n+1 is already loading (or loaded) when the loop asks for it.
    assert fetched_misses < 8 // 2
    fetched_hits = int(table_row(out, "hits (ready)")[1])
    fetched_waits = int(table_row(out, "waits (in flight)")[1])
    assert fetched_hits + fetched_waits + fetched_misses == 8


def test_demo_removes_its_temporary_frames(
    private_tempdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(TINY_DEMO) == 0
    assert list(private_tempdir.iterdir()) == []


def test_demo_json_holds_the_figures_of_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY_DEMO, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    plain, fetched = result["plain"], result["prefetching"]
    for run in (plain, fetched):
        assert run["frames"] == 8
        assert run["hits"] + run["waits"] + run["misses"] == 8
        assert run["frames_per_second"] == pytest.approx(8 / run["wall_seconds"])
    assert fetched["stats"]["requests"] == 8
    assert fetched["hits"] == fetched["stats"]["hits"]
    assert result["speedup"] == pytest.approx(plain["wall_seconds"] / fetched["wall_seconds"])
    # The table is printed from this very dictionary.
    table = _demo.format_table(result)
    assert table_row(table, "wall time") == [
        f"{plain['wall_seconds']:.2f}",
        "s",
        f"{fetched['wall_seconds']:.2f}",
        "s",
    ]
    assert table_row(table, "hits (ready)") == [str(plain["hits"]), str(fetched["hits"])]
    assert table_row(table, "speed-up") == [f"{result['speedup']:.2f}x"]


def test_demo_json_records_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*TINY_DEMO, "--json", "--ahead", "3", "--workers", "2", "--pattern", "backward"]
    assert main(argv) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert settings == {
        "frames": 8,
        "source": None,
        "latency": 0.002,
        "work": 0.004,
        "ahead": 3,
        "workers": 2,
        "pattern": "backward",
    }


@pytest.mark.parametrize("pattern", ["forward", "backward", "viewer", "random"])
def test_pattern_asks_for_as_many_frames_as_there_are_all_in_range(pattern: str) -> None:
    indices = _demo_frames.pattern_indices(pattern, 50)
    assert len(indices) == 50
    assert all(0 <= n < 50 for n in indices)


def test_viewer_pattern_goes_forward_back_and_jumps() -> None:
    indices = _demo_frames.pattern_indices("viewer", 150)
    steps = {b - a for a, b in itertools.pairwise(indices)}
    assert {1, -1, 10} <= steps


def test_demo_runs_on_files_of_source_without_added_latency(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--source", str(sequence), "--work", "0", "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["settings"]["source"] == str(sequence)
    assert result["settings"]["latency"] == 0
    assert result["prefetching"]["frames"] == 6


def test_demo_frames_limits_the_files_of_source(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo", "--source", str(sequence), "--frames", "4", "--work", "0", "--quiet", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["plain"]["frames"] == 4


def test_demo_with_unreadable_source_file_names_it_and_fails(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = corrupt(sequence / "3.png")
    assert main(["demo", "--source", str(sequence), "--work", "0", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(bad) in err


def test_demo_interrupted_closes_loader_and_returns_130(
    private_tempdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = non_daemon_threads()
    calls = 0

    def work(frame: Any, seconds: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 8 + 3:  # the third frame of the prefetching run: Ctrl-C
            raise KeyboardInterrupt

    monkeypatch.setattr(_demo, "_work", work)
    assert main(TINY_DEMO) == 130
    assert "interrupted" in capsys.readouterr().err
    assert non_daemon_threads() == before
    assert list(private_tempdir.iterdir()) == []


def test_demo_as_subprocess_shows_progress_and_table_and_leaves_no_files(
    private_tempdir: Path,
) -> None:
    done = run_subprocess("demo", "--frames", "6", "--latency", "0.002", "--work", "0.002")
    assert done.returncode == 0, done.stderr
    assert "speed-up" in done.stdout
    assert "plain loop" in done.stderr  # the progress bars
    assert "prefetching" in done.stderr
    assert list(private_tempdir.iterdir()) == []


def test_ctrl_c_stops_demo_with_no_thread_left_and_status_130(private_tempdir: Path) -> None:
    # A wrapper around main() that reports the threads still alive when main() has returned.
    script = (
        "import signal, sys, threading\n"
        # Python leaves SIGINT ignored when it was ignored at start (nohup, a background job).
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from prefetcher._cli import main\n"
        "status = main(sys.argv[1:])\n"
        "alive = [t.name for t in threading.enumerate()\n"
        "         if not t.daemon and t is not threading.main_thread()]\n"
        "print('threads left:', alive, file=sys.stderr, flush=True)\n"
        "sys.exit(status)\n"
    )
    # Long enough a prefetching run (40 frames of 50 ms work) that Ctrl-C lands inside it.
    argv = ["demo", "--frames", "40", "--latency", "0.005", "--work", "0.05"]
    process = subprocess.Popen(
        [sys.executable, "-c", script, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines = []
        # The progress bar of the prefetching run appears once its loader exists. (Text mode
        # reads tqdm's carriage returns as line ends.) The loop ends at EOF if the process dies.
        for line in process.stderr:
            lines.append(line)
            if line.startswith("prefetching:"):
                break
        assert lines and lines[-1].startswith("prefetching:"), lines
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == 130, err
    assert "prefetcher demo: interrupted" in err
    assert "threads left: []" in err
    assert "Traceback" not in err
    assert "speed-up" not in out
    assert list(private_tempdir.iterdir()) == []


# --- scan -----------------------------------------------------------------------------------------


def test_scan_of_good_sequence_reports_every_frame_read(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(sequence), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "scanned 6 frames" in out
    assert "read: 6, errors: 0" in out


def test_scan_reports_corrupt_file_by_path_goes_on_and_returns_1(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = corrupt(sequence / "3.png")
    assert main(["scan", str(sequence), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "read: 5, errors: 1, missing: 0" in out
    assert f"3.png (file 3, position 2) {bad}: UnidentifiedImageError: cannot identify" in out


def test_scan_json_lists_errors_with_paths(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = corrupt(sequence / "5.png")
    assert main(["scan", str(sequence), "--json", "--quiet"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 6
    assert result["read"] == 5
    assert result["error_count"] == 1
    assert (result["errors"][0]["position"], result["errors"][0]["number"]) == (4, 5)
    assert result["errors"][0]["path"] == str(bad)
    assert result["stats"]["requests"] == 6


def test_scan_reverse_meets_later_files_first(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt(sequence / "2.png")
    corrupt(sequence / "5.png")
    assert main(["scan", str(sequence), "--reverse", "--json", "--quiet"]) == 1
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert [e["position"] for e in errors] == [4, 1]


def test_scan_start_and_stop_select_indices(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt(sequence / "1.png")  # index 0, outside the range
    assert main(["scan", str(sequence), "--start", "1", "--stop", "4", "--quiet"]) == 0
    assert "scanned 3 frames" in capsys.readouterr().out


def test_scan_of_template_reads_from_its_lowest_file_number_to_its_highest(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(sequence / "{}.png"), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["frames"], result["first"], result["last"]) == (
        6,
        "1.png (file 1)",
        "6.png (file 6)",
    )
    assert (result["error_count"], result["missing_count"]) == (0, 0)


def test_scan_of_template_with_stop_past_the_last_file_reports_them_missing(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(sequence / "{}.png"), "--stop", "9", "--json", "--quiet"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert (result["missing"], result["error_count"]) == ([[7, 8]], 0)


def test_scan_of_template_says_how_to_scan_past_its_last_file(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(sequence / "{}.png"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "the scan ended at 6.png (file 6), the highest file number" in out
    assert "to scan past it, give --stop N" in out


def test_scan_of_template_in_reverse_starts_at_its_last_file(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt(sequence / "6.png")
    corrupt(sequence / "2.png")
    assert main(["scan", str(sequence / "{}.png"), "--reverse", "--json", "--quiet"]) == 1
    assert [e["number"] for e in json.loads(capsys.readouterr().out)["errors"]] == [6, 2]


@pytest.mark.parametrize("form", ["directory", "glob", "template"])
def test_scan_reports_a_missing_file_number_and_returns_1(
    form: str, sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sequence / "3.png").unlink()
    (sequence / "4.png").unlink()
    source = {"directory": sequence, "glob": sequence / "*.png", "template": sequence / "{}.png"}
    assert main(["scan", str(source[form]), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "read: 4, errors: 0, missing: 2" in out
    assert "missing file numbers: 3-4" in out


def test_unquoted_glob_says_to_quote_it(sequence: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(path) for path in sorted(sequence.iterdir())]
    assert main(["scan", *paths]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "got 6 paths for SOURCE: the shell expanded a glob pattern; quote it, as in: " in err
    assert f"prefetcher scan '{sequence}/*.png'" in err


def test_scan_of_one_file_reads_that_file(
    sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(sequence / "2.png"), "--quiet"]) == 0
    assert "scanned 1 frame " in capsys.readouterr().out


def test_scan_interrupted_closes_loader_and_returns_130(
    sequence: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = non_daemon_threads()
    real_progress = _cli_common.progress

    def progress(*args: Any, **kwargs: Any) -> Any:
        bar = real_progress(*args, **kwargs)
        done = 0

        def update(n: int = 1) -> None:
            nonlocal done
            done += n
            if done == 3:  # Ctrl-C once the third frame is read
                raise KeyboardInterrupt

        bar.update = update
        return bar

    monkeypatch.setattr(_scan, "progress", progress)
    assert main(["scan", str(sequence), "--quiet"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "prefetcher scan: interrupted\n"
    assert captured.out == ""
    assert non_daemon_threads() == before


def test_scan_as_subprocess_exits_1_and_names_corrupt_file(sequence: Path) -> None:
    bad = corrupt(sequence / "4.png")
    done = run_subprocess("scan", str(sequence))
    assert done.returncode == 1
    assert str(bad) in done.stdout
    assert "scan" in done.stderr  # the progress bar


# --- bad input: one line on stderr, status 2 (command line) or 1 (while running) ------------------

BAD_INPUT = {
    "unknown command": (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    "frames 0": (["demo", "--frames", "0"], 2, "argument --frames: must be >= 1, got '0'"),
    "frames not a number": (["demo", "--frames", "x"], 2, "must be a whole number, got 'x'"),
    "negative latency": (["demo", "--latency", "-1"], 2, "argument --latency: must be"),
    "latency nan": (["demo", "--latency", "nan"], 2, "argument --latency: must be"),
    "work not a number": (["demo", "--work", "lots"], 2, "argument --work: must be a number"),
    "negative ahead": (["demo", "--ahead", "-1"], 2, "argument --ahead: must be a whole number"),
    "ahead word": (["scan", ".", "--ahead", "far"], 2, "or 'auto', got 'far'"),
    "workers 0": (["demo", "--workers", "0"], 2, "argument --workers: must be >= 1"),
    "unknown pattern": (["demo", "--pattern", "sideways"], 2, "invalid choice: 'sideways'"),
    "scan without source": (["scan"], 2, "required: SOURCE"),
    "negative start": (["scan", ".", "--start", "-2"], 2, "argument --start: must be >= 0"),
}


@pytest.mark.parametrize(("argv", "status", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_command_line_is_one_line_and_status_2(
    argv: list[str], status: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert message in captured.err
    assert "--help" in captured.err


def bad_sources(root: Path, write_image: WriteImage) -> dict[str, tuple[list[str], int, str]]:
    (root / "empty").mkdir()
    write_image(root / "seq" / "1.png")
    write_image(root / "seq" / "2.png")
    missing = str(root / "missing")
    seq = str(root / "seq")
    return {
        "missing directory": (["scan", missing], 2, f"No such directory: '{missing}'"),
        "empty directory": (["scan", str(root / "empty")], 2, "No image files in directory"),
        "glob matching nothing": (["scan", seq + "/*.tif"], 2, "No files match the glob"),
        "bad template": (["scan", seq + "/{}{}.png"], 2, "has 2 fields"),
        "no file 0 or 1": (["scan", str(root / "empty" / "{}.png")], 1, "nothing to scan"),
        "start past the end": (["scan", seq, "--start", "5"], 2, "past the end of the sequence"),
        "stop before start": (["scan", seq, "--start", "1", "--stop", "0"], 2, "before --start"),
        "missing demo source": (["demo", "--source", missing], 2, "--source: No such directory"),
        "template demo source": (["demo", "--source", seq + "/{}.png"], 2, "has no end"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing directory",
        "empty directory",
        "glob matching nothing",
        "bad template",
        "no file 0 or 1",
        "start past the end",
        "stop before start",
        "missing demo source",
        "template demo source",
    ],
)
def test_bad_source_is_one_line_without_traceback(
    case: str, tmp_path: Path, write_image: WriteImage, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, status, message = bad_sources(tmp_path, write_image)[case]
    assert main([*argv, "--quiet"]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"prefetcher {argv[0]}: error: ")
    assert message in err


def test_debug_shows_traceback_of_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--debug", "scan", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.rstrip().endswith(f"No such directory: '{tmp_path / 'missing'}'")


def test_bad_input_as_subprocess_is_one_line_and_status(tmp_path: Path) -> None:
    done = run_subprocess("scan", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert done.stderr == f"prefetcher scan: error: No such directory: '{tmp_path / 'missing'}'\n"


def test_prefetcher_alone_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: prefetcher")
    assert "demo" in captured.out
    assert captured.err == ""


def test_demo_prints_its_settings_with_the_table_on_stdout(private_tempdir: Path) -> None:
    done = run_subprocess("demo", "--frames", "4", "--latency", "0", "--work", "0", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("4 frames (generated 1024x768 PNGs), forward order")
    assert done.stderr == ""


# --- version, help --------------------------------------------------------------------------------


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"prefetcher {prefetcher.__version__}\n"


@pytest.mark.parametrize("command", ["demo", "scan", "view"])
def test_help_of_each_command_shows_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert f"  prefetcher {command} " in out


def test_python_m_prefetcher_runs_the_command() -> None:
    done = run_subprocess("--version")
    assert done.returncode == 0
    assert done.stdout == f"prefetcher {prefetcher.__version__}\n"


# --- view -----------------------------------------------------------------------------------------


def test_view_passes_its_options_to_the_viewer(
    monkeypatch: pytest.MonkeyPatch, sequence: Path
) -> None:
    calls = []

    def run(source: str, *, start: int, ahead: int | str, workers: int | None) -> int:
        calls.append((source, start, ahead, workers))
        return 0

    monkeypatch.setitem(sys.modules, "prefetcher.viewer", types.SimpleNamespace(run=run))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    argv = ["view", str(sequence), "--start", "3", "--ahead", "5", "--workers", "2"]
    assert main(argv) == 0
    assert calls == [(str(sequence), 3, 5, 2)]


def test_view_without_qt_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.startswith(("prefetcher.viewer", "prefetcher.qt"))]:
        monkeypatch.delitem(sys.modules, name)
    # Other test modules may have imported Qt already: hide every Qt module, submodules too, so
    # that "from qtpy.QtCore import ..." raises ImportError instead of opening a real window.
    for name in {*QT_MODULES, *(m for m in sys.modules if m.split(".")[0] in QT_MODULES)}:
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["view", str(sequence)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pip install '.[qt]'" in err


def test_view_with_qt_but_without_a_system_library_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = importlib.import_module

    def import_module(name: str, package: str | None = None) -> types.ModuleType:
        if name == "prefetcher.viewer":  # what PyQt5 raises on a machine without libGL
            message = "libGL.so.1: cannot open shared object file: No such file or directory"
            raise ImportError(message, name="PyQt5.QtGui")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    assert main(["view", str(sequence)]) == 1
    assert capsys.readouterr().err == (
        "prefetcher view: error: Qt cannot be imported: missing libGL.so.1; on Debian or Ubuntu: "
        "sudo apt-get install libgl1\n"
    )


def test_demo_and_scan_do_not_import_qt(sequence: Path) -> None:
    script = (
        "import sys\n"
        "from prefetcher._cli import main\n"
        f"main(['scan', {str(sequence)!r}, '--quiet'])\n"
        "main(['demo', '--frames', '2', '--latency', '0', '--work', '0', '--quiet'])\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_view_without_display_says_so_instead_of_aborting(
    monkeypatch: pytest.MonkeyPatch, sequence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(source: str, **options: Any) -> int:
        raise AssertionError("the viewer must not start without a display")

    monkeypatch.setitem(sys.modules, "prefetcher.viewer", types.SimpleNamespace(run=run))
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main(["view", str(sequence)]) == 1
    assert capsys.readouterr().err == (
        "prefetcher view: error: no display to open a window on (DISPLAY is not set)\n"
    )


def test_view_where_qt_cannot_start_says_why_in_one_line_instead_of_aborting(
    sequence: Path,
) -> None:
    pytest.importorskip("qtpy")
    # An X display nobody serves: Qt's xcb plugin would abort the process.
    env = {**os.environ, "DISPLAY": ":1234", "QT_QPA_PLATFORM": "xcb"}
    done = subprocess.run(
        [sys.executable, "-m", "prefetcher", "view", str(sequence)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("prefetcher view: error: Qt cannot start: ")
    assert ":1234" in done.stderr


def test_view_of_missing_directory_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("qtpy")
    missing = tmp_path / "missing"
    done = subprocess.run(
        [sys.executable, "-m", "prefetcher", "view", str(missing)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == f"prefetcher view: error: No such directory: '{missing}'"
    assert "Traceback" not in done.stderr


def test_scan_without_tqdm_works_with_no_progress_bar(sequence: Path) -> None:
    # tqdm is the cli extra's: a plain `pip install .` has no progress bars but every command.
    script = (
        "import sys\n"
        "sys.modules['tqdm'] = None  # as if it were not installed\n"
        "from prefetcher._cli import main\n"
        f"sys.exit(main(['scan', {str(sequence)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "read: 6, errors: 0, missing: 0" in done.stdout


def test_scan_of_template_that_cannot_be_listed_walks_to_the_first_missing_file(
    tmp_path: Path, write_image: WriteImage, capsys: pytest.CaptureFixture[str]
) -> None:
    # The number in a directory name: no one listing finds the files, so the scan tries them.
    for n in (1, 2, 3, 5):
        write_image(tmp_path / f"run{n}" / "frame.png", n)
    assert main(["scan", str(tmp_path / "run{}" / "frame.png"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "scanned 3 frames" in out
    assert "the scan stopped at the first missing file after frame.png (file 3)" in out
