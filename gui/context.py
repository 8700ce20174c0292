"""What the window works with: folders, history, accounts, credentials and clients.

Clients are made per worker thread, because a `requests.Session` is not meant to be
shared between threads. Each thread keeps its own connection open to the API. The
clients are keyed by thread id, because a `threading.local` was seen to start empty
for every task on a QThreadPool thread (PySide6 6.12).

The account store, the keyring and the HTTP client are imported on first use, so the
window shows sooner and `--sandbox` never loads the keyring.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import ConfigurationError
from core.history import HistoryStore
from core.paths import AppPaths

if TYPE_CHECKING:
    from core.accounts import AccountStore
    from core.client import ElucidatClient
    from core.credentials import Credentials
    from core.keystore import KeyStore
    from core.service import ReleaseService

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """The window's connection to the core; safe to read from worker threads."""

    paths: AppPaths
    history: HistoryStore
    credentials: Credentials | None = None
    #: Why there are no credentials, in words, when credentials is None.
    credentials_problem: str = ""
    #: The in-process sandbox server of `--sandbox` mode, if any.
    sandbox: Any = None
    #: The stored account to use (`--account`); None means the active one.
    account_name: str | None = None
    #: An API base URL that replaces the account's (`--api-url`).
    api_url: str | None = None
    _accounts: AccountStore | None = field(default=None, repr=False)
    _keys: KeyStore | None = field(default=None, repr=False)
    _clients: dict[int, tuple[Credentials, ElucidatClient]] = field(
        default_factory=dict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def accounts(self) -> AccountStore:
        with self._lock:
            if self._accounts is None:
                from core.accounts import AccountStore

                self._accounts = AccountStore(
                    self.paths.config_file, self.keys_unlocked()
                )
            return self._accounts

    @property
    def keys(self) -> KeyStore:
        with self._lock:
            return self.keys_unlocked()

    def keys_unlocked(self) -> KeyStore:
        if self._keys is None:
            from core.keystore import KeyStore

            self._keys = KeyStore()
        return self._keys

    @property
    def account_label(self) -> str:
        if self.credentials is None:
            return "No account"
        return f"{self.credentials.account_name} ({self.credentials.base_url})"

    def resolve_credentials(self, account_name: str | None = None) -> Credentials:
        """Read the stored account's keys; may block on the keyring, so call it from
        a worker thread."""
        from core.accounts import resolve_credentials

        credentials = resolve_credentials(
            self.accounts, self.keys, account_name or self.account_name
        )
        if self.api_url:
            credentials = dataclasses.replace(credentials, base_url=self.api_url)
        return credentials

    def client(self) -> ElucidatClient:
        """Return this thread's client for the current credentials."""
        credentials = self.credentials
        if credentials is None:
            raise ConfigurationError(
                self.credentials_problem
                or "No Elucidat account is set up. Open Account > Manage accounts "
                "to add one."
            )
        thread = threading.get_ident()
        with self._lock:
            cached = self._clients.get(thread)
        if cached is not None and cached[0] is credentials:
            return cached[1]

        from core.client import ElucidatClient

        client = ElucidatClient(
            credentials.base_url, credentials.public_key, credentials.private_key
        )
        with self._lock:
            self._clients[thread] = (credentials, client)
        if cached is not None:
            cached[1].close()
        return client

    def service(self) -> ReleaseService:
        """Return a release service on this thread's client."""
        from core.service import ReleaseService

        credentials = self.credentials
        client = self.client()
        assert credentials is not None
        return ReleaseService(
            client,
            self.history,
            account_name=credentials.account_name,
            base_url=credentials.base_url,
        )

    def close(self) -> None:
        with self._lock:
            entries, self._clients = list(self._clients.values()), {}
        for _, client in entries:
            client.close()
