"""Measure how responsive the window stays during releases, and how fast it starts.

Prints, against the targets:
- the largest gap between the ticks of a 10 ms timer on the GUI thread while the real
  MainWindow makes releases against the sandbox with 300 ms added to every reply
  (under 50 ms), with the p99 and median gap beside it;
- the time from just before a child process starts to the first paint of its main
  window, for `main.py --sandbox` and for a bare QMainWindow in the same run, as
  medians (the app at most 1.5 times the bare window).

The releases are dry runs, plus a few live ones whose confirmation dialog a timer
accepts and which the window then follows to completion in the background.

Run offscreen from the repository root:

    .venv/bin/python benchmarks/bench_window.py [--releases 20] [--live 3] [--starts 5]

Exits with status 1 when a target is missed or a release fails. Qt's offscreen
platform paints into memory, so painting costs less here than on a real display.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A proxy from the environment must not see loopback traffic.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
# Nothing here should read or write the developer's real keyring.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import PySide6
from PySide6.QtCore import (
    QEventLoop,
    QMessageLogContext,
    QSettings,
    Qt,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
    qVersion,
)
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from core.accounts import Credentials
from core.follow import PollSchedule
from core.history import HistoryQuery, HistoryStore, Outcome
from core.models import ReleaseMode
from core.paths import app_paths
from gui.context import AppContext
from gui.main_window import MainWindow
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

REPOSITORY = Path(__file__).resolve().parent.parent

MAX_GAP_TARGET_MS = 50.0
START_RATIO_TARGET = 1.5

TICK_INTERVAL_MS = 10
SANDBOX_LATENCY_S = 0.3
# Live releases finish publishing quickly and are polled often, so the benchmark
# spends its time on requests and window updates, not on waiting.
SANDBOX_PUBLISH_DELAY_S = 1.0
FOLLOW_SCHEDULE = PollSchedule(first=0.3, factor=1.5, maximum=1.0, limit=60.0)
# Seconds one release may take before the benchmark gives up. A dry run is two
# requests (the nonce and the create), so about 0.6 s at 300 ms latency.
RELEASE_TIMEOUT_S = 30.0
CHILD_TIMEOUT_S = 60.0

MODES = list(ReleaseMode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--releases", type=int, default=20, help="number of dry runs (default: 20)"
    )
    parser.add_argument(
        "--live",
        type=int,
        default=3,
        help="number of live releases mixed in among the dry runs (default: 3)",
    )
    parser.add_argument(
        "--starts",
        type=int,
        default=5,
        help="child processes started per kind for the start-up time (default: 5)",
    )
    args = parser.parse_args()
    if args.releases < 1 or args.live < 0 or args.starts < 1:
        parser.error("--releases and --starts must be at least 1, --live at least 0")

    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PySide6 {PySide6.__version__} (Qt {qVersion()}), "
        f"QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}"
    )
    missed: list[str] = []

    app_ms, bare_ms = measure_start_up(args.starts)
    ratio = app_ms / bare_ms
    print(f"start-up, main.py --sandbox: {app_ms:.0f} ms (median of {args.starts})")
    print(f"start-up, bare QMainWindow: {bare_ms:.0f} ms (median of {args.starts})")
    print(f"start-up ratio: {ratio:.2f} (target <= {START_RATIO_TARGET:g})")
    if ratio > START_RATIO_TARGET:
        missed.append("start-up ratio")

    qInstallMessageHandler(print_qt_message)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    run = measure_responsiveness(args.releases, args.live)
    print(
        f"releases: {args.releases} dry runs and {args.live} live, "
        f"{SANDBOX_LATENCY_S * 1000:.0f} ms added latency; "
        f"median {run.release_median_s:.2f} s from click to result"
    )
    print(f"timer ticks: {len(run.gaps_ms) + 1} at {TICK_INTERVAL_MS} ms")
    print(f"max gap: {run.max_gap_ms:.1f} ms (target < {MAX_GAP_TARGET_MS:g})")
    print(f"p99 gap: {run.p99_gap_ms:.1f} ms")
    print(f"median gap: {run.median_gap_ms:.1f} ms")
    if run.max_gap_ms >= MAX_GAP_TARGET_MS:
        missed.append("max gap")
    if run.failures:
        missed.append("releases failed")
        for failure in run.failures:
            print(f"release failed: {failure}")

    print("targets missed: " + (", ".join(missed) if missed else "none"))
    return 1 if missed else 0


# Responsiveness -----------------------------------------------------------------------


class ResponsivenessRun:
    """Gaps between timer ticks, release durations and failed releases of one run."""

    def __init__(
        self, gaps_ms: list[float], release_s: list[float], failures: list[str]
    ) -> None:
        self.gaps_ms = gaps_ms
        self.release_s = release_s
        self.failures = failures

    @property
    def max_gap_ms(self) -> float:
        return max(self.gaps_ms)

    @property
    def p99_gap_ms(self) -> float:
        return statistics.quantiles(self.gaps_ms, n=100, method="inclusive")[98]

    @property
    def median_gap_ms(self) -> float:
        return statistics.median(self.gaps_ms)

    @property
    def release_median_s(self) -> float:
        return statistics.median(self.release_s)


def measure_responsiveness(dry_runs: int, live: int) -> ResponsivenessRun:
    """Make releases through the real window while a timer records its ticks."""
    sandbox = SandboxServer(publish_delay=SANDBOX_PUBLISH_DELAY_S).start()
    sandbox.faults.latency = SANDBOX_LATENCY_S
    with tempfile.TemporaryDirectory(prefix="bench-window-") as home:
        os.environ["RELEASE_DESK_HOME"] = home
        window = build_window(sandbox, Path(home))
        try:
            return drive_releases(window, sandbox, dry_runs, live)
        finally:
            window.close()
            window.context.close()
            window.context.history.close()
            sandbox.stop()


def build_window(sandbox: SandboxServer, home: Path) -> MainWindow:
    paths = app_paths().ensure()
    context = AppContext(
        paths=paths,
        history=HistoryStore(paths.history_file),
        credentials=Credentials.for_sandbox(
            sandbox.base_url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY
        ),
    )
    settings = QSettings(str(home / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(context, settings=settings, follow_schedule=FOLLOW_SCHEDULE)
    window.show()
    QApplication.processEvents()
    return window


def drive_releases(
    window: MainWindow, sandbox: SandboxServer, dry_runs: int, live: int
) -> ResponsivenessRun:
    """Fill the form, click Release and wait for the result, once per release."""
    ticks: list[float] = []
    probe = QTimer(window)
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(TICK_INTERVAL_MS)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    probe.start()

    window.load_projects()
    wait_until(lambda: window.form.project_combo.count() > 0, "the project list")
    project = str(sandbox.projects()[0]["project_code"])
    window.form.set_project_code(project)
    wait_until(lambda: window.runner.active_count == 0, "the release list")

    total = dry_runs + live
    live_indexes = (
        {round((k + 0.5) * total / live) for k in range(live)} if live else set()
    )
    release_s: list[float] = []
    failures: list[str] = []
    for index in range(total):
        is_live = index in live_indexes
        started = time.perf_counter()
        heading = make_release(window, index, is_live)
        release_s.append(time.perf_counter() - started)
        expected = "created live" if is_live else "Dry run succeeded"
        if expected not in heading:
            failures.append(f"release {index + 1}: the result was {heading!r}")

    wait_until(lambda: window.follow_runner.active_count == 0, "the live follows")
    probe.stop()
    failures.extend(check_history(window, dry_runs, live))

    gaps_ms = [(later - earlier) * 1000 for earlier, later in itertools.pairwise(ticks)]
    return ResponsivenessRun(gaps_ms, release_s, failures)


def make_release(window: MainWindow, index: int, live: bool) -> str:
    """Make one release through the form and return the result panel's heading."""
    form = window.form
    form.set_release_mode(MODES[index % len(MODES)].value)
    form.description_edit.setText(f"Benchmark release {index + 1}")
    window.simulation_check.setChecked(not live)
    if not window.release_button.isEnabled():
        return f"(the Release button was disabled: {window.invalid_reason.text()})"
    if live:
        accept_next_confirmation()
    QTest.mouseClick(window.release_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: window.runner.active_count == 0, f"release {index + 1}")
    window.simulation_check.setChecked(True)
    return window.result.heading.text()


def accept_next_confirmation() -> None:
    """Click the accepting button of the next modal message box, once it opens."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        for button in box.buttons():
            if box.buttonRole(button) == QMessageBox.ButtonRole.AcceptRole:
                button.click()
                return
        box.reject()

    QTimer.singleShot(0, click)


def check_history(window: MainWindow, dry_runs: int, live: int) -> list[str]:
    """Compare the stored attempts' outcomes with the releases that were made."""
    attempts = window.context.history.search(HistoryQuery(limit=dry_runs + live + 10))
    succeeded = sum(
        1 for a in attempts if a.simulation and a.outcome == Outcome.SUCCEEDED
    )
    complete = sum(
        1 for a in attempts if not a.simulation and a.outcome == Outcome.COMPLETE
    )
    failures = []
    if succeeded != dry_runs:
        failures.append(
            f"the history has {succeeded} succeeded dry runs, expected {dry_runs}"
        )
    if complete != live:
        failures.append(
            f"the history has {complete} complete live releases, expected {live}"
        )
    return failures


def wait_until(condition: Callable[[], bool], description: str) -> None:
    """Run the event loop until condition() is true.

    Raises TimeoutError when it is still false after RELEASE_TIMEOUT_S.
    """
    if condition():
        return
    loop = QEventLoop()
    checker = QTimer()
    checker.setInterval(20)
    checker.timeout.connect(lambda: loop.quit() if condition() else None)
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.setInterval(int(RELEASE_TIMEOUT_S * 1000))
    deadline.timeout.connect(loop.quit)
    checker.start()
    deadline.start()
    loop.exec()
    checker.stop()
    deadline.stop()
    if not condition():
        raise TimeoutError(
            f"timed out after {RELEASE_TIMEOUT_S:g} s waiting for {description}"
        )


def print_qt_message(
    kind: QtMsgType, context: QMessageLogContext, message: str
) -> None:
    """Print Qt's messages on stderr, except one that every message box causes.

    The offscreen platform warns that it cannot propagate size hints each time a
    QMessageBox opens. The warning is unrelated to the window under test.
    """
    if "does not support propagateSizeHints" not in message:
        print(f"Qt: {message}", file=sys.stderr)


# Start-up -----------------------------------------------------------------------------

# Runs in each child process. It prints time.monotonic() at the first paint event of
# the main window and exits at once, because the measurement ends there and a quit()
# before app.exec() has started would be lost. CLOCK_MONOTONIC is system-wide on
# Linux, so the parent can subtract its own reading.
PROBE_SCRIPT = """\
import os
import sys
import time

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow


class FirstPaintProbe(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            print(f"first-paint {time.monotonic():.6f}", flush=True)
            os._exit(0)
        return False


probe = FirstPaintProbe()

if sys.argv[1] == "bare":
    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.setWindowTitle("Bare window")
    window.resize(1100, 720)
    window.installEventFilter(probe)
    window.show()
    sys.exit(app.exec())

sys.path.insert(0, sys.argv[2])
import gui.main_window


class ProbedMainWindow(gui.main_window.MainWindow):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.installEventFilter(probe)


# gui.app imports MainWindow when it opens the window, so it gets this subclass.
gui.main_window.MainWindow = ProbedMainWindow
import main

sys.exit(main.main(["--sandbox"]))
"""


def measure_start_up(starts: int) -> tuple[float, float]:
    """Return the median start-up times in ms of the app and of a bare window."""
    with tempfile.TemporaryDirectory(prefix="bench-window-start-") as folder:
        script = Path(folder) / "first_paint_probe.py"
        script.write_text(PROBE_SCRIPT, encoding="utf-8")
        home = Path(folder) / "home"
        environ = dict(os.environ, RELEASE_DESK_HOME=str(home))
        # An installed app has its bytecode cached. With PYTHONDONTWRITEBYTECODE set,
        # as on some CI machines, every start would compile the app's modules anew,
        # while PySide6's modules come precompiled from the wheel.
        environ.pop("PYTHONDONTWRITEBYTECODE", None)

        # One start of each, not counted, creates the history and warms the file
        # cache and the bytecode cache, as on a machine where the app ran before.
        time_child(script, "app", environ)
        time_child(script, "bare", environ)

        app_ms: list[float] = []
        bare_ms: list[float] = []
        for _ in range(starts):
            app_ms.append(time_child(script, "app", environ))
            bare_ms.append(time_child(script, "bare", environ))
    return statistics.median(app_ms), statistics.median(bare_ms)


def time_child(script: Path, kind: str, environ: dict[str, str]) -> float:
    """Start one child and return ms from just before its start to its first paint."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, str(script), kind, str(REPOSITORY)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("first-paint "):
            return (float(line.split()[1]) - started) * 1000
    raise RuntimeError(
        f"The {kind} child exited with status {completed.returncode} before its "
        f"first paint. Its stderr ends with:\n{completed.stderr[-2000:]}"
    )


if __name__ == "__main__":
    sys.exit(main())
