"""The history pane and its model on a real SQLite history and a real task runner."""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from core.history import Attempt, HistoryStore, Outcome
from gui.history_model import (
    ATTEMPT_ROLE,
    CODE_COLUMN,
    OUTCOME_COLUMN,
    PROJECT_COLUMN,
    RUN_COLUMN,
    HistoryModel,
)
from gui.history_pane import (
    EMPTY_HISTORY_TEXT,
    NO_MATCH_TEXT,
    AttemptDetailsDialog,
    HistoryPane,
)
from gui.tasks import TaskRunner

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def make_attempt(minute: int, **fields: object) -> Attempt:
    values: dict[str, object] = {
        "time": (START + timedelta(minutes=minute)).isoformat(),
        "project_code": "5dd580064b0b7",
        "project_name": "Fire safety",
        "release_mode": "scorm",
        "outcome": Outcome.COMPLETE,
        "release_code": f"REL{minute:04d}",
    }
    values.update(fields)
    return Attempt(**values)  # type: ignore[arg-type]


SAMPLE = [
    make_attempt(1, launch_url="https://learning.example/launch/1"),
    make_attempt(2, simulation=True, outcome=Outcome.SUCCEEDED, release_code=""),
    make_attempt(
        3,
        project_code="7aa0c3d9e1f2a",
        project_name="Onboarding",
        release_mode="online-public",
        outcome=Outcome.FAILED,
        release_code="",
        description="New starters, spring intake",
    ),
    make_attempt(4, outcome=Outcome.OUTCOME_UNKNOWN, release_code=""),
    make_attempt(5, re_release_of="REL0001", release_code="REL0001"),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    history_store = HistoryStore(tmp_path / "history.sqlite3")
    yield history_store
    history_store.close()


@pytest.fixture
def runner(qtbot: QtBot) -> Iterator[TaskRunner]:
    task_runner = TaskRunner()
    yield task_runner
    task_runner.cancel_all()
    assert task_runner.wait_for_done(5000)
    # Queued results of the last tasks are delivered before the next test starts.
    qtbot.wait(1)


@pytest.fixture
def pane(qtbot: QtBot, store: HistoryStore, runner: TaskRunner) -> HistoryPane:
    store.insert_many(SAMPLE)
    history_pane = HistoryPane(store, runner)
    qtbot.addWidget(history_pane)
    history_pane.resize(900, 500)
    history_pane.show()
    wait_idle(qtbot, history_pane)
    return history_pane


def wait_idle(qtbot: QtBot, pane: HistoryPane) -> None:
    """Wait until the model has its rows and its count for the current query."""
    qtbot.waitUntil(
        lambda: not pane.model.is_loading and pane.model.total_count is not None,
        timeout=5000,
    )


def shown(pane: HistoryPane, column: int = CODE_COLUMN) -> list[str]:
    model = pane.model
    return [model.index(row, column).data() for row in range(model.rowCount())]


def select_rows(pane: HistoryPane, *rows: int) -> None:
    pane.table.clearSelection()
    selection = pane.table.selectionModel()
    for row in rows:
        selection.select(
            pane.model.index(row, 0),
            selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
        )


def row_of_minute(pane: HistoryPane, minute: int) -> int:
    expected = (START + timedelta(minutes=minute)).isoformat()
    for row in range(pane.model.rowCount()):
        if pane.model.attempt(row).time == expected:
            return row
    raise AssertionError(f"no row for minute {minute}")


# Model


def test_model_lists_newest_first(pane: HistoryPane) -> None:
    model = pane.model

    assert model.rowCount() == 5
    assert model.columnCount() == 6
    assert model.total_count == 5
    assert pane.count_label.text() == "5 attempts"
    assert shown(pane) == ["REL0001", "", "", "", "REL0001"]
    assert shown(pane, PROJECT_COLUMN)[2] == "Onboarding"
    assert shown(pane, RUN_COLUMN)[3] == "Dry run"
    assert shown(pane, OUTCOME_COLUMN)[:3] == ["Complete", "Outcome unknown", "Failed"]
    assert model.index(0, 0).data(ATTEMPT_ROLE).re_release_of == "REL0001"
    assert model.headerData(3, Qt.Orientation.Horizontal) == "Release code"


def test_model_fetches_pages(
    qtbot: QtBot, store: HistoryStore, runner: TaskRunner
) -> None:
    store.insert_many(make_attempt(minute) for minute in range(45))
    model = HistoryModel(store, runner, page_size=20)

    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    assert model.rowCount() == 20
    assert model.canFetchMore()

    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.fetchMore()
    assert model.rowCount() == 40

    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.fetchMore()
    assert model.rowCount() == 45
    assert not model.canFetchMore()
    codes = [model.attempt(row).release_code for row in range(45)]
    assert codes == [f"REL{minute:04d}" for minute in reversed(range(45))]


def test_model_drops_stale_results(
    qtbot: QtBot, store: HistoryStore, runner: TaskRunner
) -> None:
    store.insert_many(SAMPLE)
    model = HistoryModel(store, runner)

    model.set_filters("nothing matches this", False, False)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_filters("onboarding", False, False)
    qtbot.waitUntil(lambda: not model.is_loading and model.total_count is not None)
    runner.wait_for_done(5000)
    qtbot.wait(10)

    assert model.rowCount() == 1
    assert model.total_count == 1


def test_destroyed_pane_drops_results(
    qtbot: QtBot, store: HistoryStore, runner: TaskRunner
) -> None:
    # Occupy every worker, so the pane's queries can only run after it is deleted.
    release_workers = threading.Event()
    for _ in range(runner.pool.maxThreadCount()):
        runner.run(lambda _context: release_workers.wait(5), label="blocker")
    store.insert_many(SAMPLE)
    pane = HistoryPane(store, runner)
    assert pane.model.is_loading

    shiboken6.delete(pane)
    release_workers.set()
    assert runner.wait_for_done(5000)

    # A result delivered to the deleted model would raise here, and pytest-qt fails
    # the test on any exception raised in the event loop.
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=5000)


def test_model_sorts_by_project(pane: HistoryPane, qtbot: QtBot) -> None:
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pane.table.sortByColumn(PROJECT_COLUMN, Qt.SortOrder.DescendingOrder)

    assert shown(pane, PROJECT_COLUMN)[0] == "Onboarding"


# Search and filters


def test_search_updates_view(pane: HistoryPane, qtbot: QtBot) -> None:
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        qtbot.keyClicks(pane.search_box, "SPRING")
    wait_idle(qtbot, pane)

    assert shown(pane, PROJECT_COLUMN) == ["Onboarding"]
    assert pane.count_label.text() == "1 attempt"

    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pane.search_box.setText("rel0001")
    assert shown(pane) == ["REL0001", "REL0001"]


def test_search_waits_for_typing_pause(pane: HistoryPane, qtbot: QtBot) -> None:
    pane.search_box.setText("onboarding")

    assert pane.model.rowCount() == 5
    assert pane.model.query.text == ""
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pass
    assert pane.model.rowCount() == 1


def test_live_only_filter(pane: HistoryPane, qtbot: QtBot) -> None:
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pane.live_only_box.setChecked(True)
    wait_idle(qtbot, pane)

    assert shown(pane, RUN_COLUMN) == ["Live"] * 4
    assert pane.count_label.text() == "4 attempts"


def test_failed_only_filter(pane: HistoryPane, qtbot: QtBot) -> None:
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pane.failed_only_box.setChecked(True)

    assert shown(pane, OUTCOME_COLUMN) == ["Outcome unknown", "Failed"]

    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pane.search_box.setText("onboarding")
        pane.apply_filters()
    assert shown(pane, OUTCOME_COLUMN) == ["Failed"]


def test_empty_state_texts(
    qtbot: QtBot, store: HistoryStore, runner: TaskRunner
) -> None:
    pane = HistoryPane(store, runner)
    qtbot.addWidget(pane)
    pane.show()
    wait_idle(qtbot, pane)

    assert pane.stack.currentWidget() is pane.empty_label
    assert pane.empty_label.text() == EMPTY_HISTORY_TEXT
    assert pane.count_label.text() == "0 attempts"

    store.insert_many(SAMPLE)
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pane.refresh()
    assert pane.stack.currentWidget() is pane.table

    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pane.search_box.setText("no such course")
    assert pane.stack.currentWidget() is pane.empty_label
    assert pane.empty_label.text() == NO_MATCH_TEXT


def test_load_failure_shown(
    pane: HistoryPane, qtbot: QtBot, store: HistoryStore
) -> None:
    store.close()

    with qtbot.waitSignal(pane.model.load_failed, timeout=5000):
        pane.refresh()

    assert "already closed" in pane.status_label.text()
    assert not pane.model.is_loading


def test_refresh_keeps_selection(
    pane: HistoryPane, qtbot: QtBot, store: HistoryStore
) -> None:
    row = row_of_minute(pane, 3)
    attempt = pane.model.attempt(row)
    select_rows(pane, row)
    assert attempt.id is not None

    store.update(attempt.id, outcome=Outcome.OUTCOME_UNKNOWN)
    store.insert_many([make_attempt(9)])
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pane.refresh()

    (selected,) = pane.selected_attempts()
    assert selected.id == attempt.id
    assert selected.outcome is Outcome.OUTCOME_UNKNOWN
    assert pane.model.rowCount() == 6


# Actions


def test_re_release_emits_attempt(pane: HistoryPane, qtbot: QtBot) -> None:
    row = row_of_minute(pane, 1)
    select_rows(pane, row)
    assert pane.re_release_action.isEnabled()

    with qtbot.waitSignal(pane.re_release_requested, timeout=1000) as blocker:
        pane.re_release_action.trigger()

    (attempt,) = blocker.args
    assert isinstance(attempt, Attempt)
    assert attempt.id == pane.model.attempt(row).id
    assert attempt.re_release_target == "REL0001"


def test_re_release_by_shortcut(pane: HistoryPane, qtbot: QtBot) -> None:
    select_rows(pane, row_of_minute(pane, 5))
    pane.table.setFocus()

    with qtbot.waitSignal(pane.re_release_requested, timeout=1000) as blocker:
        qtbot.keyClick(pane.table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)

    assert blocker.args[0].release_code == "REL0001"


def test_re_release_disabled_without_code(pane: HistoryPane) -> None:
    select_rows(pane, row_of_minute(pane, 2))  # a dry run of a new release

    assert not pane.re_release_action.isEnabled()
    assert not pane.copy_code_action.isEnabled()
    assert pane.details_action.isEnabled()


def test_copy_release_codes(pane: HistoryPane) -> None:
    select_rows(pane, row_of_minute(pane, 1), row_of_minute(pane, 2))

    pane.copy_code_action.trigger()

    assert QGuiApplication.clipboard().text() == "REL0001"


class UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_open_launch_link(pane: HistoryPane) -> None:
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("https", catcher, "open")
    try:
        select_rows(pane, row_of_minute(pane, 3))
        assert not pane.open_link_action.isEnabled()

        select_rows(pane, row_of_minute(pane, 1))
        assert pane.open_link_action.isEnabled()
        pane.open_link_action.trigger()
    finally:
        QDesktopServices.unsetUrlHandler("https")

    assert [url.toString() for url in catcher.urls] == [
        "https://learning.example/launch/1"
    ]


def test_download_only_for_packages(pane: HistoryPane, qtbot: QtBot) -> None:
    select_rows(pane, row_of_minute(pane, 4))  # live scorm, outcome unknown
    assert not pane.download_action.isEnabled()
    select_rows(pane, row_of_minute(pane, 3))  # online-public
    assert not pane.download_action.isEnabled()

    select_rows(pane, row_of_minute(pane, 1))  # live scorm, complete
    assert pane.download_action.isEnabled()
    with qtbot.waitSignal(pane.download_requested, timeout=1000) as blocker:
        pane.download_action.trigger()

    assert blocker.args[0].release_code == "REL0001"


def test_details_saves_note(
    pane: HistoryPane, qtbot: QtBot, store: HistoryStore
) -> None:
    select_rows(pane, row_of_minute(pane, 1))
    attempt_id = pane.model.attempt(row_of_minute(pane, 1)).id
    assert attempt_id is not None

    dialog = pane.show_details()
    assert isinstance(dialog, AttemptDetailsDialog)
    assert dialog.isVisible()
    dialog.note_edit.setPlainText("Loaded into Moodle, course FS-101")
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    assert store.get(attempt_id).destination_note == "Loaded into Moodle, course FS-101"
    row = pane.model.row_of(attempt_id)
    assert row is not None
    assert pane.model.attempt(row).destination_note.startswith("Loaded into Moodle")


def test_details_close_discards_note(
    pane: HistoryPane, qtbot: QtBot, store: HistoryStore, runner: TaskRunner
) -> None:
    select_rows(pane, row_of_minute(pane, 1))
    attempt_id = pane.model.attempt(row_of_minute(pane, 1)).id
    assert attempt_id is not None
    dialog = pane.show_details()
    assert dialog is not None

    dialog.note_edit.setPlainText("not saved")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Close).click()
    assert runner.wait_for_done(5000)
    qtbot.wait(10)

    assert store.get(attempt_id).destination_note == ""


def test_details_lists_every_field(pane: HistoryPane) -> None:
    select_rows(pane, row_of_minute(pane, 3))
    dialog = pane.show_details()
    assert dialog is not None

    names = {label.accessibleName() for label in dialog.findChildren(QWidget)}

    for expected in ("Release mode", "Server message", "LRS endpoint", "Batch"):
        assert expected in names


def test_delete_after_confirm(
    pane: HistoryPane, qtbot: QtBot, store: HistoryStore
) -> None:
    select_rows(pane, row_of_minute(pane, 2), row_of_minute(pane, 4))

    box = pane.confirm_delete_selected()
    assert box is not None
    assert "Delete 2 attempts" in box.text()
    delete_button = next(
        button
        for button in box.buttons()
        if box.buttonRole(button) == QMessageBox.ButtonRole.DestructiveRole
    )
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        delete_button.click()
    wait_idle(qtbot, pane)

    assert store.count() == 3
    assert pane.model.rowCount() == 3
    assert pane.count_label.text() == "3 attempts"


def test_delete_cancelled(
    pane: HistoryPane, qtbot: QtBot, store: HistoryStore, runner: TaskRunner
) -> None:
    select_rows(pane, row_of_minute(pane, 2))

    box = pane.confirm_delete_selected()
    assert box is not None
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert runner.wait_for_done(5000)
    qtbot.wait(10)

    assert store.count() == 5


def test_export_csv_with_filter(
    pane: HistoryPane, qtbot: QtBot, tmp_path: Path
) -> None:
    with qtbot.waitSignal(pane.model.loaded, timeout=5000):
        pane.failed_only_box.setChecked(True)
    target = tmp_path / "failed.csv"

    with qtbot.waitSignal(pane.exported, timeout=5000) as blocker:
        pane.export_csv_to(target)

    assert blocker.args == [str(target), 2]
    with target.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["outcome"] for row in rows] == ["outcome-unknown", "failed"]
    assert "Exported 2 attempts" in pane.status_label.text()


def test_context_menu_lists_actions(pane: HistoryPane) -> None:
    actions = pane.context_menu.actions()

    for action in [*pane.row_actions, pane.export_action]:
        assert action in actions


def test_return_key_opens_details(pane: HistoryPane, qtbot: QtBot) -> None:
    select_rows(pane, row_of_minute(pane, 3))
    pane.table.setFocus()

    qtbot.keyClick(pane.table, Qt.Key.Key_Return)

    dialogs = pane.findChildren(AttemptDetailsDialog)
    assert len(dialogs) == 1
    assert dialogs[0].attempt.project_name == "Onboarding"


def test_delete_key_in_search_box(pane: HistoryPane, qtbot: QtBot) -> None:
    select_rows(pane, row_of_minute(pane, 3))
    pane.search_box.setText("abc")
    pane.search_box.setFocus()
    pane.search_box.setCursorPosition(0)

    qtbot.keyClick(pane.search_box, Qt.Key.Key_Delete)

    assert pane.search_box.text() == "bc"
    assert pane.findChildren(QMessageBox) == []


# Accessibility


def test_inputs_have_names_and_tab_order(pane: HistoryPane) -> None:
    for widget in (
        pane.search_box,
        pane.live_only_box,
        pane.failed_only_box,
        pane.table,
    ):
        assert widget.accessibleName()

    # The focus chain also contains widgets that Tab skips, such as the search box's
    # clear button, so only those that take focus by Tab are kept.
    order: list[QWidget] = [pane.search_box]
    widget: QWidget = pane.search_box
    while len(order) < 4:
        widget = widget.nextInFocusChain()
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.isVisible():
            order.append(widget)
    assert order == [
        pane.search_box,
        pane.live_only_box,
        pane.failed_only_box,
        pane.table,
    ]
