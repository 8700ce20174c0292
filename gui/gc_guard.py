"""Run Python's cyclic garbage collector on the GUI thread only.

With PySide6 6.12, a collection started on a worker thread can traverse Python
wrappers of widgets that the GUI thread is deleting at that moment (a deferred delete),
and the process crashes. This was seen in the history pane's tests, where gdb showed
the GUI thread in ~QWidget waiting for the GIL while a pool thread's collector walked
the same objects. So automatic collection is turned off, and a timer on the GUI
thread collects when the allocation counts pass the usual thresholds.

NOTE: the crash was seen with PySide6 6.12.0. That release's Signal.emit() also
corrupts the reference counts of True and False, which may have been the real
cause. Recheck whether this guard is still needed before removing it.
"""

from __future__ import annotations

import gc
import logging

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 500


class GuiThreadGarbageCollector(QObject):
    """Collects garbage from a GUI-thread timer instead of from any thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_INTERVAL_MS)
        self.timer.timeout.connect(self.check)

    def start(self) -> GuiThreadGarbageCollector:
        gc.disable()
        self.timer.start()
        return self

    def stop(self) -> None:
        self.timer.stop()
        gc.enable()

    def check(self) -> None:
        """Collect the oldest generation whose count passed its threshold."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self.thresholds[generation]:
                gc.collect(generation)
                return
