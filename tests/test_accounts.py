"""AccountStore, account checks and resolve_credentials, with the in-memory keyring."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading

import pytest

from core.accounts import (
    DEFAULT_BASE_URL,
    SANDBOX_ACCOUNT_NAME,
    Account,
    AccountStore,
    Credentials,
    KeyStore,
    normalize_base_url,
    resolve_credentials,
)
from core.errors import ConfigurationError, InputError, KeyringError
from core.logs import redact
from core.paths import app_paths
from tests.conftest import MemoryKeyring

PRIVATE_KEY = "SECRETprivate0123456789"
OTHER_PRIVATE_KEY = "OTHERsecret9876543210"
SERVICE = "release-desk"


@pytest.fixture
def keys() -> KeyStore:
    return KeyStore(timeout=5.0)


@pytest.fixture
def store(keys: KeyStore) -> AccountStore:
    return AccountStore(app_paths().config_file, keys)


def acme(**changes: str) -> Account:
    fields = {
        "name": "Acme Training",
        "base_url": DEFAULT_BASE_URL,
        "public_key": "PUBLICacme123",
    }
    fields.update(changes)
    return Account(**fields)


def read_config(store: AccountStore) -> dict[str, object]:
    return json.loads(store.config_file.read_text(encoding="utf-8"))


# Adding, reading and the config file


def test_add_stores_key_in_keyring_only(
    store: AccountStore, memory_keyring: MemoryKeyring
) -> None:
    saved = store.add(acme(), PRIVATE_KEY)

    assert saved == acme()
    assert memory_keyring.passwords[(SERVICE, "account:Acme Training")] == PRIVATE_KEY
    config_text = store.config_file.read_text(encoding="utf-8")
    assert PRIVATE_KEY not in config_text
    assert store.accounts() == [acme()]
    assert store.get("Acme Training") == acme()


def test_first_account_becomes_active(store: AccountStore) -> None:
    store.add(acme(), PRIVATE_KEY)
    store.add(acme(name="Beta Agency", public_key="PUBbeta"), OTHER_PRIVATE_KEY)

    assert store.active_name == "Acme Training"
    assert read_config(store)["active_account"] == "Acme Training"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_config_file_mode_0600(store: AccountStore) -> None:
    store.add(acme(), PRIVATE_KEY)

    mode = stat.S_IMODE(store.config_file.stat().st_mode)
    assert mode == 0o600
    leftovers = [p.name for p in store.config_file.parent.iterdir() if ".tmp" in p.name]
    assert leftovers == []


def test_config_keeps_other_settings(store: AccountStore) -> None:
    store.config_file.parent.mkdir(parents=True, exist_ok=True)
    store.config_file.write_text(
        json.dumps({"theme": "dark", "download_dir": "/tmp/x"}), encoding="utf-8"
    )

    store.add(acme(), PRIVATE_KEY)
    store.set_active(None)

    config = read_config(store)
    assert config["theme"] == "dark"
    assert config["download_dir"] == "/tmp/x"
    assert config["active_account"] is None


def test_two_stores_share_file(keys: KeyStore) -> None:
    first = AccountStore(app_paths().config_file, keys)
    second = AccountStore(app_paths().config_file, keys)

    first.add(acme(), PRIVATE_KEY)

    assert second.accounts() == [acme()]
    assert second.active_name == "Acme Training"


def test_concurrent_adds_keep_every_account(keys: KeyStore) -> None:
    stores = [AccountStore(app_paths().config_file, keys) for _ in range(8)]
    errors: list[BaseException] = []

    def add(index: int) -> None:
        try:
            stores[index].add(
                acme(name=f"Account {index}", public_key=f"PUB{index}"),
                f"{PRIVATE_KEY}{index}",
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    names = sorted(account.name for account in stores[0].accounts())
    assert names == sorted(f"Account {i}" for i in range(8))


def test_add_normalizes_fields(store: AccountStore) -> None:
    saved = store.add(
        Account(
            name="  Acme Training ",
            base_url=" https://api.example.test/v2 ",
            public_key=" PUBLICacme123",
        ),
        PRIVATE_KEY,
    )

    assert saved.name == "Acme Training"
    assert saved.base_url == "https://api.example.test/v2/"
    assert store.get("Acme Training").public_key == "PUBLICacme123"


def test_get_missing_account_names_it(store: AccountStore) -> None:
    store.add(acme(), PRIVATE_KEY)

    with pytest.raises(InputError, match='No account named "Nope"') as caught:
        store.get("Nope")

    assert "Acme Training" in str(caught.value)


def test_add_without_key_keeps_keyring_empty(
    store: AccountStore, memory_keyring: MemoryKeyring
) -> None:
    store.add(acme())

    assert store.accounts() == [acme()]
    assert memory_keyring.passwords == {}


# Input checks


@pytest.mark.parametrize(
    ("account", "field", "words"),
    [
        (acme(name="   "), "name", "name is empty"),
        (acme(name="Acme\nTraining"), "name", "control character"),
        (acme(name="x" * 101), "name", "at most 100"),
        (acme(name="sandbox"), "name", "reserved for the built-in sandbox"),
        (
            acme(base_url="http://api.elucidat.com/v2/"),
            "base_url",
            "does not use https",
        ),
        (acme(base_url="ftp://api.elucidat.com/"), "base_url", "not a web address"),
        (acme(base_url="api.elucidat.com/v2"), "base_url", "not a web address"),
        (acme(base_url=""), "base_url", "base URL is empty"),
        (acme(base_url="https://u:p@api.elucidat.com/v2/"), "base_url", "user name"),
        (acme(base_url="https://api.elucidat.com/v2/?a=1"), "base_url", "query"),
        (acme(public_key=""), "public_key", "public key of account"),
        (acme(public_key="PUB LIC"), "public_key", "spaces or line breaks"),
        (acme(public_key="PUBLIC\tkey"), "public_key", "spaces or line breaks"),
    ],
)
def test_add_rejects_invalid_fields(
    store: AccountStore,
    memory_keyring: MemoryKeyring,
    account: Account,
    field: str,
    words: str,
) -> None:
    with pytest.raises(InputError) as caught:
        store.add(account, PRIVATE_KEY)

    assert caught.value.field == field
    assert words in str(caught.value)
    assert memory_keyring.passwords == {}
    assert not store.config_file.exists()


def test_add_rejects_duplicate_name(store: AccountStore) -> None:
    store.add(acme(), PRIVATE_KEY)

    with pytest.raises(InputError, match="already exists") as caught:
        store.add(acme(name="ACME training"), OTHER_PRIVATE_KEY)

    assert caught.value.field == "name"
    assert len(store.accounts()) == 1


def test_add_rejects_empty_private_key(
    store: AccountStore, memory_keyring: MemoryKeyring
) -> None:
    with pytest.raises(InputError, match="private key") as caught:
        store.add(acme(), "")

    assert caught.value.field == "private_key"
    assert store.accounts() == []
    assert memory_keyring.passwords == {}


def test_private_key_error_hides_value(store: AccountStore) -> None:
    with pytest.raises(InputError) as caught:
        store.add(acme(), "SECRET with space")

    assert "SECRET" not in str(caught.value)
    assert "spaces or line breaks" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.elucidat.com/v2/", "https://api.elucidat.com/v2/"),
        ("https://api.elucidat.com/v2", "https://api.elucidat.com/v2/"),
        ("HTTPS://api.elucidat.com", "https://api.elucidat.com/"),
        ("http://127.0.0.1:8765/v2/", "http://127.0.0.1:8765/v2/"),
        ("http://127.5.0.1:8765/v2", "http://127.5.0.1:8765/v2/"),
        ("http://localhost:9000/v2/", "http://localhost:9000/v2/"),
        ("http://[::1]:9000/v2/", "http://[::1]:9000/v2/"),
    ],
)
def test_normalize_base_url_accepts(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://192.168.1.10/v2/",
        "http://10.0.0.1/v2/",
        "http://api.elucidat.com/v2/",
        "http://localhost.example.com/v2/",
    ],
)
def test_normalize_base_url_rejects_plain_http(url: str) -> None:
    with pytest.raises(InputError, match="does not use https"):
        normalize_base_url(url)


# Update, rename, remove


def test_update_keeps_stored_key(
    store: AccountStore, memory_keyring: MemoryKeyring
) -> None:
    store.add(acme(), PRIVATE_KEY)

    store.update("Acme Training", acme(public_key="PUBnew"))

    assert store.get("Acme Training").public_key == "PUBnew"
    assert memory_keyring.passwords[(SERVICE, "account:Acme Training")] == PRIVATE_KEY


def test_update_replaces_private_key(
    store: AccountStore, memory_keyring: MemoryKeyring
) -> None:
    store.add(acme(), PRIVATE_KEY)

    store.update("Acme Training", acme(), OTHER_PRIVATE_KEY)

    stored = memory_keyring.passwords[(SERVICE, "account:Acme Training")]
    assert stored == OTHER_PRIVATE_KEY


def test_rename_moves_keyring_entries(
    store: AccountStore, memory_keyring: MemoryKeyring
) -> None:
    store.add(acme(), PRIVATE_KEY)
    store.set_lrs_password("Acme Training", "5dd580064b0b7", "lrs-pass-1")

    store.update("Acme Training", acme(name="Acme Learning"))

    passwords = memory_keyring.passwords
    assert (SERVICE, "account:Acme Training") not in passwords
    assert passwords[(SERVICE, "account:Acme Learning")] == PRIVATE_KEY
    assert (SERVICE, "lrs:Acme Training:5dd580064b0b7") not in passwords
    assert passwords[(SERVICE, "lrs:Acme Learning:5dd580064b0b7")] == "lrs-pass-1"
    assert store.active_name == "Acme Learning"
    assert store.lrs_projects("Acme Learning") == ["5dd580064b0b7"]
    assert [a.name for a in store.accounts()] == ["Acme Learning"]


def test_rename_with_new_key(
    store: AccountStore, memory_keyring: MemoryKeyring
) -> None:
    store.add(acme(), PRIVATE_KEY)

    store.update("Acme Training", acme(name="Acme Learning"), OTHER_PRIVATE_KEY)

    passwords = memory_keyring.passwords
    assert passwords[(SERVICE, "account:Acme Learning")] == OTHER_PRIVATE_KEY
    assert (SERVICE, "account:Acme Training") not in passwords


class CaseInsensitiveKeyring(MemoryKeyring):
    """Matches usernames ignoring case, as Windows Credential Manager does."""

    def _key(self, service: str, username: str) -> tuple[str, str]:
        return (service, username.casefold())

    def get_password(self, service: str, username: str) -> str | None:
        return super().get_password(*self._key(service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        super().set_password(*self._key(service, username), password)

    def delete_password(self, service: str, username: str) -> None:
        super().delete_password(*self._key(service, username))


def test_case_only_rename_keeps_key(store: AccountStore) -> None:
    import keyring

    backend = CaseInsensitiveKeyring()
    keyring.set_keyring(backend)
    store.add(acme(), PRIVATE_KEY)

    store.update("Acme Training", acme(name="ACME Training"))

    assert store.keys.get_private_key("ACME Training") == PRIVATE_KEY


def test_update_rejects_other_accounts_name(store: AccountStore) -> None:
    store.add(acme(), PRIVATE_KEY)
    store.add(acme(name="Beta Agency", public_key="PUBbeta"), OTHER_PRIVATE_KEY)

    with pytest.raises(InputError, match="already exists"):
        store.update("Beta Agency", acme(name="acme training"))

    assert store.get("Beta Agency").public_key == "PUBbeta"


def test_update_missing_account_raises(store: AccountStore) -> None:
    with pytest.raises(InputError, match='No account named "Ghost"'):
        store.update("Ghost", acme())


def test_remove_deletes_keyring_entries(
    store: AccountStore, memory_keyring: MemoryKeyring
) -> None:
    store.add(acme(), PRIVATE_KEY)
    store.set_lrs_password("Acme Training", "5dd580064b0b7", "lrs-pass-1")
    store.add(acme(name="Beta Agency", public_key="PUBbeta"), OTHER_PRIVATE_KEY)

    store.remove("Acme Training")

    assert [a.name for a in store.accounts()] == ["Beta Agency"]
    assert memory_keyring.passwords == {
        (SERVICE, "account:Beta Agency"): OTHER_PRIVATE_KEY
    }
    # The removed account was active; no other account is chosen silently.
    assert store.active_name is None
    assert read_config(store)["active_account"] is None


def test_remove_without_stored_key(store: AccountStore) -> None:
    store.add(acme())

    store.remove("Acme Training")

    assert store.accounts() == []


def test_set_active_missing_account(store: AccountStore) -> None:
    store.add(acme(), PRIVATE_KEY)

    with pytest.raises(InputError, match='No account named "Ghost"'):
        store.set_active("Ghost")

    assert store.active_name == "Acme Training"


def test_lrs_password_round_trip(
    store: AccountStore, memory_keyring: MemoryKeyring
) -> None:
    store.add(acme(), PRIVATE_KEY)

    store.set_lrs_password("Acme Training", "5dd580064b0b7", "lrs-pass-1")

    assert store.keys.get_lrs_password("Acme Training", "5dd580064b0b7") == (
        "lrs-pass-1"
    )
    assert "lrs-pass-1" not in store.config_file.read_text(encoding="utf-8")
    store.delete_lrs_password("Acme Training", "5dd580064b0b7")
    assert store.keys.get_lrs_password("Acme Training", "5dd580064b0b7") is None
    assert store.lrs_projects("Acme Training") == []


@pytest.mark.parametrize("code", ["", "5dd 58", "a:b"])
def test_lrs_password_rejects_project_code(store: AccountStore, code: str) -> None:
    store.add(acme(), PRIVATE_KEY)

    with pytest.raises(InputError, match="project code") as caught:
        store.set_lrs_password("Acme Training", code, "lrs-pass-1")

    assert caught.value.field == "project_code"


# The config file when it is damaged


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "does not contain a JSON object"),
        ('{"accounts": {}}', '"accounts" is not a list'),
        ('{"accounts": [{"name": "A"}]}', 'account number 1 has no text "base_url"'),
        (
            '{"accounts": [{"name": " ", "base_url": "", "public_key": ""}]}',
            "account number 1 has an empty name",
        ),
    ],
)
def test_damaged_config_is_reported(
    store: AccountStore, content: str, words: str
) -> None:
    store.config_file.parent.mkdir(parents=True, exist_ok=True)
    store.config_file.write_text(content, encoding="utf-8")

    with pytest.raises(ConfigurationError) as caught:
        store.accounts()

    assert words in str(caught.value)
    assert str(store.config_file) in str(caught.value)
    # A damaged file is never overwritten.
    with pytest.raises(ConfigurationError):
        store.add(acme(), PRIVATE_KEY)
    assert store.config_file.read_text(encoding="utf-8") == content


# Credentials and resolve_credentials


def test_credentials_repr_hides_private_key() -> None:
    credentials = Credentials(
        account_name="Acme",
        base_url=DEFAULT_BASE_URL,
        public_key="PUB",
        private_key=PRIVATE_KEY,
        source="keyring",
    )

    assert PRIVATE_KEY not in repr(credentials)
    assert PRIVATE_KEY not in str(credentials)
    assert "PUB" in repr(credentials)


def test_for_sandbox_skips_keyring(memory_keyring: MemoryKeyring) -> None:
    credentials = Credentials.for_sandbox(
        "http://127.0.0.1:8123/v2", "SANDBOXpub", "SANDBOXprivate"
    )

    assert credentials.account_name == SANDBOX_ACCOUNT_NAME
    assert credentials.base_url == "http://127.0.0.1:8123/v2/"
    assert credentials.source == "sandbox"
    assert credentials.private_key == "SANDBOXprivate"
    assert memory_keyring.passwords == {}


def test_resolve_active_account(store: AccountStore, keys: KeyStore) -> None:
    store.add(acme(base_url="https://eu.example.test/v2/"), PRIVATE_KEY)

    credentials = resolve_credentials(store, keys, environ={})

    assert credentials.account_name == "Acme Training"
    assert credentials.base_url == "https://eu.example.test/v2/"
    assert credentials.public_key == "PUBLICacme123"
    assert credentials.private_key == PRIVATE_KEY
    assert credentials.source == "keyring"
    # The key is now redacted from any log line.
    assert PRIVATE_KEY not in redact(f"signing with {PRIVATE_KEY}")


def test_resolve_named_account(store: AccountStore, keys: KeyStore) -> None:
    store.add(acme(), PRIVATE_KEY)
    store.add(acme(name="Beta Agency", public_key="PUBbeta"), OTHER_PRIVATE_KEY)

    credentials = resolve_credentials(store, keys, "Beta Agency", environ={})

    assert credentials.account_name == "Beta Agency"
    assert credentials.private_key == OTHER_PRIVATE_KEY


def test_resolve_environment_wins(store: AccountStore, keys: KeyStore) -> None:
    store.add(acme(), PRIVATE_KEY)
    environ = {
        "ELUCIDAT_PUBLIC_KEY": " ENVpublic ",
        "ELUCIDAT_PRIVATE_KEY": "ENVprivate123\n",
    }

    credentials = resolve_credentials(store, keys, environ=environ)

    assert credentials.source == "environment"
    assert credentials.public_key == "ENVpublic"
    assert credentials.private_key == "ENVprivate123"
    assert credentials.base_url == DEFAULT_BASE_URL
    assert "ENVprivate123" not in redact("key ENVprivate123")


def test_resolve_environment_api_url(store: AccountStore, keys: KeyStore) -> None:
    store.add(acme(), PRIVATE_KEY)
    environ = {"ELUCIDAT_API_URL": "http://127.0.0.1:8999/v2"}

    credentials = resolve_credentials(store, keys, environ=environ)

    assert credentials.source == "keyring"
    assert credentials.base_url == "http://127.0.0.1:8999/v2/"


def test_resolve_rejects_plain_http_api_url(
    store: AccountStore, keys: KeyStore
) -> None:
    store.add(acme(), PRIVATE_KEY)

    with pytest.raises(ConfigurationError, match="ELUCIDAT_API_URL is invalid"):
        resolve_credentials(
            store, keys, environ={"ELUCIDAT_API_URL": "http://evil.example/v2/"}
        )


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"ELUCIDAT_PUBLIC_KEY": "ENVpublic"}, "ELUCIDAT_PRIVATE_KEY is missing"),
        ({"ELUCIDAT_PRIVATE_KEY": "ENVprivate123"}, "ELUCIDAT_PUBLIC_KEY is missing"),
        (
            {"ELUCIDAT_PUBLIC_KEY": "ENVpublic", "ELUCIDAT_PRIVATE_KEY": "  "},
            "ELUCIDAT_PRIVATE_KEY is missing",
        ),
    ],
)
def test_resolve_half_environment_fails(
    store: AccountStore, keys: KeyStore, environ: dict[str, str], missing: str
) -> None:
    store.add(acme(), PRIVATE_KEY)

    with pytest.raises(ConfigurationError) as caught:
        resolve_credentials(store, keys, environ=environ)

    assert missing in str(caught.value)
    assert "ENVprivate123" not in str(caught.value)


def test_resolve_without_accounts(store: AccountStore, keys: KeyStore) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_credentials(store, keys, environ={})

    message = str(caught.value)
    assert "No Elucidat account is set up" in message
    assert "Account > Manage accounts" in message
    assert "ELUCIDAT_PUBLIC_KEY" in message
    assert "ELUCIDAT_PRIVATE_KEY" in message


def test_resolve_without_active_account(store: AccountStore, keys: KeyStore) -> None:
    store.add(acme(), PRIVATE_KEY)
    store.set_active(None)

    with pytest.raises(ConfigurationError, match="No account is selected") as caught:
        resolve_credentials(store, keys, environ={})

    assert '"Acme Training"' in str(caught.value)


def test_resolve_missing_private_key(store: AccountStore, keys: KeyStore) -> None:
    store.add(acme())

    with pytest.raises(ConfigurationError) as caught:
        resolve_credentials(store, keys, environ={})

    message = str(caught.value)
    assert 'No private key is stored for account "Acme Training"' in message
    assert "Account > Manage accounts" in message
    assert "ELUCIDAT_PRIVATE_KEY" in message


def test_resolve_hand_edited_http_url(store: AccountStore, keys: KeyStore) -> None:
    store.add(acme(), PRIVATE_KEY)
    config = read_config(store)
    config["accounts"][0]["base_url"] = "http://api.elucidat.com/v2/"  # type: ignore[index]
    store.config_file.write_text(json.dumps(config), encoding="utf-8")

    with pytest.raises(ConfigurationError, match="invalid API base URL"):
        resolve_credentials(store, keys, environ={})


def test_resolve_uses_process_environment(
    store: AccountStore, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELUCIDAT_PUBLIC_KEY", "ENVpublic")
    monkeypatch.setenv("ELUCIDAT_PRIVATE_KEY", "ENVprivate123")

    credentials = resolve_credentials(store, keys)

    assert credentials.source == "environment"
    assert os.environ["ELUCIDAT_PUBLIC_KEY"] == credentials.public_key


def test_resolve_reports_keyring_failure(store: AccountStore, keys: KeyStore) -> None:
    import keyring
    import keyring.backends.fail

    store.add(acme(), PRIVATE_KEY)
    keyring.set_keyring(keyring.backends.fail.Keyring())

    with pytest.raises(KeyringError, match="No usable keyring"):
        resolve_credentials(store, keys, environ={})


def test_failed_save_leaves_no_key(
    store: AccountStore,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A full or read-only disk cannot be made here (tests may run as root), so the
    # final rename fails instead.
    store.add(acme(name="Beta Agency", public_key="PUBbeta"), OTHER_PRIVATE_KEY)
    before = store.config_file.read_bytes()

    def fail_replace(source: str, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.accounts.os.replace", fail_replace)
    with pytest.raises(OSError, match="No space left"):
        store.add(acme(), PRIVATE_KEY)

    assert (SERVICE, "account:Acme Training") not in memory_keyring.passwords
    assert store.config_file.read_bytes() == before
    leftovers = [p.name for p in store.config_file.parent.iterdir() if ".tmp" in p.name]
    assert leftovers == []
