"""The one way Release Desk runs work off the GUI thread, and the one way back.

Feature code calls `TaskRunner.run(fn, on_success=..., on_failure=...)`. `fn` runs on a
thread of a `QThreadPool` and receives a `TaskContext`; it must not touch a widget. Its
return value, its exception and its progress reports travel back as queued signals, so
the callbacks run on the GUI thread. A failure with no `on_failure` handler goes to the
runner's `failed_unhandled` signal, which the main window turns into an error dialog.

Cancelling a task stops the waiting, not the work already sent: the context's
`cancelled` flag is set, the worker checks it between steps, and whatever the worker
returns afterwards is dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from core.errors import CancelledError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class TaskContext:
    """The argument of a worker function: progress reporting and the cancel flag."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    _report: Callable[[int, int, str], None] = field(default=lambda d, t, s: None)

    def progress(self, done: int = 0, total: int = 0, text: str = "") -> None:
        """Report progress; total 0 means unknown. Safe to call from the worker."""
        self._report(done, total, text)

    def check_cancelled(self) -> None:
        """Raise CancelledError when the user has cancelled."""
        if self.cancelled.is_set():
            raise CancelledError("Cancelled.")


class _Relay(QObject):
    """Carries a worker's outcome to the GUI thread (it lives there)."""

    succeeded = Signal(object)
    failed = Signal(object)
    progressed = Signal(int, int, str)


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[TaskContext], Any], context: TaskContext) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.context = context
        self.relay = _Relay()
        context._report = self.relay.progressed.emit

    def run(self) -> None:
        try:
            result = self.fn(self.context)
        except BaseException as error:  # every failure goes back to the GUI thread
            self.relay.failed.emit(error)
        else:
            self.relay.succeeded.emit(result)


class TaskHandle(QObject, Generic[T]):
    """One running task: cancel it, or listen to its progress.

    The handle lives on the GUI thread, and the worker's signals reach its slots as
    queued calls, so every callback runs there.

    Signals:
        progressed(done, total, text): the worker reported progress.
        ended(): the task finished, failed or was cancelled; callbacks have run.
    """

    progressed = Signal(int, int, str)
    ended = Signal()

    def __init__(
        self,
        label: str,
        context: TaskContext,
        on_success: Callable[[T], None] | None,
        on_failure: Callable[[BaseException], None] | None,
        on_cancelled: Callable[[], None] | None,
        on_unhandled: Callable[[str, BaseException], None],
        parent: QObject | None = None,
    ) -> None:
        # The runner is the parent, so when the runner's owner (a window) is deleted
        # its handles go too, and Qt drops results that arrive afterwards instead of
        # calling back into deleted widgets.
        super().__init__(parent)
        self.label = label
        self.context = context
        self.done = False
        self._on_success = on_success
        self._on_failure = on_failure
        self._on_cancelled = on_cancelled
        self._on_unhandled = on_unhandled

    @property
    def is_cancelled(self) -> bool:
        return self.context.cancelled.is_set()

    def cancel(self) -> None:
        """Stop waiting for the task; its later result is dropped."""
        if not self.done:
            log.info("Cancelled task %r", self.label)
            self.context.cancelled.set()

    @Slot(int, int, str)
    def on_worker_progressed(self, done: int, total: int, text: str) -> None:
        if not self.is_cancelled:
            self.progressed.emit(done, total, text)

    @Slot(object)
    def on_worker_succeeded(self, result: object) -> None:
        self.done = True
        if self.is_cancelled:
            if self._on_cancelled:
                self._on_cancelled()
        elif self._on_success:
            self._on_success(result)  # type: ignore[arg-type]
        self.ended.emit()

    @Slot(object)
    def on_worker_failed(self, error: object) -> None:
        self.done = True
        assert isinstance(error, BaseException)
        if self.is_cancelled or isinstance(error, CancelledError):
            if self._on_cancelled:
                self._on_cancelled()
        elif self._on_failure:
            self._on_failure(error)
        else:
            self._on_unhandled(self.label, error)
        self.ended.emit()


class TaskRunner(QObject):
    """Runs functions on a thread pool and delivers results on the GUI thread.

    Signals:
        started(handle): a task began; the window shows a busy indicator at once.
        ended(handle): a task ended in any way.
        failed_unhandled(label, error): a task failed and had no failure handler.
    """

    started = Signal(object)
    ended = Signal(object)
    failed_unhandled = Signal(str, object)

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        # Keep idle threads alive: the history keeps one SQLite connection per thread,
        # and a thread that expired and came back would open a new one every time.
        self.pool.setExpiryTimeout(-1)
        self._running: dict[int, tuple[_Runnable, TaskHandle[Any]]] = {}
        self._closed = False

    def run(
        self,
        fn: Callable[[TaskContext], T],
        *,
        on_success: Callable[[T], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        label: str = "",
    ) -> TaskHandle[T]:
        """Run fn(context) on a worker thread; call back on the GUI thread."""
        context = TaskContext()
        handle: TaskHandle[T] = TaskHandle(
            label or getattr(fn, "__name__", "task"),
            context,
            on_success,
            on_failure,
            on_cancelled,
            self.failed_unhandled.emit,
            parent=self,
        )
        if self._closed:
            log.info("Not starting task %r: the runner is closed", handle.label)
            context.cancelled.set()
            handle.done = True
            return handle
        runnable = _Runnable(fn, context)
        key = id(runnable)
        self._running[key] = (runnable, handle)

        runnable.relay.progressed.connect(handle.on_worker_progressed)
        runnable.relay.succeeded.connect(handle.on_worker_succeeded)
        runnable.relay.failed.connect(handle.on_worker_failed)
        handle.ended.connect(lambda: self._finish(key))

        self.started.emit(handle)
        self.pool.start(runnable)
        return handle

    @property
    def active_count(self) -> int:
        return len(self._running)

    def cancel_all(self) -> None:
        for _, handle in list(self._running.values()):
            handle.cancel()

    def close(self) -> None:
        """Cancel every task and start no new ones (a timer may still ask)."""
        self._closed = True
        self.cancel_all()

    def wait_for_done(self, msecs: int = 10_000) -> bool:
        """Block until every worker thread has returned (used at exit and in tests)."""
        return bool(self.pool.waitForDone(msecs))

    def _finish(self, key: int) -> None:
        entry = self._running.pop(key, None)
        if entry is not None:
            self.ended.emit(entry[1])
            entry[1].deleteLater()
