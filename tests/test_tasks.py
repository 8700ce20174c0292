"""The background task runner: results, failures, progress and cancel reach the GUI
thread, and callbacks never run on a worker thread."""

from __future__ import annotations

import threading

import pytest
from pytestqt.qtbot import QtBot

from core.errors import CancelledError, NetworkError
from gui.tasks import TaskContext, TaskRunner


@pytest.fixture
def runner(qtbot: QtBot) -> TaskRunner:
    task_runner = TaskRunner()
    yield task_runner
    task_runner.cancel_all()
    assert task_runner.wait_for_done(5000)


def test_success_runs_callback_on_gui_thread(qtbot: QtBot, runner: TaskRunner) -> None:
    gui_thread = threading.current_thread()
    seen: dict[str, object] = {}

    def work(context: TaskContext) -> str:
        seen["worker_thread"] = threading.current_thread()
        return "done"

    def on_success(result: str) -> None:
        seen["result"] = result
        seen["callback_thread"] = threading.current_thread()

    handle = runner.run(work, on_success=on_success, label="work")
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass

    assert seen["result"] == "done"
    assert seen["callback_thread"] is gui_thread
    assert seen["worker_thread"] is not gui_thread
    assert runner.active_count == 0


def test_failure_goes_to_handler(qtbot: QtBot, runner: TaskRunner) -> None:
    errors: list[BaseException] = []

    def work(context: TaskContext) -> None:
        raise NetworkError("Could not connect to 127.0.0.1:9.")

    handle = runner.run(work, on_failure=errors.append)
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass

    assert len(errors) == 1
    assert isinstance(errors[0], NetworkError)


def test_unhandled_failure_emits_signal(qtbot: QtBot, runner: TaskRunner) -> None:
    def work(context: TaskContext) -> None:
        raise ValueError("a bug")

    with qtbot.waitSignal(runner.failed_unhandled, timeout=5000) as blocker:
        runner.run(work, label="buggy")

    label, error = blocker.args
    assert label == "buggy"
    assert isinstance(error, ValueError)


def test_progress_reaches_gui(qtbot: QtBot, runner: TaskRunner) -> None:
    reports: list[tuple[int, int, str]] = []

    def work(context: TaskContext) -> None:
        for step in range(3):
            context.progress(step + 1, 3, f"step {step + 1}")

    handle = runner.run(work)
    handle.progressed.connect(lambda d, t, s: reports.append((d, t, s)))
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass

    assert reports == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


def test_cancel_drops_late_result(qtbot: QtBot, runner: TaskRunner) -> None:
    release = threading.Event()
    results: list[object] = []
    cancelled: list[bool] = []

    def work(context: TaskContext) -> str:
        release.wait(5)
        return "late"

    handle = runner.run(
        work, on_success=results.append, on_cancelled=lambda: cancelled.append(True)
    )
    handle.cancel()
    release.set()
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass

    assert results == []
    assert cancelled == [True]


def test_cancelled_error_is_quiet(qtbot: QtBot, runner: TaskRunner) -> None:
    failures: list[BaseException] = []

    def work(context: TaskContext) -> None:
        context.cancelled.set()
        context.check_cancelled()

    handle = runner.run(work, on_failure=failures.append)
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass

    assert failures == []
    assert handle.is_cancelled
    assert CancelledError.title == "Cancelled"


def test_closed_runner_starts_nothing(qtbot: QtBot, runner: TaskRunner) -> None:
    started: list[bool] = []
    runner.close()

    handle = runner.run(lambda context: started.append(True))
    assert runner.wait_for_done(2000)
    qtbot.wait(50)

    assert started == []
    assert handle.is_cancelled
    assert runner.active_count == 0


def test_result_after_owner_deleted_is_dropped(qtbot: QtBot) -> None:
    """A window deleted while its task runs gets no callback into dead widgets."""
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    task_runner = TaskRunner(label)
    release = threading.Event()
    calls: list[str] = []

    def work(context: TaskContext) -> str:
        release.wait(5)
        return "late"

    task_runner.run(
        work, on_success=lambda text: (calls.append(text), label.setText(text))
    )
    # Deleting the runner's thread pool waits for the worker, so the worker is let
    # go from another thread shortly after the deletion starts.
    threading.Timer(0.2, release.set).start()
    label.deleteLater()
    qtbot.wait(400)

    assert calls == []
