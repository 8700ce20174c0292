"""The window's long-running jobs: following live releases to completion,
downloading packages, and LRS passwords kept in the keyring.

`WindowJobsMixin` is part of `MainWindow` and uses its runners, form, result panel,
history pane and settings. It lives in its own module to keep each file readable.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QSystemTrayIcon

from core.errors import KeyringError, ReleaseDeskError
from core.follow import FollowTarget
from core.history import Attempt
from core.models import Release
from gui.dialogs import error_text, show_bug, show_error
from gui.tasks import TaskContext, TaskHandle

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class WindowJobsMixin:
    """Following, downloading and remembered LRS passwords for `MainWindow`."""

    _follows: dict[int, TaskHandle[Any]]

    # LRS passwords in the keyring ------------------------------------------------

    def remember_lrs_password(self, project_code: str, password: str) -> None:
        """Store the project's LRS password in the keyring, on a worker thread."""
        credentials = self.context.credentials
        if credentials is None:
            return
        account = credentials.account_name
        stored_account = credentials.source == "keyring"

        def work(_ctx: TaskContext) -> None:
            if stored_account:
                self.context.accounts.set_lrs_password(account, project_code, password)
            else:
                self.context.keys.set_lrs_password(account, project_code, password)

        self.runner.run(
            work,
            on_success=lambda _none: self.statusBar().showMessage(
                f"LRS password of project {project_code} saved in the keyring.", 8000
            ),
            on_failure=lambda error: self._show_load_failure(
                "Saving the LRS password in the keyring", error
            ),
            label="Saving the LRS password",
        )

    def fill_remembered_lrs_password(self, project_code: str) -> None:
        """Fill the LRS password from the keyring when one is stored for project."""
        if self._lrs_password_project not in (None, project_code):
            # A password filled in for another project must not be sent for this one.
            self.form.lrs_password_edit.clear()
            self.form.remember_lrs_check.setChecked(False)
            self._lrs_password_project = None
        credentials = self.context.credentials
        form = self.form
        if credentials is None or form.lrs_password_edit.text():
            return
        if not form.lrs_url_edit.text().strip():
            return  # a password is only sent with an LRS endpoint URL
        account = credentials.account_name

        def work(_ctx: TaskContext) -> str | None:
            return self.context.keys.get_lrs_password(account, project_code)

        def on_success(password: str | None) -> None:
            form = self.form
            still_chosen = form.project_code() == project_code
            if password and still_chosen and not form.lrs_password_edit.text():
                form.lrs_password_edit.setText(password)
                form.remember_lrs_check.setChecked(True)
                self._lrs_password_project = project_code
                self.statusBar().showMessage(
                    f"LRS password of project {project_code} filled in from the "
                    "keyring.",
                    8000,
                )

        self.runner.run(
            work,
            on_success=on_success,
            on_failure=self._on_lrs_password_read_failed,
            label="Reading the LRS password",
        )

    def project_name_of(self, project_code: str) -> str:
        """Return the project's name from the loaded list, even for a typed code."""
        for project in self._projects:
            if project.project_code == project_code:
                return project.name
        return self.form.project_name()

    def _show_load_failure(self, action: str, error: BaseException) -> None:
        if isinstance(error, ReleaseDeskError):
            self.statusBar().showMessage(f"{action} failed: {error}", 15000)
            log.warning("%s failed: %s", action, error)
        else:
            show_bug(self, error, action=action)

    # Following ----------------------------------------------------------------------

    def follow(self, attempt_id: int, target: FollowTarget, *, current: bool) -> None:
        """Poll a live release until complete, on the follow pool."""
        if attempt_id in self._follows:
            return

        def work(ctx: TaskContext) -> Release:
            def on_poll(release: Release | None, next_in: float) -> None:
                status = release.status if release else "not listed yet"
                ctx.progress(0, 0, f"Status: {status}; next check in {next_in:.0f} s.")

            return self.context.service().follow(
                attempt_id,
                target,
                schedule=self.follow_schedule,
                cancelled=ctx.cancelled,
                on_poll=on_poll,
            )

        handle = self.follow_runner.run(
            work,
            on_success=lambda release: self._on_follow_complete(attempt_id, release),
            on_failure=lambda error: self._on_follow_failed(attempt_id, error),
            on_cancelled=lambda: self._on_follow_stopped(attempt_id),
            label=f"Following {target.release_code}",
        )
        self._follows[attempt_id] = handle
        handle.progressed.connect(
            lambda _d, _t, text: self._on_follow_progress(attempt_id, text)
        )
        if current:
            self.result.show_follow_status("Publishing… waiting for the first check.")

    def _on_follow_progress(self, attempt_id: int, text: str) -> None:
        if attempt_id == self.current_attempt_id:
            self.result.show_follow_status(f"Publishing. {text}")

    def _on_follow_complete(self, attempt_id: int, release: Release) -> None:
        self._follows.pop(attempt_id, None)
        self.refresh_history()
        if attempt_id == self.current_attempt_id:
            self.result.show_complete(release)
        self.notify(
            "Release complete",
            f"Release {release.release_code} is complete"
            + (
                " and ready to download."
                if release.mode and release.mode.is_package
                else "."
            ),
        )

    def _on_follow_failed(self, attempt_id: int, error: BaseException) -> None:
        self._follows.pop(attempt_id, None)
        text = error_text(error) if isinstance(error, ReleaseDeskError) else str(error)
        if attempt_id == self.current_attempt_id:
            self.result.show_follow_stopped(f"Stopped following: {text}")
        if not isinstance(error, ReleaseDeskError):
            show_bug(self, error, action="Following the release")
        log.warning("Following attempt %d stopped: %s", attempt_id, text)

    def _on_follow_stopped(self, attempt_id: int) -> None:
        self._follows.pop(attempt_id, None)
        if attempt_id == self.current_attempt_id:
            self.result.show_follow_stopped(
                "Stopped following. The release goes on publishing on Elucidat, and "
                "Release Desk follows it again at the next start."
            )

    @Slot()
    def stop_following_current(self) -> None:
        if self.current_attempt_id is not None:
            handle = self._follows.get(self.current_attempt_id)
            if handle is not None:
                handle.cancel()

    def resume_following(self) -> int:
        """Follow again the live releases a previous run left publishing."""
        credentials = self.context.credentials
        if credentials is None:
            return 0
        count = 0
        for attempt in self.context.history.publishing():
            if attempt.base_url != credentials.base_url or not attempt.release_code:
                continue
            if attempt.account != credentials.account_name:
                continue
            previous = attempt.version_number if attempt.re_release_of else None
            target = FollowTarget(attempt.project_code, attempt.release_code, previous)
            assert attempt.id is not None
            self.follow(attempt.id, target, current=False)
            count += 1
        if count:
            self.statusBar().showMessage(
                f"Following {count} release(s) still publishing.", 8000
            )
        return count

    def notify(self, title: str, text: str) -> None:
        log.info("%s: %s", title, text)
        if self.tray is not None:
            self.tray.showMessage(
                title, text, QSystemTrayIcon.MessageIcon.Information, 10000
            )
        self.statusBar().showMessage(text, 15000)

    # Downloading --------------------------------------------------------------------

    def download_folder(self) -> Path:
        default = Path.home() / "Downloads"
        value = self.settings.value("downloads/folder", str(default), type=str)
        return Path(value)

    @Slot()
    def choose_download_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder for downloaded packages", str(self.download_folder())
        )
        if folder:
            self.settings.setValue("downloads/folder", folder)
            if self.batch_view is not None:
                self.batch_view.set_download_folder(Path(folder))

    @Slot()
    def download_current(self) -> None:
        if self.current_attempt_id is not None:
            self.download(self.current_attempt_id)

    @Slot(object)
    def download_from_history(self, attempt: Attempt) -> None:
        if attempt.id is not None:
            self.current_attempt_id = attempt.id
            self.tabs.setCurrentIndex(0)
            self.result.clear()
            self.result.heading.setText(f"Downloading {attempt.release_code}")
            self.download(attempt.id)

    def download(self, attempt_id: int) -> None:
        """Download an attempt's package into the download folder, with progress."""
        if self._foreground is not None:
            return
        folder = self.download_folder()

        def work(ctx: TaskContext) -> Path:
            folder.mkdir(parents=True, exist_ok=True)
            return self.context.service().download(
                attempt_id,
                folder,
                progress=lambda done, total: ctx.progress(
                    done, total or 0, "Downloading"
                ),
                cancelled=ctx.cancelled,
            )

        self._foreground = self.runner.run(
            work,
            on_success=self._on_downloaded,
            on_failure=lambda error: self._on_download_failed(error),
            on_cancelled=lambda: self.result.show_follow_stopped(
                "Download cancelled; no file was left behind."
            ),
            label="Downloading package",
        )
        self._foreground.progressed.connect(
            lambda done, total, _text: self.result.show_download_progress(done, total)
        )

    @Slot(object)
    def download_listed_release(self, release: Release) -> None:
        """Download a release picked from the project's list, made outside this app
        or before its history began, so no history row records it."""
        if self._foreground is not None:
            return
        folder = self.download_folder()
        project_code = self.form.project_code()
        project_name = self.project_name_of(project_code)
        self.current_attempt_id = None
        self.result.clear()
        self.result.heading.setText(f"Downloading {release.release_code}")

        def work(ctx: TaskContext) -> Path:
            from core.download import download_package

            folder.mkdir(parents=True, exist_ok=True)
            return download_package(
                self.context.client(),
                release.release_code,
                folder,
                project_code=project_code,
                project_name=project_name,
                release_mode=release.release_mode,
                version=release.version_number,
                progress=lambda done, total: ctx.progress(done, total or 0, ""),
                cancelled=ctx.cancelled,
            )

        self._foreground = self.runner.run(
            work,
            on_success=self._on_downloaded,
            on_failure=self._on_download_failed,
            on_cancelled=lambda: self.result.show_follow_stopped(
                "Download cancelled; no file was left behind."
            ),
            label="Downloading package",
        )
        self._foreground.progressed.connect(
            lambda done, total, _text: self.result.show_download_progress(done, total)
        )

    def _on_downloaded(self, path: Path) -> None:
        self.last_download = path
        self.result.show_downloaded(str(path))
        # "Download again" goes through the history row, which a release picked
        # from the project's list does not have.
        self.result.download_button.setVisible(self.current_attempt_id is not None)
        self.refresh_history()
        self.statusBar().showMessage(f"Saved {path}", 15000)

    def _on_download_failed(self, error: BaseException) -> None:
        self.result.progress.setVisible(False)
        show_error(self, error, action="The download")

    @Slot()
    def open_download_folder(self) -> None:
        folder = (
            self.last_download.parent if self.last_download else self.download_folder()
        )
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _on_lrs_password_read_failed(self, error: BaseException) -> None:
        # Without a usable keyring there is simply nothing remembered; saying so on
        # every project change would be noise. Saving still reports the problem.
        if isinstance(error, KeyringError):
            log.info("No remembered LRS password: %s", error)
            return
        self._show_load_failure("Reading the LRS password from the keyring", error)
