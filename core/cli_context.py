"""The context each command receives, and its connections to Elucidat and history."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from core.accounts import (
    AccountStore,
    Credentials,
    normalize_base_url,
    resolve_credentials,
)
from core.cli_output import Output
from core.client import ElucidatClient
from core.history import HistoryStore
from core.logs import register_secret
from core.paths import AppPaths

log = logging.getLogger(__name__)


@dataclass
class CommandContext:
    """The parsed arguments, the app's folders, the output and the environment."""

    args: argparse.Namespace
    paths: AppPaths
    output: Output
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)


@dataclass(frozen=True)
class Connection:
    """A client signed with the resolved keys, and where the keys came from."""

    client: ElucidatClient
    credentials: Credentials
    base_url: str


@contextmanager
def connect(context: CommandContext) -> Iterator[Connection]:
    """Resolve the keys, open a client on them, and close it afterwards.

    `--api-url` replaces the account's base URL: https, or plain http to a loopback
    host only. Raises ConfigurationError or KeyringError when no keys are found, and
    InputError for an invalid `--api-url` or an unknown `--account`.
    """
    api_url = context.args.api_url
    if api_url is not None:
        api_url = normalize_base_url(api_url)

    store = AccountStore(context.paths.config_file)
    credentials = resolve_credentials(
        store,
        store.keys,
        account_name=context.args.account,
        environ=context.environ,
    )
    register_secret(credentials.private_key)
    base_url = api_url or credentials.base_url
    log.info(
        "Using account %r (keys from %s) at %s",
        credentials.account_name,
        credentials.source,
        base_url,
    )

    client = ElucidatClient(base_url, credentials.public_key, credentials.private_key)
    try:
        yield Connection(client=client, credentials=credentials, base_url=base_url)
    finally:
        client.close()


@contextmanager
def open_history(context: CommandContext) -> Iterator[HistoryStore]:
    """Open the release history shared with the window, and close it afterwards."""
    history = HistoryStore(context.paths.history_file)
    try:
        yield history
    finally:
        history.close()
