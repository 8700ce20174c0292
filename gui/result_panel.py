"""The result panel: what the last release attempt did and what happens next."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.models import CreateResult, Release, ReleaseRequest


class ResultPanel(QGroupBox):
    """Shows the server's message, the release code, the launch link and next steps.

    Signals:
        download_requested(): the user asked to download the package.
        open_folder_requested(): the user asked to open the folder of the package.
        repeat_live_requested(): the user asked to repeat the dry run live.
        follow_cancel_requested(): the user asked to stop following the release.
    """

    download_requested = Signal()
    open_folder_requested = Signal()
    repeat_live_requested = Signal()
    follow_cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Result", parent)
        self.setMinimumWidth(360)
        layout = QVBoxLayout(self)

        self.heading = QLabel("No release made yet.")
        self.heading.setWordWrap(True)
        font = self.heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.heading.setFont(font)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )

        self.code_edit = QLineEdit()
        self.code_edit.setReadOnly(True)
        self.code_edit.setAccessibleName("Release code")
        self.code_edit.setMinimumWidth(
            self.code_edit.fontMetrics().horizontalAdvance("M" * 14)
        )
        self.copy_button = QPushButton("&Copy")
        self.copy_button.setAccessibleName("Copy release code")
        self.copy_button.clicked.connect(self.copy_release_code)
        code_row = QHBoxLayout()
        self.code_label = QLabel("Release code:")
        code_row.addWidget(self.code_label)
        code_row.addWidget(self.code_edit, 1)
        code_row.addWidget(self.copy_button)
        self.code_row = QWidget()
        self.code_row.setLayout(code_row)
        code_row.setContentsMargins(0, 0, 0, 0)

        self.link = QLabel()
        self.link.setOpenExternalLinks(True)
        self.link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.link.setWordWrap(True)
        self.next_steps = QLabel()
        self.next_steps.setWordWrap(True)
        self.follow_status = QLabel()
        self.follow_status.setWordWrap(True)

        self.progress = QProgressBar()
        self.progress.setAccessibleName("Download progress")
        self.progress.setVisible(False)

        self.repeat_live_button = QPushButton("Repeat l&ive…")
        self.repeat_live_button.setToolTip(
            "Send the same request again, live this time"
        )
        self.download_button = QPushButton("Download pac&kage")
        self.open_folder_button = QPushButton("&Open folder")
        self.stop_follow_button = QPushButton("S&top following")
        self.repeat_live_button.clicked.connect(self.repeat_live_requested)
        self.download_button.clicked.connect(self.download_requested)
        self.open_folder_button.clicked.connect(self.open_folder_requested)
        self.stop_follow_button.clicked.connect(self.follow_cancel_requested)
        buttons = QHBoxLayout()
        for button in (
            self.repeat_live_button,
            self.download_button,
            self.open_folder_button,
            self.stop_follow_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)

        for widget in (
            self.heading,
            self.message,
            self.code_row,
            self.link,
            self.next_steps,
            self.follow_status,
            self.progress,
        ):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.clear()

    def clear(self) -> None:
        self.heading.setText("No release made yet.")
        self.heading.setStyleSheet("")
        self.message.setText(
            "Fill the form and start a dry run: simulation mode checks the request "
            "with Elucidat and changes nothing."
        )
        self.code_row.setVisible(False)
        self.code_edit.clear()
        self.link.clear()
        self.next_steps.clear()
        self.follow_status.clear()
        self.progress.setVisible(False)
        for button in self._buttons():
            button.setVisible(False)

    def show_created(self, request: ReleaseRequest, result: CreateResult) -> None:
        """Show a successful create or re-release, dry run or live."""
        self.clear()
        kind = "Re-release" if request.is_re_release else "Release"
        if result.simulation:
            self.heading.setText(f"Dry run succeeded: {kind.lower()} request accepted")
            self.heading.setStyleSheet("color: #1b5e20;")
            self.next_steps.setText(
                "Nothing changed in the account, so there is nothing to follow or "
                "download. Turn simulation mode off, or use Repeat live, to make it "
                "for real."
            )
            self.repeat_live_button.setVisible(True)
        else:
            self.heading.setText(f"{kind} created live")
            self.heading.setStyleSheet("color: #b00020;")
            what = (
                "Then download its package."
                if request.release_mode.is_package
                else "Then its launch link works for learners."
            )
            self.next_steps.setText(
                "Elucidat is preparing the release, usually within 5 to 15 minutes. "
                f"Release Desk follows it until it is complete. {what}"
            )
            self.stop_follow_button.setVisible(True)
        self.message.setText(
            f"Elucidat said: {result.message}" if result.message else ""
        )
        code = result.release_code or request.release_code or ""
        if code:
            self.code_edit.setText(code)
            self.code_row.setVisible(True)
        # A dry run's code names no real release, so it is not offered for copying.
        simulated = result.simulation and not request.is_re_release
        self.code_label.setText("Simulated code:" if simulated else "Release code:")
        self.copy_button.setVisible(not simulated)

    def show_failure(self, heading: str, text: str) -> None:
        self.clear()
        self.heading.setText(heading)
        self.heading.setStyleSheet("color: #b00020;")
        self.message.setText(text)

    def show_follow_status(self, text: str) -> None:
        self.follow_status.setText(text)

    def show_complete(self, release: Release) -> None:
        """Show that publishing finished, with the link or the download button."""
        self.stop_follow_button.setVisible(False)
        version = (
            f" (version {release.version_number})" if release.version_number else ""
        )
        self.heading.setText(f"Release {release.release_code} is complete{version}")
        self.heading.setStyleSheet("color: #1b5e20;")
        self.message.setText("Elucidat has finished preparing the release.")
        self.follow_status.clear()
        self.download_button.setText("Download pac&kage")
        if release.launch_url:
            url = html.escape(release.launch_url, quote=True)
            self.link.setText(f'Launch link: <a href="{url}">{url}</a>')
        if release.mode is not None and release.mode.is_package:
            self.next_steps.setText("The package is ready to download.")
            self.download_button.setVisible(True)
        else:
            self.next_steps.setText("Learners can use the launch link now.")

    def show_follow_stopped(self, text: str) -> None:
        self.stop_follow_button.setVisible(False)
        self.follow_status.setText(text)

    def show_download_progress(self, done: int, total: int) -> None:
        self.progress.setVisible(True)
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(done * 1000 / total))
            self.progress.setFormat(f"{_size(done)} of {_size(total)} (%p%)")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(_size(done))

    def show_downloaded(self, path: str) -> None:
        self.progress.setVisible(False)
        self.next_steps.setText(f"Package saved to {path}")
        self.open_folder_button.setVisible(True)
        self.download_button.setVisible(True)
        self.download_button.setText("Download again")

    def copy_release_code(self) -> None:
        QGuiApplication.clipboard().setText(self.code_edit.text())

    def _buttons(self) -> list[QPushButton]:
        return [
            self.repeat_live_button,
            self.download_button,
            self.open_folder_button,
            self.stop_follow_button,
        ]


def _size(count: int) -> str:
    if count >= 1_048_576:
        return f"{count / 1_048_576:.1f} MB"
    if count >= 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count} bytes"
