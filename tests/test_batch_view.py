"""The batch tab, offscreen, against the sandbox on loopback: a dry run from a pasted
CSV, a live batch after its confirmation, pickers, retry, cancel, the summary export,
and no widget touched from a batch thread."""

from __future__ import annotations

import csv
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from core.accounts import Credentials
from core.batch import BatchItem, ItemState
from core.follow import PollSchedule
from core.history import HistoryQuery, HistoryStore, Outcome
from core.models import ReleaseMode
from core.paths import app_paths
from gui import tasks
from gui.batch_view import BatchItemsModel, BatchView
from gui.context import AppContext
from gui.tasks import TaskRunner
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

FAST_POLLS = PollSchedule(first=0.05, factor=1.5, maximum=0.2, limit=20.0)
WAIT_MS = 20000


@pytest.fixture
def view(qtbot: QtBot, sandbox: SandboxServer, tmp_path: Path) -> Iterator[BatchView]:
    paths = app_paths().ensure()
    context = AppContext(
        paths=paths,
        history=HistoryStore(paths.history_file),
        credentials=Credentials.for_sandbox(
            sandbox.base_url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY
        ),
    )
    runner = TaskRunner()
    batch_view = BatchView(context, runner, poll_schedule=FAST_POLLS)
    batch_view.set_download_folder(tmp_path / "packages")
    qtbot.addWidget(batch_view)
    batch_view.show()
    yield batch_view
    for box in batch_view.findChildren(QMessageBox):
        box.close()
    batch_view.shutdown()
    runner.cancel_all()
    runner.wait_for_done()
    context.close()
    context.history.close()


def sandbox_csv(server: SandboxServer, *extra_rows: str) -> str:
    rows = ["project_code,release_code"]
    for project in server.projects():
        for release in server.releases(project["project_code"]):
            rows.append(f"{project['project_code']},{release['release_code']}")
    return "\n".join([*rows, *extra_rows]) + "\n"


def first_release(server: SandboxServer) -> BatchItem:
    """Return the first release as an item that names its mode and project name, so
    that the only call made for it is the create call."""
    project = server.projects()[0]
    release = server.releases(project["project_code"])[0]
    return BatchItem(
        project["project_code"],
        release["release_code"],
        ReleaseMode(release["release_mode"]),
        project_name=project["name"],
    )


def paste(qtbot: QtBot, view: BatchView, text: str) -> None:
    dialog = view.paste_csv()
    dialog.text_edit.setPlainText(text)
    dialog.add_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=2000)


def wait_finished(qtbot: QtBot, view: BatchView) -> None:
    with qtbot.waitSignal(view.batch_finished, timeout=WAIT_MS):
        pass


def states(view: BatchView) -> list[ItemState]:
    return [item.state for item in view.model.items]


def state_cell(view: BatchView, row: int) -> tuple[str, str]:
    index = view.model.index(row, BatchItemsModel.STATE_COLUMN)
    background = view.model.data(index, 8).color().name()  # Qt.BackgroundRole
    return str(view.model.data(index)), background


def test_dry_run_from_pasted_csv(
    qtbot: QtBot, view: BatchView, sandbox: SandboxServer
) -> None:
    text = sandbox_csv(sandbox)
    count = text.count("\n") - 1
    paste(qtbot, view, text)
    assert view.model.rowCount() == count
    assert view.dry_run_button.isEnabled()
    releases_before = [sandbox.releases(p["project_code"]) for p in sandbox.projects()]

    with qtbot.waitSignal(view.batch_finished, timeout=WAIT_MS) as finished:
        view.dry_run_button.click()

    assert states(view) == [ItemState.SUCCEEDED] * count
    summary = finished.args[0]
    assert summary.all_succeeded
    assert f"Dry run finished: {count} of {count} succeeded." in (
        view.status_label.text()
    )
    assert state_cell(view, 0) == ("Simulation succeeded", "#e8f5e9")
    assert view.model.data(view.model.index(0, 1)).endswith(
        f"({view.model.items[0].project_code})"
    )
    assert view.dry_run_button.isEnabled()
    assert view.export_button.isEnabled()
    assert not view.cancel_button.isEnabled()
    assert [sandbox.releases(p["project_code"]) for p in sandbox.projects()] == (
        releases_before
    )

    rows = view.context.history.search(HistoryQuery(limit=100))
    assert len(rows) == count
    assert {row.batch_id for row in rows} == {summary.batch_id}
    assert {row.outcome for row in rows} == {Outcome.SUCCEEDED}


def test_bad_csv_rows_are_shown(qtbot: QtBot, view: BatchView) -> None:
    dialog = view.paste_csv()
    dialog.text_edit.setPlainText("project_code,release_code\n,r1\np 2,r2\n")
    dialog.add_button.click()

    assert dialog.isVisible()
    assert "Line 2: missing project code." in dialog.problems_label.text()
    assert "Line 3: the project code 'p 2' contains a space" in (
        dialog.problems_label.text()
    )
    assert view.model.rowCount() == 0
    dialog.reject()


def test_live_batch_after_confirmation(
    qtbot: QtBot, view: BatchView, sandbox: SandboxServer, tmp_path: Path
) -> None:
    paste(qtbot, view, sandbox_csv(sandbox))
    count = view.model.rowCount()
    view.download_check.setChecked(True)

    view.live_button.click()
    dialog = view.live_dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert "resets the saved progress of learners" in dialog.warning_label.text()
    listed = dialog.items_text.toPlainText().splitlines()
    assert len(listed) == count
    for item, line in zip(view.model.items, listed, strict=True):
        assert item.release_code in line
    assert dialog.confirm_button.text() == f"Re-release {count} live"

    with qtbot.waitSignal(view.batch_finished, timeout=WAIT_MS) as finished:
        dialog.confirm_button.click()

    assert finished.args[0].all_succeeded
    assert states(view) == [ItemState.COMPLETE] * count
    packages = sorted((tmp_path / "packages").glob("*.zip"))
    package_items = [i for i in view.model.items if i.release_mode.is_package]
    assert len(packages) == len(package_items)
    assert "Live batch finished" in view.status_label.text()


def test_live_batch_can_be_declined(
    qtbot: QtBot, view: BatchView, sandbox: SandboxServer
) -> None:
    paste(qtbot, view, sandbox_csv(sandbox))
    view.live_button.click()
    assert view.live_dialog is not None
    view.live_dialog.reject()

    assert view.batch is None
    assert view.context.history.search(HistoryQuery()) == []


def test_retry_failed_item(
    qtbot: QtBot, view: BatchView, sandbox: SandboxServer
) -> None:
    view.add_items([first_release(sandbox)])
    sandbox.faults.server_error = 1

    view.dry_run_button.click()
    wait_finished(qtbot, view)
    assert states(view) == [ItemState.FAILED]
    assert "server error" in view.status_label.text()
    assert state_cell(view, 0) == ("Failed", "#ffebee")

    view.table.selectRow(0)
    assert view.retry_button.isEnabled()
    with qtbot.waitSignal(view.batch_finished, timeout=WAIT_MS):
        view.retry_button.click()
    assert states(view) == [ItemState.SUCCEEDED]
    assert not view.retry_button.isEnabled()


def test_outcome_unknown_retry_asks_first(
    qtbot: QtBot, view: BatchView, sandbox: SandboxServer
) -> None:
    view.add_items([first_release(sandbox)])
    sandbox.faults.drop_after_create = 1
    view.dry_run_button.click()
    wait_finished(qtbot, view)
    assert states(view) == [ItemState.OUTCOME_UNKNOWN]

    view.table.selectRow(0)
    box = view.retry_selected()
    assert box is not None
    assert "may already have been re-released" in box.text()
    box.reject()
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=2000)
    assert states(view) == [ItemState.OUTCOME_UNKNOWN]

    box = view.retry_selected()
    assert box is not None
    [retry_anyway] = [b for b in box.buttons() if b.text() == "Retry anyway"]
    with qtbot.waitSignal(view.batch_finished, timeout=WAIT_MS):
        retry_anyway.click()
    assert states(view) == [ItemState.SUCCEEDED]


def test_cancel_from_the_view(
    qtbot: QtBot, view: BatchView, sandbox: SandboxServer
) -> None:
    paste(qtbot, view, sandbox_csv(sandbox))
    view.concurrency_spin.setValue(1)
    sandbox.faults.latency = 0.2

    view.dry_run_button.click()
    assert view.cancel_button.isEnabled()
    assert view.pause_button.isEnabled()
    with qtbot.waitSignal(view.batch_finished, timeout=WAIT_MS):
        view.cancel_button.click()
    sandbox.faults.latency = 0.0

    found = states(view)
    assert ItemState.CANCELLED in found
    assert set(found) <= {ItemState.SUCCEEDED, ItemState.CANCELLED}
    assert "cancelled" in view.status_label.text()
    assert not view.cancel_button.isEnabled()


def test_pick_from_project(
    qtbot: QtBot, view: BatchView, sandbox: SandboxServer
) -> None:
    project = sandbox.projects()[1]
    releases = sandbox.releases(project["project_code"])
    picker = view.pick_from_project()
    qtbot.waitUntil(lambda: picker.project_combo.count() > 0, timeout=5000)
    picker.choose_project(project["project_code"])
    qtbot.waitUntil(
        lambda: (
            picker.table.rowCount() == len(releases)
            and picker.table.item(0, 0).text().endswith(f"({project['project_code']})")
        ),
        timeout=5000,
    )
    picker.search_edit.setText(releases[0]["release_code"])
    assert not picker.table.isRowHidden(0)
    assert all(picker.table.isRowHidden(row) for row in range(1, len(releases)))
    picker.search_edit.clear()
    picker.select_all_button.click()
    picker.add_button.click()

    assert [item.release_code for item in view.model.items] == [
        release["release_code"] for release in releases
    ]
    assert all(item.project_name == project["name"] for item in view.model.items)


def test_pick_from_history_skips_duplicates(
    qtbot: QtBot, view: BatchView, sandbox: SandboxServer
) -> None:
    paste(qtbot, view, sandbox_csv(sandbox))
    count = view.model.rowCount()
    view.dry_run_button.click()
    wait_finished(qtbot, view)
    view.clear_items()
    view.add_items(view_items := [BatchItem("p0", "listed-already")])
    assert view.model.rowCount() == len(view_items)

    picker = view.pick_from_history()
    qtbot.waitUntil(lambda: picker.table.rowCount() == count, timeout=5000)
    picker.select_all_button.click()
    picker.add_button.click()
    assert view.model.rowCount() == count + 1
    assert "Added" in view.status_label.text()

    again = view.pick_from_history()
    qtbot.waitUntil(lambda: again.table.rowCount() == count, timeout=5000)
    again.select_all_button.click()
    again.add_button.click()
    assert view.model.rowCount() == count + 1
    assert f"Skipped {count} already in the list" in view.status_label.text()


def test_export_summary(
    qtbot: QtBot, view: BatchView, sandbox: SandboxServer, tmp_path: Path
) -> None:
    paste(qtbot, view, sandbox_csv(sandbox, "5dd580064b0b7,0000000000000"))
    view.dry_run_button.click()
    wait_finished(qtbot, view)

    path = tmp_path / "summary.csv"
    assert view.export_summary_to(path)
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == view.model.rowCount()
    assert rows[-1]["release_code"] == "0000000000000"
    assert rows[-1]["state"] == "failed"
    assert "not found" in rows[-1]["message"]
    assert {row["state"] for row in rows[:-1]} == {"succeeded"}


def test_shared_settings_are_checked(qtbot: QtBot, view: BatchView) -> None:
    view.add_items([BatchItem("p1", "r1")])
    view.same_lrs_check.setChecked(True)
    view.lrs_url_edit.setText("not a url")

    assert view.start_batch(simulation=True) is None
    qtbot.waitUntil(lambda: bool(view.findChildren(QMessageBox)), timeout=2000)
    [box] = view.findChildren(QMessageBox)
    assert "LRS URL" in box.informativeText()
    assert view.batch is None


def test_batch_threads_never_touch_widgets(
    qtbot: QtBot,
    view: BatchView,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Profile every call on the batch and task threads; none may be a QWidget's."""
    violations: list[str] = []
    main_thread = threading.main_thread()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if threading.current_thread() is main_thread:
            return
        if event == "c_call" and isinstance(getattr(arg, "__self__", None), QWidget):
            violations.append(f"{type(arg.__self__).__name__}.{arg.__name__}")
        elif event == "call":
            target = frame.f_locals.get("self")
            if isinstance(target, QWidget):
                violations.append(frame.f_code.co_qualname)

    original_run = tasks._Runnable.run

    def profiled_run(runnable: Any) -> None:
        sys.setprofile(profile)
        try:
            original_run(runnable)
        finally:
            sys.setprofile(None)

    monkeypatch.setattr(tasks._Runnable, "run", profiled_run)
    threading.setprofile(profile)
    try:
        paste(qtbot, view, sandbox_csv(sandbox))
        view.download_check.setChecked(True)
        view.start_batch(simulation=False)
        wait_finished(qtbot, view)
        picker = view.pick_from_project()
        qtbot.waitUntil(lambda: picker.table.rowCount() > 0, timeout=5000)
        picker.reject()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]

    assert view.batch is not None
    assert view.batch.summary().all_succeeded
    assert violations == []
