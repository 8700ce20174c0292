"""Measure the history pane on a large history: first page, search and memory.

Fills a history with 100,000 attempts, then prints, against the targets:
- the extra time to show the first page compared with an empty history (300 ms),
- the time from a search to the updated view, without the 150 ms typing pause that
  the search box waits for (100 ms), and the time until the count label follows,
- the extra resident memory of the pane on the full history (50 MB).

Run offscreen from the repository root:
    .venv/bin/python benchmarks/bench_history.py [--rows 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import shiboken6
from PySide6.QtCore import QEventLoop, QTimer, SignalInstance
from PySide6.QtWidgets import QApplication, QMainWindow

from core.history import Attempt, HistoryStore, Outcome
from gui.history_pane import HistoryPane
from gui.tasks import TaskRunner

FIRST_PAGE_TARGET_MS = 300.0
SEARCH_TARGET_MS = 100.0
MEMORY_TARGET_MB = 50.0

# Search texts, labelled with how many generated rows they match.
SEARCHES = {
    "common word (every row)": "course",
    "two words (1 in 5 rows)": "module 12",
    "four words, one rare": "client quarter release 99999",
    "no match": "zzzz-nothing",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=100_000, help="number of attempts to insert"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="runs per measurement, of which the median is reported",
    )
    arguments = parser.parse_args()

    app = QApplication.instance() or QApplication(sys.argv)
    runner = TaskRunner()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as folder:
        empty = HistoryStore(Path(folder) / "empty.sqlite3")
        full = HistoryStore(Path(folder) / "full.sqlite3")

        started = time.perf_counter()
        full.insert_many(generated_attempts(arguments.rows))
        insert_s = time.perf_counter() - started
        size_mb = full.path.stat().st_size / 1e6
        print(
            f"Inserted {arguments.rows:,} attempts in {insert_s:.1f} s, "
            f"file {size_mb:.0f} MB"
        )

        show_pane(app, empty, runner)  # warm-up: imports, fonts, first paint
        empty_ms = [show_pane(app, empty, runner) for _ in range(arguments.repeats)]
        full_ms = [show_pane(app, full, runner) for _ in range(arguments.repeats)]

        baseline_window, _ = show_pane_kept(app, empty, runner)
        rss_before = rss_mb()
        full_window, pane = show_pane_kept(app, full, runner)
        rss_after = rss_mb()

        report_first_page(empty_ms, full_ms)
        report_memory(rss_before, rss_after)
        report_searches(app, pane, arguments.repeats)

        full_window.close()
        baseline_window.close()
        runner.wait_for_done(10_000)
        empty.close()
        full.close()


def generated_attempts(count: int) -> Iterator[Attempt]:
    """Yield attempts a few minutes apart, with a realistic mix of fields."""
    rng = random.Random(20260301)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    projects = [
        (f"{rng.getrandbits(52):013x}", f"Course {n} – Sécurité module {n % 37}")
        for n in range(400)
    ]
    modes = ["online-public", "online-private", "scorm", "offline-backup"]
    outcomes = [Outcome.COMPLETE] * 8 + [Outcome.SUCCEEDED] * 6
    outcomes += [Outcome.FAILED, Outcome.OUTCOME_UNKNOWN]
    for number in range(count):
        project_code, project_name = rng.choice(projects)
        simulation = rng.random() < 0.4
        yield Attempt(
            time=(start + timedelta(minutes=7 * number)).isoformat(),
            account="Acme Learning",
            base_url="https://api.elucidat.com/v2/",
            project_code=project_code,
            project_name=project_name,
            release_mode=rng.choice(modes),
            release_code=f"{rng.getrandbits(52):013x}",
            description=(
                f"Release {number} for client {rng.randint(1, 300)} "
                f"quarter {rng.randint(1, 4)}"
            ),
            simulation=simulation,
            outcome=Outcome.SUCCEEDED if simulation else rng.choice(outcomes),
            server_message="Release is being prepared.",
            http_status=200,
            duration_ms=rng.randint(200, 3000),
        )


def show_pane(app: QApplication, store: HistoryStore, runner: TaskRunner) -> float:
    """Return the milliseconds from creating the window to its first page on screen."""
    window, _pane = show_pane_kept(app, store, runner)
    elapsed = float(window.property("first_page_ms"))
    window.close()
    # Deleted here, on the GUI thread, instead of with deleteLater(). With PySide6
    # 6.12 a deferred delete of the pane crashed this script (SIGSEGV) in about 1
    # run in 4 when a worker thread ran Python's cyclic garbage collector at the
    # same moment.
    shiboken6.delete(window)
    return elapsed


def show_pane_kept(
    app: QApplication, store: HistoryStore, runner: TaskRunner
) -> tuple[QMainWindow, HistoryPane]:
    started = time.perf_counter()
    window = QMainWindow()
    pane = HistoryPane(store, runner)
    window.setCentralWidget(pane)
    window.resize(1100, 700)
    window.show()
    wait_until(lambda: not pane.model.is_loading, [pane.model.loaded])
    app.processEvents()  # lays out and paints the rows
    window.setProperty("first_page_ms", (time.perf_counter() - started) * 1000)
    return window, pane


def report_first_page(empty_ms: list[float], full_ms: list[float]) -> None:
    empty = statistics.median(empty_ms)
    full = statistics.median(full_ms)
    extra = full - empty
    print(
        f"First page: {full:.1f} ms on the full history, {empty:.1f} ms on an empty "
        f"one; extra {extra:.1f} ms {verdict(extra, FIRST_PAGE_TARGET_MS, 'ms')}"
    )


def report_memory(before_mb: float, after_mb: float) -> None:
    extra = after_mb - before_mb
    print(
        f"Memory: RSS {before_mb:.1f} MB with an empty pane, {after_mb:.1f} MB with "
        f"the full one; extra {extra:.1f} MB {verdict(extra, MEMORY_TARGET_MB, 'MB')}"
    )


def report_searches(app: QApplication, pane: HistoryPane, repeats: int) -> None:
    model = pane.model
    for label, text in SEARCHES.items():
        view_ms: list[float] = []
        count_ms: list[float] = []
        for _ in range(repeats):
            pane.search_box.setText("")
            pane.apply_filters()
            wait_until(
                lambda: not model.is_loading and model.total_count is not None,
                [model.loaded, model.count_changed],
            )

            started = time.perf_counter()
            pane.search_box.setText(text)
            pane.apply_filters()  # skips the typing pause
            wait_until(lambda: not model.is_loading, [model.loaded])
            app.processEvents()
            view_ms.append((time.perf_counter() - started) * 1000)
            wait_until(lambda: model.total_count is not None, [model.count_changed])
            count_ms.append((time.perf_counter() - started) * 1000)

        view = statistics.median(view_ms)
        count = statistics.median(count_ms)
        matches = model.total_count or 0
        print(
            f"Search {label}: view updated in {view:.1f} ms "
            f"{verdict(view, SEARCH_TARGET_MS, 'ms')}, count after {count:.1f} ms "
            f"({matches:,} {'match' if matches == 1 else 'matches'}, "
            f"{model.rowCount()} rows loaded)"
        )


def wait_until(
    condition: Callable[[], bool],
    signals: list[SignalInstance],
    timeout_ms: int = 30_000,
) -> None:
    """Run the event loop until condition() holds, checking after each signal."""
    if condition():
        return
    loop = QEventLoop()

    def check(*_arguments: object) -> None:
        if condition():
            loop.quit()

    for signal in signals:
        signal.connect(check)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    for signal in signals:
        signal.disconnect(check)
    if not condition():
        raise TimeoutError(f"No result within {timeout_ms} ms")


def rss_mb() -> float:
    """Return the resident set size of this process from /proc/self/status, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS is missing from /proc/self/status")


def verdict(value: float, target: float, unit: str) -> str:
    status = "within" if value < target else "OVER"
    return f"({status} the {target:.0f} {unit} target)"


if __name__ == "__main__":
    main()
