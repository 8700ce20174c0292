"""Request signing: the worked example, pinned vectors and the bytes on the wire.

Each vector is checked twice: against a few-line reference implementation written here
with urllib's quote and hmac, and against a signature string pinned in this file, so a
change that broke both implementations the same way would still fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.client import ElucidatClient, build_create_fields
from core.models import LearnerAccess, ReleaseMode, ReleaseRequest
from core.signing import (
    authorization_header,
    base_string,
    encode_pairs,
    rawurlencode,
    sign_request,
    signature,
)

CREATE_URL = "https://api.elucidat.com/v2/releases/create"
LAUNCH_URL = "https://api.elucidat.com/v2/releases/launch"
PUBLIC_KEY = "PUBLICKEY123"
PRIVATE_KEY = "SECRETabc123"
NONCE = "abc123nonce"
TIMESTAMP = 1700000000

WORKED_FIELDS = [
    ("project_code", "5dd580064b0b7"),
    ("release_mode", "scorm"),
    ("description", "Released by API"),
    ("simulation_mode", "simulation"),
]
WORKED_BASE_STRING = (
    "POST&https://api.elucidat.com/v2/releases/create&description=Released%20by%20API"
    "&oauth_consumer_key=PUBLICKEY123&oauth_nonce=abc123nonce"
    "&oauth_signature_method=HMAC-SHA1&oauth_timestamp=1700000000&oauth_version=1.0"
    "&project_code=5dd580064b0b7&release_mode=scorm&simulation_mode=simulation"
)
WORKED_SIGNATURE = "g3RrJ3uLFSSRfnxqtRRUg9dJxJA="

# description -> (its encoding, the signature of a create with it), computed once with
# reference_sign below and pinned.
DESCRIPTION_VECTORS = {
    "Café — été 2026": (
        "Caf%C3%A9%20%E2%80%94%20%C3%A9t%C3%A9%202026",
        "bJmPz2Z2z+7gxZTh+0F1h9rkdww=",
    ),
    "日本語コース": (
        "%E6%97%A5%E6%9C%AC%E8%AA%9E%E3%82%B3%E3%83%BC%E3%82%B9",
        "ADih3fnwzOcm6z63c7g1n3NrbRY=",
    ),
    "C++ basics + quiz & more = fun  100%": (
        "C%2B%2B%20basics%20%2B%20quiz%20%26%20more%20%3D%20fun%20%20100%25",
        "Wp8grYZF5w5x/IC/1QaVpgIWweU=",
    ),
    "Intro/Module 1 (v2)! it's *draft* ~final": (
        "Intro%2FModule%201%20%28v2%29%21%20it%27s%20%2Adraft%2A%20~final",
        "OM/JasT2CrYj4jiC7eEKXLCSUdQ=",
    ),
}

RESERVED_PRIVATE_KEY = "ab/cd+ef=="
RESERVED_KEY_SIGNATURE = "JA3RyoTMBt6x8UUEDrQ/Eqz4oDE="
# What the npm client's bug (HMAC keyed with the raw private key) would produce.
RAW_KEY_SIGNATURE = "3x6rEkLYLJsADyyu9njxkLG5mLQ="

LAUNCH_FIELDS = [
    ("release_code", "rel5f1a2b"),
    ("name", "Zoë O'Brien"),
    ("email_address", "zoe+test@example.com"),
]
LAUNCH_BASE_STRING = (
    "GET&https://api.elucidat.com/v2/releases/launch"
    "&email_address=zoe%2Btest%40example.com&name=Zo%C3%AB%20O%27Brien"
    "&oauth_consumer_key=PUBLICKEY123&oauth_nonce=abc123nonce"
    "&oauth_signature_method=HMAC-SHA1&oauth_timestamp=1700000000&oauth_version=1.0"
    "&release_code=rel5f1a2b"
)
LAUNCH_SIGNATURE = "gaQvK5plFVPJinQqInXgpLK7NO8="
NONCE_REQUEST_SIGNATURE = "KT6me7QRqdoHiAdzum7BupV5WAo="


def reference_encode(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def reference_sign(
    method: str, url: str, params: Mapping[str, str], private_key: str
) -> tuple[str, str]:
    """Return (base string, signature), written apart from core.signing."""
    joined = "&".join(
        f"{reference_encode(k)}={reference_encode(v)}"
        for k, v in sorted(params.items())
    )
    base = f"{method}&{url}&{joined}"
    key = reference_encode(private_key).encode()
    digest = hmac.new(key, base.encode(), hashlib.sha1).digest()
    return base, base64.b64encode(digest).decode()


def oauth_params(nonce: str | None = NONCE) -> dict[str, str]:
    params = {
        "oauth_consumer_key": PUBLIC_KEY,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(TIMESTAMP),
        "oauth_version": "1.0",
    }
    if nonce is not None:
        params["oauth_nonce"] = nonce
    return params


def sign(
    method: str,
    url: str,
    fields: list[tuple[str, str]],
    private_key: str = PRIVATE_KEY,
    nonce: str | None = NONCE,
) -> tuple[str, str, str]:
    """Sign with core.signing; return (base string, signature, header)."""
    signed = sign_request(
        method,
        url,
        fields,
        public_key=PUBLIC_KEY,
        private_key=private_key,
        nonce=nonce,
        timestamp=TIMESTAMP,
    )
    header = dict(pair.split("=", 1) for pair in signed.authorization.split(","))
    return (
        signed.base_string,
        urllib.parse.unquote(header["oauth_signature"]),
        (signed.authorization),
    )


# The worked example


def test_worked_example_base_string() -> None:
    base, _, _ = sign("POST", CREATE_URL, WORKED_FIELDS)
    assert base == WORKED_BASE_STRING


def test_worked_example_signature() -> None:
    _, sig, _ = sign("POST", CREATE_URL, WORKED_FIELDS)
    assert sig == WORKED_SIGNATURE
    assert signature(WORKED_BASE_STRING, PRIVATE_KEY) == WORKED_SIGNATURE


def test_worked_example_matches_reference() -> None:
    params = {**oauth_params(), **dict(WORKED_FIELDS)}
    assert reference_sign("POST", CREATE_URL, params, PRIVATE_KEY) == (
        WORKED_BASE_STRING,
        WORKED_SIGNATURE,
    )


def test_worked_example_header() -> None:
    _, _, header = sign("POST", CREATE_URL, WORKED_FIELDS)
    assert header == (
        "oauth_consumer_key=PUBLICKEY123,oauth_nonce=abc123nonce,"
        "oauth_signature=g3RrJ3uLFSSRfnxqtRRUg9dJxJA%3D,"
        "oauth_signature_method=HMAC-SHA1,oauth_timestamp=1700000000,"
        "oauth_version=1.0"
    )
    assert not header.startswith("OAuth")
    assert '"' not in header
    assert ", " not in header


# Pinned vectors


@pytest.mark.parametrize("description", list(DESCRIPTION_VECTORS))
def test_description_vector(description: str) -> None:
    encoded, pinned_signature = DESCRIPTION_VECTORS[description]
    fields = [
        ("project_code", "5dd580064b0b7"),
        ("release_mode", "scorm"),
        ("description", description),
    ]
    base, sig, header = sign("POST", CREATE_URL, fields)
    reference_base, reference_signature = reference_sign(
        "POST", CREATE_URL, {**oauth_params(), **dict(fields)}, PRIVATE_KEY
    )

    assert rawurlencode(description) == encoded
    assert f"&description={encoded}&" in base
    assert base == reference_base
    assert sig == reference_signature
    assert sig == pinned_signature
    assert f"oauth_signature={rawurlencode(pinned_signature)}" in header


def test_private_key_with_reserved_characters() -> None:
    base, sig, header = sign("POST", CREATE_URL, WORKED_FIELDS, RESERVED_PRIVATE_KEY)
    _, reference_signature = reference_sign(
        "POST", CREATE_URL, {**oauth_params(), **dict(WORKED_FIELDS)}, "ab/cd+ef=="
    )
    raw_key_signature = base64.b64encode(
        hmac.new(RESERVED_PRIVATE_KEY.encode(), base.encode(), hashlib.sha1).digest()
    ).decode()

    assert rawurlencode(RESERVED_PRIVATE_KEY) == "ab%2Fcd%2Bef%3D%3D"
    assert sig == reference_signature
    assert sig == RESERVED_KEY_SIGNATURE
    assert raw_key_signature == RAW_KEY_SIGNATURE
    assert sig != RAW_KEY_SIGNATURE
    assert "oauth_signature=JA3RyoTMBt6x8UUEDrQ%2FEqz4oDE%3D" in header


def test_get_with_query_fields() -> None:
    base, sig, _ = sign("GET", LAUNCH_URL, LAUNCH_FIELDS)
    reference = reference_sign(
        "GET", LAUNCH_URL, {**oauth_params(), **dict(LAUNCH_FIELDS)}, PRIVATE_KEY
    )

    assert base == LAUNCH_BASE_STRING
    assert (base, sig) == reference
    assert sig == LAUNCH_SIGNATURE
    assert "?" not in base


def test_nonce_request_has_no_nonce() -> None:
    base, sig, header = sign("GET", CREATE_URL, [], nonce=None)

    assert base == reference_sign("GET", CREATE_URL, oauth_params(None), PRIVATE_KEY)[0]
    assert sig == NONCE_REQUEST_SIGNATURE
    assert "oauth_nonce" not in base
    assert "oauth_nonce" not in header


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b", "a%20b"),
        ("!*'()", "%21%2A%27%28%29"),
        ("-_.~", "-_.~"),
        ("é", "%C3%A9"),
        ("/?#[]@", "%2F%3F%23%5B%5D%40"),
        ("\u00ff", "%C3%BF"),
    ],
)
def test_rawurlencode_cases(text: str, expected: str) -> None:
    assert rawurlencode(text) == expected
    assert reference_encode(text) == expected


def test_base_string_sorts_by_byte_order() -> None:
    base = base_string("GET", "https://h/p", {"b": "1", "B": "2", "a_": "3", "a": "4"})
    assert base == "GET&https://h/p&B=2&a=4&a_=3&b=1"


def test_header_pairs_are_encoded() -> None:
    header = authorization_header({"oauth_signature": "a+b/c=", "oauth_nonce": "x y"})
    assert header == "oauth_nonce=x%20y,oauth_signature=a%2Bb%2Fc%3D"


def test_sign_request_rejects_duplicate_fields() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        sign("POST", CREATE_URL, [("description", "a"), ("description", "b")])


def test_sign_request_rejects_oauth_field_names() -> None:
    with pytest.raises(ValueError, match="clash"):
        sign("GET", CREATE_URL, [("oauth_nonce", "x")])


# The bytes on the wire, captured by a real HTTP server on 127.0.0.1


@dataclass
class CapturedRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class CaptureServer:
    """Records every request and verifies its signature with the reference code.

    GET without oauth_nonce returns a nonce; anything else returns a small reply that
    fits the endpoint.
    """

    def __init__(self, private_key: str) -> None:
        self.private_key = private_key
        self.requests: list[CapturedRequest] = []
        self.signature_failures: list[str] = []
        self._nonce_count = 0
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                capture.handle(self)

            def do_POST(self) -> None:
                capture.handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_port}/v2/"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        request = CapturedRequest(
            method=handler.command,
            target=handler.path,
            headers=dict(handler.headers.items()),
            body=body,
        )
        self.requests.append(request)
        oauth = self.verify(request)

        if "oauth_nonce" not in oauth:
            self._nonce_count += 1
            reply: object = {"nonce": f"nonce-{self._nonce_count}"}
        elif request.target.startswith("/v2/releases/launch"):
            reply = {"url": "http://127.0.0.1/launch/x/", "link_type": "learner"}
        else:
            reply = {"release_code": "rel-new", "message": "Release is being prepared."}
        data = json.dumps(reply).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def verify(self, request: CapturedRequest) -> dict[str, str]:
        """Check the signature from the received bytes; record any mismatch."""
        path, _, query = request.target.partition("?")
        encoded_fields = query if request.method == "GET" else request.body.decode()
        fields = parse_encoded(encoded_fields, "&")
        oauth = parse_encoded(request.headers.get("Authorization", ""), ",")
        url = f"http://127.0.0.1:{self.httpd.server_port}{path}"
        unsigned = {k: v for k, v in oauth.items() if k != "oauth_signature"}
        _, expected = reference_sign(
            request.method, url, {**unsigned, **fields}, self.private_key
        )
        if oauth.get("oauth_signature") != expected:
            self.signature_failures.append(f"{request.method} {path}")
        return oauth


def parse_encoded(text: str, separator: str) -> dict[str, str]:
    pairs = [pair.split("=", 1) for pair in text.split(separator) if pair]
    return {urllib.parse.unquote(k): urllib.parse.unquote(v) for k, v in pairs}


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer(RESERVED_PRIVATE_KEY)
    yield server
    server.stop()


def make_client(server: CaptureServer) -> ElucidatClient:
    return ElucidatClient(
        server.base_url,
        PUBLIC_KEY,
        server.private_key,
        clock=lambda: float(TIMESTAMP),
    )


@pytest.mark.parametrize("description", list(DESCRIPTION_VECTORS))
def test_create_body_on_the_wire(capture: CaptureServer, description: str) -> None:
    request = ReleaseRequest(
        project_code="5dd580064b0b7",
        release_mode=ReleaseMode.SCORM,
        description=description,
        learner_access=LearnerAccess.IDENTIFY,
    )
    with make_client(capture) as client:
        client.create_release(request, simulation=True)

    nonce_request, create = capture.requests
    encoded_description = DESCRIPTION_VECTORS[description][0]
    assert capture.signature_failures == []
    assert nonce_request.method == "GET"
    assert nonce_request.target == "/v2/releases/create"
    assert create.method == "POST"
    assert create.target == "/v2/releases/create"
    assert create.body == (
        "project_code=5dd580064b0b7&release_mode=scorm"
        f"&description={encoded_description}&learner_access=identify"
        "&simulation_mode=simulation"
    ).encode("ascii")
    assert create.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert create.headers["Accept"] == "application/json"
    assert "oauth_nonce=nonce-1," in create.headers["Authorization"]


def test_create_sends_exactly_what_it_signs(capture: CaptureServer) -> None:
    request = ReleaseRequest(
        project_code="5dd580064b0b7",
        release_mode=ReleaseMode.ONLINE_PUBLIC,
        release_code="rel-old",
        description="",
        lrs_endpoint_url="https://lrs.example.com/xapi/",
        lrs_username="lrs user",
        lrs_password="p@ss word+/=",
    )
    with make_client(capture) as client:
        client.create_release(request, simulation=False)

    create = capture.requests[1]
    assert capture.signature_failures == []
    assert create.body == (
        b"project_code=5dd580064b0b7&release_mode=online-public&release_code=rel-old"
        b"&xapi_lrs_endpoint_url=https%3A%2F%2Flrs.example.com%2Fxapi%2F"
        b"&xapi_lrs_endpoint_username=lrs%20user"
        b"&xapi_lrs_endpoint_password=p%40ss%20word%2B%2F%3D"
    )


def test_get_query_on_the_wire(capture: CaptureServer) -> None:
    with make_client(capture) as client:
        client.launch_link(
            "rel5f1a2b", name="Zoë O'Brien", email="zoe+test@example.com"
        )

    nonce_request, launch = capture.requests
    assert capture.signature_failures == []
    assert nonce_request.target == "/v2/releases/launch"
    assert launch.method == "GET"
    assert launch.target == (
        "/v2/releases/launch?release_code=rel5f1a2b&name=Zo%C3%AB%20O%27Brien"
        "&email_address=zoe%2Btest%40example.com"
    )
    assert launch.body == b""
    assert "Content-Type" not in launch.headers


def test_signature_check_catches_a_wrong_key(capture: CaptureServer) -> None:
    # The capture server's own check must be able to fail, or the tests above prove
    # nothing.
    with ElucidatClient(
        capture.base_url, PUBLIC_KEY, "another key", clock=lambda: float(TIMESTAMP)
    ) as client:
        client.launch_link("rel5f1a2b")

    assert capture.signature_failures == [
        "GET /v2/releases/launch",
        "GET /v2/releases/launch",
    ]


def test_create_fields_leave_out_unset_values() -> None:
    request = ReleaseRequest(
        project_code=" 5dd580064b0b7 ",
        release_mode=ReleaseMode.SCORM,
        release_code="",
        description=None,
        learner_access=None,
        lrs_endpoint_url="",
        lrs_username=None,
        lrs_password="",
    )
    assert build_create_fields(request, False) == [
        ("project_code", "5dd580064b0b7"),
        ("release_mode", "scorm"),
    ]
    assert build_create_fields(request, True)[-1] == ("simulation_mode", "simulation")


def test_create_fields_encode_like_signing() -> None:
    request = ReleaseRequest(
        project_code="p1", release_mode=ReleaseMode.SCORM, description="a b+c"
    )
    fields = build_create_fields(request, True)
    assert encode_pairs(fields) == (
        "project_code=p1&release_mode=scorm&description=a%20b%2Bc"
        "&simulation_mode=simulation"
    )
