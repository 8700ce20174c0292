"""Shared fixtures: offscreen Qt, a private app home, an in-memory keyring, a sandbox.

Environment defaults are set before anything imports Qt or keyring, because Qt aborts
the process without a display and keyring picks its backend on first use.
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"
# A safety net: a test without the in-memory keyring fixture gets the null backend,
# never the developer's real keyring.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors
import pytest


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend that keeps passwords in a dict, for tests."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None


@pytest.fixture(autouse=True)
def app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point RELEASE_DESK_HOME and Qt's settings at a fresh folder for each test."""
    home = tmp_path / "release-desk-home"
    home.mkdir()
    monkeypatch.setenv("RELEASE_DESK_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("ELUCIDAT_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("ELUCIDAT_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("ELUCIDAT_LRS_PASSWORD", raising=False)
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Replace the keyring backend with an in-memory one for every test."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """A sandbox on a free loopback port with instant publishing."""
    from sandbox.server import SandboxServer

    server = SandboxServer(publish_delay=0.0).start()
    yield server
    server.stop()


# Integration tests that skip on a machine without their tools (gnome-keyring, npm,
# PyInstaller). CI installs those tools and sets RELEASE_DESK_REQUIRE_ALL_TESTS=1, so
# there a skip of one of these is a failure, not a silent pass.
_MUST_RUN_IN_CI = ("secret_service", "npm", "packaging")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not os.environ.get("RELEASE_DESK_REQUIRE_ALL_TESTS"):
        return
    if any(item.get_closest_marker(name) for name in _MUST_RUN_IN_CI):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} was skipped, but RELEASE_DESK_REQUIRE_ALL_TESTS is set: "
            f"{report.longrepr}"
        )


@pytest.fixture(autouse=True)
def gc_on_main_thread() -> Iterator[None]:
    """Collect garbage on the test's own thread only, as the app does on its GUI
    thread (see gui/gc_guard.py): a collection on a worker thread can crash PySide6
    while widgets are being deleted."""
    gc.disable()
    yield
    gc.collect()
    gc.enable()
