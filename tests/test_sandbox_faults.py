"""Every fault switch of the sandbox, set at run time through server.faults."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections.abc import Iterator

import pytest
import requests
from test_sandbox_support import DATA_PROTECTION, MANUAL_HANDLING, SignedClient

from sandbox.faults import Faults
from sandbox.server import SandboxServer

SCORM_RELEASE = "63da38278cd2f"


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[SignedClient]:
    signed_client = SignedClient(sandbox.base_url)
    yield signed_client
    signed_client.close()


def test_latency(sandbox: SandboxServer, client: SignedClient) -> None:
    nonce = client.fetch_nonce()
    sandbox.faults.latency = 0.3
    started = time.monotonic()
    response = client.send("GET", "projects", nonce=nonce)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.3


def test_nonce_lag_rejects_fresh_nonce(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    sandbox.faults.nonce_lag = 0.4
    nonce = client.fetch_nonce()
    early = client.send("GET", "projects", nonce=nonce)
    assert early.status_code == 401
    assert "Unknown nonce" in early.json()["message"]

    time.sleep(0.5)
    late = client.send("GET", "projects", nonce=nonce)
    assert late.status_code == 200


def test_nonce_lag_with_node_client_wait(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    # Elucidat's Node client waits 500 ms between fetching and using a nonce.
    sandbox.faults.nonce_lag = 0.3
    nonce = client.fetch_nonce()
    time.sleep(0.5)
    assert client.send("GET", "projects", nonce=nonce).status_code == 200


def test_rate_limit(sandbox: SandboxServer, client: SignedClient) -> None:
    sandbox.faults.rate_limit = 2
    sandbox.faults.retry_after = 3
    for _ in range(2):
        limited = client.call("GET", "projects")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "3"
        assert "retry after 3 seconds" in limited.json()["message"]
    assert sandbox.faults.rate_limit == 0
    assert client.call("GET", "projects").status_code == 200


def test_retry_after_rounds_up(sandbox: SandboxServer, client: SignedClient) -> None:
    sandbox.faults.rate_limit = 1
    sandbox.faults.retry_after = 0.2
    assert client.call("GET", "projects").headers["Retry-After"] == "1"


def test_faults_spare_nonce_requests(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    sandbox.faults.server_error = 1
    response = client.send("GET", "projects", nonce=None)
    assert response.status_code == 200
    assert sandbox.faults.server_error == 1


def test_faults_hit_nonce_requests(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    sandbox.faults.hit_nonce_requests = True
    sandbox.faults.rate_limit = 1
    response = client.send("GET", "projects", nonce=None)
    assert response.status_code == 429
    assert client.send("GET", "projects", nonce=None).status_code == 200


def test_server_error(sandbox: SandboxServer, client: SignedClient) -> None:
    sandbox.faults.server_error = 1
    failed = client.call("GET", "projects")
    assert failed.status_code == 500
    assert failed.headers["Content-Type"].startswith("text/html")
    assert "<h1>Internal Server Error</h1>" in failed.text
    assert client.call("GET", "projects").status_code == 200


def test_server_error_on_create_changes_nothing(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    sandbox.faults.server_error = 1
    response = client.create(project_code=MANUAL_HANDLING, release_mode="scorm")
    assert response.status_code == 500
    assert sandbox.releases(MANUAL_HANDLING) == []


def test_not_json(sandbox: SandboxServer, client: SignedClient) -> None:
    sandbox.faults.not_json = 1
    response = client.call("GET", "projects")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert isinstance(client.call("GET", "projects").json(), list)


def test_reject_auth(sandbox: SandboxServer, client: SignedClient) -> None:
    sandbox.faults.reject_auth = 1
    nonce = client.fetch_nonce()
    rejected = client.send("GET", "projects", nonce=nonce)
    assert rejected.status_code == 401
    assert "reject_auth" in rejected.json()["message"]
    # The valid call used its nonce up.
    replay = client.send("GET", "projects", nonce=nonce)
    assert replay.status_code == 401
    assert "already used" in replay.json()["message"]
    assert client.call("GET", "projects").status_code == 200


def test_drop_after_create(sandbox: SandboxServer, client: SignedClient) -> None:
    sandbox.faults.drop_after_create = 1
    with pytest.raises(requests.ConnectionError):
        client.create(
            project_code=MANUAL_HANDLING, release_mode="scorm", description="Dropped"
        )
    created = sandbox.releases(MANUAL_HANDLING)
    assert [release["description"] for release in created] == ["Dropped"]
    assert sandbox.faults.drop_after_create == 0


def test_drop_after_create_spares_reads(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    sandbox.faults.drop_after_create = 1
    assert client.call("GET", "projects").status_code == 200
    failed = client.create(project_code="0000000000aaa", release_mode="scorm")
    assert failed.status_code == 404
    assert sandbox.faults.drop_after_create == 1


def test_truncate_download(sandbox: SandboxServer, client: SignedClient) -> None:
    sandbox.faults.truncate_download = 1
    url = client.details(SCORM_RELEASE).json()["download_url"]
    with pytest.raises(
        (requests.exceptions.ChunkedEncodingError, requests.ConnectionError)
    ):
        requests.get(url, timeout=5)
    complete = requests.get(url, timeout=5)
    assert complete.status_code == 200
    assert len(complete.content) == int(complete.headers["Content-Length"])


def test_truncate_download_sends_half(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    sandbox.faults.truncate_download = 1
    url = client.details(SCORM_RELEASE).json()["download_url"]
    location = requests.get(url, timeout=5, allow_redirects=False).headers["Location"]
    parts = urllib.parse.urlsplit(location)
    connection = http.client.HTTPConnection(parts.netloc, timeout=5)
    connection.request("GET", parts.path)
    response = connection.getresponse()
    expected = int(response.headers["Content-Length"])

    with pytest.raises(http.client.IncompleteRead) as raised:
        response.read()
    connection.close()
    assert len(raised.value.partial) == expected // 2


def test_counters_validate_values() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="rate_limit"):
        faults.rate_limit = -1
    with pytest.raises(ValueError, match="latency"):
        faults.latency = -0.5
    with pytest.raises(ValueError, match="server_error"):
        faults.server_error = True


def test_reset_switches_off() -> None:
    faults = Faults()
    faults.latency = 1.5
    faults.not_json = 4
    faults.hit_nonce_requests = True
    faults.reset()
    snapshot = faults.snapshot()
    assert snapshot["latency"] == 0.0
    assert snapshot["not_json"] == 0
    assert snapshot["hit_nonce_requests"] is False


def test_counter_take_is_thread_safe() -> None:
    faults = Faults()
    faults.rate_limit = 50
    fired: list[bool] = []
    lock = threading.Lock()

    def take_many() -> None:
        for _ in range(20):
            result = faults.take("rate_limit")
            with lock:
                fired.append(result)

    threads = [threading.Thread(target=take_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fired.count(True) == 50
    assert faults.rate_limit == 0


def test_faults_leave_state_alone(sandbox: SandboxServer, client: SignedClient) -> None:
    before = sandbox.releases(DATA_PROTECTION)
    sandbox.faults.rate_limit = 1
    sandbox.faults.not_json = 1
    sandbox.faults.reject_auth = 1
    responses = [
        client.create(project_code=DATA_PROTECTION, release_mode="scorm")
        for _ in range(3)
    ]
    # Faults fire in a fixed order: rate_limit, not_json, then reject_auth.
    assert [response.status_code for response in responses] == [429, 200, 401]
    assert responses[1].headers["Content-Type"].startswith("text/html")
    assert sandbox.releases(DATA_PROTECTION) == before
