"""Message boxes: plain errors with a next step, the bug dialog, and confirmations."""

from __future__ import annotations

import logging
import traceback

from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import QMessageBox, QWidget

from core import APP_NAME, __version__
from core.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    InputError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ReleaseDeskError,
    ServerError,
    TransportError,
)
from core.logs import redact

log = logging.getLogger(__name__)


def next_step(error: ReleaseDeskError) -> str:
    """Return what the user should do about error, in one sentence."""
    if isinstance(error, OutcomeUnknownError):
        return (
            "Check the project's releases (Refresh, then the Re-release list) before "
            "trying again, so the release is not made twice."
        )
    if isinstance(error, AuthenticationError):
        return (
            "Check the public and private key in Account > Manage accounts, because "
            "keys can be revoked in Elucidat. Also check this computer's clock."
        )
    if isinstance(error, InvalidRequestError | InputError):
        return "Fix the value named above and try again."
    if isinstance(error, NotFoundError):
        return "Check the project or release code, or refresh the project list."
    if isinstance(error, RateLimitedError):
        wait = (
            f" {round(error.retry_after)} seconds" if error.retry_after else " a minute"
        )
        return f"Elucidat asked to slow down; try again in{wait}."
    if isinstance(error, ServerError):
        return "Elucidat or a proxy on the way failed; try again in a few minutes."
    if isinstance(error, TransportError):
        return "Check the network connection and any proxy settings, then try again."
    if isinstance(error, ConfigurationError):
        return "Open Account > Manage accounts to set up the keys."
    if isinstance(error, ApiError):
        return "Check the values in the form and try again."
    return ""


def error_text(error: ReleaseDeskError) -> str:
    """Return the error's message with the server's own words and the next step."""
    parts = [str(error)]
    server = getattr(error, "server_message", None)
    if server and server not in str(error):
        parts.append(f"Elucidat said: {server}")
    if error.status:
        parts.append(f"HTTP status {error.status}.")
    step = next_step(error)
    # The core's messages often end with what to do already; a second, generic
    # instruction after it would only repeat or contradict it.
    if step and "try again" not in str(error).lower():
        parts.append(step)
    return redact("\n\n".join(parts))


def show_error(
    parent: QWidget | None, error: BaseException, *, action: str = ""
) -> None:
    """Show a typed error as a plain message, anything else as a bug report."""
    if isinstance(error, ReleaseDeskError):
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(error.title)
        box.setText(f"{action} failed." if action else error.title)
        box.setInformativeText(error_text(error))
        box.open()
        return
    show_bug(parent, error, action=action)


def show_bug(parent: QWidget | None, error: BaseException, *, action: str = "") -> None:
    """Show an unexpected exception: collapsed traceback, versions, log folder."""
    import platform

    from core.paths import app_paths

    details = "".join(traceback.format_exception(error))
    log.error("Unexpected error%s", f" in {action}" if action else "", exc_info=error)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(f"{APP_NAME}: unexpected error")
    box.setText(
        "Something went wrong inside Release Desk. This is a bug, not your mistake."
    )
    box.setInformativeText(
        f"{type(error).__name__}: {redact(str(error))}\n\n"
        f"Version {__version__}, PySide6 {pyside_version}, Python "
        f"{platform.python_version()}.\nThe log is in {app_paths().log_dir}. "
        "Nothing was resent; check the history before trying again."
    )
    box.setDetailedText(redact(details))
    box.open()


def confirm(
    parent: QWidget | None, title: str, text: str, details: str, yes: str
) -> bool:
    """Ask a yes/no question whose safe answer, the default, is No."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(details)
    yes_button = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    cancel_button = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel_button)
    box.setEscapeButton(cancel_button)
    box.exec()
    return box.clickedButton() is yes_button
