"""The sandbox's signature verifier and nonce store, alone and over HTTP.

The vectors below were computed by hand from Elucidat's rules: rawurlencode of UTF-8,
sorted pairs, and HMAC-SHA1 keyed with the encoded private key. The first one is
Elucidat's worked example. Over HTTP, core.signing signs and the sandbox verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import pytest
import requests
from test_sandbox_support import DATA_PROTECTION, SignedClient

from core.signing import sign_request
from sandbox.auth import (
    AuthError,
    MalformedRequestError,
    NonceStore,
    build_base_string,
    compute_signature,
    decode_component,
    parse_authorization,
    rawurlencode,
)
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

CREATE_URL = "https://api.elucidat.com/v2/releases/create"
OAUTH = {
    "oauth_consumer_key": "PUBLICKEY123",
    "oauth_nonce": "abc123nonce",
    "oauth_signature_method": "HMAC-SHA1",
    "oauth_timestamp": "1700000000",
    "oauth_version": "1.0",
}
OAUTH_BASE = (
    "oauth_consumer_key=PUBLICKEY123&oauth_nonce=abc123nonce&"
    "oauth_signature_method=HMAC-SHA1&oauth_timestamp=1700000000&oauth_version=1.0"
)


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[SignedClient]:
    signed_client = SignedClient(sandbox.base_url)
    yield signed_client
    signed_client.close()


def test_worked_example_base_string() -> None:
    fields = {
        "project_code": "5dd580064b0b7",
        "release_mode": "scorm",
        "description": "Released by API",
        "simulation_mode": "simulation",
    }
    assert build_base_string("POST", CREATE_URL, {**OAUTH, **fields}) == (
        f"POST&{CREATE_URL}&description=Released%20by%20API&{OAUTH_BASE}&"
        "project_code=5dd580064b0b7&release_mode=scorm&simulation_mode=simulation"
    )


def test_worked_example_signature() -> None:
    fields = {
        "project_code": "5dd580064b0b7",
        "release_mode": "scorm",
        "description": "Released by API",
        "simulation_mode": "simulation",
    }
    signature = compute_signature(
        "POST", CREATE_URL, {**OAUTH, **fields}, "SECRETabc123"
    )
    assert signature == "g3RrJ3uLFSSRfnxqtRRUg9dJxJA="


@pytest.mark.parametrize(
    ("description", "encoded", "expected"),
    [
        (
            "Révision – été 2024",
            "R%C3%A9vision%20%E2%80%93%20%C3%A9t%C3%A9%202024",
            "tFmEqCj5WlBuyoZDnnTo91p1y5Q=",
        ),
        (
            "a+b=c&d/e?f!*'() ~x",
            "a%2Bb%3Dc%26d%2Fe%3Ff%21%2A%27%28%29%20~x",
            "F4X03m0wRroSlUzPn4He7hoi66Y=",
        ),
    ],
    ids=["non-ascii", "reserved-characters"],
)
def test_signature_vectors(description: str, encoded: str, expected: str) -> None:
    params = {
        **OAUTH,
        "project_code": "5dd580064b0b7",
        "release_mode": "scorm",
        "description": description,
    }
    assert build_base_string("POST", CREATE_URL, params) == (
        f"POST&{CREATE_URL}&description={encoded}&{OAUTH_BASE}&"
        "project_code=5dd580064b0b7&release_mode=scorm"
    )
    assert compute_signature("POST", CREATE_URL, params, "SECRETabc123") == expected


def test_signature_keyed_with_encoded_private_key() -> None:
    url = "https://api.elucidat.com/v2/projects"
    signature = compute_signature("GET", url, OAUTH, "p@ss+word/=&")
    assert signature == "CYbir9Igx/ERyXJMHpNVukEG5UE="

    # The npm client's bug: keyed with the raw private key, the HMAC differs.
    base = build_base_string("GET", url, OAUTH).encode()
    raw_keyed = hmac.new(b"p@ss+word/=&", base, hashlib.sha1).digest()
    assert base64.b64encode(raw_keyed).decode() != signature


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("a b", "a%20b"),
        ("AZaz09-_.~", "AZaz09-_.~"),
        ("é", "%C3%A9"),
        ("!*'()", "%21%2A%27%28%29"),
        ("/?#[]@", "%2F%3F%23%5B%5D%40"),
        ("+=&,", "%2B%3D%26%2C"),
    ],
)
def test_rawurlencode_matches_php(text: str, encoded: str) -> None:
    assert rawurlencode(text) == encoded


def test_decode_keeps_plus_literal() -> None:
    assert decode_component("a+b") == "a+b"
    assert decode_component("a%2Bb%20c") == "a+b c"
    assert decode_component("%C3%A9t%C3%A9") == "été"


def test_decode_rejects_invalid_utf8() -> None:
    with pytest.raises(MalformedRequestError, match="UTF-8"):
        decode_component("%FF%FE")


def test_parse_authorization_pairs() -> None:
    header = "oauth_consumer_key=KEY,oauth_signature=ab%2Bc%3D, oauth_version=1.0"
    assert parse_authorization(header) == {
        "oauth_consumer_key": "KEY",
        "oauth_signature": "ab+c=",
        "oauth_version": "1.0",
    }


def test_parse_authorization_duplicate_name() -> None:
    with pytest.raises(AuthError, match="oauth_nonce"):
        parse_authorization("oauth_nonce=a,oauth_nonce=b")


def test_nonce_store_single_use() -> None:
    store = NonceStore(ttl=60)
    nonce = store.issue()
    store.consume(nonce)
    with pytest.raises(AuthError, match="already used"):
        store.consume(nonce)


def test_nonce_store_unknown() -> None:
    with pytest.raises(AuthError, match="Unknown nonce"):
        NonceStore(ttl=60).consume("f" * 32)


def test_nonce_store_expiry() -> None:
    store = NonceStore(ttl=0.1)
    nonce = store.issue()
    time.sleep(0.2)
    with pytest.raises(AuthError, match="expired"):
        store.consume(nonce)


def test_nonce_store_lag_keeps_nonce() -> None:
    store = NonceStore(ttl=60)
    nonce = store.issue()
    with pytest.raises(AuthError, match="caught up"):
        store.consume(nonce, lag=30)
    store.consume(nonce, lag=0)


def test_nonce_request_gets_nonce(client: SignedClient) -> None:
    response = client.send("GET", "projects", nonce=None)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    nonce = response.json()["nonce"]
    assert isinstance(nonce, str)
    assert len(nonce) >= 16


def test_nonce_request_by_post(client: SignedClient) -> None:
    # Elucidat's Node client fetches the nonce with the call's own method.
    response = client.send("POST", "releases/create", nonce=None)
    assert response.status_code == 200
    assert "nonce" in response.json()


def test_nonce_not_tied_to_path(client: SignedClient) -> None:
    nonce = client.fetch_nonce("account")
    response = client.send("GET", "projects", nonce=nonce)
    assert response.status_code == 200
    assert isinstance(response.json(), list)


def test_nonces_are_distinct(client: SignedClient) -> None:
    nonces = {client.fetch_nonce() for _ in range(5)}
    assert len(nonces) == 5


def test_nonce_request_needs_valid_signature(client: SignedClient) -> None:
    response = client.send("GET", "projects", nonce=None, private_key="WrongKey")
    assert response.status_code == 401
    assert "nonce" not in response.json()


def _create_fields() -> list[tuple[str, str]]:
    return [
        ("project_code", DATA_PROTECTION),
        ("release_mode", "scorm"),
        ("description", "Auth check"),
    ]


def _assert_rejected(response: requests.Response, *phrases: str) -> str:
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    message = str(response.json()["message"])
    for phrase in phrases:
        assert phrase in message
    assert DEMO_PRIVATE_KEY not in message
    return message


def test_used_nonce_rejected(sandbox: SandboxServer, client: SignedClient) -> None:
    nonce = client.fetch_nonce("releases/create", "POST")
    first = client.send("POST", "releases/create", _create_fields(), nonce=nonce)
    assert first.status_code == 200
    before = sandbox.releases(DATA_PROTECTION)

    replay = client.send("POST", "releases/create", _create_fields(), nonce=nonce)

    _assert_rejected(replay, "already used")
    assert sandbox.releases(DATA_PROTECTION) == before


def test_unknown_nonce_rejected(sandbox: SandboxServer, client: SignedClient) -> None:
    before = sandbox.releases(DATA_PROTECTION)
    response = client.send("POST", "releases/create", _create_fields(), nonce="0" * 32)
    _assert_rejected(response, "Unknown nonce")
    assert sandbox.releases(DATA_PROTECTION) == before


def test_expired_nonce_rejected() -> None:
    with SandboxServer(publish_delay=0.0, nonce_ttl=0.2) as server:
        client = SignedClient(server.base_url)
        before = server.releases(DATA_PROTECTION)
        nonce = client.fetch_nonce("releases/create", "POST")
        time.sleep(0.4)
        response = client.send("POST", "releases/create", _create_fields(), nonce=nonce)
        _assert_rejected(response, "expired")
        assert server.releases(DATA_PROTECTION) == before
        client.close()


def test_unknown_public_key_rejected(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    nonce = client.fetch_nonce()
    response = client.send("GET", "projects", nonce=nonce, public_key="NOSUCHKEY42")
    _assert_rejected(response, "Unknown public key", "NOSUCHKEY42")


@pytest.mark.parametrize("offset", [-360, 360])
def test_timestamp_six_minutes_off(
    sandbox: SandboxServer, client: SignedClient, offset: int
) -> None:
    before = sandbox.releases(DATA_PROTECTION)
    nonce = client.fetch_nonce("releases/create", "POST")
    response = client.send(
        "POST",
        "releases/create",
        _create_fields(),
        nonce=nonce,
        timestamp=int(time.time()) + offset,
    )
    _assert_rejected(response, "oauth_timestamp", "300 seconds")
    assert sandbox.releases(DATA_PROTECTION) == before


def test_timestamp_four_minutes_off_accepted(client: SignedClient) -> None:
    nonce = client.fetch_nonce()
    response = client.send(
        "GET", "projects", nonce=nonce, timestamp=int(time.time()) - 240
    )
    assert response.status_code == 200


def test_wrong_signature_rejected(sandbox: SandboxServer, client: SignedClient) -> None:
    before = sandbox.releases(DATA_PROTECTION)
    nonce = client.fetch_nonce("releases/create", "POST")
    response = client.send(
        "POST",
        "releases/create",
        _create_fields(),
        nonce=nonce,
        private_key="NotTheSandboxKey",
    )
    message = _assert_rejected(response, "Invalid signature")
    assert "NotTheSandboxKey" not in message
    assert sandbox.releases(DATA_PROTECTION) == before


def test_rejected_call_keeps_nonce(client: SignedClient) -> None:
    nonce = client.fetch_nonce()
    bad = client.send("GET", "projects", nonce=nonce, private_key="NotTheSandboxKey")
    assert bad.status_code == 401
    good = client.send("GET", "projects", nonce=nonce)
    assert good.status_code == 200


def test_tampered_field_rejected(sandbox: SandboxServer, client: SignedClient) -> None:
    before = sandbox.releases(DATA_PROTECTION)
    nonce = client.fetch_nonce("releases/create", "POST")
    tampered = [*_create_fields()[:2], ("description", "Changed in transit")]
    response = client.send(
        "POST", "releases/create", _create_fields(), nonce=nonce, sent_fields=tampered
    )
    _assert_rejected(response, "Invalid signature")
    assert sandbox.releases(DATA_PROTECTION) == before


def test_query_string_signed_rejected(client: SignedClient) -> None:
    # Signing the URL with its query string is a known trap; the server refuses it.
    nonce = client.fetch_nonce("releases")
    url_with_query = f"releases?project_code={DATA_PROTECTION}"
    signed = client.send("GET", url_with_query, nonce=nonce)
    _assert_rejected(signed, "Invalid signature")


def test_missing_authorization_rejected(client: SignedClient) -> None:
    response = client.send_raw("GET", "projects", None)
    _assert_rejected(response, "Missing Authorization header")


def test_oauth_prefix_rejected(client: SignedClient) -> None:
    signed = sign_request(
        "GET",
        client.base_url + "projects",
        [],
        public_key=DEMO_PUBLIC_KEY,
        private_key=DEMO_PRIVATE_KEY,
        nonce=client.fetch_nonce(),
        timestamp=int(time.time()),
    )
    response = client.send_raw("GET", "projects", f"OAuth {signed.authorization}")
    _assert_rejected(response, "starts with 'OAuth '")


def test_missing_oauth_parameter_rejected(client: SignedClient) -> None:
    header = f"oauth_consumer_key={DEMO_PUBLIC_KEY},oauth_version=1.0"
    response = client.send_raw("GET", "projects", header)
    _assert_rejected(response, "oauth_signature_method", "oauth_timestamp")


def test_plus_in_raw_body_is_literal(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    # The signature covers "a+b"; the body carries the plus unencoded.
    fields = [
        ("project_code", DATA_PROTECTION),
        ("release_mode", "scorm"),
        ("description", "a+b"),
    ]
    nonce = client.fetch_nonce("releases/create", "POST")
    signed = sign_request(
        "POST",
        sandbox.base_url + "releases/create",
        fields,
        public_key=DEMO_PUBLIC_KEY,
        private_key=DEMO_PRIVATE_KEY,
        nonce=nonce,
        timestamp=int(time.time()),
    )
    body = f"project_code={DATA_PROTECTION}&release_mode=scorm&description=a+b"
    response = client.send_raw("POST", "releases/create", signed.authorization, body)

    assert response.status_code == 200, response.text
    code = response.json()["release_code"]
    details = client.details(code).json()
    assert details["description"] == "a+b"
