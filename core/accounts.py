"""Elucidat accounts: names, API base URLs and public keys, plus the active account.

Accounts are kept in the app's config JSON (`core.paths.app_paths().config_file`) under
``"accounts"``, with the active account's name under ``"active_account"``. Other keys
in that file are kept as they are. The file is replaced atomically (temp file, then
`os.replace`) and is readable by its owner only (mode 0600).

Secrets never go into that file. They live in the OS keyring under the service name
``release-desk``:

- username ``account:<account name>``: the account's private key;
- username ``lrs:<account name>:<project code>``: the account's xAPI LRS password for
  one project. The config file lists those project codes (not the passwords) under the
  account's ``"lrs_projects"``, so a rename or removal can move or delete them.

`resolve_credentials` picks the keys for a call: ``ELUCIDAT_PUBLIC_KEY`` and
``ELUCIDAT_PRIVATE_KEY`` from the environment when set, else the stored account.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.credentials import (
    DEFAULT_BASE_URL,
    SANDBOX_ACCOUNT_NAME,
    Credentials,
    normalize_base_url,
)
from core.errors import ConfigurationError, InputError
from core.keystore import (
    SERVICE_NAME,
    KeyStore,
    NoUsableKeyringError,
    check_project_code,
)
from core.logs import register_secret

__all__ = [
    "DEFAULT_BASE_URL",
    "ENVIRONMENT_ACCOUNT_NAME",
    "SANDBOX_ACCOUNT_NAME",
    "SERVICE_NAME",
    "Account",
    "AccountStore",
    "Credentials",
    "KeyStore",
    "normalize_base_url",
    "resolve_credentials",
    "validate_account",
]

log = logging.getLogger(__name__)

ENVIRONMENT_ACCOUNT_NAME = "Environment"
MAX_NAME_LENGTH = 100

PUBLIC_KEY_ENV = "ELUCIDAT_PUBLIC_KEY"
PRIVATE_KEY_ENV = "ELUCIDAT_PRIVATE_KEY"
API_URL_ENV = "ELUCIDAT_API_URL"

_ACCOUNTS_KEY = "accounts"
_ACTIVE_KEY = "active_account"
_LRS_PROJECTS_KEY = "lrs_projects"

_HOW_TO_ADD = (
    "In the window, open Account > Manage accounts and add the account with its "
    f"public and private key. On the command line, set {PUBLIC_KEY_ENV} and "
    f"{PRIVATE_KEY_ENV}."
)


@dataclass(frozen=True)
class Account:
    """One Elucidat account as the config file stores it, without its private key."""

    name: str
    base_url: str = DEFAULT_BASE_URL
    public_key: str = ""


class AccountStore:
    """The accounts in the config file, with their secrets in the keyring.

    Every read goes to the file, so several stores on one file stay in step. Changes
    are serialized per file within this process. A change that touches the keyring
    can wait up to the KeyStore's timeout per keyring call, so the GUI runs changes on
    a worker thread.
    """

    def __init__(self, config_file: Path, keys: KeyStore | None = None) -> None:
        self.config_file = config_file
        self.keys = keys if keys is not None else KeyStore()
        self._lock = _lock_for(config_file)

    def accounts(self) -> list[Account]:
        return [_account_from_entry(entry) for entry in self._entries(self._load())]

    def get(self, name: str) -> Account:
        """Return the account called name; raise InputError when there is none."""
        for account in self.accounts():
            if account.name == name:
                return account
        raise InputError(_not_found_message(name, self.accounts()), field="name")

    @property
    def active_name(self) -> str | None:
        """The active account's name, or None when none is set or it was removed."""
        data = self._load()
        active = data.get(_ACTIVE_KEY)
        names = {entry["name"] for entry in self._entries(data)}
        return active if isinstance(active, str) and active in names else None

    def set_active(self, name: str | None) -> None:
        """Make name the active account; None clears the choice."""
        with self._lock:
            data = self._load()
            if name is not None:
                _find_entry(self._entries(data), name)
            data[_ACTIVE_KEY] = name
            self._save(data)
        log.info("Active account is now %r", name)

    def add(self, account: Account, private_key: str | None = None) -> Account:
        """Add an account and store its private key; return the account as saved.

        With private_key None only the config changes, so the key must be set later
        (or come from the environment). The first account added becomes active.
        """
        with self._lock:
            data = self._load()
            entries = self._entries(data)
            account = validate_account(account, [e["name"] for e in entries])
            if private_key is not None:
                self.keys.set_private_key(account.name, private_key)

            entries.append(_entry_from_account(account, lrs_projects=[]))
            data[_ACCOUNTS_KEY] = entries
            if len(entries) == 1 and data.get(_ACTIVE_KEY) is None:
                data[_ACTIVE_KEY] = account.name
            try:
                self._save(data)
            except OSError:
                if private_key is not None:
                    self._forget_secrets(account.name, [], reason="save failed")
                raise
        log.info("Added account %r (%s)", account.name, account.base_url)
        return account

    def update(
        self, old_name: str, account: Account, private_key: str | None = None
    ) -> Account:
        """Change an account; a rename moves its keyring entries to the new name.

        With private_key None the stored private key is kept.
        """
        with self._lock:
            data = self._load()
            entries = self._entries(data)
            old_entry = _find_entry(entries, old_name)
            other_names = [e["name"] for e in entries if e is not old_entry]
            account = validate_account(account, other_names)
            renamed = account.name != old_name
            lrs_projects = list(old_entry.get(_LRS_PROJECTS_KEY, []))

            secrets = _Secrets(private_key=private_key)
            if renamed:
                secrets = self._read_secrets(old_name, lrs_projects, private_key)
            self._write_secrets(account.name, secrets)

            new_entry = _entry_from_account(account, lrs_projects=lrs_projects)
            entries[entries.index(old_entry)] = new_entry
            data[_ACCOUNTS_KEY] = entries
            if renamed and data.get(_ACTIVE_KEY) == old_name:
                data[_ACTIVE_KEY] = account.name
            self._save(data)

            if renamed:
                self._forget_secrets(old_name, lrs_projects, reason="renamed")
            if renamed and old_name.casefold() == account.name.casefold():
                # Windows Credential Manager matches names ignoring case, so the
                # delete above may have removed the entries just written.
                self._write_secrets(account.name, secrets)
        log.info("Updated account %r (was %r)", account.name, old_name)
        return account

    def remove(self, name: str) -> None:
        """Remove an account and delete its private key and LRS passwords.

        Raises KeyringError, and keeps the account, when the keyring is locked or
        refuses. When no usable keyring exists, nothing can be stored there, so only
        the config changes.
        """
        with self._lock:
            data = self._load()
            entries = self._entries(data)
            entry = _find_entry(entries, name)
            lrs_projects = list(entry.get(_LRS_PROJECTS_KEY, []))
            try:
                self.keys.delete_private_key(name)
                for project_code in lrs_projects:
                    self.keys.delete_lrs_password(name, project_code)
            except NoUsableKeyringError as error:
                log.warning("Removing account %r from config only: %s", name, error)

            entries.remove(entry)
            data[_ACCOUNTS_KEY] = entries
            if data.get(_ACTIVE_KEY) == name:
                # No other account becomes active by itself, so a release never goes
                # to an account the user did not pick.
                data[_ACTIVE_KEY] = None
            self._save(data)
        log.info("Removed account %r", name)

    def lrs_projects(self, account_name: str) -> list[str]:
        """Return the project codes that have an LRS password stored for the account."""
        entry = _find_entry(self._entries(self._load()), account_name)
        return list(entry.get(_LRS_PROJECTS_KEY, []))

    def set_lrs_password(
        self, account_name: str, project_code: str, password: str
    ) -> None:
        """Store an LRS password and record its project code, so rename and remove
        can find it. Prefer this to KeyStore.set_lrs_password."""
        check_project_code(project_code)
        with self._lock:
            data = self._load()
            entry = _find_entry(self._entries(data), account_name)
            self.keys.set_lrs_password(account_name, project_code, password)
            projects: list[str] = list(entry.get(_LRS_PROJECTS_KEY, []))
            if project_code not in projects:
                projects.append(project_code)
                entry[_LRS_PROJECTS_KEY] = projects
                self._save(data)

    def delete_lrs_password(self, account_name: str, project_code: str) -> None:
        """Delete an LRS password and drop its project code from the config."""
        check_project_code(project_code)
        with self._lock:
            data = self._load()
            entry = _find_entry(self._entries(data), account_name)
            self.keys.delete_lrs_password(account_name, project_code)
            projects: list[str] = list(entry.get(_LRS_PROJECTS_KEY, []))
            if project_code in projects:
                projects.remove(project_code)
                entry[_LRS_PROJECTS_KEY] = projects
                self._save(data)

    def _read_secrets(
        self, account_name: str, lrs_projects: list[str], new_private_key: str | None
    ) -> _Secrets:
        """Read an account's keyring entries; new_private_key replaces the stored one.

        Without a usable keyring nothing can have been stored, so the result is empty.
        """
        secrets = _Secrets(private_key=new_private_key)
        try:
            if new_private_key is None:
                secrets.private_key = self.keys.get_private_key(account_name)
            for project_code in lrs_projects:
                password = self.keys.get_lrs_password(account_name, project_code)
                if password is not None:
                    secrets.lrs_passwords[project_code] = password
        except NoUsableKeyringError as error:
            log.warning("Could not read keyring entries of %r: %s", account_name, error)
        return secrets

    def _write_secrets(self, account_name: str, secrets: _Secrets) -> None:
        if secrets.private_key is not None:
            self.keys.set_private_key(account_name, secrets.private_key)
        for project_code, password in secrets.lrs_passwords.items():
            self.keys.set_lrs_password(account_name, project_code, password)

    def _forget_secrets(
        self, account_name: str, lrs_projects: list[str], *, reason: str
    ) -> None:
        """Delete an account's keyring entries, logging (not raising) a failure."""
        try:
            self.keys.delete_private_key(account_name)
            for project_code in lrs_projects:
                self.keys.delete_lrs_password(account_name, project_code)
        except (ConfigurationError, InputError) as error:
            # NOTE: the entries stay in the keyring under the old name until the user
            # deletes them there. A later account with that name would find them.
            log.warning(
                "Could not delete the keyring entries of %r (%s): %s",
                account_name,
                reason,
                error,
            )

    def _load(self) -> dict[str, Any]:
        try:
            text = self.config_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise ConfigurationError(
                f"Could not read the settings file {self.config_file}: "
                f"{error.strerror or error}. Check that it is readable by you."
            ) from error
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise self._invalid_file(f"it is not valid JSON ({error})") from error
        if not isinstance(data, dict):
            raise self._invalid_file("it does not contain a JSON object")
        return data

    def _entries(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Return the account entries of the config data, checked."""
        raw = data.get(_ACCOUNTS_KEY, [])
        if not isinstance(raw, list):
            raise self._invalid_file(f'"{_ACCOUNTS_KEY}" is not a list')
        for index, entry in enumerate(raw, start=1):
            problem = _entry_problem(entry)
            if problem:
                raise self._invalid_file(f"account number {index} {problem}")
        return list(raw)

    def _invalid_file(self, problem: str) -> ConfigurationError:
        return ConfigurationError(
            f"The settings file {self.config_file} is invalid: {problem}. Fix the "
            "file, or move it away to start again with no accounts."
        )

    def _save(self, data: Mapping[str, Any]) -> None:
        _write_atomically(self.config_file, json.dumps(data, indent=2) + "\n")


@dataclass
class _Secrets:
    """An account's keyring entries while they move to a new account name."""

    private_key: str | None = field(default=None, repr=False)
    lrs_passwords: dict[str, str] = field(default_factory=dict, repr=False)


def validate_account(account: Account, existing_names: list[str]) -> Account:
    """Return the account with its fields normalized, or raise InputError.

    existing_names are the other accounts' names; a name that matches one of them,
    ignoring case, is a duplicate.
    """
    name = account.name.strip()
    if not name:
        raise InputError(
            "The account name is empty. Enter a name that tells your accounts apart, "
            'for example "Acme Training".',
            field="name",
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(
            f"The account name is {len(name)} characters long. Use at most "
            f"{MAX_NAME_LENGTH}.",
            field="name",
        )
    if any(not character.isprintable() for character in name):
        raise InputError(
            f"The account name {name!r} contains a control character or line break. "
            "Use letters, digits, spaces and punctuation only.",
            field="name",
        )
    if name.casefold() == SANDBOX_ACCOUNT_NAME.casefold():
        raise InputError(
            f'The account name "{name}" is reserved for the built-in sandbox mode '
            "(--sandbox). Choose another name.",
            field="name",
        )
    if name.casefold() in {other.casefold() for other in existing_names}:
        raise InputError(
            f'An account named "{name}" already exists. Choose another name, or edit '
            "that account instead.",
            field="name",
        )

    base_url = normalize_base_url(account.base_url)

    public_key = account.public_key.strip()
    if not public_key:
        raise InputError(
            f'The public key of account "{name}" is empty. Paste it from Elucidat: '
            "API Access > Project API (v2).",
            field="public_key",
        )
    if any(character.isspace() for character in public_key):
        raise InputError(
            f'The public key of account "{name}" contains spaces or line breaks. '
            "Paste it again without them.",
            field="public_key",
        )
    return Account(name=name, base_url=base_url, public_key=public_key)


def resolve_credentials(
    store: AccountStore,
    keys: KeyStore,
    account_name: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Credentials:
    """Return the credentials for the next API calls.

    ELUCIDAT_PUBLIC_KEY and ELUCIDAT_PRIVATE_KEY, when both are set, win over any
    stored account. ELUCIDAT_API_URL, when set, replaces the base URL. Otherwise the
    named account (or the active one) is read from the store and its private key from
    the keyring.

    Raises ConfigurationError (KeyringError for keyring trouble) with the fix, and
    InputError when account_name is not a stored account.
    """
    api_url = _environment_base_url(environ)
    public_key = environ.get(PUBLIC_KEY_ENV, "").strip()
    private_key = environ.get(PRIVATE_KEY_ENV, "").strip()

    if public_key or private_key:
        return _environment_credentials(public_key, private_key, api_url, account_name)

    name = account_name if account_name is not None else store.active_name
    if name is None:
        raise ConfigurationError(_no_account_message(store.accounts()))
    account = store.get(name)

    stored_key = keys.get_private_key(account.name)
    if stored_key is None:
        raise ConfigurationError(
            f'No private key is stored for account "{account.name}". In the window, '
            "open Account > Manage accounts, select the account and enter its "
            f"private key. On the command line, set {PUBLIC_KEY_ENV} and "
            f"{PRIVATE_KEY_ENV}."
        )
    if not account.public_key:
        raise ConfigurationError(
            f'Account "{account.name}" has no public key. Open Account > Manage '
            "accounts and enter it."
        )
    try:
        base_url = api_url or normalize_base_url(account.base_url)
    except InputError as error:
        raise ConfigurationError(
            f'Account "{account.name}" has an invalid API base URL. {error} Fix it in '
            "Account > Manage accounts."
        ) from error
    return Credentials(
        account_name=account.name,
        base_url=base_url,
        public_key=account.public_key,
        private_key=stored_key,
        source="keyring",
    )


def _environment_credentials(
    public_key: str, private_key: str, api_url: str | None, account_name: str | None
) -> Credentials:
    for variable, value in (
        (PUBLIC_KEY_ENV, public_key),
        (PRIVATE_KEY_ENV, private_key),
    ):
        if not value:
            other = PRIVATE_KEY_ENV if variable == PUBLIC_KEY_ENV else PUBLIC_KEY_ENV
            raise ConfigurationError(
                f"{other} is set but {variable} is missing. Set both, or unset "
                f"{other} to use the stored account."
            )
        if any(character.isspace() for character in value):
            raise ConfigurationError(
                f"{variable} contains spaces or line breaks. Set it again without them."
            )
    register_secret(private_key)
    return Credentials(
        account_name=account_name or ENVIRONMENT_ACCOUNT_NAME,
        base_url=api_url or DEFAULT_BASE_URL,
        public_key=public_key,
        private_key=private_key,
        source="environment",
    )


def _environment_base_url(environ: Mapping[str, str]) -> str | None:
    value = environ.get(API_URL_ENV, "").strip()
    if not value:
        return None
    try:
        return normalize_base_url(value)
    except InputError as error:
        raise ConfigurationError(
            f"{API_URL_ENV} is invalid. {error} Unset it to use the account's URL."
        ) from error


def _no_account_message(accounts: list[Account]) -> str:
    if not accounts:
        return f"No Elucidat account is set up. {_HOW_TO_ADD}"
    names = ", ".join(f'"{account.name}"' for account in accounts)
    return (
        f"No account is selected (stored accounts: {names}). In the window, open "
        "Account > Manage accounts and click Set active. On the command line, pass "
        "the account name or set the environment variables."
    )


def _not_found_message(name: str, accounts: list[Account]) -> str:
    if not accounts:
        return f'No account named "{name}" exists, and none is set up. {_HOW_TO_ADD}'
    names = ", ".join(f'"{account.name}"' for account in accounts)
    return f'No account named "{name}" exists. Stored accounts: {names}.'


def _entry_problem(entry: object) -> str | None:
    if not isinstance(entry, dict):
        return "is not a JSON object"
    for key in ("name", "base_url", "public_key"):
        if not isinstance(entry.get(key), str):
            return f'has no text "{key}"'
    if not entry["name"].strip():
        return "has an empty name"
    projects = entry.get(_LRS_PROJECTS_KEY, [])
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        return f'has a "{_LRS_PROJECTS_KEY}" that is not a list of project codes'
    return None


def _account_from_entry(entry: Mapping[str, Any]) -> Account:
    return Account(
        name=entry["name"], base_url=entry["base_url"], public_key=entry["public_key"]
    )


def _entry_from_account(account: Account, *, lrs_projects: list[str]) -> dict[str, Any]:
    return {
        "name": account.name,
        "base_url": account.base_url,
        "public_key": account.public_key,
        _LRS_PROJECTS_KEY: lrs_projects,
    }


def _find_entry(entries: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for entry in entries:
        if entry["name"] == name:
            return entry
    raise InputError(
        _not_found_message(name, [_account_from_entry(e) for e in entries]),
        field="name",
    )


def _write_atomically(path: Path, text: str) -> None:
    """Replace path with text: a temp file (mode 0600) in the same folder, fsync, then
    os.replace, so a crash leaves the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as temp_file:
            temp_file.write(text)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.chmod(temp_name, 0o600)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


_locks: dict[Path, threading.RLock] = {}
_locks_guard = threading.Lock()


def _lock_for(config_file: Path) -> threading.RLock:
    """Return the lock shared by every AccountStore on config_file in this process."""
    key = config_file.expanduser().resolve()
    with _locks_guard:
        return _locks.setdefault(key, threading.RLock())
