"""The main window: the release form, the result, the history, and the live switch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStatusBar,
    QSystemTrayIcon,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core import APP_NAME, __version__
from core.errors import ReleaseDeskError
from core.follow import PollSchedule
from core.history import Attempt
from core.models import AccountInfo, Project, ReleaseMode, ReleaseRequest
from gui.context import AppContext
from gui.dialogs import confirm, error_text, show_bug, show_error
from gui.release_form import ReleaseFormWidget
from gui.result_panel import ResultPanel
from gui.tasks import TaskContext, TaskHandle, TaskRunner
from gui.window_jobs import WindowJobsMixin

if TYPE_CHECKING:
    from core.credentials import Credentials
    from core.service import CreatedRelease
    from gui.batch_view import BatchView
    from gui.history_pane import HistoryPane

log = logging.getLogger(__name__)

# A progress display appears only when work takes longer than this, so quick calls do
# not flash one.
PROGRESS_DELAY_MS = 500
HISTORY_TAB = 1
BATCH_TAB = 2

LIVE_STYLE = "background: #b00020; color: white; padding: 6px; font-weight: bold;"
SIMULATION_STYLE = "background: #e3f2fd; color: #0d47a1; padding: 6px;"


class MainWindow(WindowJobsMixin, QMainWindow):
    """Release Desk's window. All API calls run through `self.runner`."""

    def __init__(
        self,
        context: AppContext,
        *,
        settings: QSettings,
        follow_schedule: PollSchedule | None = None,
    ) -> None:
        super().__init__()
        self.context = context
        self.settings = settings
        self.follow_schedule = follow_schedule or PollSchedule()
        self.runner = TaskRunner(self)
        # Following a release waits for minutes, so it runs on its own pool and never
        # holds up the form's calls.
        self.follow_runner = TaskRunner(self, max_threads=8)
        self.last_dry_run: ReleaseRequest | None = None
        self.current: CreatedRelease | None = None
        self.current_attempt_id: int | None = None
        self.last_download: Path | None = None
        self._follows: dict[int, TaskHandle[Any]] = {}
        self._foreground: TaskHandle[Any] | None = None
        self._projects: list[Project] = []
        # The project whose LRS password was filled in from the keyring, if any.
        self._lrs_password_project: str | None = None

        self.setWindowTitle(f"{APP_NAME} – {context.account_label}")
        self._build()
        self._build_menus()
        self._connect()
        self.tray = self._make_tray()
        self._restore()
        self.set_simulation(True)

    # Building -----------------------------------------------------------------------

    def _build(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)

        top = QHBoxLayout()
        self.account_label = QLabel(f"Account: <b>{self.context.account_label}</b>")
        self.simulation_check = QCheckBox("&Simulation mode (dry run)")
        self.simulation_check.setAccessibleName("Simulation mode")
        self.simulation_check.setToolTip(
            "On: Elucidat checks each request and changes nothing.\n"
            "Off: releases are made for real and reach learners."
        )
        top.addWidget(self.account_label, 1)
        top.addWidget(self.simulation_check)
        layout.addLayout(top)

        self.mode_banner = QLabel()
        self.mode_banner.setAccessibleName("Release mode banner")
        self.mode_banner.setWordWrap(True)
        layout.addWidget(self.mode_banner)

        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)

        release_tab = QWidget()
        release_layout = QHBoxLayout(release_tab)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter = splitter
        left = QWidget()
        left_layout = QVBoxLayout(left)
        self.form = ReleaseFormWidget()
        left_layout.addWidget(self.form)
        self.release_button = QPushButton()
        self.release_button.setAccessibleName("Release")
        self.release_button.setDefault(True)
        self.invalid_reason = QLabel()
        self.invalid_reason.setWordWrap(True)
        self.invalid_reason.setStyleSheet("color: #555;")
        left_layout.addWidget(self.release_button)
        left_layout.addWidget(self.invalid_reason)
        left_layout.addStretch(1)
        self.result = ResultPanel()
        splitter.addWidget(left)
        splitter.addWidget(self.result)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        release_layout.addWidget(splitter)
        self.tabs.addTab(release_tab, "Release")

        # The history and batch tabs are built when first opened, which keeps the
        # window's start-up short.
        self.history_pane: HistoryPane | None = None
        self.tabs.addTab(QWidget(), "History")

        self.batch_view: BatchView | None = None
        self.tabs.addTab(QWidget(), "Batch")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.setCentralWidget(central)

        status = QStatusBar()
        self.busy_label = QLabel()
        self.busy_progress = QProgressBar()
        self.busy_progress.setMaximumWidth(200)
        self.busy_progress.setAccessibleName("Progress")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the current call")
        status.addWidget(self.busy_label, 1)
        status.addPermanentWidget(self.busy_progress)
        status.addPermanentWidget(self.cancel_button)
        self.setStatusBar(status)
        self._progress_timer = QTimer(self, singleShot=True, interval=PROGRESS_DELAY_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        self._set_idle()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.choose_folder_action = QAction("Choose &download folder…", self)
        self.open_log_action = QAction("Open &log folder", self)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addActions([self.choose_folder_action, self.open_log_action])
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        release_menu = self.menuBar().addMenu("&Release")
        self.release_action = QAction(
            "&Release", self, shortcut=QKeySequence("Ctrl+Return")
        )
        self.repeat_live_action = QAction("Re&peat dry run live…", self)
        self.simulation_action = QAction("&Simulation mode", self, checkable=True)
        self.simulation_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.refresh_action = QAction(
            "Re&fresh projects and releases", self, shortcut=QKeySequence("F5")
        )
        self.cancel_action = QAction("&Cancel", self, shortcut=QKeySequence("Esc"))
        self.download_action = QAction("Do&wnload package", self)
        release_menu.addActions(
            [
                self.release_action,
                self.repeat_live_action,
                self.simulation_action,
                self.refresh_action,
                self.download_action,
                self.cancel_action,
            ]
        )

        account_menu = self.menuBar().addMenu("&Account")
        self.manage_accounts_action = QAction("&Manage accounts…", self)
        self.test_connection_action = QAction("&Test connection", self)
        account_menu.addActions(
            [self.manage_accounts_action, self.test_connection_action]
        )

        view_menu = self.menuBar().addMenu("&View")
        for index, text, key in (
            (0, "&Release form", "Ctrl+1"),
            (1, "&History", "Ctrl+2"),
            (2, "&Batch re-release", "Ctrl+3"),
        ):
            action = QAction(text, self, shortcut=QKeySequence(key))
            action.triggered.connect(
                lambda _=False, i=index: self.tabs.setCurrentIndex(i)
            )
            view_menu.addAction(action)

        help_menu = self.menuBar().addMenu("&Help")
        about_action = QAction(f"&About {APP_NAME}", self)
        about_action.triggered.connect(self._show_about)
        help_menu.addAction(about_action)

    def _connect(self) -> None:
        self.simulation_check.toggled.connect(self.set_simulation)
        self.simulation_action.toggled.connect(self.set_simulation)
        self.form.validity_changed.connect(self._on_form_validity_changed)
        self.form.project_changed.connect(self.load_releases)
        self.form.refresh_requested.connect(self.refresh)
        self.form.download_requested.connect(self.download_listed_release)
        self.release_button.clicked.connect(self.start_release)
        self.release_action.triggered.connect(self.start_release)
        self.repeat_live_action.triggered.connect(self.repeat_live)
        self.refresh_action.triggered.connect(self.refresh)
        self.cancel_action.triggered.connect(self.cancel_foreground)
        self.cancel_button.clicked.connect(self.cancel_foreground)
        self.download_action.triggered.connect(self.download_current)
        self.choose_folder_action.triggered.connect(self.choose_download_folder)
        self.open_log_action.triggered.connect(
            lambda: QDesktopServices.openUrl(
                QUrl.fromLocalFile(str(self.context.paths.log_dir))
            )
        )
        self.manage_accounts_action.triggered.connect(self.manage_accounts)
        self.test_connection_action.triggered.connect(self.test_connection)

        self.result.repeat_live_requested.connect(self.repeat_live)
        self.result.download_requested.connect(self.download_current)
        self.result.open_folder_requested.connect(self.open_download_folder)
        self.result.follow_cancel_requested.connect(self.stop_following_current)

        self.runner.started.connect(self._on_task_started)
        self.runner.ended.connect(self._on_task_ended)
        self.runner.failed_unhandled.connect(self._on_unhandled_failure)
        self.follow_runner.failed_unhandled.connect(self._on_unhandled_failure)

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        if index == HISTORY_TAB and self.history_pane is None:
            self.open_history_pane()
        if index == BATCH_TAB and self.batch_view is None:
            self.open_batch_view()

    def open_history_pane(self) -> HistoryPane:
        """Build the history tab on first use and switch to it."""
        if self.history_pane is None:
            from gui import history_pane

            pane = history_pane.HistoryPane(self.context.history, self.runner)
            pane.re_release_requested.connect(self.re_release_from_history)
            pane.download_requested.connect(self.download_from_history)
            self.history_pane = pane
            self._replace_tab(HISTORY_TAB, pane, "History")
        self.tabs.setCurrentIndex(HISTORY_TAB)
        return self.history_pane

    def refresh_history(self) -> None:
        """Reload the history tab if it was built; it reads fresh rows when opened."""
        if self.history_pane is not None:
            self.history_pane.refresh()

    def _replace_tab(self, index: int, widget: QWidget, title: str) -> None:
        self.tabs.blockSignals(True)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, widget, title)
        self.tabs.blockSignals(False)

    def open_batch_view(self) -> BatchView:
        """Build the batch tab on first use and switch to it."""
        if self.batch_view is None:
            from gui import batch_view

            view = batch_view.BatchView(
                self.context, self.runner, poll_schedule=self.follow_schedule
            )
            view.set_download_folder(self.download_folder())
            view.batch_finished.connect(lambda _summary: self.refresh_history())
            self.batch_view = view
            self._replace_tab(BATCH_TAB, view, "Batch")
        self.tabs.setCurrentIndex(BATCH_TAB)
        return self.batch_view

    def _make_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(self.windowIcon(), self)
        tray.setToolTip(APP_NAME)
        tray.show()
        return tray

    # Simulation and live ------------------------------------------------------------

    @Slot(bool)
    def set_simulation(self, on: bool) -> None:
        """Switch between dry runs and live releases; the state is always visible."""
        for control in (self.simulation_check, self.simulation_action):
            control.blockSignals(True)
            control.setChecked(on)
            control.blockSignals(False)
        account = (
            self.context.credentials.account_name if self.context.credentials else "?"
        )
        if on:
            self.mode_banner.setText(
                "Simulation mode: each release is a dry run. Elucidat checks the "
                "request and nothing in the account changes."
            )
            self.mode_banner.setStyleSheet(SIMULATION_STYLE)
            self.release_button.setText("Start dry run")
        else:
            self.mode_banner.setText(
                f"LIVE: releases are made for real in account “{account}” and reach "
                "learners. Each one asks for confirmation."
            )
            self.mode_banner.setStyleSheet(LIVE_STYLE)
            self.release_button.setText("Release live…")
        self.release_button.setStyleSheet(
            "" if on else "color: #b00020; font-weight: bold;"
        )
        self.release_action.setText("Start &dry run" if on else "Release &live…")

    def is_simulation(self) -> bool:
        return self.simulation_check.isChecked()

    # Loading pickers ----------------------------------------------------------------

    @Slot()
    def load_projects(self) -> None:
        if self.context.credentials is None:
            return
        self.runner.run(
            lambda _ctx: self.context.client().list_projects(),
            on_success=self._on_projects_loaded,
            on_failure=lambda error: self._show_load_failure(
                "Loading the projects", error
            ),
            label="Loading projects",
        )

    @Slot()
    def refresh(self) -> None:
        """Reload the projects and the chosen project's releases."""
        self.load_projects()
        self.load_releases(self.form.project_code().strip())

    def _on_projects_loaded(self, projects: list[Project]) -> None:
        self._projects = projects
        self.form.set_projects(projects)
        self.statusBar().showMessage(f"{len(projects)} projects loaded.", 5000)

    @Slot(str)
    def load_releases(self, project_code: str) -> None:
        if not project_code or self.context.credentials is None:
            return
        if self.form.messages() and any(
            m.field == "project_code" for m in self.form.messages()
        ):
            return
        self.fill_remembered_lrs_password(project_code)
        self.runner.run(
            lambda _ctx: self.context.client().list_releases(project_code),
            on_success=lambda releases: self.form.set_releases(project_code, releases),
            on_failure=lambda error: self._show_load_failure(
                f"Loading the releases of project {project_code}", error
            ),
            label=f"Loading releases of {project_code}",
        )

    # Releasing ----------------------------------------------------------------------

    @Slot()
    def start_release(self) -> None:
        """Send the form's request, as a dry run or, after confirmation, live."""
        if not self.form.validate() or self._foreground is not None:
            return
        request = self.form.release_request()
        simulation = self.is_simulation()
        if not simulation and not self.confirm_live(request):
            return
        self._send(request, simulation)

    @Slot()
    def repeat_live(self) -> None:
        """Send the last successful dry run again, live, after confirmation."""
        request = self.last_dry_run
        if request is None or self._foreground is not None:
            return
        if not self.confirm_live(request):
            return
        self._send(request, simulation=False)

    def confirm_live(self, request: ReleaseRequest) -> bool:
        """Ask before a live release, with a summary of what will happen where."""
        account = self.context.account_label
        project = self.project_name_of(request.project_code) or request.project_code
        if request.release_code:
            what = (
                f"Re-release {request.release_code} of “{project}” "
                f"({request.release_mode.label})."
            )
        else:
            what = f"A new release of “{project}”, mode {request.release_mode.label}."
        access = (
            request.learner_access.label
            if request.learner_access
            else "project setting"
        )
        lines = [
            what,
            f"Account: {account}.",
            f"Description: {request.description or '(none)'}.",
            f"Learner access: {access}.",
            f"LRS: {request.lrs_endpoint_url or 'project setting'}.",
        ]
        if request.release_code:
            lines.append(
                "\nA re-release resets the saved progress of learners who are part-way "
                "through the course."
            )
        return confirm(
            self,
            "Release live?",
            "This makes a real release in the Elucidat account.",
            "\n".join(lines),
            "Release live" if not request.release_code else "Re-release live",
        )

    def _send(self, request: ReleaseRequest, simulation: bool) -> None:
        project_name = self.project_name_of(request.project_code)
        self.save_form()
        if request.lrs_password and self.form.remember_lrs_check.isChecked():
            self.remember_lrs_password(request.project_code, request.lrs_password)

        def create(_ctx: TaskContext) -> CreatedRelease:
            return self.context.service().create(
                request, simulation=simulation, project_name=project_name
            )

        self.result.clear()
        self.result.heading.setText(
            "Sending…" if not simulation else "Sending dry run…"
        )
        self._foreground = self.runner.run(
            create,
            on_success=self._on_created,
            on_failure=lambda error: self._on_create_failed(request, error),
            on_cancelled=self._on_create_cancelled,
            label="Dry run" if simulation else "Live release",
        )
        self.refresh_history()

    def _on_created(self, created: CreatedRelease) -> None:
        self.current = created
        self.current_attempt_id = created.attempt_id
        self.result.show_created(created.request, created.result)
        if created.result.simulation:
            self.last_dry_run = created.request
            self.repeat_live_action.setEnabled(True)
        else:
            self.last_dry_run = None
            self.follow(created.attempt_id, created.follow_target, current=True)
        self.refresh_history()

    def _on_create_failed(self, request: ReleaseRequest, error: BaseException) -> None:
        self.refresh_history()
        if not isinstance(error, ReleaseDeskError):
            self.result.show_failure("Unexpected error", str(error))
            show_bug(self, error, action="Sending the release")
            return
        self.result.show_failure(f"{error.title}", error_text(error))
        show_error(self, error, action="The release")

    def _on_create_cancelled(self) -> None:
        self.result.show_failure(
            "Stopped waiting",
            "The request had already been sent and cannot be taken back, so the "
            "release may still be made. The history shows the outcome once the reply "
            "arrives. Check the project's releases before trying again.",
        )
        self.refresh_history()

    # History ------------------------------------------------------------------------

    @Slot(object)
    def re_release_from_history(self, attempt: Attempt) -> None:
        """Fill the form to re-release what an attempt made, and switch to it."""
        code = attempt.release_code or attempt.re_release_of
        self.form.fill_from(
            project_code=attempt.project_code,
            release_mode=attempt.release_mode,
            release_code=code,
            description=attempt.description,
            learner_access=attempt.learner_access,
            lrs_endpoint_url=attempt.lrs_endpoint,
            lrs_username=attempt.lrs_username,
        )
        self.set_simulation(True)
        self.tabs.setCurrentIndex(0)
        self.form.description_edit.setFocus()
        # The project may be the one already shown, whose list predates the release.
        self.load_releases(attempt.project_code)
        self.statusBar().showMessage(
            f"Form filled to re-release {code}. Start with a dry run.", 8000
        )

    # Accounts -----------------------------------------------------------------------

    @Slot()
    def manage_accounts(self) -> None:
        from gui.account_dialog import AccountDialog

        dialog = AccountDialog(
            self.context.accounts, self.context.keys, self.runner, self
        )
        dialog.accounts_changed.connect(self._on_accounts_changed)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _on_accounts_changed(self) -> None:
        if self.context.sandbox is not None:
            return  # the sandbox window keeps its in-memory sandbox account
        self.load_credentials()

    @Slot()
    def load_credentials(self) -> None:
        """Read the account's keys on a worker (the keyring may block), then load
        the projects and follow what is still publishing."""

        def on_success(credentials: Any) -> None:
            self.set_credentials(credentials)

        def on_failure(error: BaseException) -> None:
            if not isinstance(error, ReleaseDeskError):
                show_bug(self, error, action="Reading the account's keys")
                return
            self.context.credentials = None
            self.context.credentials_problem = str(error)
            self._update_account_label()
            self.statusBar().showMessage(str(error), 30000)

        self.runner.run(
            lambda _ctx: self.context.resolve_credentials(),
            on_success=on_success,
            on_failure=on_failure,
            label="Reading the account's keys",
        )

    def set_credentials(self, credentials: Credentials) -> None:
        """Use these keys from now on, load the projects, follow what is publishing."""
        self.context.credentials = credentials
        self.context.credentials_problem = ""
        self._update_account_label()
        self.load_projects()
        self.resume_following()

    def _update_account_label(self) -> None:
        self.account_label.setText(f"Account: <b>{self.context.account_label}</b>")
        self.setWindowTitle(f"{APP_NAME} – {self.context.account_label}")
        self.set_simulation(self.is_simulation())
        self._on_form_validity_changed(self.form.is_valid(), "")

    @Slot()
    def test_connection(self) -> None:
        self.runner.run(
            lambda _ctx: self.context.client().account(),
            on_success=self._on_connection_tested,
            on_failure=lambda error: show_error(
                self, error, action="The connection test"
            ),
            label="Testing the connection",
        )

    def _on_connection_tested(self, info: AccountInfo) -> None:
        level = f" ({info.subscription_level})" if info.subscription_level else ""
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Connection works",
            f"Connected to {info.company_name}{level}.",
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.open()

    # Busy state ---------------------------------------------------------------------

    @Slot(object)
    def _on_task_started(self, handle: TaskHandle[Any]) -> None:
        self.busy_label.setText(f"{handle.label}…")
        if QApplication.overrideCursor() is None:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        if handle is self._foreground or self._foreground is None:
            self._progress_timer.start()
        self._update_release_button()

    @Slot(object)
    def _on_task_ended(self, handle: TaskHandle[Any]) -> None:
        if handle is self._foreground:
            self._foreground = None
        if self.runner.active_count == 0:
            self._set_idle()
        self._update_release_button()

    def _show_progress(self) -> None:
        if self.runner.active_count:
            self.busy_progress.setRange(0, 0)
            self.busy_progress.setVisible(True)
            self.cancel_button.setVisible(True)

    def _set_idle(self) -> None:
        self._progress_timer.stop()
        self.busy_label.clear()
        self.busy_progress.setVisible(False)
        self.cancel_button.setVisible(False)
        while QApplication.overrideCursor() is not None:
            QApplication.restoreOverrideCursor()

    @Slot()
    def cancel_foreground(self) -> None:
        """Stop waiting for the running calls; a sent create cannot be taken back."""
        if self.runner.active_count:
            self.runner.cancel_all()
            self.statusBar().showMessage(
                "Stopped waiting. A release request that was already sent cannot be "
                "taken back.",
                10000,
            )

    @Slot(str, object)
    def _on_unhandled_failure(self, label: str, error: BaseException) -> None:
        show_error(self, error, action=label)

    # Form state ---------------------------------------------------------------------

    @Slot(bool, str)
    def _on_form_validity_changed(self, valid: bool, reason: str) -> None:
        self._invalid_reason = reason
        self._update_release_button()

    def _update_release_button(self) -> None:
        reason = getattr(self, "_invalid_reason", "")
        if self.context.credentials is None:
            reason = self.context.credentials_problem or "Set up an account first."
        elif self._foreground is not None:
            reason = "Waiting for the current call to finish."
        enabled = not reason and self.form.is_valid()
        self.release_button.setEnabled(enabled)
        self.release_action.setEnabled(enabled)
        self.repeat_live_action.setEnabled(self.last_dry_run is not None and not reason)
        self.release_button.setToolTip(reason)
        self.invalid_reason.setText(f"Cannot release yet: {reason}" if reason else "")
        self.invalid_reason.setVisible(bool(reason))

    def save_form(self) -> None:
        """Remember the form's non-secret values; the LRS password is never kept."""
        values = self.form.raw_values()
        s = self.settings
        s.setValue("form/project_code", values.project_code)
        s.setValue("form/release_mode", values.release_mode)
        s.setValue("form/description", values.description)
        s.setValue(
            "form/learner_access", str(self.form.access_combo.currentData() or "")
        )
        s.setValue("form/lrs_endpoint_url", values.lrs_endpoint_url)
        s.setValue("form/lrs_username", values.lrs_username)

    def _restore(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1100, 720)
        splitter = s.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        else:
            self.splitter.setSizes([680, 420])
        if s.value("form/project_code", "", type=str):
            self.form.fill_from(
                project_code=s.value("form/project_code", "", type=str),
                release_mode=s.value(
                    "form/release_mode", ReleaseMode.ONLINE_PUBLIC, type=str
                ),
                description=s.value("form/description", "", type=str),
                learner_access=s.value("form/learner_access", "", type=str),
                lrs_endpoint_url=s.value("form/lrs_endpoint_url", "", type=str),
                lrs_username=s.value("form/lrs_username", "", type=str),
            )

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b> {__version__}<br>Makes releases of Elucidat courses "
            "through the Project API v2.<br>Logs: "
            f"{self.context.paths.log_dir}",
        )

    def shutdown(self, wait_ms: int = 5000) -> None:
        """Cancel all waiting and let worker threads return."""
        self.form.stop_timers()
        if self.batch_view is not None:
            self.batch_view.shutdown()
        self.runner.close()
        self.follow_runner.close()
        self.runner.wait_for_done(wait_ms)
        self.follow_runner.wait_for_done(wait_ms)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.save_form()
        self.settings.sync()
        self.shutdown()
        if self.tray is not None:
            self.tray.hide()
        super().closeEvent(event)
