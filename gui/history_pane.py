"""The history pane: every release attempt, searchable, with actions on the selection.

Every read and write of the store runs on the `TaskRunner` (see `gui.history_model`
for the measured query times), so a search over a long history does not block the
window.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.history import Attempt, HistoryStore
from gui.history_model import (
    CODE_COLUMN,
    MODE_COLUMN,
    OUTCOME_COLUMN,
    PROJECT_COLUMN,
    RUN_COLUMN,
    TIME_COLUMN,
    HistoryModel,
    OwnedTasks,
    mode_label,
)
from gui.tasks import TaskRunner

log = logging.getLogger(__name__)

#: Milliseconds the search waits after the last keystroke before it queries.
SEARCH_DELAY_MS = 150

EMPTY_HISTORY_TEXT = (
    "No release attempts yet.\nEvery release and dry run you make is recorded here."
)
NO_MATCH_TEXT = "No release attempts match the search and filters."


class HistoryPane(QWidget):
    """The list of release attempts with search, filters and actions on the selection.

    Signals:
        re_release_requested(attempt): the user asked to re-release the release
            named by the attempt's `re_release_target`.
        download_requested(attempt): the user asked to download the package of a live,
            complete SCORM or offline-backup release.
        exported(path, count): a CSV export finished and wrote count rows to path.
    """

    re_release_requested = Signal(object)
    download_requested = Signal(object)
    exported = Signal(str, int)

    def __init__(
        self,
        store: HistoryStore,
        runner: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._tasks = OwnedTasks(runner, self)
        self._selected_ids_to_restore: list[int] = []
        self.model = HistoryModel(store, runner, parent=self)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filters)

        self._build_filter_row()
        self._build_table()
        self._build_actions()
        self._build_layout()

        self.model.loaded.connect(self.on_model_loaded)
        self.model.count_changed.connect(self.on_model_count_changed)
        self.model.load_failed.connect(self.on_model_load_failed)
        self.table.selectionModel().selectionChanged.connect(self.update_actions)
        self.update_actions()
        self.model.reload()

    # Building

    def _build_filter_row(self) -> None:
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search project, release code, description")
        self.search_box.setAccessibleName("Search the release history")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.textChanged.connect(self.on_search_text_changed)

        self.live_only_box = QCheckBox("&Live only")
        self.live_only_box.setAccessibleName("Show live releases only")
        self.live_only_box.toggled.connect(self.apply_filters)

        self.failed_only_box = QCheckBox("&Failed only")
        self.failed_only_box.setAccessibleName(
            "Show failed attempts and attempts with an unknown outcome only"
        )
        self.failed_only_box.toggled.connect(self.apply_filters)

        self.count_label = QLabel()
        self.count_label.setAccessibleName("Number of matching attempts")
        self.status_label = QLabel()
        self.status_label.setAccessibleName("History status")
        self.status_label.setWordWrap(True)

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setAccessibleName("Release history")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Widths from sample texts rather than ResizeToContents, which would measure
        # rows as pages arrive. The project name takes whatever room is left.
        metrics = self.table.fontMetrics()
        samples = {
            TIME_COLUMN: "2026-12-04 16:01:33",
            MODE_COLUMN: "Online – private",
            CODE_COLUMN: "6b12e3d5da78a",
            RUN_COLUMN: "Live or dry run",
            OUTCOME_COLUMN: "Outcome unknown",
        }
        for column, sample in samples.items():
            header.resizeSection(column, metrics.horizontalAdvance(sample) + 24)
        header.setSectionResizeMode(PROJECT_COLUMN, QHeaderView.ResizeMode.Stretch)
        # The default order, newest first, is set on the header before sorting is
        # enabled, so enabling it does not start a second query.
        header.setSortIndicator(TIME_COLUMN, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self.on_table_context_menu)
        self.table.doubleClicked.connect(self.on_table_double_clicked)

        self.empty_label = QLabel(EMPTY_HISTORY_TEXT)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAccessibleName("Empty release history")

        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty_label)

    def _build_actions(self) -> None:
        self.re_release_action = self._table_action(
            "&Re-release…", "Ctrl+R", self.request_re_release
        )
        self.copy_code_action = self._table_action(
            "&Copy release code", QKeySequence.StandardKey.Copy, self.copy_release_code
        )
        self.open_link_action = self._table_action(
            "&Open launch link", "Ctrl+O", self.open_launch_link
        )
        self.details_action = self._table_action(
            "Show &details…", "Return", self.show_details
        )
        self.download_action = self._table_action(
            "Do&wnload package…", "Ctrl+D", self.request_download
        )
        self.delete_action = self._table_action(
            "De&lete…", QKeySequence.StandardKey.Delete, self.confirm_delete_selected
        )

        self.export_action = QAction("&Export to CSV…", self)
        self.export_action.setShortcut("Ctrl+E")
        self.export_action.setShortcutContext(
            Qt.ShortcutContext.WidgetWithChildrenShortcut
        )
        self.export_action.triggered.connect(self.export_csv)
        self.addAction(self.export_action)

        find_action = QAction("Find", self)
        find_action.setShortcut(QKeySequence.StandardKey.Find)
        find_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find_action.triggered.connect(self.focus_search)
        self.addAction(find_action)

        self.row_actions = [
            self.re_release_action,
            self.copy_code_action,
            self.open_link_action,
            self.details_action,
            self.download_action,
            self.delete_action,
        ]
        self.context_menu = QMenu(self)
        self.context_menu.addActions(self.row_actions)
        self.context_menu.addSeparator()
        self.context_menu.addAction(self.export_action)

    def _table_action(
        self,
        text: str,
        shortcut: str | QKeySequence.StandardKey,
        slot: Callable[[], object],
    ) -> QAction:
        # The shortcuts act only while the table has focus, so that Delete, Return
        # and Ctrl+C keep their usual meaning in the search box.
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(slot)
        self.table.addAction(action)
        return action

    def _build_layout(self) -> None:
        filter_row = QHBoxLayout()
        search_label = QLabel("&Search:")
        search_label.setBuddy(self.search_box)
        filter_row.addWidget(search_label)
        filter_row.addWidget(self.search_box, 1)
        filter_row.addWidget(self.live_only_box)
        filter_row.addWidget(self.failed_only_box)
        filter_row.addWidget(self.count_label)

        button_row = QHBoxLayout()
        self.buttons: list[QToolButton] = []
        for action in [*self.row_actions, self.export_action]:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button_row.addWidget(button)
            self.buttons.append(button)
        button_row.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addLayout(filter_row)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.status_label)
        layout.addLayout(button_row)

        chain: list[QWidget] = [
            self.search_box,
            self.live_only_box,
            self.failed_only_box,
            self.table,
            *self.buttons,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    # Loading and filtering

    @Slot()
    def refresh(self) -> None:
        """Query the history again, keeping the loaded rows and the selection."""
        self._selected_ids_to_restore = [
            attempt.id for attempt in self.selected_attempts() if attempt.id is not None
        ]
        self.model.reload(keep_loaded=True)

    @Slot(str)
    def on_search_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    @Slot()
    def apply_filters(self) -> None:
        """Query with the search text and check boxes as they are now."""
        self._search_timer.stop()
        self.model.set_filters(
            self.search_box.text(),
            self.live_only_box.isChecked(),
            self.failed_only_box.isChecked(),
        )

    @Slot()
    def focus_search(self) -> None:
        self.search_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_box.selectAll()

    @Slot()
    def on_model_loaded(self) -> None:
        if self.model.rowCount() == 0:
            filtered = self.model.query.is_filtered
            self.empty_label.setText(NO_MATCH_TEXT if filtered else EMPTY_HISTORY_TEXT)
            self.stack.setCurrentWidget(self.empty_label)
        else:
            self.stack.setCurrentWidget(self.table)
        self._restore_selection()
        self.update_actions()

    @Slot(int)
    def on_model_count_changed(self, count: int) -> None:
        noun = "attempt" if count == 1 else "attempts"
        self.count_label.setText(f"{count:,} {noun}")

    @Slot(str)
    def on_model_load_failed(self, message: str) -> None:
        self.status_label.setText(message)

    def _restore_selection(self) -> None:
        ids, self._selected_ids_to_restore = self._selected_ids_to_restore, []
        selection = self.table.selectionModel()
        for attempt_id in ids:
            row = self.model.row_of(attempt_id)
            if row is not None:
                selection.select(
                    self.model.index(row, 0),
                    selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
                )

    # Selection and actions

    def selected_attempts(self) -> list[Attempt]:
        """Return the selected attempts in table order."""
        rows = sorted(
            index.row() for index in self.table.selectionModel().selectedRows()
        )
        return [self.model.attempt(row) for row in rows]

    def _single_selected(self) -> Attempt | None:
        attempts = self.selected_attempts()
        return attempts[0] if len(attempts) == 1 else None

    @Slot()
    def update_actions(self) -> None:
        """Enable each action that applies to the current selection."""
        attempts = self.selected_attempts()
        single = attempts[0] if len(attempts) == 1 else None
        self.re_release_action.setEnabled(
            single is not None and bool(single.re_release_target)
        )
        self.copy_code_action.setEnabled(
            any(attempt.release_code for attempt in attempts)
        )
        self.open_link_action.setEnabled(single is not None and bool(single.launch_url))
        self.details_action.setEnabled(single is not None)
        self.download_action.setEnabled(single is not None and single.has_package)
        self.delete_action.setEnabled(bool(attempts))

    @Slot()
    def request_re_release(self) -> None:
        attempt = self._single_selected()
        if attempt is not None and attempt.re_release_target:
            self.re_release_requested.emit(attempt)

    @Slot()
    def request_download(self) -> None:
        attempt = self._single_selected()
        if attempt is not None and attempt.has_package:
            self.download_requested.emit(attempt)

    @Slot()
    def copy_release_code(self) -> None:
        """Copy the release codes of the selected attempts, one per line."""
        codes = [a.release_code for a in self.selected_attempts() if a.release_code]
        if codes:
            QGuiApplication.clipboard().setText("\n".join(codes))

    @Slot()
    def open_launch_link(self) -> None:
        attempt = self._single_selected()
        if attempt is None or not attempt.launch_url:
            return
        url = QUrl(attempt.launch_url)
        if url.scheme() not in ("http", "https"):
            self.status_label.setText(
                f"The launch link {attempt.launch_url!r} is not a web address."
            )
            return
        if not QDesktopServices.openUrl(url):
            self.status_label.setText(
                f"Could not open {attempt.launch_url} in a browser. Copy it from the "
                "attempt's details instead."
            )

    @Slot()
    def show_details(self) -> AttemptDetailsDialog | None:
        """Open the details of the selected attempt; return the dialog."""
        attempt = self._single_selected()
        if attempt is None:
            return None
        dialog = AttemptDetailsDialog(attempt, self)
        dialog.note_saved.connect(self.save_destination_note)
        # NOTE: with PySide6 6.12, deferred deletes such as WA_DeleteOnClose crashed
        # benchmarks/bench_history.py when a worker thread ran Python's cyclic garbage
        # collector at the same moment. Running the collector only on the GUI thread
        # prevented the crash, and this pane does not do that itself.
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    @Slot(QModelIndex)
    def on_table_double_clicked(self, _index: QModelIndex) -> None:
        self.show_details()

    @Slot(QPoint)
    def on_table_context_menu(self, position: QPoint) -> None:
        self.context_menu.popup(self.table.viewport().mapToGlobal(position))

    # Writing

    @Slot(int, str)
    def save_destination_note(self, attempt_id: int, note: str) -> None:
        def save(_context: object) -> None:
            self._store.update(attempt_id, destination_note=note)

        self._tasks.run(
            save,
            on_success=lambda _result: self.refresh(),
            on_failure=lambda error: self._show_error("Could not save the note", error),
            label="save destination note",
        )

    @Slot()
    def confirm_delete_selected(self) -> QMessageBox | None:
        """Ask before deleting the selected attempts; return the open question box."""
        ids = [a.id for a in self.selected_attempts() if a.id is not None]
        if not ids:
            return None
        noun = "attempt" if len(ids) == 1 else "attempts"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete from history",
            f"Delete {len(ids)} {noun} from the history? The releases on Elucidat "
            "are not affected.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        delete_button = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def on_finished(_result: int) -> None:
            if box.clickedButton() is delete_button:
                self.delete_attempts(ids)

        box.finished.connect(on_finished)
        box.open()
        return box

    def delete_attempts(self, ids: list[int]) -> None:
        self._tasks.run(
            lambda _context: self._store.delete(ids),
            on_success=lambda _count: self.refresh(),
            on_failure=lambda error: self._show_error("Could not delete", error),
            label="delete history rows",
        )

    @Slot()
    def export_csv(self) -> None:
        """Ask for a file name, then export the attempts that the filters show."""
        path, _filter = QFileDialog.getSaveFileName(
            self,
            "Export history to CSV",
            str(Path.home() / "release-history.csv"),
            "CSV files (*.csv)",
        )
        if path:
            self.export_csv_to(Path(path))

    def export_csv_to(self, path: Path) -> None:
        """Write every attempt that matches the current search and filters to path."""
        query = self.model.query
        self.status_label.setText(f"Exporting to {path}…")

        def on_success(count: int) -> None:
            self.status_label.setText(f"Exported {count:,} attempts to {path}.")
            self.exported.emit(str(path), count)

        self._tasks.run(
            lambda _context: self._store.export_csv(path, query),
            on_success=on_success,
            on_failure=lambda error: self._show_error("Export failed", error),
            label="export history",
        )

    def _show_error(self, title: str, error: BaseException) -> None:
        log.error("%s: %s", title, error, exc_info=error)
        self.status_label.setText(f"{title}: {error}")
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, f"{title}: {error}", parent=self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()


class AttemptDetailsDialog(QDialog):
    """Every field of one attempt, with the destination note editable.

    Signals:
        note_saved(attempt_id, note): the user saved a changed destination note.
    """

    note_saved = Signal(int, str)

    def __init__(self, attempt: Attempt, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attempt = attempt
        self.setWindowTitle(f"Release attempt {attempt.id}")

        form = QFormLayout()
        for label, value in detail_rows(attempt):
            text = QLabel(value or "–")
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setWordWrap(True)
            text.setAccessibleName(label)
            form.addRow(f"{label}:", text)

        self.note_edit = QPlainTextEdit(attempt.destination_note)
        self.note_edit.setAccessibleName("Destination note")
        self.note_edit.setPlaceholderText(
            "Where this release went, for example the LMS and course it was loaded into"
        )
        self.note_edit.setTabChangesFocus(True)
        note_label = QLabel("Destination &note:")
        note_label.setBuddy(self.note_edit)
        form.addRow(note_label, self.note_edit)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

    def accept(self) -> None:
        note = self.note_edit.toPlainText()
        if self.attempt.id is not None and note != self.attempt.destination_note:
            self.note_saved.emit(self.attempt.id, note)
        super().accept()


def detail_rows(attempt: Attempt) -> list[tuple[str, str]]:
    """Return the label and text of every field that the details dialog shows."""

    def number(value: int | None) -> str:
        return "" if value is None else str(value)

    return [
        ("Time (UTC)", attempt.time),
        ("Account", attempt.account),
        ("API base URL", attempt.base_url),
        ("Project", attempt.project_name),
        ("Project code", attempt.project_code),
        ("Release mode", mode_label(attempt.release_mode)),
        ("Re-release of", attempt.re_release_of),
        ("Release code", attempt.release_code),
        ("Description", attempt.description),
        ("Learner access", attempt.learner_access or "project's setting"),
        ("LRS endpoint", attempt.lrs_endpoint or "project's setting"),
        ("LRS user name", attempt.lrs_username),
        ("Live or dry run", "Dry run" if attempt.simulation else "Live"),
        ("Outcome", attempt.outcome.label),
        ("Server message", attempt.server_message),
        ("HTTP status", number(attempt.http_status)),
        ("Duration (ms)", number(attempt.duration_ms)),
        ("Version", number(attempt.version_number)),
        ("Launch link", attempt.launch_url),
        ("Package file", attempt.package_path),
        ("Batch", attempt.batch_id or ""),
    ]
