"""Server-side verification of Elucidat's signed requests, and the nonce store.

This is the sandbox's own implementation of the signing rules, written apart from
`core/signing.py` on purpose: if both shared one bug, the sandbox would accept what the
real server rejects. The rules:

- Every name and value is encoded like PHP's `rawurlencode`: the UTF-8 bytes, with
  every byte except `A-Z a-z 0-9 - _ . ~` written as `%XX` in upper-case hex.
- The Authorization header is `enc(name)=enc(value)` pairs joined by commas, with no
  `OAuth ` prefix and no quotes.
- The base string is `METHOD&URL&joined`, where URL has no query string and `joined`
  is the sorted (byte order) OAuth parameters and request fields as `enc(k)=enc(v)`
  joined by `&`. Neither part is encoded a second time.
- The signature is the Base64 HMAC-SHA1 of the base string, keyed with
  `enc(private_key)` and no trailing `&`.

Worked example (Elucidat's own rules, pinned in the tests): POST
`https://api.elucidat.com/v2/releases/create` with public key `PUBLICKEY123`, nonce
`abc123nonce`, timestamp `1700000000`, private key `SECRETabc123` and the fields
`project_code=5dd580064b0b7`, `release_mode=scorm`, `description=Released by API`,
`simulation_mode=simulation` is signed `g3RrJ3uLFSSRfnxqtRRUg9dJxJA=`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

SIGNATURE_METHOD = "HMAC-SHA1"
OAUTH_VERSION = "1.0"
#: Maximum difference in seconds between a request's oauth_timestamp and the clock.
TIMESTAMP_TOLERANCE = 300
#: Default lifetime of an issued nonce, in seconds.
DEFAULT_NONCE_TTL = 300.0

REQUIRED_OAUTH_PARAMS = (
    "oauth_consumer_key",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_version",
    "oauth_signature",
)
OAUTH_PARAMS = frozenset((*REQUIRED_OAUTH_PARAMS, "oauth_nonce"))
# Seconds that an expired or used nonce is remembered after its lifetime.
_RETENTION = 600.0


class AuthError(Exception):
    """A request failed authentication; the message names the problem, not a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedRequestError(Exception):
    """The request's fields cannot be decoded, so there is nothing to verify."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def rawurlencode(text: str) -> str:
    """Percent-encode text like PHP's rawurlencode (RFC 3986, upper-case hex).

    urllib's quote always leaves letters, digits and `_.-~` as they are, which is the
    same unreserved set; `safe=""` makes it encode `/` as well.
    """
    return urllib.parse.quote(text, safe="", encoding="utf-8", errors="strict")


def decode_component(text: str) -> str:
    """Decode %XX escapes as UTF-8; a `+` stays a literal plus, as in rawurlencode.

    Raises MalformedRequestError when the bytes are not valid UTF-8.
    """
    try:
        return urllib.parse.unquote(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise MalformedRequestError(
            f"{text[:40]!r} is not valid percent-encoded UTF-8"
        ) from None


def parse_pairs(text: str, separator: str, *, source: str) -> dict[str, str]:
    """Decode `enc(name)=enc(value)` pairs joined by separator into a dict.

    Empty pairs are skipped, a pair without `=` has an empty value, and surrounding
    spaces are ignored. A name given twice raises MalformedRequestError.
    """
    fields: dict[str, str] = {}
    for raw_pair in text.split(separator):
        pair = raw_pair.strip()
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        name = decode_component(raw_name)
        if name in fields:
            raise MalformedRequestError(f"{source} names {name!r} more than once")
        fields[name] = decode_component(raw_value)
    return fields


def parse_authorization(header: str) -> dict[str, str]:
    """Parse the Authorization header into its OAuth parameters.

    Raises AuthError when a pair cannot be decoded or appears twice.
    """
    try:
        return parse_pairs(header, ",", source="the Authorization header")
    except MalformedRequestError as error:
        raise AuthError(f"Malformed Authorization header: {error.message}.") from None


def build_base_string(method: str, url: str, params: Mapping[str, str]) -> str:
    """Build `METHOD&URL&k=v&...` with params sorted by the UTF-8 bytes of each key."""
    ordered = sorted(params.items(), key=lambda item: item[0].encode("utf-8"))
    joined = "&".join(f"{rawurlencode(k)}={rawurlencode(v)}" for k, v in ordered)
    return f"{method.upper()}&{url}&{joined}"


def compute_signature(
    method: str, url: str, params: Mapping[str, str], private_key: str
) -> str:
    """Compute the Base64 HMAC-SHA1 signature of a request.

    params contains the OAuth parameters (without oauth_signature) and the request's
    own fields. The HMAC key is the rawurlencoded private key, without a trailing `&`.
    """
    base = build_base_string(method, url, params)
    key = rawurlencode(private_key).encode("ascii")
    digest = hmac.new(key, base.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose signature, key and timestamp passed verification."""

    public_key: str
    #: The nonce the request carried, or None for a request that requests a nonce.
    nonce: str | None


class Verifier:
    """Check signed requests against known key pairs and the nonce store."""

    def __init__(
        self,
        keys: Mapping[str, str],
        nonces: NonceStore,
        *,
        timestamp_tolerance: int = TIMESTAMP_TOLERANCE,
    ) -> None:
        self._keys = dict(keys)
        self._nonces = nonces
        self._timestamp_tolerance = timestamp_tolerance

    def verify(
        self,
        method: str,
        url: str,
        authorization: str | None,
        fields: Mapping[str, str],
        *,
        nonce_lag: float = 0.0,
    ) -> VerifiedRequest:
        """Verify one request and consume its nonce; raise AuthError on any failure.

        url is the scheme, host and path the client requested, without a query string.
        The nonce is consumed only when everything else is valid, so a rejected call
        leaves the store as it was. A nonce younger than nonce_lag seconds is rejected
        and stays unused, which imitates a nonce store that has not caught up yet.
        """
        params = self._parse_params(authorization, fields)
        public_key = params["oauth_consumer_key"]
        private_key = self._keys.get(public_key)
        if private_key is None:
            raise AuthError(
                f"Unknown public key {public_key!r}. Check the key pair in the "
                "sandbox's start-up output."
            )
        self._check_timestamp(params["oauth_timestamp"])

        signed = {k: v for k, v in params.items() if k != "oauth_signature"}
        expected = compute_signature(method, url, signed, private_key)
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            raise AuthError(
                "Invalid signature: the server computed a different signature for "
                f"{method.upper()} {url}. Check the private key and the encoding of "
                "every field."
            )

        nonce = params.get("oauth_nonce")
        if nonce is not None:
            self._nonces.consume(nonce, lag=nonce_lag)
        return VerifiedRequest(public_key=public_key, nonce=nonce)

    def _parse_params(
        self, authorization: str | None, fields: Mapping[str, str]
    ) -> dict[str, str]:
        if not authorization:
            raise AuthError("Missing Authorization header.")
        if authorization.lower().startswith("oauth "):
            raise AuthError(
                "The Authorization header starts with 'OAuth '; send the "
                "name=value pairs alone, joined by commas."
            )
        oauth = parse_authorization(authorization)

        missing = [name for name in REQUIRED_OAUTH_PARAMS if not oauth.get(name)]
        if missing:
            raise AuthError(
                "The Authorization header lacks " + ", ".join(missing) + "."
            )
        unknown = sorted(set(oauth) - OAUTH_PARAMS)
        if unknown:
            raise AuthError(
                "The Authorization header has unknown parameters: "
                + ", ".join(unknown)
                + "."
            )
        if oauth["oauth_signature_method"] != SIGNATURE_METHOD:
            raise AuthError(
                f"Unsupported oauth_signature_method "
                f"{oauth['oauth_signature_method']!r}; use {SIGNATURE_METHOD}."
            )
        if oauth["oauth_version"] != OAUTH_VERSION:
            raise AuthError(
                f"Unsupported oauth_version {oauth['oauth_version']!r}; "
                f"use {OAUTH_VERSION}."
            )
        clashing = sorted(set(oauth) & set(fields))
        if clashing:
            raise AuthError(
                "Request fields repeat OAuth parameters: " + ", ".join(clashing) + "."
            )
        return {**oauth, **fields}

    def _check_timestamp(self, value: str) -> None:
        try:
            timestamp = int(value)
        except ValueError:
            raise AuthError(
                f"Invalid oauth_timestamp {value!r}: expected Unix time in whole "
                "seconds."
            ) from None
        offset = timestamp - int(time.time())
        if abs(offset) > self._timestamp_tolerance:
            direction = "ahead of" if offset > 0 else "behind"
            raise AuthError(
                f"oauth_timestamp {timestamp} is {abs(offset)} seconds {direction} "
                f"the server clock; the maximum difference is "
                f"{self._timestamp_tolerance} seconds. Check the computer's clock."
            )


class NonceStore:
    """Issued nonces with their issue time; each can be consumed once before it expires.

    Thread-safe. Times come from time.monotonic, so a change of the wall clock does not
    expire nonces.
    """

    def __init__(self, ttl: float = DEFAULT_NONCE_TTL) -> None:
        if ttl <= 0:
            raise ValueError(f"nonce ttl must be positive, got {ttl}")
        self.ttl = ttl
        self._lock = threading.Lock()
        self._issued: dict[str, float] = {}
        # Consumed nonces are remembered until they would have expired, so a replay
        # gets "already used" rather than "unknown".
        self._used: dict[str, float] = {}

    def issue(self) -> str:
        """Create, remember and return a new nonce."""
        nonce = secrets.token_hex(16)
        now = time.monotonic()
        with self._lock:
            self._forget_expired(now)
            self._issued[nonce] = now
        return nonce

    def consume(self, nonce: str, *, lag: float = 0.0) -> None:
        """Mark nonce as used; raise AuthError when it is used, unknown or expired."""
        now = time.monotonic()
        with self._lock:
            if nonce in self._used:
                raise AuthError("Nonce already used: fetch a new nonce for every call.")
            issued_at = self._issued.get(nonce)
            if issued_at is None:
                raise AuthError("Unknown nonce: fetch a nonce from this server first.")
            age = now - issued_at
            if age > self.ttl:
                del self._issued[nonce]
                raise AuthError(
                    f"Nonce expired: it was issued {age:.0f} seconds ago and lives "
                    f"{self.ttl:g} seconds. Fetch a new nonce."
                )
            if age < lag:
                raise AuthError(
                    "Unknown nonce: the nonce store has not caught up yet "
                    "(nonce_lag fault). Fetch a new nonce and retry."
                )
            del self._issued[nonce]
            self._used[nonce] = issued_at
            self._forget_expired(now)

    def _forget_expired(self, now: float) -> None:
        # Called with the lock held. Entries are kept well past their expiry so that a
        # late or replayed nonce gets "expired" or "already used" rather than "unknown".
        horizon = self.ttl + _RETENTION
        for store in (self._issued, self._used):
            stale = [n for n, issued in store.items() if now - issued > horizon]
            for nonce in stale:
                del store[nonce]
