"""What the window works with: folders, history, accounts, credentials and clients.

Clients are made per worker thread, because a `requests.Session` is not meant to be
shared between threads; each thread keeps its own connection open to the API.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from core.accounts import AccountStore, Credentials
from core.client import ElucidatClient
from core.history import HistoryStore
from core.keystore import KeyStore
from core.paths import AppPaths
from core.service import ReleaseService

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """The window's connection to the core; safe to read from worker threads."""

    paths: AppPaths
    history: HistoryStore
    accounts: AccountStore
    keys: KeyStore
    credentials: Credentials | None = None
    #: Why there are no credentials, in words, when credentials is None.
    credentials_problem: str = ""
    #: The in-process sandbox server of `--sandbox` mode, if any.
    sandbox: Any = None
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _clients: list[ElucidatClient] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def account_label(self) -> str:
        if self.credentials is None:
            return "No account"
        return f"{self.credentials.account_name} ({self.credentials.base_url})"

    def client(self) -> ElucidatClient:
        """Return this thread's client for the current credentials."""
        credentials = self.credentials
        if credentials is None:
            from core.errors import ConfigurationError

            raise ConfigurationError(
                self.credentials_problem
                or "No Elucidat account is set up. Open Account > Manage accounts "
                "to add one."
            )
        cached = getattr(self._local, "entry", None)
        if cached is not None and cached[0] is credentials:
            return cached[1]  # type: ignore[no-any-return]
        client = ElucidatClient(
            credentials.base_url, credentials.public_key, credentials.private_key
        )
        self._local.entry = (credentials, client)
        with self._lock:
            self._clients.append(client)
        return client

    def service(self) -> ReleaseService:
        """Return a release service on this thread's client."""
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
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
