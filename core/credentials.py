"""Credentials: the keys and API base URL that sign requests.

Kept apart from `core.accounts` so that code which only needs credentials (the
sandbox window, tests) does not import the keyring.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from core.errors import InputError
from core.logs import register_secret

DEFAULT_BASE_URL = "https://api.elucidat.com/v2/"
SANDBOX_ACCOUNT_NAME = "Sandbox"

#: The origin of a private key. "entered" is a key typed into a form and not stored.
CredentialSource = Literal["environment", "keyring", "sandbox", "entered"]


@dataclass(frozen=True)
class Credentials:
    """The keys and base URL for signing requests. repr leaves out the private key."""

    account_name: str
    base_url: str
    public_key: str
    private_key: str = field(repr=False)
    source: CredentialSource

    @classmethod
    def for_sandbox(
        cls, base_url: str, public_key: str, private_key: str
    ) -> Credentials:
        """Build credentials for the local sandbox, in memory, without the keyring."""
        register_secret(private_key)
        return cls(
            account_name=SANDBOX_ACCOUNT_NAME,
            base_url=normalize_base_url(base_url),
            public_key=public_key,
            private_key=private_key,
            source="sandbox",
        )


def normalize_base_url(url: str) -> str:
    """Return the API base URL with a trailing slash, or raise InputError.

    Only https is accepted, except plain http to a loopback host (the local sandbox),
    because requests carry the public key and signatures.
    """
    text = url.strip()
    if not text:
        raise InputError(
            f"The API base URL is empty. Use {DEFAULT_BASE_URL} for Elucidat.",
            field="base_url",
        )
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if scheme not in ("https", "http") or not host:
        raise InputError(
            f'The API base URL "{text}" is not a web address. Use a full https '
            f"address such as {DEFAULT_BASE_URL}.",
            field="base_url",
        )
    if scheme == "http" and not is_loopback_host(host):
        raise InputError(
            f'The API base URL "{text}" does not use https. Use https, for example '
            f"{DEFAULT_BASE_URL}. Plain http is allowed only for the local sandbox "
            "on 127.0.0.1 or localhost.",
            field="base_url",
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InputError(
            f'The API base URL "{text}" contains a user name, query or fragment. '
            f"Use only scheme, host and path, for example {DEFAULT_BASE_URL}.",
            field="base_url",
        )
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{scheme}://{parts.netloc}{path}"


def is_loopback_host(host: str) -> bool:
    """Return whether host is localhost or a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
