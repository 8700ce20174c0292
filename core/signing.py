"""Request signing for the Elucidat Project API v2.

Elucidat checks signatures with PHP's `rawurlencode` and its own base string, which
differ from RFC 5849 OAuth 1.0. The URL and the joined parameters are not encoded a
second time, and the HMAC key is the encoded private key with no trailing "&". Generic
OAuth libraries therefore produce signatures the server rejects. The rules here follow
Elucidat's help centre and its PHP and .NET example clients; where those sources are
silent (the header's pair order), the choice is marked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SIGNATURE_METHOD = "HMAC-SHA1"
OAUTH_VERSION = "1.0"

# RFC 3986 unreserved characters: the only bytes rawurlencode leaves as they are.
_UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
)


def rawurlencode(value: str) -> str:
    """Percent-encode the UTF-8 bytes of value like PHP's rawurlencode.

    Every byte outside A-Z a-z 0-9 - _ . ~ becomes %XX with upper-case hex, so a space
    is %20 and never +.
    """
    return "".join(
        chr(byte) if byte in _UNRESERVED else f"%{byte:02X}"
        for byte in value.encode("utf-8")
    )


def encode_pairs(pairs: Iterable[tuple[str, str]], separator: str = "&") -> str:
    """Join pairs as enc(key)=enc(value); the form body and query string use this."""
    return separator.join(f"{rawurlencode(k)}={rawurlencode(v)}" for k, v in pairs)


def base_string(method: str, url: str, params: Mapping[str, str]) -> str:
    """Build METHOD&URL&k=v&... with the parameters sorted by key in byte order.

    url is the scheme, host and path without a query string. Neither the URL nor the
    joined parameters are encoded again.
    """
    ordered = sorted(params.items(), key=lambda item: item[0].encode("utf-8"))
    return f"{method.upper()}&{url}&{encode_pairs(ordered)}"


def signature(base: str, private_key: str) -> str:
    """Return the Base64 HMAC-SHA1 of base, keyed with the encoded private key."""
    key = rawurlencode(private_key).encode("ascii")
    digest = hmac.new(key, base.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_header(oauth_params: Mapping[str, str]) -> str:
    """Join the OAuth parameters as enc(name)=enc(value) with commas and no spaces.

    There is no "OAuth " prefix and there are no quotes. NOTE: the pair order is not
    documented; sorted order is used so the header is the same for the same request.
    """
    return encode_pairs(sorted(oauth_params.items()), separator=",")


@dataclass(frozen=True)
class SignedRequest:
    """Everything needed to send one signed call."""

    method: str
    url: str
    #: The request's own fields, in the order they are sent.
    fields: tuple[tuple[str, str], ...]
    #: The value of the Authorization header.
    authorization: str
    #: The base string that was signed. It contains no secret and is kept for tests.
    base_string: str

    @property
    def encoded_fields(self) -> str:
        """The query string of a GET or the form body of a POST."""
        return encode_pairs(self.fields)


def sign_request(
    method: str,
    url: str,
    fields: Iterable[tuple[str, str]],
    *,
    public_key: str,
    private_key: str,
    nonce: str | None,
    timestamp: int,
) -> SignedRequest:
    """Sign one call. A nonce of None signs the request that fetches a nonce.

    fields must already be the final list that is sent: every field signed here is
    sent, and nothing else is.
    """
    field_list = tuple(fields)
    keys = [key for key, _ in field_list]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate field names in {sorted(keys)}")

    oauth = {
        "oauth_consumer_key": public_key,
        "oauth_signature_method": SIGNATURE_METHOD,
        "oauth_timestamp": str(timestamp),
        "oauth_version": OAUTH_VERSION,
    }
    if nonce is not None:
        oauth["oauth_nonce"] = nonce
    clashing = set(keys) & set(oauth)
    if clashing:
        raise ValueError(f"fields clash with OAuth parameters: {sorted(clashing)}")

    base = base_string(method, url, {**oauth, **dict(field_list)})
    oauth["oauth_signature"] = signature(base, private_key)
    return SignedRequest(
        method=method.upper(),
        url=url,
        fields=field_list,
        authorization=authorization_header(oauth),
        base_string=base,
    )
