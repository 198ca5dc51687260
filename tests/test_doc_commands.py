"""Every command in README.rst and docs/*.rst runs as written, or says here why it cannot.

The commands are taken from the .rst files themselves: the ``$ `` lines of console blocks, the
command lines of literal blocks, and inline literals that start like a command. Each one is either
run by a test in this module, run exactly so by another test or by a CI script (named here), or is a
placeholder (``SOURCE``, ``/mnt/share/...``) that cannot run anywhere but on the reader's machine.
A command added to the docs without an entry here fails ``test_every_doc_command_is_accounted_for``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.rst"))]
INSTALL_SCRIPT = ROOT / ".ci" / "install-lines"
TIMEOUT = 120

_COMMAND = r"(?:pip|python|prefetcher|xvfb-run|apt-get|ruff|QT_QPA_PLATFORM=\S+ python)(?=\s|$|`)"
_INLINE = re.compile(rf"``({_COMMAND}[^`]*)``")
_LITERAL_LINE = re.compile(rf"{_COMMAND}")
_OUTPUT_LINE = re.compile(r"prefetcher \w+: ")  # "prefetcher view: error: ...", not a command


def doc_commands() -> dict[str, list[str]]:
    """Every command of the docs, each part of an ``a && b`` on its own, and the files it is in."""
    found: dict[str, list[str]] = {}
    for path in DOCS:
        for command in _commands_in(path.read_text()):
            for part in command.split(" && "):
                found.setdefault(_strip_comment(part), []).append(path.name)
    return found


def _commands_in(text: str) -> Iterator[str]:
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        console = line.strip() == ".. code-block:: console"
        if console or (line.rstrip().endswith("::") and not line.strip().startswith(".. ")):
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                stripped = lines[i].strip()
                if console and stripped.startswith("$ "):
                    yield stripped[2:]
                elif (
                    not console
                    and _LITERAL_LINE.match(stripped)
                    and not _OUTPUT_LINE.match(stripped)
                ):
                    yield stripped
                i += 1
            continue
        i += 1
    # Inline literals may wrap over two lines of the paragraph.
    yield from _INLINE.findall(re.sub(r"\s*\n\s*", " ", text))


def _strip_comment(command: str) -> str:
    return re.sub(r"\s+# .*$", "", command).strip()


# --- how each command is checked ------------------------------------------------------------------

#: Placeholders: paths or names the reader puts their own in.
PLACEHOLDERS = {
    "prefetcher scan SOURCE": "SOURCE stands for the reader's own sequence",
    "prefetcher view SOURCE": "SOURCE stands for the reader's own sequence",
    "prefetcher demo --source /mnt/share/run7": "/mnt/share is the reader's own share",
    "prefetcher view 'share/{}.png'": "share/ is the reader's own share; the same command on a "
    "real directory runs in tests/test_qt_viewer.py::test_one_ctrl_c_in_the_terminal_quits_the_"
    "viewer_with_130_and_no_traceback",
    "prefetcher COMMAND --help": "COMMAND stands for each command; "
    "tests/test_cli.py::test_help_of_each_command_shows_an_example runs all three",
    "QT_QPA_PLATFORM=offscreen python examples/pyqt5_viewer.py --frames 110 --hold-right 90 "
    "--ahead N": "N stands for each window measured; run below with N=4",
    "echo $?": "part of the scan console example, checked by test_scan_console_example",
    "python examples/pyqt5_viewer.py": "interactive: a window that stays until it is closed; its "
    "measuring and screenshot modes run below and in tests/test_qt_viewer.py",
    "python -m http.server": "serves until stopped; tests/servers.py starts exactly this server "
    "for the HTTP tests",
    "apt-get install samba": "a system package: .ci/run installs it",
    "apt-get install libgl1 libegl1 libglib2.0-0 libfontconfig1 libxkbcommon0 libdbus-1-3 "
    "fonts-dejavu-core": "system packages: .ci/run installs them",
    "ruff check .": "run by test_style_commands_of_the_readme_pass",
    "ruff format --check .": "run by test_style_commands_of_the_readme_pass",
    "mypy": "run by test_style_commands_of_the_readme_pass",
}

#: Run exactly so elsewhere.
ELSEWHERE = {
    'python -m pip install -e ".[test]"': ".ci/run",
    "python -m pytest": ".ci/run",
    "python examples/slow_share.py": "tests/test_examples.py",
    "prefetcher view": "tests/test_qt_viewer.py (a window, then Ctrl-C) and tests/test_cli.py "
    "(where Qt cannot start)",
    "python benchmarks/run.py": "tests/test_benchmarks_smoke.py (its --quick option)",
    "python benchmarks/run.py --chart docs/benchmarks.png --waits-chart docs/waits.png": (
        "tests/test_benchmarks_smoke.py (--quick, with both charts to temporary files)"
    ),
    "python benchmarks/run.py --patterns forward,backward --contenders window,aheadN,auto "
    "--runs 5 --no-memory --no-micro --no-chart": (
        "tests/test_benchmarks_smoke.py (--quick, every contender and pattern, --runs 1 there)"
    ),
    "python benchmarks/run.py --patterns random --contenders plain,ahead1,auto --runs 5 "
    "--no-memory --no-micro --no-chart": (
        "tests/test_benchmarks_smoke.py (--quick, every contender and pattern, --runs 1 there)"
    ),
    "python benchmarks/run.py --contenders plain,ahead1,aheadN,auto,window --runs 3 --no-memory "
    "--no-micro --no-chart": (
        "tests/test_benchmarks_smoke.py (--quick, every contender and pattern, --runs 1 there)"
    ),
    "python benchmarks/run.py --waits-chart docs/waits.png": (
        "tests/test_benchmarks_smoke.py (--quick, with both charts to temporary files)"
    ),
    "python benchmarks/scale.py": "tests/test_benchmarks_smoke.py (its --quick option)",
    "python benchmarks/scale.py --only overhead,hits": (
        "tests/test_benchmarks_smoke.py (--quick, which runs every part)"
    ),
    "python benchmarks/scale.py --only overhead": (
        "tests/test_benchmarks_smoke.py (--quick, which runs every part)"
    ),
    "python benchmarks/scale.py --only hits": (
        "tests/test_benchmarks_smoke.py (--quick, which runs every part)"
    ),
    "python benchmarks/scale.py --only long": (
        "tests/test_benchmarks_smoke.py (--quick, which runs every part, the long run included)"
    ),
    "python benchmarks/real_share.py --chart docs/real_share.png": (
        "tests/test_benchmarks_smoke.py (--quick, two patterns, the chart to a temporary file)"
    ),
    "python benchmarks/real_share.py --quick": (
        "tests/test_benchmarks_smoke.py (with two patterns and without torch)"
    ),
    "python benchmarks/real_share.py --contenders plain,aheadN,auto --runs 3": (
        "tests/test_benchmarks_smoke.py (--quick, with --contenders; --runs 1 there)"
    ),
    "python benchmarks/real_share.py --contenders auto --runs 3": (
        "tests/test_benchmarks_smoke.py (--quick, with --contenders; --runs 1 there)"
    ),
    "python benchmarks/real_share.py --contenders auto,aheadN --runs 3": (
        "tests/test_benchmarks_smoke.py (--quick, with --contenders; --runs 1 there)"
    ),
    "python benchmarks/tiers.py --smb --delay 0.01 --only scripts --frames 40": (
        "test_smb_benchmark_of_the_docs_runs_through_its_quick_option (the same, --quick)"
    ),
    "python benchmarks/scale_out.py --quick": "tests/test_map_frames.py",
    "python benchmarks/scale_out.py": "tests/test_map_frames.py (its --quick option)",
    "python benchmarks/tiers.py": "tests/test_tiers.py (its scripts table, on a few small frames)",
    "python benchmarks/tiers.py --only scripts": "tests/test_tiers.py (on a few small frames)",
}

#: Run by this module, as written (a long benchmark through its --quick option).
RUN_HERE = {
    "prefetcher demo": ["prefetcher", "demo"],
    "prefetcher --version": ["prefetcher", "--version"],
    "prefetcher": ["prefetcher"],
    "python -m prefetcher": [sys.executable, "-m", "prefetcher"],
    "prefetcher scan run7 --quiet": ["prefetcher", "scan", "run7", "--quiet"],
    "python benchmarks/decode.py": [sys.executable, "benchmarks/decode.py", "--quick"],
    "python benchmarks/decode.py --smb": [
        sys.executable,
        "benchmarks/decode.py",
        "--smb",
        "--quick",
    ],
    "python benchmarks/micro.py": [sys.executable, "benchmarks/micro.py", "--quick"],
    "python benchmarks/soak.py": [sys.executable, "benchmarks/soak.py", "--quick"],
    "python benchmarks/tiers.py --smb --frames 60": [
        sys.executable,
        "benchmarks/tiers.py",
        "--smb",
        "--delay",
        "0.01",
        "--quick",
        "--only",
        "scripts",
    ],
    "python benchmarks/smb_roundtrips.py": [
        sys.executable,
        "benchmarks/smb_roundtrips.py",
        "--frames",
        "4",
        "--rounds",
        "1",
    ],
    "xvfb-run -a python benchmarks/napari_stepping.py --screenshot docs/napari.png": [
        "xvfb-run",
        "-a",
        sys.executable,
        "benchmarks/napari_stepping.py",
        "--quick",
        "--screenshot",
        "{tmp}/napari.png",  # not over the docs' own picture
    ],
    'xvfb-run -a -s "-screen 0 1024x768x24" python examples/pyqt5_viewer.py --frames 40 '
    "--screenshot docs/viewer.png": [
        "xvfb-run",
        "-a",
        "-s",
        "-screen 0 1024x768x24",
        sys.executable,
        "examples/pyqt5_viewer.py",
        "--frames",
        "40",
        "--screenshot",
        "{tmp}/viewer.png",  # not over the docs' own picture
    ],
}


def install_lines() -> list[str]:
    return sorted(c for c in doc_commands() if re.match(r"(python -m )?pip install ", c))


def test_every_doc_command_is_accounted_for() -> None:
    known = {*PLACEHOLDERS, *ELSEWHERE, *RUN_HERE, *install_lines()}
    unknown = {c: files for c, files in doc_commands().items() if c not in known}
    assert unknown == {}


def test_every_entry_here_is_still_in_the_docs() -> None:
    commands = doc_commands()
    stale = [c for c in (*PLACEHOLDERS, *ELSEWHERE, *RUN_HERE) if c not in commands]
    assert stale == []


@pytest.mark.parametrize("line", [line for line in install_lines() if line not in ELSEWHERE])
def test_install_line_is_run_by_the_ci_script(line: str) -> None:
    # .ci/install-lines runs each one in a fresh virtual environment (too slow for this suite).
    script = INSTALL_SCRIPT.read_text()
    assert f'run_line "{line.replace(chr(34), chr(92) + chr(34))}' in script


@pytest.mark.parametrize("line", install_lines())
def test_install_line_installs_from_the_checkout_with_extras_that_exist(line: str) -> None:
    # The lines that failed for new users named 'prefetcher[qt]', which only an index could give.
    words = shlex.split(line)
    targets = [w for w in words[words.index("install") + 1 :] if not w.startswith("-")]
    extras = re.search(r"^\[options\.extras_require\]\n(.*?)(?:^\[|\Z)", _setup_cfg(), re.M | re.S)
    assert extras is not None
    defined = set(re.findall(r"^(\w+) =", extras.group(1), re.M))
    for target in targets:
        assert not target.startswith("prefetcher"), f"{line}: install from the checkout, '.'"
        match = re.fullmatch(r"\.(?:\[([\w,]+)\])?", target)
        if match is not None and match.group(1):
            assert set(match.group(1).split(",")) <= defined, line


def _setup_cfg() -> str:
    return (ROOT / "setup.cfg").read_text()


# The child gets the default SIGINT handler whatever this process inherited (a run under nohup
# or in the background ignores SIGINT); SIG_DFL, unlike a handler, survives exec.
_DEFAULT_SIGINT_EXEC = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def run(argv: list[str], tmp: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` from the checkout, with this environment's scripts first on PATH."""
    argv = [arg.replace("{tmp}", str(tmp)) for arg in argv]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if argv[0] == "xvfb-run":
        # A real display: the offscreen platform these tests set for Qt has no OpenGL (napari).
        env.pop("QT_QPA_PLATFORM", None)
    process = subprocess.Popen(
        [sys.executable, "-c", _DEFAULT_SIGINT_EXEC, *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        process.kill()
        process.wait(timeout=10)
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


QUICK = ["prefetcher --version", "prefetcher", "python -m prefetcher"]


@pytest.mark.parametrize("command", QUICK)
def test_quick_command_of_the_docs_runs(command: str, tmp_path: Path) -> None:
    done = run(RUN_HERE[command], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout


@pytest.mark.slow
@pytest.mark.timeout(2 * TIMEOUT)  # a whole demo or benchmark run, on a busy machine too
def test_demo_as_the_readme_gives_it_prints_the_table(tmp_path: Path) -> None:
    done = run(RUN_HERE["prefetcher demo"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("150 frames (generated 1024x768 PNGs), forward order, 40 ms")
    assert "speed-up" in done.stdout


@pytest.mark.timeout(2 * TIMEOUT)  # 120 frames of 1024x768 to write first
def test_scan_console_example(tmp_path: Path) -> None:
    # The directory of docs/cli.rst: 0.png .. 119.png, 57.png cut short, 90.png deleted.
    from prefetcher._demo_frames import make_frames

    run7 = tmp_path / "run7"
    run7.mkdir()
    make_frames(str(run7), 120)
    data = (run7 / "57.png").read_bytes()
    (run7 / "57.png").write_bytes(data[: len(data) // 2])
    (run7 / "90.png").unlink()
    done = subprocess.run(
        RUN_HERE["prefetcher scan run7 --quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
    )
    assert done.returncode == 1, done.stderr
    shown = (ROOT / "docs" / "cli.rst").read_text().split("$ prefetcher scan run7 --quiet\n")[1]
    expected = [line.strip() for line in shown.split("$ echo")[0].splitlines() if line.strip()]
    # Everything but the timings, which differ from run to run.
    untimed = [line for line in expected if " s " not in line and "waiting" not in line]
    got = [line.strip() for line in done.stdout.splitlines()]
    assert [line for line in got if line in untimed] == untimed


@pytest.mark.slow
@pytest.mark.timeout(2 * TIMEOUT)  # a whole demo or benchmark run, on a busy machine too
@pytest.mark.parametrize(
    "command",
    [
        "python benchmarks/decode.py",
        "python benchmarks/micro.py",
        "python benchmarks/soak.py",
        "xvfb-run -a python benchmarks/napari_stepping.py --screenshot docs/napari.png",
    ],
)
def test_benchmark_of_the_docs_runs_through_its_quick_option(command: str, tmp_path: Path) -> None:
    done = run(RUN_HERE[command], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.timeout(2 * TIMEOUT)  # a whole benchmark run, on a busy machine too
@pytest.mark.parametrize(
    "command",
    [
        "python benchmarks/decode.py --smb",
        "python benchmarks/smb_roundtrips.py",
        "python benchmarks/tiers.py --smb --frames 60",
    ],
)
def test_smb_benchmark_of_the_docs_runs_through_its_quick_option(
    command: str, tmp_path: Path
) -> None:
    if shutil.which("smbd") is None or os.geteuid() != 0:
        pytest.skip("needs smbd and root (apt-get install samba)")
    pytest.importorskip("smbclient")
    done = run(RUN_HERE[command], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.timeout(2 * TIMEOUT)  # a whole demo or benchmark run, on a busy machine too
def test_screenshot_command_of_the_qt_docs_saves_a_picture(tmp_path: Path) -> None:
    pytest.importorskip("qtpy")
    if shutil.which("xvfb-run") is None:
        pytest.skip("needs xvfb-run (apt-get install xvfb xauth)")
    command = (
        'xvfb-run -a -s "-screen 0 1024x768x24" python examples/pyqt5_viewer.py --frames 40 '
        "--screenshot docs/viewer.png"
    )
    done = run(RUN_HERE[command], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "viewer.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
@pytest.mark.timeout(2 * TIMEOUT)  # a whole demo or benchmark run, on a busy machine too
def test_held_key_measurement_of_the_qt_docs_runs(tmp_path: Path) -> None:
    pytest.importorskip("qtpy")
    argv = [sys.executable, "examples/pyqt5_viewer.py", "--frames", "110", "--hold-right", "90"]
    done = subprocess.run(
        [*argv, "--ahead", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "held Right 90 times at 30/s" in done.stdout


def test_style_commands_of_the_readme_pass() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    if ruff is None or mypy is None:
        pytest.skip("needs ruff and mypy (pip install ruff mypy)")
    for argv in ([ruff, "check", "."], [ruff, "format", "--check", "."], [mypy]):
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}"
