"""The batch tab: re-release many courses as one job.

Items come from the history, from a project's release list or from a CSV, and run
through `core.batch.BatchRunner`, whose own threads send them. The runner's callbacks
arrive on those threads, so `_BatchRelay` turns them into queued signals and every
widget and model change happens on the GUI thread. Project and release lists load
through the window's `TaskRunner`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.batch import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    BatchItem,
    BatchRunner,
    BatchSettings,
    BatchSummary,
    ItemState,
    RetryNotAllowedError,
)
from core.batch_csv import BatchCsvError, parse_batch_csv, write_summary_csv
from core.errors import ConfigurationError, InputError, ReleaseDeskError
from core.follow import PollSchedule
from core.history import Attempt, HistoryQuery
from core.models import LearnerAccess, Project, Release, ReleaseMode
from core.validation import MAX_DESCRIPTION_LENGTH, Level, check_lrs_url
from gui.context import AppContext
from gui.dialogs import show_error
from gui.tasks import TaskContext, TaskHandle, TaskRunner

log = logging.getLogger(__name__)

#: History rows read, newest first, when offering releases to add.
HISTORY_PICK_LIMIT = 1000

#: Seconds that closing the window waits for the batch threads to end.
SHUTDOWN_WAIT_SECONDS = 10.0

KEEP_OWN_TEXT = "Each keeps its own"

LEARNER_PROGRESS_WARNING = (
    "Re-releasing resets the saved progress of learners who are part-way through a "
    "course: they start again from the beginning."
)

# Background and text colours per state. The state is also written as text.
_STATE_COLOURS = {
    ItemState.WAITING: ("#eeeeee", "#333333"),
    ItemState.SENDING: ("#e3f2fd", "#0d47a1"),
    ItemState.PUBLISHING: ("#e3f2fd", "#0d47a1"),
    ItemState.DOWNLOADING: ("#e3f2fd", "#0d47a1"),
    ItemState.SUCCEEDED: ("#e8f5e9", "#1b5e20"),
    ItemState.COMPLETE: ("#e8f5e9", "#1b5e20"),
    ItemState.FAILED: ("#ffebee", "#b00020"),
    ItemState.OUTCOME_UNKNOWN: ("#fff3e0", "#e65100"),
    ItemState.CANCELLED: ("#eeeeee", "#555555"),
}

_AnyIndex = QModelIndex | QPersistentModelIndex


class BatchView(QWidget):
    """The list of items, the shared settings, and the controls of one batch.

    Signals:
        batch_started(batch_id): a batch began sending.
        batch_finished(summary): a batch has no work left; the history has new rows.
    """

    batch_started = Signal(str)
    batch_finished = Signal(object)

    def __init__(
        self,
        context: AppContext,
        runner: TaskRunner,
        parent: QWidget | None = None,
        *,
        poll_schedule: PollSchedule | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.tasks = runner
        self.poll_schedule = poll_schedule or PollSchedule()
        self.batch: BatchRunner | None = None
        self.model = BatchItemsModel(self)
        self.relay = _BatchRelay(self)
        self.relay.item_changed.connect(
            self.on_batch_item_changed, Qt.ConnectionType.QueuedConnection
        )
        self.relay.finished.connect(
            self.on_batch_finished, Qt.ConnectionType.QueuedConnection
        )
        self._handles: set[TaskHandle[Any]] = set()
        self.picker: ReleasePickerDialog | None = None
        self.csv_dialog: CsvDialog | None = None
        self.live_dialog: LiveBatchDialog | None = None
        self._build()
        self._connect()
        self.update_actions()

    # Building -----------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)

        sources = QHBoxLayout()
        self.from_history_button = QPushButton("Add from &history…")
        self.from_project_button = QPushButton("Add from a &project…")
        self.paste_csv_button = QPushButton("Paste or load &CSV…")
        self.remove_button = QPushButton("&Remove selected")
        self.clear_button = QPushButton("C&lear")
        for button in (
            self.from_history_button,
            self.from_project_button,
            self.paste_csv_button,
            self.remove_button,
            self.clear_button,
        ):
            sources.addWidget(button)
        sources.addStretch(1)
        layout.addLayout(sources)

        self.table = QTableView()
        self.table.setAccessibleName("Batch items")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout.addWidget(self.table, 1)

        layout.addWidget(self._build_settings())

        controls = QHBoxLayout()
        self.dry_run_button = QPushButton("&Dry run batch")
        self.live_button = QPushButton("Run &live…")
        self.pause_button = QPushButton("&Pause")
        self.resume_button = QPushButton("Res&ume")
        self.cancel_button = QPushButton("Ca&ncel batch")
        self.retry_button = QPushButton("Re&try failed item")
        self.export_button = QPushButton("&Export summary…")
        for button in (
            self.dry_run_button,
            self.live_button,
            self.pause_button,
            self.resume_button,
            self.cancel_button,
            self.retry_button,
            self.export_button,
        ):
            controls.addWidget(button)
        controls.addStretch(1)
        layout.addLayout(controls)

        self.status_label = QLabel("Add the releases to re-release.")
        self.status_label.setAccessibleName("Batch status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        layout.addWidget(self.status_label)

    def _build_settings(self) -> QGroupBox:
        group = QGroupBox("Settings for every item")
        form = QFormLayout(group)

        self.same_description_check = QCheckBox("Same description for every item:")
        self.description_edit = QLineEdit()
        self.description_edit.setAccessibleName("Shared description")
        self.description_edit.setPlaceholderText(KEEP_OWN_TEXT)
        form.addRow(self.same_description_check, self.description_edit)

        self.access_combo = QComboBox()
        self.access_combo.setAccessibleName("Shared learner access")
        self.access_combo.addItem(KEEP_OWN_TEXT, "")
        for access in LearnerAccess:
            self.access_combo.addItem(access.label, str(access))
        form.addRow("Learner access:", self.access_combo)

        self.same_lrs_check = QCheckBox("Same xAPI LRS for every item:")
        lrs_row = QHBoxLayout()
        self.lrs_url_edit = QLineEdit()
        self.lrs_url_edit.setAccessibleName("Shared LRS endpoint URL")
        self.lrs_url_edit.setPlaceholderText("https://lrs.example.com/xapi/")
        self.lrs_username_edit = QLineEdit()
        self.lrs_username_edit.setAccessibleName("Shared LRS username")
        self.lrs_username_edit.setPlaceholderText("Username")
        self.lrs_password_edit = QLineEdit()
        self.lrs_password_edit.setAccessibleName("Shared LRS password")
        self.lrs_password_edit.setPlaceholderText("Password")
        self.lrs_password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        lrs_row.addWidget(self.lrs_url_edit, 2)
        lrs_row.addWidget(self.lrs_username_edit, 1)
        lrs_row.addWidget(self.lrs_password_edit, 1)
        form.addRow(self.same_lrs_check, lrs_row)

        after_row = QHBoxLayout()
        self.follow_check = QCheckBox("&Wait until each live release is published")
        self.follow_check.setChecked(True)
        self.download_check = QCheckBox("Save packages to:")
        self.download_edit = QLineEdit()
        self.download_edit.setAccessibleName("Package folder")
        self.download_edit.setText(str(Path.home() / "Downloads"))
        self.choose_folder_button = QPushButton("Choose…")
        after_row.addWidget(self.follow_check)
        after_row.addWidget(self.download_check)
        after_row.addWidget(self.download_edit, 1)
        after_row.addWidget(self.choose_folder_button)
        form.addRow("After sending:", after_row)

        self.concurrency_spin = QSpinBox()
        self.concurrency_spin.setAccessibleName("Releases sent at the same time")
        self.concurrency_spin.setRange(1, MAX_CONCURRENCY)
        self.concurrency_spin.setValue(DEFAULT_CONCURRENCY)
        self.concurrency_spin.setToolTip(
            "Elucidat prepares one release at a time per account, so sending more at "
            "once rarely makes the batch finish sooner."
        )
        form.addRow("Sent at the same time:", self.concurrency_spin)
        self._sync_setting_fields()
        return group

    def _connect(self) -> None:
        self.from_history_button.clicked.connect(self.pick_from_history)
        self.from_project_button.clicked.connect(self.pick_from_project)
        self.paste_csv_button.clicked.connect(self.paste_csv)
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button.clicked.connect(self.clear_items)
        self.dry_run_button.clicked.connect(lambda: self.start_batch(simulation=True))
        self.live_button.clicked.connect(self.confirm_live)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button.clicked.connect(self.retry_selected)
        self.export_button.clicked.connect(self.export_summary)
        self.choose_folder_button.clicked.connect(self.choose_download_folder)
        self.same_description_check.toggled.connect(self._sync_setting_fields)
        self.same_lrs_check.toggled.connect(self._sync_setting_fields)
        self.download_check.toggled.connect(self._sync_setting_fields)
        self.table.selectionModel().selectionChanged.connect(self.update_actions)

    def _sync_setting_fields(self) -> None:
        self.description_edit.setEnabled(self.same_description_check.isChecked())
        for edit in (self.lrs_url_edit, self.lrs_username_edit, self.lrs_password_edit):
            edit.setEnabled(self.same_lrs_check.isChecked())
        self.download_edit.setEnabled(self.download_check.isChecked())
        self.choose_folder_button.setEnabled(self.download_check.isChecked())

    # State --------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self.batch is not None and not self.batch.is_idle

    def set_download_folder(self, folder: Path) -> None:
        self.download_edit.setText(str(folder))

    def update_actions(self) -> None:
        running = self.is_running
        has_items = self.model.rowCount() > 0
        for widget in (
            self.from_history_button,
            self.from_project_button,
            self.paste_csv_button,
            self.clear_button,
        ):
            widget.setEnabled(not running)
        self.remove_button.setEnabled(not running and bool(self.selected_rows()))
        self.dry_run_button.setEnabled(has_items and not running)
        self.live_button.setEnabled(has_items and not running)
        paused = self.batch is not None and self.batch.is_paused
        self.pause_button.setEnabled(running and not paused)
        self.resume_button.setEnabled(running and paused)
        self.cancel_button.setEnabled(running)
        self.retry_button.setEnabled(self._retryable_row() is not None)
        self.export_button.setEnabled(self.batch is not None and not running)

    def selected_rows(self) -> list[int]:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return sorted(rows)

    def _retryable_row(self) -> int | None:
        if self.batch is None:
            return None
        rows = self.selected_rows()
        if len(rows) != 1 or rows[0] >= len(self.batch.items):
            return None
        return rows[0] if self.batch.can_retry(rows[0]) else None

    # Adding items -------------------------------------------------------------------

    def add_items(self, items: Sequence[BatchItem]) -> int:
        """Append the items whose release code is not listed yet; return the count."""
        if self.is_running:
            return 0
        self._forget_finished_batch()
        listed = {item.release_code for item in self.model.items}
        added = []
        for item in items:
            if item.release_code in listed:
                continue
            listed.add(item.release_code)
            added.append(item.as_waiting())
        self.model.append(added)
        skipped = len(items) - len(added)
        text = f"Added {len(added)} release{'s' if len(added) != 1 else ''}."
        if skipped:
            text += f" Skipped {skipped} already in the list."
        self.status_label.setText(text)
        self.update_actions()
        return len(added)

    def remove_selected(self) -> None:
        if self.is_running:
            return
        self._forget_finished_batch()
        self.model.remove_rows(self.selected_rows())
        self.update_actions()

    def clear_items(self) -> None:
        if self.is_running:
            return
        self._forget_finished_batch()
        self.model.set_items([])
        self.status_label.setText("Add the releases to re-release.")
        self.update_actions()

    def pick_from_history(self) -> ReleasePickerDialog:
        """Offer the releases in the history, newest first, one row per release."""
        picker = self._open_picker("Add releases from the history", projects=False)
        history = self.context.history

        def load(_context: TaskContext) -> list[Attempt]:
            return history.search(HistoryQuery(limit=HISTORY_PICK_LIMIT))

        self._run(
            load,
            on_success=lambda rows: picker.set_candidates(history_candidates(rows)),
            on_failure=lambda error: picker.show_failure(error),
            label="Read the history for the batch",
        )
        return picker

    def pick_from_project(self) -> ReleasePickerDialog:
        """Offer the releases of one project, picked from the account's projects."""
        picker = self._open_picker("Add releases from a project", projects=True)
        picker.project_chosen.connect(
            lambda project: self._load_releases(picker, project)
        )
        context = self.context

        def load(_context: TaskContext) -> list[Project]:
            return context.client().list_projects()

        self._run(
            load,
            on_success=picker.set_projects,
            on_failure=picker.show_failure,
            label="List the projects for the batch",
        )
        return picker

    def _load_releases(self, picker: ReleasePickerDialog, project: Project) -> None:
        context = self.context

        def load(_context: TaskContext) -> list[Release]:
            return context.client().list_releases(project.project_code)

        def show(releases: list[Release]) -> None:
            # A reply for a project the user has since moved away from is dropped,
            # or it would replace the list of the project now chosen.
            if picker.current_project_code() == project.project_code:
                picker.set_candidates(project_candidates(project, releases))

        picker.show_loading()
        self._run(
            load,
            on_success=show,
            on_failure=picker.show_failure,
            label=f"List the releases of project {project.project_code}",
        )

    def _open_picker(self, title: str, *, projects: bool) -> ReleasePickerDialog:
        picker = ReleasePickerDialog(title, with_projects=projects, parent=self)
        picker.accepted.connect(lambda: self.add_items(picker.selected_items()))
        picker.finished.connect(picker.deleteLater)
        self.picker = picker
        picker.open()
        return picker

    def paste_csv(self) -> CsvDialog:
        dialog = CsvDialog(self)
        dialog.accepted.connect(lambda: self._add_from_csv(dialog))
        dialog.finished.connect(dialog.deleteLater)
        self.csv_dialog = dialog
        dialog.open()
        return dialog

    def _add_from_csv(self, dialog: CsvDialog) -> None:
        self.add_items(dialog.items)
        if dialog.warnings:
            self.status_label.setText(
                self.status_label.text() + " Warnings: " + " ".join(dialog.warnings)
            )

    # Running ------------------------------------------------------------------------

    def settings(self, *, simulation: bool) -> BatchSettings:
        """Return the shared settings, or raise InputError naming the bad field."""
        description = None
        if self.same_description_check.isChecked():
            description = self.description_edit.text()
            if len(description) > MAX_DESCRIPTION_LENGTH:
                raise InputError(
                    f"The shared description has {len(description)} characters; "
                    f"shorten it to {MAX_DESCRIPTION_LENGTH} or fewer."
                )
        access_value = self.access_combo.currentData()
        learner_access = LearnerAccess(access_value) if access_value else None

        lrs_url = lrs_username = lrs_password = None
        if self.same_lrs_check.isChecked():
            lrs_url = self.lrs_url_edit.text()
            if not lrs_url:
                raise InputError(
                    "The shared LRS endpoint URL is empty. Enter it, or untick "
                    "“Same xAPI LRS for every item”."
                )
            for message in check_lrs_url(lrs_url):
                if message.level is Level.ERROR:
                    raise InputError(message.text)
            lrs_username = self.lrs_username_edit.text() or None
            lrs_password = self.lrs_password_edit.text() or None

        download_dir = None
        if self.download_check.isChecked():
            folder = self.download_edit.text().strip()
            if not folder:
                raise InputError(
                    "The package folder is empty. Choose a folder, or untick "
                    "“Save packages to”."
                )
            download_dir = Path(folder).expanduser()
        return BatchSettings(
            simulation=simulation,
            follow=self.follow_check.isChecked(),
            download_dir=download_dir,
            description=description,
            learner_access=learner_access,
            lrs_endpoint_url=lrs_url,
            lrs_username=lrs_username,
            lrs_password=lrs_password,
            concurrency=self.concurrency_spin.value(),
            poll_schedule=self.poll_schedule,
        )

    def confirm_live(self) -> LiveBatchDialog | None:
        """Ask once, listing every item, before a live batch starts."""
        if self.is_running or not self.model.items:
            return None
        try:
            self.settings(simulation=False)
        except ReleaseDeskError as error:
            show_error(self, error, action="Starting the batch")
            return None
        dialog = LiveBatchDialog(self.model.items, self)
        dialog.accepted.connect(lambda: self.start_batch(simulation=False))
        dialog.finished.connect(dialog.deleteLater)
        self.live_dialog = dialog
        dialog.open()
        return dialog

    def start_batch(self, *, simulation: bool) -> BatchRunner | None:
        """Start a new batch of every listed item; return it, or None if refused."""
        if self.is_running or not self.model.items:
            return None
        try:
            settings = self.settings(simulation=simulation)
            if self.context.credentials is None:
                raise ConfigurationError(
                    self.context.credentials_problem
                    or "No Elucidat account is set up. Open Account > Manage "
                    "accounts to add one."
                )
        except ReleaseDeskError as error:
            show_error(self, error, action="Starting the batch")
            return None

        items = [item.as_waiting() for item in self.model.items]
        self.model.set_items(items)
        batch = BatchRunner(
            items,
            settings,
            self.context.service,
            on_item_changed=self.relay.item_changed.emit,
            on_finished=self.relay.finished.emit,
        )
        self.batch = batch
        mode = "Dry run" if simulation else "Live batch"
        self.status_label.setText(f"{mode} of {len(items)} releases: sending…")
        batch.start()
        self.batch_started.emit(batch.batch_id)
        self.update_actions()
        return batch

    def pause(self) -> None:
        if self.batch is not None:
            self.batch.pause()
            self.status_label.setText(
                "Paused: no new release is sent. Releases already sent go on."
            )
            self.update_actions()

    def resume(self) -> None:
        if self.batch is not None:
            self.batch.resume()
            self.status_label.setText("Resumed.")
            self.update_actions()

    def cancel(self) -> None:
        if self.batch is not None:
            self.batch.cancel()
            self.status_label.setText(
                "Cancelled: no new release is sent. What was sent stays sent."
            )
            self.update_actions()

    def retry_selected(self) -> QMessageBox | None:
        """Retry the selected item, after a confirmation if its outcome is unknown."""
        row = self._retryable_row()
        if row is None or self.batch is None:
            return None
        item = self.batch.item(row)
        if item.state is not ItemState.OUTCOME_UNKNOWN:
            self._retry(row, force=False)
            return None

        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Retry an item whose outcome is unknown?")
        box.setText(f"Release {item.release_code} may already have been re-released.")
        box.setInformativeText(
            "The connection was lost after the request was sent. Check the releases "
            f"of project {item.project_code} in Elucidat first. Retry only if it was "
            "not re-released."
        )
        retry_button = box.addButton("Retry anyway", QMessageBox.ButtonRole.AcceptRole)
        cancel_button = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel_button)
        box.setEscapeButton(cancel_button)

        def on_finished(_result: int) -> None:
            if box.clickedButton() is retry_button:
                self._retry(row, force=True)

        box.finished.connect(on_finished)
        box.open()
        return box

    def _retry(self, row: int, *, force: bool) -> None:
        assert self.batch is not None
        try:
            self.batch.retry(row, force=force)
        except RetryNotAllowedError as error:
            show_error(self, error, action="Retrying the item")
            return
        self.status_label.setText(f"Retrying item {row + 1}…")
        self.update_actions()

    def export_summary(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the batch summary", "batch-summary.csv", "CSV files (*.csv)"
        )
        if path:
            self.export_summary_to(Path(path))

    def export_summary_to(self, path: Path) -> bool:
        """Write the summary CSV; return False after showing why it failed."""
        try:
            write_summary_csv(self.model.items, path)
        except OSError as error:
            show_error(
                self,
                ReleaseDeskError(
                    f"Could not write {path}: {error.strerror or error}. Choose a "
                    "folder you can write to."
                ),
                action="Exporting the summary",
            )
            return False
        self.status_label.setText(f"Summary saved to {path}.")
        return True

    def choose_download_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Save packages in", self.download_edit.text()
        )
        if folder:
            self.download_edit.setText(folder)

    def shutdown(self) -> None:
        """Cancel a running batch and wait for its threads; call before closing."""
        if self.batch is None:
            return
        self.batch.cancel()
        if not self.batch.wait(SHUTDOWN_WAIT_SECONDS):
            log.warning(
                "Batch %s still had requests on their way at shutdown",
                self.batch.batch_id,
            )
        self.batch.join(SHUTDOWN_WAIT_SECONDS)

    def _forget_finished_batch(self) -> None:
        """Drop a finished batch once the list changes, so rows and items match."""
        if self.batch is not None and self.batch.is_idle:
            self.batch = None

    # Batch callbacks, on the GUI thread ---------------------------------------------

    @Slot(int, object)
    def on_batch_item_changed(self, index: int, item: BatchItem) -> None:
        self.model.update_item(index, item)
        self.update_actions()

    @Slot(object)
    def on_batch_finished(self, summary: BatchSummary) -> None:
        self.status_label.setText(summary_text(summary))
        self.update_actions()
        self.batch_finished.emit(summary)

    def _run(
        self,
        work: Any,
        *,
        on_success: Any,
        on_failure: Any,
        label: str,
    ) -> None:
        handle = self.tasks.run(
            work, on_success=on_success, on_failure=on_failure, label=label
        )
        self._handles.add(handle)
        handle.ended.connect(functools.partial(self._handles.discard, handle))


class _BatchRelay(QObject):
    """Carries the batch runner's callbacks from its threads to the GUI thread.

    Signals:
        item_changed(index, item): an item reached a new state.
        finished(summary): the batch has no work left.
    """

    item_changed = Signal(int, object)
    finished = Signal(object)


class BatchItemsModel(QAbstractTableModel):
    """The batch's items as table rows, with each state in colour and in words."""

    HEADERS = ("#", "Project", "Release code", "Mode", "State", "Details")
    STATE_COLUMN = 4

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.items: list[BatchItem] = []

    def set_items(self, items: Sequence[BatchItem]) -> None:
        self.beginResetModel()
        self.items = list(items)
        self.endResetModel()

    def append(self, items: Sequence[BatchItem]) -> None:
        if not items:
            return
        first = len(self.items)
        self.beginInsertRows(QModelIndex(), first, first + len(items) - 1)
        self.items.extend(items)
        self.endInsertRows()

    def remove_rows(self, rows: Sequence[int]) -> None:
        for row in sorted(rows, reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.items[row]
            self.endRemoveRows()

    def update_item(self, row: int, item: BatchItem) -> None:
        if row >= len(self.items):
            return
        self.items[row] = item
        self.dataChanged.emit(
            self.index(row, 0), self.index(row, len(self.HEADERS) - 1)
        )

    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            orientation is Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
        ):
            return self.HEADERS[section]
        return None

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.items[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return item_cell_text(index.row(), item, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == len(self.HEADERS) - 1:
            return item.message or None
        if column == self.STATE_COLUMN and role in (
            Qt.ItemDataRole.BackgroundRole,
            Qt.ItemDataRole.ForegroundRole,
        ):
            background, foreground = _STATE_COLOURS[item.state]
            colour = (
                background if role == Qt.ItemDataRole.BackgroundRole else foreground
            )
            return QBrush(QColor(colour))
        return None


def item_cell_text(row: int, item: BatchItem, column: int) -> str:
    """Return the text of one cell of the batch table."""
    if column == 0:
        return str(row + 1)
    if column == 1:
        if item.project_name:
            return f"{item.project_name} ({item.project_code})"
        return item.project_code
    if column == 2:
        return item.release_code
    if column == 3:
        return item.release_mode.label if item.release_mode else "From the release"
    if column == 4:
        return item.state.label
    return item.message


def summary_text(summary: BatchSummary) -> str:
    """Return the end-of-batch sentence: what succeeded, what failed and why."""
    mode = "Dry run" if summary.simulation else "Live batch"
    parts = [f"{mode} finished: {summary.succeeded} of {summary.total} succeeded"]
    text = ", ".join(parts + summary.other_counts()) + "."
    for index, item in summary.problems[:10]:
        text += f"\n{index + 1}. {item.release_code}: {item.message}"
    if len(summary.problems) > 10:
        text += f"\n… and {len(summary.problems) - 10} more; export the summary."
    return text


def history_candidates(attempts: Sequence[Attempt]) -> list[tuple[BatchItem, str]]:
    """Return one candidate per release in the attempts, the newest attempt first.

    The item leaves the description unset, so the release keeps its current one; the
    attempt's description is shown only to help recognise the release.
    """
    seen: set[str] = set()
    candidates = []
    for attempt in attempts:
        code = attempt.re_release_target
        if not code or code in seen:
            continue
        seen.add(code)
        try:
            mode: ReleaseMode | None = ReleaseMode(attempt.release_mode)
        except ValueError:
            mode = None
        item = BatchItem(
            project_code=attempt.project_code,
            release_code=code,
            release_mode=mode,
            project_name=attempt.project_name,
        )
        candidates.append((item, attempt.description))
    return candidates


def project_candidates(
    project: Project, releases: Sequence[Release]
) -> list[tuple[BatchItem, str]]:
    """Return one candidate per release of a project."""
    return [
        (
            BatchItem(
                project_code=project.project_code,
                release_code=release.release_code,
                release_mode=release.mode,
                project_name=project.name,
            ),
            release.description,
        )
        for release in releases
        if release.release_code
    ]


class ReleasePickerDialog(QDialog):
    """A searchable list of releases to add to the batch; several can be selected.

    Signals:
        project_chosen(project): the user picked a project whose releases to list.
    """

    project_chosen = Signal(object)

    COLUMNS = ("Project", "Release code", "Mode", "Description")

    def __init__(
        self, title: str, *, with_projects: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(760, 480)
        self._candidates: list[tuple[BatchItem, str]] = []
        self._projects: list[Project] = []
        layout = QVBoxLayout(self)

        self.project_combo = QComboBox()
        self.project_combo.setAccessibleName("Project")
        self.project_combo.setVisible(with_projects)
        self.project_combo.activated.connect(self._on_project_activated)
        layout.addWidget(self.project_combo)

        self.search_edit = QLineEdit()
        self.search_edit.setAccessibleName("Search releases")
        self.search_edit.setPlaceholderText("Search project, release code, description")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.apply_search)
        layout.addWidget(self.search_edit)

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setAccessibleName("Releases to add")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)

        self.message_label = QLabel("Loading…")
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label)

        buttons = QDialogButtonBox()
        self.select_all_button = buttons.addButton(
            "Select all shown", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.select_all_button.clicked.connect(self.select_all_shown)
        self.add_button = buttons.addButton(
            "Add selected", QDialogButtonBox.ButtonRole.AcceptRole
        )
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def set_projects(self, projects: list[Project]) -> None:
        self._projects = projects
        self.project_combo.clear()
        for project in projects:
            self.project_combo.addItem(f"{project.name} ({project.project_code})")
        if projects:
            self.project_combo.setCurrentIndex(0)
            self._on_project_activated(0)
        else:
            self.message_label.setText("The account has no projects.")

    def choose_project(self, project_code: str) -> None:
        for index, project in enumerate(self._projects):
            if project.project_code == project_code:
                self.project_combo.setCurrentIndex(index)
                self._on_project_activated(index)
                return
        raise LookupError(project_code)

    def current_project_code(self) -> str:
        index = self.project_combo.currentIndex()
        if 0 <= index < len(self._projects):
            return self._projects[index].project_code
        return ""

    def _on_project_activated(self, index: int) -> None:
        if 0 <= index < len(self._projects):
            self.project_chosen.emit(self._projects[index])

    def show_loading(self) -> None:
        self.message_label.setText("Loading…")

    def show_failure(self, error: BaseException) -> None:
        self.message_label.setText(f"Could not load the releases: {error}")

    def set_candidates(self, candidates: list[tuple[BatchItem, str]]) -> None:
        self._candidates = candidates
        self.table.setRowCount(0)
        self.table.setRowCount(len(candidates))
        for row, (item, description) in enumerate(candidates):
            cells = (
                item_cell_text(row, item, 1),
                item.release_code,
                item.release_mode.label if item.release_mode else "",
                description,
            )
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        if candidates:
            noun = "release" if len(candidates) == 1 else "releases"
            self.message_label.setText(
                f"{len(candidates)} {noun}. Select the ones to re-release."
            )
        else:
            self.message_label.setText("No releases to add.")
        self.apply_search()

    def apply_search(self) -> None:
        words = self.search_edit.text().casefold().split()
        for row, (item, description) in enumerate(self._candidates):
            text = " ".join(
                [item.project_code, item.project_name, item.release_code, description]
            ).casefold()
            self.table.setRowHidden(row, not all(word in text for word in words))

    def select_all_shown(self) -> None:
        for row in range(self.table.rowCount()):
            if not self.table.isRowHidden(row):
                self.table.selectRow(row)

    def selected_items(self) -> list[BatchItem]:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return [self._candidates[row][0] for row in rows]


class CsvDialog(QDialog):
    """Paste or load a CSV of releases; every bad row is shown before anything is
    added."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add releases from a CSV")
        self.resize(700, 460)
        self.items: list[BatchItem] = []
        self.warnings: list[str] = []
        layout = QVBoxLayout(self)

        layout.addWidget(
            QLabel(
                "One release per line, after a header line such as\n"
                "project_code,release_code,release_mode,description,learner_access,"
                "lrs_endpoint_url,lrs_username\n"
                "Only project_code and release_code are required. Blank lines and "
                "lines starting with # are skipped."
            )
        )
        self.text_edit = QPlainTextEdit()
        self.text_edit.setAccessibleName("CSV text")
        self.text_edit.setPlaceholderText("project_code,release_code\n")
        layout.addWidget(self.text_edit, 1)

        self.problems_label = QLabel()
        self.problems_label.setAccessibleName("CSV problems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #b00020;")
        self.problems_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        layout.addWidget(self.problems_label)

        buttons = QDialogButtonBox()
        self.load_button = buttons.addButton(
            "Load file…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.load_button.clicked.connect(self.load_file)
        self.add_button = buttons.addButton(
            "Add", QDialogButtonBox.ButtonRole.AcceptRole
        )
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def load_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load a CSV of releases", "", "CSV files (*.csv);;All files (*)"
        )
        if path:
            self.load_path(Path(path))

    def load_path(self, path: Path) -> None:
        try:
            self.text_edit.setPlainText(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError) as error:
            self.problems_label.setText(f"Could not read {path}: {error}")

    def accept(self) -> None:
        try:
            parsed = parse_batch_csv(self.text_edit.toPlainText())
        except BatchCsvError as error:
            self.problems_label.setText(str(error))
            return
        self.items = parsed.items
        self.warnings = [str(warning) for warning in parsed.warnings]
        super().accept()


class LiveBatchDialog(QDialog):
    """The one confirmation before a live batch: every item, and what it changes."""

    def __init__(
        self, items: Sequence[BatchItem], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        count = len(items)
        self.setWindowTitle("Re-release live?")
        self.resize(640, 460)
        layout = QVBoxLayout(self)

        heading = QLabel(
            f"<b>Re-release {count} course{'s' if count != 1 else ''} live?</b> "
            "Learners get the new versions."
        )
        heading.setWordWrap(True)
        layout.addWidget(heading)

        self.warning_label = QLabel(LEARNER_PROGRESS_WARNING)
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b00020; font-weight: bold;")
        layout.addWidget(self.warning_label)

        self.items_text = QPlainTextEdit()
        self.items_text.setAccessibleName("Releases to re-release")
        self.items_text.setReadOnly(True)
        self.items_text.setPlainText(
            "\n".join(
                f"{number}. {item_cell_text(number - 1, item, 1)}: release "
                f"{item.release_code}"
                + (f" ({item.release_mode.label})" if item.release_mode else "")
                for number, item in enumerate(items, start=1)
            )
        )
        layout.addWidget(self.items_text, 1)

        buttons = QDialogButtonBox()
        self.confirm_button = buttons.addButton(
            f"Re-release {count} live", QDialogButtonBox.ButtonRole.AcceptRole
        )
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setDefault(True)
        cancel.setFocus()
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
