"""The Manage accounts dialog: Elucidat accounts, their keys, and a connection test.

Every keyring call, config change and network call runs through the TaskRunner, so the
dialog stays responsive while a keyring waits on an unlock prompt. The private key
field is never filled with the stored key: it shows where the key is stored instead,
and leaving it empty keeps the stored key.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.accounts import (
    DEFAULT_BASE_URL,
    Account,
    AccountStore,
    Credentials,
    KeyStore,
    normalize_base_url,
)
from core.errors import ConfigurationError, InputError, KeyringError, ReleaseDeskError
from core.logs import redact
from core.models import AccountInfo
from gui.tasks import TaskContext, TaskHandle, TaskRunner

log = logging.getLogger(__name__)

ClientFactory = Callable[[Credentials], Any]

_NAME_ROLE = Qt.ItemDataRole.UserRole


def default_client_factory(credentials: Credentials) -> Any:
    """Return an ElucidatClient for credentials (imported late, at first use)."""
    from core.client import ElucidatClient

    return ElucidatClient(
        credentials.base_url, credentials.public_key, credentials.private_key
    )


class AccountDialog(QDialog):
    """Lists accounts; adds, edits, renames, removes and activates them.

    Signals:
        accounts_changed(): an account was added, changed, removed or made active.
    """

    accounts_changed = Signal()

    def __init__(
        self,
        store: AccountStore,
        keys: KeyStore,
        runner: TaskRunner,
        parent: QWidget | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.keys = keys
        self.runner = runner
        self.client_factory = client_factory or default_client_factory

        #: The name of the account in the form, or None while adding a new one.
        self.editing_name: str | None = None
        self.backend_name = ""
        #: Why no keyring is usable, or "" when one is (or the check is running).
        self.keyring_problem = ""
        self._busy_count = 0
        #: Whether the keyring has a private key for the account in the form; None
        #: while the check runs.
        self.stored_key: bool | None = None
        self._test_handle: TaskHandle[Any] | None = None
        self._keyring_handle: TaskHandle[Any] | None = None
        self.confirm_box: QMessageBox | None = None

        self.setWindowTitle("Manage accounts")
        self._build_widgets()
        self._build_layout()
        self._connect_signals()

        self.reload_accounts(select=self.store.active_name)
        self._check_keyring()

    # Building ------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.account_list = QListWidget()
        self.account_list.setAccessibleName("Accounts")
        self.add_button = QPushButton("&Add")
        self.add_button.setAccessibleName("Add account")
        self.remove_button = QPushButton("&Remove…")
        self.remove_button.setAccessibleName("Remove account")
        self.activate_button = QPushButton("Set a&ctive")
        self.activate_button.setAccessibleName("Set active account")

        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("Account name")
        self.name_edit.setPlaceholderText("For example: Acme Training")
        self.base_url_edit = QLineEdit()
        self.base_url_edit.setAccessibleName("API base URL")
        self.base_url_edit.setPlaceholderText(DEFAULT_BASE_URL)
        self.public_key_edit = QLineEdit()
        self.public_key_edit.setAccessibleName("Public key")
        self.private_key_edit = QLineEdit()
        self.private_key_edit.setAccessibleName("Private key")
        self.private_key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.private_key_edit.setToolTip(
            "Leave empty to keep the stored private key, or paste a new one to "
            "replace it."
        )

        self.test_button = QPushButton("&Test connection")
        self.test_button.setAccessibleName("Test connection")
        self.save_button = QPushButton("&Save")
        self.save_button.setAccessibleName("Save account")
        self.save_button.setDefault(True)
        self.button_box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)

        self.message_label = QLabel()
        self.message_label.setAccessibleName("Status")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.keyring_label = QLabel("Looking up the keyring…")
        self.keyring_label.setAccessibleName("Keyring status")
        self.keyring_label.setWordWrap(True)
        self.keyring_label.setTextFormat(Qt.TextFormat.PlainText)

    def _build_layout(self) -> None:
        list_buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.activate_button):
            list_buttons.addWidget(button)
        list_column = QVBoxLayout()
        list_column.addWidget(self.account_list)
        list_column.addLayout(list_buttons)

        form = QFormLayout()
        rows = (
            ("&Name:", self.name_edit),
            ("API &base URL:", self.base_url_edit),
            ("&Public key:", self.public_key_edit),
            ("Pri&vate key:", self.private_key_edit),
        )
        for text, field in rows:
            label = QLabel(text)
            label.setBuddy(field)
            form.addRow(label, field)
        form_buttons = QHBoxLayout()
        form_buttons.addStretch(1)
        form_buttons.addWidget(self.test_button)
        form_buttons.addWidget(self.save_button)
        form_column = QVBoxLayout()
        form_column.addLayout(form)
        form_column.addLayout(form_buttons)
        form_column.addWidget(self.message_label)
        form_column.addStretch(1)

        columns = QHBoxLayout()
        columns.addLayout(list_column, 2)
        columns.addLayout(form_column, 3)
        outer = QVBoxLayout(self)
        outer.addLayout(columns)
        outer.addWidget(self.keyring_label)
        outer.addWidget(self.button_box)

        tab_chain = [
            self.account_list,
            self.add_button,
            self.remove_button,
            self.activate_button,
            self.name_edit,
            self.base_url_edit,
            self.public_key_edit,
            self.private_key_edit,
            self.test_button,
            self.save_button,
            self.button_box,
        ]
        for first, second in itertools.pairwise(tab_chain):
            QWidget.setTabOrder(first, second)
        self.resize(720, 360)

    def _connect_signals(self) -> None:
        self.account_list.currentItemChanged.connect(self.on_account_list_changed)
        self.add_button.clicked.connect(self.on_add_clicked)
        self.remove_button.clicked.connect(self.on_remove_clicked)
        self.activate_button.clicked.connect(self.on_activate_clicked)
        self.save_button.clicked.connect(self.on_save_clicked)
        self.test_button.clicked.connect(self.on_test_clicked)
        self.button_box.rejected.connect(self.reject)

    # The account list ----------------------------------------------------------------

    def reload_accounts(self, select: str | None = None) -> None:
        """Fill the list from the store and select the named account, if any."""
        try:
            accounts = self.store.accounts()
            active = self.store.active_name
        except ConfigurationError as error:
            accounts, active = [], None
            self.show_message(str(error))

        self.account_list.blockSignals(True)
        self.account_list.clear()
        selected_row = -1
        for row, account in enumerate(accounts):
            text = account.name
            if account.name == active:
                text += " (active)"
            item = QListWidgetItem(text)
            item.setData(_NAME_ROLE, account.name)
            item.setToolTip(f"{account.name} – {account.base_url}")
            self.account_list.addItem(item)
            if account.name == select:
                selected_row = row
        if selected_row < 0 and accounts and select is None:
            selected_row = 0
        self.account_list.setCurrentRow(selected_row)
        self.account_list.blockSignals(False)

        if selected_row >= 0:
            self.edit_account(accounts[selected_row])
        else:
            self.start_new_account()

    @Slot(QListWidgetItem, QListWidgetItem)
    def on_account_list_changed(
        self, current: QListWidgetItem | None, previous: QListWidgetItem | None
    ) -> None:
        if current is None:
            self.start_new_account()
            return
        try:
            account = self.store.get(str(current.data(_NAME_ROLE)))
        except ReleaseDeskError as error:
            self.show_message(str(error))
            return
        self.edit_account(account)

    def edit_account(self, account: Account) -> None:
        """Fill the form with a stored account; the private key field stays empty."""
        self.editing_name = account.name
        self.name_edit.setText(account.name)
        self.base_url_edit.setText(account.base_url)
        self.public_key_edit.setText(account.public_key)
        self.private_key_edit.clear()
        self.stored_key = None
        self._update_private_key_placeholder()
        self.show_message("")
        self._update_buttons()
        self._check_stored_key(account.name)

    def start_new_account(self) -> None:
        """Clear the form for a new account."""
        self.editing_name = None
        self.account_list.blockSignals(True)
        self.account_list.setCurrentRow(-1)
        self.account_list.blockSignals(False)
        self.name_edit.clear()
        self.base_url_edit.setText(DEFAULT_BASE_URL)
        self.public_key_edit.clear()
        self.private_key_edit.clear()
        self.stored_key = False
        self._update_private_key_placeholder()
        self._update_buttons()

    # Buttons -------------------------------------------------------------------------

    @Slot()
    def on_add_clicked(self) -> None:
        self.start_new_account()
        self.show_message("Enter the new account's name and keys, then click Save.")
        self.name_edit.setFocus()

    @Slot()
    def on_save_clicked(self) -> None:
        account = Account(
            name=self.name_edit.text(),
            base_url=self.base_url_edit.text(),
            public_key=self.public_key_edit.text().strip(),
        )
        typed_key = self.private_key_edit.text().strip()
        old_name = self.editing_name
        private_key: str | None = typed_key or None
        if old_name is None and not typed_key and not self.keyring_problem:
            # The store rejects an empty private key on add with a clear message.
            private_key = ""

        def save(context: TaskContext) -> Account:
            if old_name is None:
                return self.store.add(account, private_key)
            return self.store.update(old_name, account, private_key)

        def on_saved(saved: Account) -> None:
            self._end_busy()
            self.private_key_edit.clear()
            self.reload_accounts(select=saved.name)
            if private_key:
                where = self.backend_name or "the keyring"
                self.show_message(
                    f'Saved account "{saved.name}". Its private key is in {where}.'
                )
            elif old_name is None:
                self.show_message(
                    f'Saved account "{saved.name}" without its private key, because '
                    f"no keyring is usable. {self.keyring_problem}"
                )
            else:
                self.show_message(f'Saved account "{saved.name}".')
            self.accounts_changed.emit()

        self._start_busy()
        self.runner.run(
            save,
            on_success=on_saved,
            on_failure=self._on_task_failed,
            label="Save account",
        )

    @Slot()
    def on_remove_clicked(self) -> None:
        name = self.editing_name
        if name is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove account",
            f'Remove account "{name}"? Its private key and LRS passwords are deleted '
            "from the keyring. Releases already made in Elucidat are not affected.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda result: self._on_remove_confirmed(name, result))
        self.confirm_box = box
        box.open()

    def _on_remove_confirmed(self, name: str, result: int) -> None:
        self.confirm_box = None
        if result != QMessageBox.StandardButton.Yes.value:
            return

        def remove(context: TaskContext) -> None:
            self.store.remove(name)

        def on_removed(_: None) -> None:
            self._end_busy()
            self.reload_accounts()
            self.show_message(f'Removed account "{name}".')
            self.accounts_changed.emit()

        self._start_busy()
        self.runner.run(
            remove,
            on_success=on_removed,
            on_failure=self._on_task_failed,
            label="Remove account",
        )

    @Slot()
    def on_activate_clicked(self) -> None:
        name = self.editing_name
        if name is None:
            return

        def activate(context: TaskContext) -> None:
            self.store.set_active(name)

        def on_activated(_: None) -> None:
            self._end_busy()
            self.reload_accounts(select=name)
            self.show_message(f'"{name}" is now the active account.')
            self.accounts_changed.emit()

        self._start_busy()
        self.runner.run(
            activate,
            on_success=on_activated,
            on_failure=self._on_task_failed,
            label="Set active account",
        )

    @Slot()
    def on_test_clicked(self) -> None:
        """Call `account` with the keys in the form (or the stored private key)."""
        name = self.name_edit.text().strip() or "New account"
        base_url = self.base_url_edit.text()
        public_key = self.public_key_edit.text().strip()
        typed_key = self.private_key_edit.text().strip()
        stored_name = self.editing_name
        keys = self.keys
        client_factory = self.client_factory

        def test(context: TaskContext) -> AccountInfo:
            private_key = typed_key
            if not private_key and stored_name is not None:
                private_key = keys.get_private_key(stored_name) or ""
            if not private_key:
                raise ConfigurationError(
                    "No private key to test with. Type the private key into the "
                    "Private key field."
                )
            if not public_key:
                raise InputError(
                    "The public key is empty. Paste it from Elucidat: API Access > "
                    "Project API (v2).",
                    field="public_key",
                )
            credentials = Credentials(
                account_name=name,
                base_url=normalize_base_url(base_url),
                public_key=public_key,
                private_key=private_key,
                source="entered" if typed_key else "keyring",
            )
            context.check_cancelled()
            client = client_factory(credentials)
            try:
                return client.account()  # type: ignore[no-any-return]
            finally:
                close = getattr(client, "close", None)
                if callable(close):
                    close()

        def on_tested(info: AccountInfo) -> None:
            self._test_handle = None
            self._end_busy()
            company = info.company_name or "an account with no company name"
            self.show_message(f"Connected to {company}.")

        def on_test_failed(error: BaseException) -> None:
            self._test_handle = None
            self._on_task_failed(error, action="Connection test failed")

        self._start_busy()
        self.show_message("Testing the connection…")
        self._test_handle = self.runner.run(
            test,
            on_success=on_tested,
            on_failure=on_test_failed,
            on_cancelled=self._end_busy,
            label="Test connection",
        )

    # The keyring ---------------------------------------------------------------------

    def _check_keyring(self) -> None:
        keys = self.keys

        def probe(context: TaskContext) -> tuple[str, str]:
            backend_name = keys.backend_name()
            try:
                keys.check()
            except KeyringError as error:
                return backend_name, str(error)
            return backend_name, ""

        def on_probed(outcome: tuple[str, str]) -> None:
            self._keyring_handle = None
            self.backend_name, self.keyring_problem = outcome
            if self.keyring_problem:
                self.keyring_label.setText(self.keyring_problem)
            else:
                self.keyring_label.setText(
                    f"Private keys are stored in {self.backend_name}."
                )
            self._update_private_key_placeholder()

        def on_probe_failed(error: BaseException) -> None:
            self._keyring_handle = None
            self.keyring_problem = redact(str(error))
            self.keyring_label.setText(self.keyring_problem)
            self._update_private_key_placeholder()

        self._keyring_handle = self.runner.run(
            probe,
            on_success=on_probed,
            on_failure=on_probe_failed,
            label="Look up keyring",
        )

    def _check_stored_key(self, account_name: str) -> None:
        keys = self.keys

        def has_key(context: TaskContext) -> bool:
            return keys.get_private_key(account_name) is not None

        def on_checked(stored: bool) -> None:
            if self.editing_name == account_name:
                self.stored_key = stored
                self._update_private_key_placeholder()

        def on_check_failed(error: BaseException) -> None:
            log.info("Could not check the stored key of %r: %s", account_name, error)

        self.runner.run(
            has_key,
            on_success=on_checked,
            on_failure=on_check_failed,
            label="Check stored key",
        )

    def _update_private_key_placeholder(self) -> None:
        """Say whether and where the private key is stored, never the key itself."""
        where = self.backend_name or "the keyring"
        if self.keyring_problem:
            text = "Cannot be stored: no usable keyring (see below)"
        elif self.editing_name is None or self.stored_key is False:
            text = "Paste the private key from Elucidat"
        elif self.stored_key:
            text = f"Stored in {where}"
        else:
            text = "Checking the keyring…"
        self.private_key_edit.setPlaceholderText(text)

    # Feedback ------------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        self.message_label.setText(redact(text))

    def _on_task_failed(self, error: BaseException, action: str = "") -> None:
        self._end_busy()
        if isinstance(error, ReleaseDeskError):
            text = str(error)
            if action:
                text = f"{action}: {text}"
            self.show_message(text)
            if isinstance(error, InputError):
                self._focus_field(error.field)
            return
        log.error(
            "Account task failed with an unexpected error",
            exc_info=(type(error), error, error.__traceback__),
        )
        self.show_message(
            f"{action or 'The task failed'}: an unexpected error occurred "
            f"({type(error).__name__}). The log file has the details."
        )

    def _focus_field(self, field: str | None) -> None:
        widgets = {
            "name": self.name_edit,
            "base_url": self.base_url_edit,
            "public_key": self.public_key_edit,
            "private_key": self.private_key_edit,
        }
        widget = widgets.get(field or "")
        if widget is not None:
            widget.setFocus()
            widget.selectAll()

    def _start_busy(self) -> None:
        self._busy_count += 1
        self._update_buttons()

    def _end_busy(self) -> None:
        self._busy_count = max(0, self._busy_count - 1)
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = self._busy_count == 0
        selected = self.editing_name is not None
        self.save_button.setEnabled(idle)
        self.test_button.setEnabled(idle)
        self.add_button.setEnabled(idle)
        self.remove_button.setEnabled(idle and selected)
        self.activate_button.setEnabled(idle and selected)

    def done(self, result: int) -> None:
        """Close the dialog; stop waiting for a connection test or keyring lookup.

        Saves and removals that already started run to the end.
        """
        for handle in (self._test_handle, self._keyring_handle):
            if handle is not None:
                handle.cancel()
        super().done(result)
