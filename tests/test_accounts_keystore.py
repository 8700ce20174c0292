"""KeyStore against keyring backends that fail, block, lock or keep secrets in files.

The backends here behave like real ones do when they fail. They are keyring's own
`fail` and `null` backends, a backend that blocks like an unlock prompt, ones that raise
D-Bus style errors, and a stand-in for the `keyrings.alt` plaintext backend. That
package itself must not be installed, because it would become the default backend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest

from core.accounts import Account, AccountStore, KeyStore, resolve_credentials
from core.errors import ConfigurationError, InputError, KeyringError
from core.keystore import NoUsableKeyringError, _no_keyring_message
from core.logs import setup_logging
from core.paths import app_paths
from tests.conftest import MemoryKeyring

PRIVATE_KEY = "SECRETnobackend0123456789"
LRS_PASSWORD = "LRSsecretPassword42"
SERVICE = "release-desk"


class PlaintextFileKeyring(MemoryKeyring):
    """Stands in for keyrings.alt.file.PlaintextKeyring; it never touches disk here."""


PlaintextFileKeyring.__module__ = "keyrings.alt.file"


class BlockingKeyring(keyring.backend.KeyringBackend):
    """A backend whose calls wait, as Secret Service does behind an unlock prompt."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(30)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(30)

    def delete_password(self, service: str, username: str) -> None:
        self.release.wait(30)


class RaisingKeyring(keyring.backend.KeyringBackend):
    """A backend whose every call raises the given error."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


class UndeletableKeyring(MemoryKeyring):
    """Keeps entries, but refuses to delete them."""

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.PasswordDeleteError("Access denied by policy")


@pytest.fixture
def keys() -> KeyStore:
    return KeyStore(timeout=5.0)


@pytest.fixture
def release_log(app_home: Path) -> Iterator[Path]:
    """Log to the app's rotating log file under RELEASE_DESK_HOME, then undo it."""
    root = logging.getLogger()
    level = root.level
    log_file = app_paths().log_file
    setup_logging(logging.DEBUG, log_file)
    yield log_file
    for handler in list(root.handlers):
        if getattr(handler, "_release_desk", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def files_containing(folder: Path, secret: str) -> list[Path]:
    needle = secret.encode("utf-8")
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    ]


# A working keyring


def test_private_key_round_trip(keys: KeyStore, memory_keyring: MemoryKeyring) -> None:
    keys.set_private_key("Acme", PRIVATE_KEY)

    assert memory_keyring.passwords == {(SERVICE, "account:Acme"): PRIVATE_KEY}
    assert keys.get_private_key("Acme") == PRIVATE_KEY
    keys.delete_private_key("Acme")
    assert keys.get_private_key("Acme") is None
    assert memory_keyring.passwords == {}


def test_lrs_password_round_trip(keys: KeyStore, memory_keyring: MemoryKeyring) -> None:
    keys.set_lrs_password("Acme", "5dd580064b0b7", LRS_PASSWORD)

    assert memory_keyring.passwords == {
        (SERVICE, "lrs:Acme:5dd580064b0b7"): LRS_PASSWORD
    }
    assert keys.get_lrs_password("Acme", "5dd580064b0b7") == LRS_PASSWORD
    keys.delete_lrs_password("Acme", "5dd580064b0b7")
    assert keys.get_lrs_password("Acme", "5dd580064b0b7") is None


def test_delete_missing_entry_is_quiet(keys: KeyStore) -> None:
    keys.delete_private_key("Nobody")
    keys.delete_lrs_password("Nobody", "5dd580064b0b7")

    assert keys.get_private_key("Nobody") is None


def test_working_backend_passes_check(keys: KeyStore) -> None:
    keys.check()

    assert keys.backend_name() == "conftest MemoryKeyring"


def test_read_secret_is_redacted_in_logs(
    keys: KeyStore, release_log: Path, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.passwords[(SERVICE, "account:Acme")] = "SECRETfromKeyring777"

    secret = keys.get_private_key("Acme")
    logging.getLogger("tests").warning("signing with %s", secret)

    text = release_log.read_text(encoding="utf-8")
    assert "signing with ***" in text
    assert "SECRETfromKeyring777" not in text


@pytest.mark.parametrize("value", ["", "two words", "line\nbreak"])
def test_invalid_private_key_rejected(
    keys: KeyStore, memory_keyring: MemoryKeyring, value: str
) -> None:
    with pytest.raises(InputError) as caught:
        keys.set_private_key("Acme", value)

    assert caught.value.field == "private_key"
    assert memory_keyring.passwords == {}


# No usable keyring


@pytest.mark.parametrize(
    ("backend", "name"),
    [
        (keyring.backends.fail.Keyring(), "no keyring backend"),
        (keyring.backends.null.Keyring(), "the null keyring"),
        (PlaintextFileKeyring(), "the keyrings.alt backend PlaintextFileKeyring"),
    ],
)
def test_unusable_backend_is_rejected(
    keys: KeyStore, backend: keyring.backend.KeyringBackend, name: str
) -> None:
    keyring.set_keyring(backend)

    with pytest.raises(NoUsableKeyringError) as caught:
        keys.check()

    message = str(caught.value)
    assert message.startswith("No usable keyring was found")
    assert name in message
    assert "never in a file" in message
    assert "ELUCIDAT_PUBLIC_KEY" in message
    assert keys.backend_name().startswith(name)
    with pytest.raises(NoUsableKeyringError):
        keys.set_private_key("Acme", PRIVATE_KEY)
    with pytest.raises(NoUsableKeyringError):
        keys.get_private_key("Acme")


def test_plaintext_backend_gets_nothing(keys: KeyStore) -> None:
    plaintext = PlaintextFileKeyring()
    keyring.set_keyring(plaintext)

    with pytest.raises(NoUsableKeyringError):
        keys.set_private_key("Acme", PRIVATE_KEY)
    with pytest.raises(NoUsableKeyringError):
        keys.set_lrs_password("Acme", "5dd580064b0b7", LRS_PASSWORD)

    assert plaintext.passwords == {}


def test_linux_message_names_packages() -> None:
    message = _no_keyring_message("no keyring backend", platform="linux")

    assert "GNOME Keyring (package gnome-keyring) or KWallet" in message
    assert "unlock" in message


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_desktop_message_says_built_in(platform: str) -> None:
    message = _no_keyring_message("no keyring backend", platform=platform)

    assert "built into macOS and Windows" in message
    assert "gnome-keyring" not in message


def make_chainer(
    *backends: keyring.backend.KeyringBackend,
) -> keyring.backends.chainer.ChainerBackend:
    chain_type = type(
        "TestChainer",
        (keyring.backends.chainer.ChainerBackend,),
        {"backends": list(backends)},
    )
    return chain_type()  # type: ignore[no-any-return]


def test_chainer_skips_plaintext(keys: KeyStore, memory_keyring: MemoryKeyring) -> None:
    plaintext = PlaintextFileKeyring()
    keyring.set_keyring(make_chainer(plaintext, memory_keyring))

    keys.set_private_key("Acme", PRIVATE_KEY)

    assert plaintext.passwords == {}
    assert memory_keyring.passwords == {(SERVICE, "account:Acme"): PRIVATE_KEY}
    assert keys.backend_name() == "conftest MemoryKeyring"


def test_chainer_of_plaintext_only(keys: KeyStore) -> None:
    plaintext = PlaintextFileKeyring()
    keyring.set_keyring(make_chainer(plaintext))

    with pytest.raises(NoUsableKeyringError, match=r"keyrings\.alt"):
        keys.set_private_key("Acme", PRIVATE_KEY)

    assert plaintext.passwords == {}


def test_empty_chainer(keys: KeyStore) -> None:
    keyring.set_keyring(make_chainer())

    with pytest.raises(NoUsableKeyringError, match="keyring found no backend"):
        keys.check()
    assert keys.backend_name() == "no keyring backend"


def test_no_backend_config_still_works(
    keys: KeyStore, app_home: Path, release_log: Path
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    store = AccountStore(app_paths().config_file, keys)
    acme = Account("Acme", public_key="PUBacme")

    with pytest.raises(KeyringError, match="No usable keyring"):
        store.add(acme, PRIVATE_KEY)
    assert store.accounts() == []

    store.add(acme)
    store.add(Account("Beta", public_key="PUBbeta"))
    store.set_active("Beta")
    store.update("Acme", Account("Acme Learning", public_key="PUBnew"))
    with pytest.raises(KeyringError, match="No usable keyring"):
        store.update("Beta", Account("Beta", public_key="PUBbeta"), PRIVATE_KEY)
    with pytest.raises(KeyringError, match="No usable keyring"):
        store.set_lrs_password("Beta", "5dd580064b0b7", LRS_PASSWORD)
    store.remove("Acme Learning")

    assert [account.name for account in store.accounts()] == ["Beta"]
    assert store.active_name == "Beta"
    with pytest.raises(KeyringError, match="No usable keyring"):
        resolve_credentials(store, keys, environ={})
    credentials = resolve_credentials(
        store,
        keys,
        environ={
            "ELUCIDAT_PUBLIC_KEY": "PUBenv",
            "ELUCIDAT_PRIVATE_KEY": PRIVATE_KEY,
        },
    )
    assert credentials.source == "environment"
    logging.getLogger("tests").info("resolved %r with %s", credentials, PRIVATE_KEY)

    assert release_log.exists()
    assert app_paths().config_file.exists()
    assert files_containing(app_home, PRIVATE_KEY) == []
    assert files_containing(app_home, LRS_PASSWORD) == []


# Keyrings that block, lock or refuse


def test_blocking_keyring_times_out() -> None:
    backend = BlockingKeyring()
    keyring.set_keyring(backend)
    keys = KeyStore(timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(KeyringError) as caught:
            keys.get_private_key("Acme")
        elapsed = time.monotonic() - started
    finally:
        backend.release.set()

    assert 0.25 <= elapsed < 2.0
    message = str(caught.value)
    assert "did not respond within 0.3 seconds" in message
    assert 'read the private key of account "Acme"' in message
    assert "locked" in message
    assert "prompt" in message


def test_blocking_set_times_out() -> None:
    backend = BlockingKeyring()
    keyring.set_keyring(backend)
    keys = KeyStore(timeout=0.2)
    try:
        with pytest.raises(KeyringError, match="did not respond"):
            keys.set_private_key("Acme", PRIVATE_KEY)
    finally:
        backend.release.set()


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (keyring.errors.KeyringLocked("Failed to unlock the collection!"), "is locked"),
        (
            keyring.errors.InitError(
                "Failed to create the collection: Prompt dismissed"
            ),
            'refused or failed ("Failed to create the collection: Prompt dismissed")',
        ),
        (
            keyring.errors.PasswordSetError("Access denied"),
            'refused or failed ("Access denied")',
        ),
        (
            RuntimeError("org.freedesktop.DBus.Error.NoReply"),
            'refused or failed ("org.freedesktop.DBus.Error.NoReply")',
        ),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "refused or failed",
        ),
    ],
)
def test_backend_errors_get_words(
    keys: KeyStore, error: BaseException, words: str
) -> None:
    keyring.set_keyring(RaisingKeyring(error))

    with pytest.raises(KeyringError) as caught:
        keys.set_private_key("Acme", PRIVATE_KEY)

    assert words in str(caught.value)
    assert 'store the private key of account "Acme"' in str(caught.value)
    assert isinstance(caught.value, ConfigurationError)


def test_no_keyring_error_from_backend(keys: KeyStore) -> None:
    keyring.set_keyring(RaisingKeyring(keyring.errors.NoKeyringError("none here")))

    with pytest.raises(NoUsableKeyringError, match=r"No usable keyring .*none here"):
        keys.get_private_key("Acme")


def test_backend_error_hides_secret(keys: KeyStore) -> None:
    keyring.set_keyring(RaisingKeyring(RuntimeError(f"cannot store {PRIVATE_KEY}")))

    with pytest.raises(KeyringError) as caught:
        keys.set_private_key("Acme", PRIVATE_KEY)

    assert PRIVATE_KEY not in str(caught.value)
    assert "cannot store ***" in str(caught.value)


def test_bug_in_backend_is_not_hidden(keys: KeyStore) -> None:
    keyring.set_keyring(RaisingKeyring(ValueError("a bug")))

    with pytest.raises(ValueError, match="a bug"):
        keys.get_private_key("Acme")


def test_refused_delete_is_reported(keys: KeyStore) -> None:
    backend = UndeletableKeyring()
    keyring.set_keyring(backend)
    keys.set_private_key("Acme", PRIVATE_KEY)

    with pytest.raises(KeyringError, match="Access denied by policy"):
        keys.delete_private_key("Acme")

    assert backend.passwords == {(SERVICE, "account:Acme"): PRIVATE_KEY}


def test_refused_delete_keeps_account(keys: KeyStore) -> None:
    keyring.set_keyring(UndeletableKeyring())
    store = AccountStore(app_paths().config_file, keys)
    store.add(Account("Acme", public_key="PUBacme"), PRIVATE_KEY)

    with pytest.raises(KeyringError, match='delete the private key of account "Acme"'):
        store.remove("Acme")

    assert [account.name for account in store.accounts()] == ["Acme"]
