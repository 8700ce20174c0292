"""The GUI-thread garbage collector: automatic collection off, timer collections on."""

from __future__ import annotations

import gc

from pytestqt.qtbot import QtBot

from gui.gc_guard import GuiThreadGarbageCollector


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_collects_cycles_from_timer(qtbot: QtBot) -> None:
    collector = GuiThreadGarbageCollector()
    collector.thresholds = (10, 10, 10)
    collector.start()
    try:
        assert not gc.isenabled()
        for _ in range(500):
            Cycle()
        assert any(isinstance(obj, Cycle) for obj in gc.get_objects())

        qtbot.waitUntil(
            lambda: not any(isinstance(obj, Cycle) for obj in gc.get_objects()),
            timeout=3000,
        )
    finally:
        collector.stop()

    assert gc.isenabled()
