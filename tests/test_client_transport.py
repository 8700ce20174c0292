"""The client against purpose-built servers on 127.0.0.1: failures the sandbox lacks.

A scripted server replies to each request from a queue, so a test can make exactly one
request fail, hang, drop its connection or come back in an odd shape. Sleeps between
retries are recorded instead of slept; request timeouts are real.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from core.client import (
    MAX_READ_RETRY_SECONDS,
    ElucidatClient,
)
from core.errors import (
    AuthenticationError,
    ConfigurationError,
    DownloadError,
    InputError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ServerError,
    TimedOutError,
)
from core.models import ReleaseMode, ReleaseRequest
from core.transport import (
    TruststoreAdapter,
    excerpt,
    is_timeout,
    request_may_have_been_sent,
)

PUBLIC_KEY = "test-public-key"
PRIVATE_KEY = "test-private-key-7f3a"
LRS_PASSWORD = "lrs-pa55-word!"
REQUEST = ReleaseRequest(project_code="proj1", release_mode=ReleaseMode.SCORM)


@dataclass
class Reply:
    """One scripted reply. drop closes the connection after reading the request."""

    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client_port: int

    @property
    def oauth(self) -> dict[str, str]:
        header = self.headers.get("Authorization", "")
        pairs = [pair.partition("=") for pair in header.split(",") if pair]
        return {urllib.parse.unquote(k): urllib.parse.unquote(v) for k, _, v in pairs}

    @property
    def is_nonce_request(self) -> bool:
        """A signed GET without a nonce; an unsigned download is not one."""
        oauth = self.oauth
        return (
            self.method == "GET"
            and "oauth_signature" in oauth
            and ("oauth_nonce" not in oauth)
        )


class ScriptedServer:
    """Reply to nonce requests and calls from two queues, and record every request."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.call_replies: list[Reply] = []
        self.nonce_replies: list[Reply] = []
        self._nonce_numbers = itertools.count(1)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.handle(self)

            def do_POST(self) -> None:
                server.handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        self.base_url = f"http://127.0.0.1:{self.port}/v2/"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    @property
    def calls(self) -> list[Seen]:
        return [seen for seen in self.seen if not seen.is_nonce_request]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        path, _, query = handler.path.partition("?")
        seen = Seen(
            method=handler.command,
            path=path,
            query=query,
            headers=dict(handler.headers.items()),
            body=handler.rfile.read(length),
            client_port=handler.client_address[1],
        )
        with self._lock:
            self.seen.append(seen)
            queue = self.nonce_replies if seen.is_nonce_request else self.call_replies
            reply = queue.pop(0) if queue else None
        if reply is None and seen.is_nonce_request:
            reply = Reply(body={"nonce": f"nonce-{next(self._nonce_numbers)}"})
        reply = reply or Reply(body={"ok": True})

        time.sleep(reply.delay)
        if reply.drop:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        body = reply.body
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # The client gave up waiting, as the timeout tests intend.


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(
    server: ScriptedServer, sleeps: list[float]
) -> Iterator[Callable[..., ElucidatClient]]:
    clients: list[ElucidatClient] = []

    def make(**options: Any) -> ElucidatClient:
        options.setdefault("sleep", sleeps.append)
        options.setdefault("timeout", (2.0, 2.0))
        base_url = options.pop("base_url", server.base_url)
        client = ElucidatClient(base_url, PUBLIC_KEY, PRIVATE_KEY, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def release(code: str = "rel1", **extra: Any) -> dict[str, Any]:
    return {
        "release_code": code,
        "release_mode": "scorm",
        "status": "complete",
        **extra,
    }


# Normal calls


def test_two_requests_per_call_on_one_connection(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [
        Reply(body={"release_code": "new1", "message": "Release is being prepared."}),
        Reply(body=[release()]),
        Reply(body={"company_name": "Acme"}),
    ]
    client = make_client()

    result = client.create_release(REQUEST, simulation=False)
    releases = client.list_releases("proj1")
    account = client.account()

    assert result.release_code == "new1"
    assert [r.release_code for r in releases] == ["rel1"]
    assert account.company_name == "Acme"
    assert client.stats.http_requests == 6
    assert client.stats.nonce_requests == 3
    assert client.stats.calls == {"create_release": 1, "list_releases": 1, "account": 1}
    assert len({seen.client_port for seen in server.seen}) == 1
    assert [seen.path for seen in server.seen] == [
        "/v2/releases/create",
        "/v2/releases/create",
        "/v2/releases",
        "/v2/releases",
        "/v2/account",
        "/v2/account",
    ]


def test_each_call_uses_its_own_nonce(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    client = make_client()
    server.call_replies = [Reply(body=[]), Reply(body=[])]
    client.list_projects()
    client.list_projects()

    assert [call.oauth["oauth_nonce"] for call in server.calls] == [
        "nonce-1",
        "nonce-2",
    ]


@pytest.mark.parametrize(
    "body",
    [
        [release("a"), release("b")],
        {"releases": [release("a"), release("b")]},
        {"data": [release("a"), release("b")]},
        {"a": release("a"), "b": release("b")},
    ],
    ids=["list", "wrapped", "data", "keyed"],
)
def test_list_reply_shapes(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient], body: Any
) -> None:
    server.call_replies = [Reply(body=body)]
    releases = make_client().list_releases("proj1")
    assert [r.release_code for r in releases] == ["a", "b"]


def test_list_reply_of_wrong_shape(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [Reply(body="releases")]
    with pytest.raises(ServerError, match="unexpected form"):
        make_client().list_releases("proj1")


def test_re_release_reply_without_code(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [Reply(body={"message": "Release is being prepared."})]
    request = ReleaseRequest("proj1", ReleaseMode.SCORM, release_code="rel-old")
    result = make_client().create_release(request, simulation=False)
    assert result.release_code == "rel-old"


# Authentication and the nonce


def test_nonce_rejection_retried_with_fresh_nonce(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [
        Reply(status=401, body={"error": "Unknown nonce"}),
        Reply(body={"nonce": "handed-out"}),
        Reply(body={"release_code": "new1", "message": "ok"}),
    ]
    client = make_client()
    result = client.create_release(REQUEST, simulation=False)

    assert result.release_code == "new1"
    assert sleeps == [0.05, 0.1]
    assert client.stats.http_requests == 6
    assert client.stats.auth_retries == 2
    assert len({call.oauth["oauth_nonce"] for call in server.calls}) == 3


def test_auth_failure_after_retries(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [Reply(status=401, body={"message": "Invalid signature"})] * 4
    with pytest.raises(AuthenticationError) as caught:
        make_client().create_release(REQUEST, simulation=False)

    error = caught.value
    assert sleeps == [0.05, 0.1, 0.2]
    assert len(server.calls) == 4
    assert error.status == 401
    assert error.server_message == "Invalid signature"
    assert "public key and private key" in str(error)
    assert "revoked" in str(error)
    assert "clock" in str(error)


def test_auth_retry_count_is_configurable(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [Reply(status=401)] * 2
    with pytest.raises(AuthenticationError):
        make_client(max_auth_retries=1).account()
    assert len(server.calls) == 2


def test_forbidden_is_not_retried(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [Reply(status=403, body={"message": "Key revoked"})]
    with pytest.raises(AuthenticationError, match="Key revoked"):
        make_client().list_projects()
    assert len(server.calls) == 1


def test_nonce_reply_without_nonce(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.nonce_replies = [Reply(body={"hello": "world"})]
    with pytest.raises(ServerError, match="no nonce"):
        make_client().account()
    assert server.calls == []


# releases/create is never resent


def test_create_dropped_after_sending_is_outcome_unknown(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [Reply(drop=True)]
    with pytest.raises(OutcomeUnknownError) as caught:
        make_client().create_release(REQUEST, simulation=False)

    message = str(caught.value)
    assert len([c for c in server.calls if c.method == "POST"]) == 1
    assert sleeps == []
    assert "may have been created" in message
    assert "releases of project proj1" in message


def test_create_timeout_is_outcome_unknown(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [Reply(delay=0.6, body={"release_code": "late"})]
    client = make_client(timeout=(2.0, 0.2))
    with pytest.raises(OutcomeUnknownError, match="may have been created"):
        client.create_release(REQUEST, simulation=False)
    assert len(server.calls) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_create_server_error_not_resent(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
    status: int,
) -> None:
    server.call_replies = [Reply(status=status, body=b"<h1>Bad gateway</h1>")]
    with pytest.raises(ServerError) as caught:
        make_client().create_release(REQUEST, simulation=False)

    assert caught.value.status == status
    assert caught.value.server_message == "Bad gateway"
    assert "check the releases of project proj1" in str(caught.value)
    assert len(server.calls) == 1
    assert sleeps == []


def test_create_rate_limit_not_resent(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [Reply(status=429, headers={"Retry-After": "7"})]
    with pytest.raises(RateLimitedError) as caught:
        make_client().create_release(REQUEST, simulation=False)

    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429
    assert "Wait 7 seconds" in str(caught.value)
    assert len(server.calls) == 1
    assert sleeps == []


def test_create_nonce_request_is_retried(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    # The GET that fetches the nonce changes nothing, so it is retried even for create.
    server.nonce_replies = [Reply(status=503), Reply(drop=True)]
    server.call_replies = [Reply(body={"release_code": "new1", "message": "ok"})]
    result = make_client().create_release(REQUEST, simulation=False)

    assert result.release_code == "new1"
    assert sleeps == [0.5, 1.0]
    assert len(server.calls) == 1


def test_create_refused_before_sending_is_network_error(
    sleeps: list[float],
) -> None:
    # A one-shot server hands out a nonce, then stops listening, so the POST that
    # follows is refused before any byte of it is sent.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    requests_read: list[bytes] = []

    def serve_one_nonce() -> None:
        connection, _ = listener.accept()
        requests_read.append(connection.recv(65536))
        listener.close()
        body = b'{"nonce": "only-one"}'
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        connection.close()

    thread = threading.Thread(target=serve_one_nonce)
    thread.start()
    client = ElucidatClient(
        f"http://127.0.0.1:{port}/v2/", PUBLIC_KEY, PRIVATE_KEY, sleep=sleeps.append
    )
    with client, pytest.raises(NetworkError) as caught:
        client.create_release(REQUEST, simulation=False)
    thread.join()

    assert not isinstance(caught.value, OutcomeUnknownError)
    assert "refused" in str(caught.value)
    assert len(requests_read) == 1
    assert requests_read[0].startswith(b"GET /v2/releases/create ")
    assert client.stats.http_requests == 2
    assert sleeps == []


def test_failure_classification_on_real_connections(server: ScriptedServer) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    server.call_replies = [Reply(drop=True), Reply(delay=0.6)]
    signed = {"Authorization": "oauth_nonce=x"}

    with requests.Session() as session:
        with pytest.raises(requests.RequestException) as refused:
            session.get(f"http://127.0.0.1:{closed_port}/", timeout=1)
        with pytest.raises(requests.RequestException) as dropped:
            session.get(server.base_url, headers=signed, timeout=1)
        with pytest.raises(requests.RequestException) as timed_out:
            session.get(server.base_url, headers=signed, timeout=(1, 0.2))

    assert not request_may_have_been_sent(refused.value)
    assert request_may_have_been_sent(dropped.value)
    assert request_may_have_been_sent(timed_out.value)
    assert not is_timeout(refused.value)
    assert not is_timeout(dropped.value)
    assert is_timeout(timed_out.value)


# Reads are retried


def test_read_retried_after_server_error(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [Reply(status=500, body=b"oops"), Reply(body=[release()])]
    client = make_client()
    releases = client.list_releases("proj1")

    assert len(releases) == 1
    assert sleeps == [0.5]
    assert client.stats.read_retries == 1
    assert client.stats.http_requests == 4


def test_read_retried_after_rate_limit(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [
        Reply(status=429, headers={"Retry-After": "3"}, body={"message": "Slow down"}),
        Reply(body={"company_name": "Acme"}),
    ]
    assert make_client().account().company_name == "Acme"
    assert sleeps == [3.0]


def test_long_retry_after_is_reported(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [Reply(status=429, headers={"Retry-After": "120"})]
    with pytest.raises(RateLimitedError) as caught:
        make_client().account()
    assert caught.value.retry_after == 120.0
    assert sleeps == []


def test_read_gives_up_after_max_retries(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [Reply(status=503, body={"message": "Maintenance"})] * 4
    with pytest.raises(ServerError) as caught:
        make_client().release_details("rel1")

    assert sleeps == [0.5, 1.0, 2.0]
    assert caught.value.status == 503
    assert caught.value.server_message == "Maintenance"
    assert len(server.calls) == 4


def test_read_retries_bounded_in_time(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    now = [1_700_000_000.0]
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    server.call_replies = [Reply(status=503)] * 20
    client = make_client(max_read_retries=20, clock=lambda: now[0], sleep=fake_sleep)
    with pytest.raises(ServerError):
        client.list_projects()

    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert sum(waits) <= MAX_READ_RETRY_SECONDS


def test_read_retried_after_dropped_connection(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [Reply(drop=True), Reply(body=[])]
    assert make_client().list_projects() == []
    assert sleeps == [0.5]


def test_read_timeout(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    sleeps: list[float],
) -> None:
    server.call_replies = [Reply(delay=0.5)] * 2
    client = make_client(timeout=(2.0, 0.2), max_read_retries=1)
    with pytest.raises(TimedOutError) as caught:
        client.release_details("rel1")
    assert "no reply arrived in time" in str(caught.value)
    assert sleeps == [0.5]


def test_connection_refused_read(sleeps: list[float]) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    client = ElucidatClient(
        f"http://127.0.0.1:{port}/v2/", PUBLIC_KEY, PRIVATE_KEY, sleep=sleeps.append
    )
    with client, pytest.raises(NetworkError, match="refused") as caught:
        client.list_projects()
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert sleeps == [0.5, 1.0, 2.0]


# Error replies


def test_html_reply_is_server_error(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    page = (
        b"<html><head><title>Portal</title><style>p{color:red}</style></head>"
        b"<body><h1>Sign in to the guest Wi-Fi</h1><p>"
        + b"Terms apply. " * 40
        + b"</p></body></html>"
    )
    server.call_replies = [Reply(body=page, headers={"Content-Type": "text/html"})]
    with pytest.raises(ServerError) as caught:
        make_client().list_projects()

    text = caught.value.server_message or ""
    assert text.startswith("Portal Sign in to the guest Wi-Fi Terms apply.")
    assert len(text) <= 200
    assert "<" not in text
    assert "color" not in text
    assert caught.value.status == 200
    assert "proxy or network login page" in str(caught.value)


def test_redirect_is_not_followed(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    moved = f"http://127.0.0.1:{server.port}/v3/releases/create"
    server.call_replies = [Reply(status=301, headers={"Location": moved})]
    with pytest.raises(ServerError) as caught:
        make_client().create_release(REQUEST, simulation=True)

    assert moved in str(caught.value)
    assert caught.value.status == 301
    assert [seen.path for seen in server.seen] == ["/v2/releases/create"] * 2
    assert [seen.method for seen in server.seen] == ["GET", "POST"]


@pytest.mark.parametrize("status", [400, 422])
def test_invalid_request_names_field(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient], status: int
) -> None:
    message = "Invalid release_mode 'scorm': not enabled for this account."
    server.call_replies = [Reply(status=status, body={"message": message})]
    with pytest.raises(InvalidRequestError) as caught:
        make_client().create_release(REQUEST, simulation=True)

    assert caught.value.status == status
    assert caught.value.server_message == message
    assert f"(HTTP {status}: {message.rstrip('.')})." in str(caught.value)
    assert "Check the release mode ('scorm')" in str(caught.value)


def test_not_found_names_project(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [Reply(status=404, body={"error": "No such project"})]
    with pytest.raises(NotFoundError) as caught:
        make_client().list_releases("proj-missing")

    assert "Project proj-missing was not found" in str(caught.value)
    assert caught.value.server_message == "No such project"
    assert caught.value.status == 404


def test_not_found_names_release(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [Reply(status=404, body=b"")]
    with pytest.raises(NotFoundError, match="Release rel-gone was not found"):
        make_client().launch_link("rel-gone")


def test_excerpt_shortens_and_strips() -> None:
    assert excerpt(b"<p>a &amp; b</p>\n\n  <b>c</b>") == "a & b c"
    assert len(excerpt(b"x" * 500)) == 200


# Input checks: nothing is sent


class RecordingAdapter(requests.adapters.BaseAdapter):
    """Record what would be sent, in place of a network that the test must not use."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        self.sent.append(request.url or "")
        raise requests.ConnectionError("recording adapter sends nothing")

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "url",
    [
        "http://api.elucidat.com/v2/",
        "http://10.0.0.5/v2/",
        "http://localhost.example.com/v2/",
        "http://127.0.0.1.nip.io/v2/",
        "ftp://api.elucidat.com/v2/",
        "api.elucidat.com/v2/",
        "https:///v2/",
        "https://api.elucidat.com:99999/v2/",
        "https://api.elucidat.com/v2/?debug=1",
        "https://user:secret@api.elucidat.com/v2/",
    ],
)
def test_base_url_rejected(url: str) -> None:
    adapter = RecordingAdapter()
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)

    with pytest.raises(InputError) as caught:
        ElucidatClient(url, PUBLIC_KEY, PRIVATE_KEY, session=session)

    assert caught.value.field == "base_url"
    assert "https://" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert adapter.sent == []


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://API.Elucidat.com:443/v2", "https://api.elucidat.com/v2/"),
        ("http://127.0.0.1:8080/v2/", "http://127.0.0.1:8080/v2/"),
        ("http://127.10.20.30/v2/", "http://127.10.20.30/v2/"),
        ("http://localhost:80/v2", "http://localhost/v2/"),
        ("http://[::1]:9000/v2/", "http://[::1]:9000/v2/"),
        (" https://api.elucidat.com/v2/ ", "https://api.elucidat.com/v2/"),
    ],
)
def test_base_url_accepted(url: str, normalized: str) -> None:
    with ElucidatClient(url, PUBLIC_KEY, PRIVATE_KEY) as client:
        assert client.base_url == normalized


@pytest.mark.parametrize(("public", "private"), [("", "x"), ("x", " "), ("", "")])
def test_empty_keys_rejected(public: str, private: str) -> None:
    with pytest.raises(ConfigurationError, match="is empty"):
        ElucidatClient("https://api.elucidat.com/v2/", public, private)


def test_empty_codes_rejected(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    client = make_client()
    with pytest.raises(InputError) as project:
        client.list_releases("  ")
    with pytest.raises(InputError) as release:
        client.release_details("")
    with pytest.raises(InputError) as create:
        client.create_release(ReleaseRequest("", ReleaseMode.SCORM), simulation=True)
    with pytest.raises(InputError) as email:
        client.launch_link("rel1", email="not-an-address")

    assert project.value.field == "project_code"
    assert release.value.field == "release_code"
    assert create.value.field == "project_code"
    assert email.value.field == "email"
    assert server.seen == []


def test_invalid_release_mode_rejected() -> None:
    request = ReleaseRequest("proj1", "zip")  # type: ignore[arg-type]
    client = ElucidatClient("https://api.elucidat.com/v2/", "a", "b")
    with client, pytest.raises(InputError, match="online-public") as caught:
        client.create_release(request, simulation=True)
    assert caught.value.field == "release_mode"


# Transport: TLS, proxies, downloads


def test_https_uses_os_trust_store() -> None:
    with ElucidatClient("https://api.elucidat.com/v2/", "a", "b") as client:
        adapter = client._session.get_adapter("https://api.elucidat.com/v2/")
        http_adapter = client._session.get_adapter("http://127.0.0.1/")
        assert isinstance(adapter, TruststoreAdapter)
        assert type(adapter.ssl_context).__module__.startswith("truststore")
        assert not isinstance(http_adapter, TruststoreAdapter)
        assert client._session.trust_env


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ScriptedServer, Path]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    scripted = ScriptedServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    scripted.httpd.socket = context.wrap_socket(scripted.httpd.socket, server_side=True)
    scripted.base_url = scripted.base_url.replace("http://", "https://")
    yield scripted, cert
    scripted.stop()


def test_untrusted_certificate_rejected(
    tls_server: tuple[ScriptedServer, Path], sleeps: list[float]
) -> None:
    server, _ = tls_server
    client = ElucidatClient(
        server.base_url, PUBLIC_KEY, PRIVATE_KEY, sleep=sleeps.append
    )
    with client, pytest.raises(NetworkError) as caught:
        client.create_release(REQUEST, simulation=False)

    assert not isinstance(caught.value, OutcomeUnknownError)
    assert "TLS certificate is not trusted" in str(caught.value)
    assert server.seen == []


def test_ca_bundle_from_environment_trusted(
    tls_server: tuple[ScriptedServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cert = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    server.call_replies = [Reply(body={"company_name": "Acme"})]
    with ElucidatClient(server.base_url, PUBLIC_KEY, PRIVATE_KEY) as client:
        assert client.account().company_name == "Acme"


def test_proxy_from_environment_used(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    # 127.0.0.2 is loopback but not in NO_PROXY, so requests must go through the
    # proxy. A client that ignored the proxy would reach a closed loopback port.
    tunnels: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_CONNECT(self) -> None:
            tunnels.append(self.path)
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(
        target=proxy.serve_forever, kwargs={"poll_interval": 0.05}
    )
    thread.start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_port}")
    try:
        client = ElucidatClient(
            "https://127.0.0.2:9/v2/", PUBLIC_KEY, PRIVATE_KEY, sleep=sleeps.append
        )
        with client, pytest.raises(NetworkError) as caught:
            client.create_release(REQUEST, simulation=False)
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()

    assert not isinstance(caught.value, OutcomeUnknownError)
    assert "proxy" in str(caught.value)
    assert tunnels == ["127.0.0.2:9"] * 4


def test_open_download_follows_redirect_unsigned(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    target = f"http://127.0.0.1:{server.port}/files/package.zip"
    server.call_replies = [
        Reply(status=302, headers={"Location": target}),
        Reply(body=b"PK\x03\x04zipdata", headers={"Content-Type": "application/zip"}),
    ]
    client = make_client()
    with client.open_download(
        f"http://127.0.0.1:{server.port}/dl/abc?token=s3cr3t"
    ) as r:
        data = r.raw.read()

    assert data == b"PK\x03\x04zipdata"
    assert [seen.path for seen in server.seen] == ["/dl/abc", "/files/package.zip"]
    assert all("Authorization" not in seen.headers for seen in server.seen)
    assert client.stats.calls["open_download"] == 1


def test_open_download_error_status(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [Reply(status=403, body=b"<Error>Expired</Error>")]
    url = f"http://127.0.0.1:{server.port}/dl/abc?token=s3cr3t"
    with pytest.raises(DownloadError) as caught:
        make_client().open_download(url)

    assert caught.value.status == 403
    assert "fetch the release details again" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_open_download_timeout(
    server: ScriptedServer, make_client: Callable[..., ElucidatClient]
) -> None:
    server.call_replies = [Reply(delay=0.6)]
    client = make_client(timeout=(2.0, 0.2))
    with pytest.raises(TimedOutError):
        client.open_download(f"http://127.0.0.1:{server.port}/dl/abc")


def test_open_download_rejects_plain_http() -> None:
    client = ElucidatClient("https://api.elucidat.com/v2/", "a", "b")
    with client, pytest.raises(InputError) as caught:
        client.open_download("http://downloads.example.com/package.zip")
    assert caught.value.field == "download_url"


# Secrets stay out of logs and errors


def test_no_secret_in_logs_or_errors(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    request = ReleaseRequest(
        "proj1",
        ReleaseMode.SCORM,
        lrs_endpoint_url="https://lrs.example.com/",
        lrs_username="lrs-user",
        lrs_password=LRS_PASSWORD,
    )
    echo = f"Invalid xapi_lrs_endpoint_password {LRS_PASSWORD!r}"
    server.call_replies = [
        Reply(body={"release_code": "new1", "message": "ok"}),
        Reply(status=400, body={"message": echo}),
        Reply(status=401, body={"message": f"bad key {PRIVATE_KEY}"}),
        Reply(status=401),
        Reply(drop=True),
    ]
    client = make_client(max_auth_retries=1)
    errors: list[Exception] = []
    client.create_release(request, simulation=False)
    for _ in range(3):
        try:
            client.create_release(request, simulation=False)
        except Exception as error:
            errors.append(error)

    signatures = [seen.oauth["oauth_signature"] for seen in server.seen]
    headers = [seen.headers["Authorization"] for seen in server.seen]
    texts = [caplog.text] + [str(e) for e in errors]
    texts += [getattr(e, "server_message", None) or "" for e in errors]
    assert [type(e) for e in errors] == [
        InvalidRequestError,
        AuthenticationError,
        OutcomeUnknownError,
    ]
    assert "Check the LRS password." in str(errors[0])
    for text in texts:
        assert PRIVATE_KEY not in text
        assert LRS_PASSWORD not in text
        assert "oauth_signature" not in text
        for secret in signatures + headers:
            assert secret not in text


def test_logs_name_call_and_codes(
    server: ScriptedServer,
    make_client: Callable[..., ElucidatClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="core.client")
    server.call_replies = [Reply(body={"release_code": "new1", "message": "ok"})]
    make_client().create_release(
        ReleaseRequest("proj1", ReleaseMode.SCORM, release_code="rel9"),
        simulation=True,
    )

    lines = [r.getMessage() for r in caplog.records if r.name == "core.client"]
    assert any(
        line.startswith("POST releases/create -> HTTP 200 in ")
        and "[project proj1, release rel9]" in line
        for line in lines
    )
    assert any(
        line.startswith("GET releases/create (nonce) -> HTTP 200") for line in lines
    )
    assert "Simulated release new1 of project proj1 (scorm)" in lines
