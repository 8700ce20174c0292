"""Start the window: QApplication, Qt logging, the excepthook, the sandbox, the keys."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import types
from pathlib import Path

from PySide6.QtCore import (
    QMessageLogContext,
    QSettings,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from core import APP_ID, APP_NAME, __version__
from core.accounts import AccountStore, Credentials, resolve_credentials
from core.errors import ReleaseDeskError
from core.history import HistoryStore
from core.keystore import KeyStore
from core.paths import AppPaths
from gui.context import AppContext
from gui.dialogs import show_bug

log = logging.getLogger(__name__)
qt_log = logging.getLogger("qt")

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
# Publishing in the built-in sandbox takes this long, so a demo shows the publishing
# state without a real 5 to 15 minute wait.
SANDBOX_PUBLISH_DELAY = 6.0


def run_gui(args: argparse.Namespace, paths: AppPaths) -> int:
    """Open the main window and run the event loop; return the exit status."""
    qInstallMessageHandler(route_qt_message)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_ID)
    app.setDesktopFileName(APP_ID)
    icon = RESOURCES / "release-desk.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))

    context = build_context(args, paths)
    settings = window_settings(paths)

    from gui.main_window import MainWindow

    window = MainWindow(context, settings=settings)
    sys.excepthook = lambda kind, error, tb: excepthook(window, kind, error, tb)
    window.show()
    QTimer.singleShot(0, window.load_projects)
    QTimer.singleShot(0, window.resume_following)
    if context.history.recovered_from is not None:
        QTimer.singleShot(
            0,
            lambda: QMessageBox.warning(
                window,
                "History was unreadable",
                f"The history file could not be read and was moved aside to "
                f"{context.history.recovered_from}. A fresh history was started.",
            ),
        )
    try:
        return app.exec()
    finally:
        window.shutdown()
        context.close()
        context.history.close()
        if context.sandbox is not None:
            context.sandbox.stop()


def build_context(args: argparse.Namespace, paths: AppPaths) -> AppContext:
    """Open the history, and find the keys: the sandbox's, or the stored account's."""
    history = HistoryStore(paths.history_file)
    interrupted = history.mark_interrupted()
    if interrupted:
        log.warning(
            "%d release attempt(s) were interrupted by the last exit", interrupted
        )
    context = AppContext(
        paths=paths,
        history=history,
        accounts=AccountStore(paths.config_file),
        keys=KeyStore(),
    )
    if getattr(args, "sandbox", False):
        from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

        server = SandboxServer(publish_delay=SANDBOX_PUBLISH_DELAY).start()
        log.info("Sandbox running at %s", server.base_url)
        context.sandbox = server
        context.credentials = Credentials.for_sandbox(
            server.base_url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY
        )
        return context
    try:
        context.credentials = resolve_credentials(
            context.accounts, context.keys, getattr(args, "account", None)
        )
        if getattr(args, "api_url", None):
            context.credentials = dataclasses.replace(
                context.credentials, base_url=args.api_url
            )
    except ReleaseDeskError as error:
        context.credentials_problem = str(error)
        log.warning("No usable credentials: %s", error)
    return context


def window_settings(paths: AppPaths) -> QSettings:
    """Window state and remembered form values, never a secret."""
    return QSettings(str(paths.config_dir / "window.ini"), QSettings.Format.IniFormat)


_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def route_qt_message(
    kind: QtMsgType, context: QMessageLogContext, message: str
) -> None:
    """Send Qt's own messages to the "qt" logger."""
    category = context.category or "qt"
    qt_log.log(_QT_LEVELS.get(kind, logging.WARNING), "%s: %s", category, message)


def excepthook(
    window: object,
    kind: type[BaseException],
    error: BaseException,
    traceback: types.TracebackType | None,
) -> None:
    """Show an exception nobody caught as a bug dialog instead of crashing."""
    if issubclass(kind, KeyboardInterrupt):
        QApplication.quit()
        return
    show_bug(
        window if isinstance(window, QMessageBox.parent.__class__) else None, error
    )
