"""The Manage accounts dialog, driven with pytest-qt against the in-memory keyring and
the loopback sandbox. Dialogs are shown with show() and never block."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.backends.fail
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from core.accounts import DEFAULT_BASE_URL, Account, AccountStore, KeyStore
from core.paths import app_paths
from gui.account_dialog import AccountDialog
from gui.tasks import TaskRunner
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY
from tests.conftest import MemoryKeyring

SERVICE = "release-desk"
PRIVATE_KEY = "SECRETdialogKey0123456789"
WAIT_MS = 10_000


@pytest.fixture
def runner(qtbot: QtBot) -> Iterator[TaskRunner]:
    task_runner = TaskRunner()
    yield task_runner
    task_runner.cancel_all()
    assert task_runner.wait_for_done(WAIT_MS)


@pytest.fixture
def keys() -> KeyStore:
    return KeyStore(timeout=5.0)


@pytest.fixture
def store(keys: KeyStore) -> AccountStore:
    return AccountStore(app_paths().config_file, keys)


@pytest.fixture
def make_dialog(
    qtbot: QtBot, store: AccountStore, keys: KeyStore, runner: TaskRunner
) -> Any:
    def make(**options: Any) -> AccountDialog:
        dialog = AccountDialog(store, keys, runner, **options)
        qtbot.addWidget(dialog)
        dialog.show()
        wait_idle(qtbot, runner)
        return dialog

    return make


def wait_idle(qtbot: QtBot, runner: TaskRunner) -> None:
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=WAIT_MS)


def fill_form(
    dialog: AccountDialog,
    *,
    name: str,
    base_url: str = DEFAULT_BASE_URL,
    public_key: str = "PUBLICacme123",
    private_key: str = PRIVATE_KEY,
) -> None:
    dialog.name_edit.setText(name)
    dialog.base_url_edit.setText(base_url)
    dialog.public_key_edit.setText(public_key)
    dialog.private_key_edit.setText(private_key)


def click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def add_through_dialog(
    qtbot: QtBot, dialog: AccountDialog, runner: TaskRunner, **fields: str
) -> None:
    click(qtbot, dialog.add_button)
    fill_form(dialog, **fields)  # type: ignore[arg-type]
    with qtbot.waitSignal(dialog.accounts_changed, timeout=WAIT_MS):
        click(qtbot, dialog.save_button)
    wait_idle(qtbot, runner)


def list_texts(dialog: AccountDialog) -> list[str]:
    return [
        dialog.account_list.item(row).text()
        for row in range(dialog.account_list.count())
    ]


# Adding, editing, removing


def test_add_puts_key_in_keyring(
    qtbot: QtBot,
    make_dialog: Any,
    runner: TaskRunner,
    store: AccountStore,
    memory_keyring: MemoryKeyring,
) -> None:
    dialog = make_dialog()

    add_through_dialog(qtbot, dialog, runner, name="Acme Training")

    assert memory_keyring.passwords == {(SERVICE, "account:Acme Training"): PRIVATE_KEY}
    assert PRIVATE_KEY not in store.config_file.read_text(encoding="utf-8")
    assert store.accounts() == [
        Account("Acme Training", DEFAULT_BASE_URL, "PUBLICacme123")
    ]
    assert list_texts(dialog) == ["Acme Training (active)"]
    assert dialog.private_key_edit.text() == ""
    assert "Saved account" in dialog.message_label.text()
    assert "conftest MemoryKeyring" in dialog.message_label.text()
    assert dialog.private_key_edit.placeholderText() == (
        "Stored in conftest MemoryKeyring"
    )


def test_private_key_never_prefilled(
    qtbot: QtBot, make_dialog: Any, store: AccountStore
) -> None:
    store.add(Account("Acme", public_key="PUBacme"), PRIVATE_KEY)

    dialog = make_dialog()

    assert dialog.editing_name == "Acme"
    assert dialog.private_key_edit.text() == ""
    assert dialog.private_key_edit.echoMode() == QLineEdit.EchoMode.Password
    assert PRIVATE_KEY not in dialog.private_key_edit.placeholderText()
    assert "Stored in" in dialog.private_key_edit.placeholderText()
    assert dialog.public_key_edit.text() == "PUBacme"


def test_placeholder_when_key_missing(make_dialog: Any, store: AccountStore) -> None:
    store.add(Account("Acme", public_key="PUBacme"))

    dialog = make_dialog()

    assert dialog.private_key_edit.placeholderText() == (
        "Paste the private key from Elucidat"
    )


def test_invalid_input_shows_message(
    qtbot: QtBot, make_dialog: Any, runner: TaskRunner, store: AccountStore
) -> None:
    dialog = make_dialog()
    click(qtbot, dialog.add_button)
    fill_form(dialog, name="Acme", base_url="http://api.elucidat.com/v2/")

    click(qtbot, dialog.save_button)
    wait_idle(qtbot, runner)

    assert "does not use https" in dialog.message_label.text()
    assert dialog.focusWidget() is dialog.base_url_edit
    assert store.accounts() == []


def test_add_requires_private_key(
    qtbot: QtBot, make_dialog: Any, runner: TaskRunner, store: AccountStore
) -> None:
    dialog = make_dialog()
    click(qtbot, dialog.add_button)
    fill_form(dialog, name="Acme", private_key="")

    click(qtbot, dialog.save_button)
    wait_idle(qtbot, runner)

    assert "private key" in dialog.message_label.text()
    assert "is empty" in dialog.message_label.text()
    assert store.accounts() == []


def test_rename_moves_keyring_entry(
    qtbot: QtBot,
    make_dialog: Any,
    runner: TaskRunner,
    store: AccountStore,
    memory_keyring: MemoryKeyring,
) -> None:
    store.add(Account("Acme", public_key="PUBacme"), PRIVATE_KEY)
    dialog = make_dialog()

    dialog.name_edit.setText("Acme Learning")
    with qtbot.waitSignal(dialog.accounts_changed, timeout=WAIT_MS):
        click(qtbot, dialog.save_button)
    wait_idle(qtbot, runner)

    assert memory_keyring.passwords == {(SERVICE, "account:Acme Learning"): PRIVATE_KEY}
    assert list_texts(dialog) == ["Acme Learning (active)"]
    assert dialog.editing_name == "Acme Learning"


def test_remove_after_confirmation(
    qtbot: QtBot,
    make_dialog: Any,
    runner: TaskRunner,
    store: AccountStore,
    memory_keyring: MemoryKeyring,
) -> None:
    store.add(Account("Acme", public_key="PUBacme"), PRIVATE_KEY)
    dialog = make_dialog()

    click(qtbot, dialog.remove_button)
    box = dialog.confirm_box
    assert box is not None
    assert box.isVisible()
    assert 'Remove account "Acme"?' in box.text()
    with qtbot.waitSignal(dialog.accounts_changed, timeout=WAIT_MS):
        click(qtbot, box.button(QMessageBox.StandardButton.Yes))
    wait_idle(qtbot, runner)

    assert store.accounts() == []
    assert memory_keyring.passwords == {}
    assert list_texts(dialog) == []
    assert dialog.editing_name is None


def test_remove_cancelled_keeps_account(
    qtbot: QtBot,
    make_dialog: Any,
    runner: TaskRunner,
    store: AccountStore,
    memory_keyring: MemoryKeyring,
) -> None:
    store.add(Account("Acme", public_key="PUBacme"), PRIVATE_KEY)
    dialog = make_dialog()
    changes: list[bool] = []
    dialog.accounts_changed.connect(lambda: changes.append(True))

    click(qtbot, dialog.remove_button)
    box = dialog.confirm_box
    assert box is not None
    click(qtbot, box.button(QMessageBox.StandardButton.Cancel))
    wait_idle(qtbot, runner)

    assert [a.name for a in store.accounts()] == ["Acme"]
    assert (SERVICE, "account:Acme") in memory_keyring.passwords
    assert changes == []


def test_set_active_account(
    qtbot: QtBot, make_dialog: Any, runner: TaskRunner, store: AccountStore
) -> None:
    store.add(Account("Acme", public_key="PUBacme"), PRIVATE_KEY)
    store.add(Account("Beta", public_key="PUBbeta"), PRIVATE_KEY + "b")
    dialog = make_dialog()

    dialog.account_list.setCurrentRow(1)
    with qtbot.waitSignal(dialog.accounts_changed, timeout=WAIT_MS):
        click(qtbot, dialog.activate_button)
    wait_idle(qtbot, runner)

    assert store.active_name == "Beta"
    assert list_texts(dialog) == ["Acme", "Beta (active)"]


# Test connection against the sandbox


def test_connection_shows_company_name(
    qtbot: QtBot, make_dialog: Any, runner: TaskRunner, sandbox: Any
) -> None:
    dialog = make_dialog()
    click(qtbot, dialog.add_button)
    fill_form(
        dialog,
        name="Sandbox account",
        base_url=sandbox.base_url,
        public_key=DEMO_PUBLIC_KEY,
        private_key=DEMO_PRIVATE_KEY,
    )

    click(qtbot, dialog.test_button)
    assert not dialog.test_button.isEnabled()
    wait_idle(qtbot, runner)

    assert dialog.message_label.text() == "Connected to Northwind Learning Ltd."
    assert dialog.test_button.isEnabled()


def test_connection_with_stored_key(
    qtbot: QtBot,
    make_dialog: Any,
    runner: TaskRunner,
    store: AccountStore,
    sandbox: Any,
) -> None:
    store.add(
        Account("Local", base_url=sandbox.base_url, public_key=DEMO_PUBLIC_KEY),
        DEMO_PRIVATE_KEY,
    )
    dialog = make_dialog()
    assert dialog.private_key_edit.text() == ""

    click(qtbot, dialog.test_button)
    wait_idle(qtbot, runner)

    assert dialog.message_label.text() == "Connected to Northwind Learning Ltd."


def test_wrong_key_shows_reason(
    qtbot: QtBot, make_dialog: Any, runner: TaskRunner, sandbox: Any
) -> None:
    dialog = make_dialog()
    click(qtbot, dialog.add_button)
    fill_form(
        dialog,
        name="Sandbox account",
        base_url=sandbox.base_url,
        public_key=DEMO_PUBLIC_KEY,
        private_key="WrongPrivateKey000",
    )

    click(qtbot, dialog.test_button)
    wait_idle(qtbot, runner)

    message = dialog.message_label.text()
    assert message.startswith("Connection test failed: Elucidat rejected")
    assert "HTTP 401" in message
    assert "public key and private key in use" in message
    assert "WrongPrivateKey000" not in message


def test_connection_uses_client_factory(
    qtbot: QtBot, make_dialog: Any, runner: TaskRunner
) -> None:
    seen: list[Any] = []

    class RefusingClient:
        closed = False

        def account(self) -> Any:
            from core.errors import NetworkError

            raise NetworkError("Could not connect to 127.0.0.1:9: connection refused.")

        def close(self) -> None:
            RefusingClient.closed = True

    def factory(credentials: Any) -> RefusingClient:
        seen.append(credentials)
        return RefusingClient()

    dialog = make_dialog(client_factory=factory)
    click(qtbot, dialog.add_button)
    fill_form(dialog, name="Acme", base_url="http://127.0.0.1:9/v2")

    click(qtbot, dialog.test_button)
    wait_idle(qtbot, runner)

    assert dialog.message_label.text() == (
        "Connection test failed: Could not connect to 127.0.0.1:9: connection refused."
    )
    assert seen[0].base_url == "http://127.0.0.1:9/v2/"
    assert seen[0].source == "entered"
    assert RefusingClient.closed


# Keyrings that are missing or slow


def test_no_keyring_rest_still_works(
    qtbot: QtBot,
    make_dialog: Any,
    runner: TaskRunner,
    store: AccountStore,
    app_home: Path,
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    dialog = make_dialog()

    assert dialog.keyring_label.text().startswith("No usable keyring was found")
    assert "gnome-keyring" in dialog.keyring_label.text()

    click(qtbot, dialog.add_button)
    fill_form(dialog, name="Acme")
    click(qtbot, dialog.save_button)
    wait_idle(qtbot, runner)
    assert "No usable keyring" in dialog.message_label.text()
    assert store.accounts() == []

    dialog.private_key_edit.clear()
    with qtbot.waitSignal(dialog.accounts_changed, timeout=WAIT_MS):
        click(qtbot, dialog.save_button)
    wait_idle(qtbot, runner)
    assert "without its private key" in dialog.message_label.text()
    assert [a.name for a in store.accounts()] == ["Acme"]

    secret = PRIVATE_KEY.encode()
    written = [
        p for p in app_home.rglob("*") if p.is_file() and secret in p.read_bytes()
    ]
    assert written == []


class SlowKeyring(MemoryKeyring):
    """Waits on every write, as a keyring behind an unlock prompt does."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(10)
        super().set_password(service, username, password)


def test_slow_keyring_never_blocks_gui(
    qtbot: QtBot, make_dialog: Any, runner: TaskRunner, store: AccountStore
) -> None:
    backend = SlowKeyring()
    keyring.set_keyring(backend)
    dialog = make_dialog()
    click(qtbot, dialog.add_button)
    fill_form(dialog, name="Acme")

    started = time.monotonic()
    click(qtbot, dialog.save_button)
    elapsed = time.monotonic() - started

    assert elapsed < 0.5
    assert not dialog.save_button.isEnabled()
    assert store.accounts() == []
    with qtbot.waitSignal(dialog.accounts_changed, timeout=WAIT_MS):
        backend.release.set()
    wait_idle(qtbot, runner)
    assert backend.passwords == {(SERVICE, "account:Acme"): PRIVATE_KEY}
    assert dialog.save_button.isEnabled()


# Accessibility


def test_widgets_have_accessible_names(make_dialog: Any) -> None:
    dialog = make_dialog()
    widgets = [
        dialog.account_list,
        dialog.add_button,
        dialog.remove_button,
        dialog.activate_button,
        dialog.name_edit,
        dialog.base_url_edit,
        dialog.public_key_edit,
        dialog.private_key_edit,
        dialog.test_button,
        dialog.save_button,
        dialog.message_label,
        dialog.keyring_label,
    ]

    names = [widget.accessibleName() for widget in widgets]

    assert all(names), names
    assert len(set(names)) == len(names)


def next_tab_stop(widget: QWidget) -> QWidget:
    """Return the widget that Tab moves to: the next focusable one in the chain."""
    candidate = widget.nextInFocusChain()
    while not (
        candidate.focusPolicy() & Qt.FocusPolicy.TabFocus
        and candidate.isVisible()
        and candidate.isEnabled()
    ):
        candidate = candidate.nextInFocusChain()
    return candidate


def test_tab_order_follows_form(make_dialog: Any, store: AccountStore) -> None:
    store.add(Account("Acme", public_key="PUBacme"), PRIVATE_KEY)
    dialog = make_dialog()
    expected = [
        dialog.account_list,
        dialog.add_button,
        dialog.remove_button,
        dialog.activate_button,
        dialog.name_edit,
        dialog.base_url_edit,
        dialog.public_key_edit,
        dialog.private_key_edit,
        dialog.test_button,
        dialog.save_button,
    ]

    for first, second in itertools.pairwise(expected):
        assert next_tab_stop(first) is second, first.accessibleName()
