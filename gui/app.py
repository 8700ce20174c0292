"""Start the window: QApplication, Qt logging, the excepthook, the sandbox, the keys."""

from __future__ import annotations

import argparse
import logging
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from core.history import HistoryStore
from core.paths import AppPaths
from gui.context import AppContext
from gui.dialogs import show_bug
from gui.gc_guard import GuiThreadGarbageCollector

if TYPE_CHECKING:
    from gui.main_window import MainWindow

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

    collector = GuiThreadGarbageCollector(app).start()
    context = build_context(args, paths)
    settings = window_settings(paths)

    from gui.main_window import MainWindow

    window: MainWindow = MainWindow(context, settings=settings)
    sys.excepthook = lambda kind, error, tb: excepthook(window, kind, error, tb)
    window.show()
    if getattr(args, "sandbox", False):
        attach_sandbox(window, context)
    else:
        QTimer.singleShot(0, window.load_credentials)
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
        collector.stop()


def build_context(args: argparse.Namespace, paths: AppPaths) -> AppContext:
    """Open the history. The keys come later: the sandbox's once it has started,
    or a stored account's, read on a worker thread because the keyring can block on
    an unlock prompt."""
    history = HistoryStore(paths.history_file)
    interrupted = history.mark_interrupted()
    if interrupted:
        log.warning(
            "%d release attempt(s) were interrupted by the last exit", interrupted
        )
    sandbox = getattr(args, "sandbox", False)
    return AppContext(
        paths=paths,
        history=history,
        credentials_problem="Starting the built-in sandbox…" if sandbox else "",
        account_name=getattr(args, "account", None),
        api_url=getattr(args, "api_url", None),
    )


def attach_sandbox(window: MainWindow, context: AppContext) -> None:
    """Start the built-in sandbox on a worker thread, then connect the window to it
    with its demo keys."""

    def start(_task: object) -> Any:
        from sandbox.server import SandboxServer

        return SandboxServer(publish_delay=SANDBOX_PUBLISH_DELAY).start()

    def on_started(server: Any) -> None:
        from core.credentials import Credentials
        from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY

        log.info("Sandbox running at %s", server.base_url)
        context.sandbox = server
        window.set_credentials(
            Credentials.for_sandbox(server.base_url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
        )

    window.runner.run(start, on_success=on_started, label="Starting the sandbox")


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
    """Show an uncaught exception as a bug dialog instead of crashing."""
    if issubclass(kind, KeyboardInterrupt):
        QApplication.quit()
        return
    show_bug(
        window if isinstance(window, QMessageBox.parent.__class__) else None, error
    )
