"""A signed HTTP client for the sandbox tests, built on core.signing and requests.

It contains no tests. The other test_sandbox_* modules import it, so every call they
make is signed by the app's signer and checked by the sandbox's separate verifier. A
difference between the two shows up as a 401.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import requests

from core.signing import encode_pairs, sign_request
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY

TIMEOUT = 10.0
DATA_PROTECTION = "5dd580064b0b7"  # Demo project with a scorm and an online release.
FIRE_SAFETY = "5e5cce5d0c80a"  # Demo project with an offline-backup release.
MANUAL_HANDLING = "65ca013815ab9"  # Demo project without releases.


class SignedClient:
    """Send signed calls to one sandbox; each field list is sent in the order given."""

    def __init__(
        self,
        base_url: str,
        *,
        public_key: str = DEMO_PUBLIC_KEY,
        private_key: str = DEMO_PRIVATE_KEY,
    ) -> None:
        self.base_url = base_url
        self.public_key = public_key
        self.private_key = private_key
        self.session = requests.Session()

    def fetch_nonce(self, path: str = "projects", method: str = "GET") -> str:
        response = self.send(method, path, nonce=None)
        assert response.status_code == 200, response.text
        return str(response.json()["nonce"])

    def call(
        self, method: str, path: str, fields: Iterable[tuple[str, str]] = ()
    ) -> requests.Response:
        """Fetch a nonce from the same path, then send the signed call."""
        nonce = self.fetch_nonce(path, method)
        return self.send(method, path, fields, nonce=nonce)

    def send(
        self,
        method: str,
        path: str,
        fields: Iterable[tuple[str, str]] = (),
        *,
        nonce: str | None,
        timestamp: int | None = None,
        public_key: str | None = None,
        private_key: str | None = None,
        sent_fields: Iterable[tuple[str, str]] | None = None,
    ) -> requests.Response:
        """Sign fields and send one request.

        sent_fields replaces the fields on the wire after signing, to tamper with a
        signed call.
        """
        url = self.base_url + path
        signed = sign_request(
            method,
            url,
            fields,
            public_key=public_key or self.public_key,
            private_key=private_key or self.private_key,
            nonce=nonce,
            timestamp=int(time.time()) if timestamp is None else timestamp,
        )
        encoded = signed.encoded_fields
        if sent_fields is not None:
            encoded = encode_pairs(sent_fields)
        return self.send_raw(method, path, signed.authorization, encoded)

    def send_raw(
        self, method: str, path: str, authorization: str | None, encoded: str = ""
    ) -> requests.Response:
        """Send an already encoded query string or form body as it is."""
        headers = {"Accept": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        url = self.base_url + path
        if method == "GET":
            return self.session.get(
                url + (f"?{encoded}" if encoded else ""),
                headers=headers,
                timeout=TIMEOUT,
            )
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.session.request(
            method, url, data=encoded.encode("ascii"), headers=headers, timeout=TIMEOUT
        )

    def create(self, **fields: str) -> requests.Response:
        return self.call("POST", "releases/create", list(fields.items()))

    def details(self, release_code: str) -> requests.Response:
        return self.call("GET", "releases/details", [("release_code", release_code)])

    def close(self) -> None:
        self.session.close()
