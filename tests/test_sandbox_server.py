"""The sandbox server itself: binding, keys, stats, clean stop and the command line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from test_sandbox_support import SignedClient

import sandbox.server
from sandbox.cli import main
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[SignedClient]:
    signed_client = SignedClient(sandbox.base_url)
    yield signed_client
    signed_client.close()


def test_base_url_format(sandbox: SandboxServer) -> None:
    assert re.match(r"^http://127\.0\.0\.1:\d+/v2/$", sandbox.base_url)
    assert sandbox.port > 0


def test_demo_keys_documented() -> None:
    assert DEMO_PUBLIC_KEY.isalnum()
    assert DEMO_PRIVATE_KEY.isalnum()
    assert DEMO_PUBLIC_KEY in str(sandbox.server.__doc__)
    assert DEMO_PRIVATE_KEY in str(sandbox.server.__doc__)


# S104: these tests check that binding to every interface is rejected.
@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "10.0.0.1", "::"])  # noqa: S104
def test_non_loopback_host_rejected(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(host=host)


def test_host_name_rejected() -> None:
    with pytest.raises(ValueError, match=r"Invalid host 'example\.com'"):
        SandboxServer(host="example.com")


def test_custom_key_pair() -> None:
    with SandboxServer(public_key="OtherPublic", private_key="OtherPrivate") as server:
        custom = SignedClient(
            server.base_url, public_key="OtherPublic", private_key="OtherPrivate"
        )
        assert custom.call("GET", "account").status_code == 200
        demo = SignedClient(server.base_url)
        response = demo.send("GET", "account", nonce=None)
        assert response.status_code == 401
        assert "Unknown public key" in response.json()["message"]
        custom.close()
        demo.close()


def test_connections_reused(sandbox: SandboxServer, client: SignedClient) -> None:
    sandbox.stats.reset()
    for _ in range(3):
        assert client.call("GET", "projects").status_code == 200
    assert sandbox.stats.requests_total == 6
    assert sandbox.stats.connections_opened == 1
    assert sandbox.stats.requests_by_path == {"/v2/projects": 6}


def test_stats_count_connections(sandbox: SandboxServer) -> None:
    sandbox.stats.reset()
    for _ in range(2):
        # A fresh session each time opens a fresh connection.
        one_shot = SignedClient(sandbox.base_url)
        one_shot.call("GET", "account")
        one_shot.close()
    assert sandbox.stats.connections_opened == 2
    assert sandbox.stats.requests_by_path == {"/v2/account": 4}


def test_stats_reset(sandbox: SandboxServer, client: SignedClient) -> None:
    client.call("GET", "account")
    sandbox.stats.reset()
    assert sandbox.stats.requests_total == 0
    assert sandbox.stats.connections_opened == 0
    assert sandbox.stats.requests_by_path == {}


def test_stop_is_fast_with_open_connection() -> None:
    server = SandboxServer().start()
    client = SignedClient(server.base_url)
    assert client.call("GET", "projects").status_code == 200  # Keeps a connection.

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)
    client.close()


def test_stop_cuts_latency_short() -> None:
    server = SandboxServer().start()
    server.faults.latency = 30.0
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.2)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0


def test_stop_twice_and_unstarted() -> None:
    server = SandboxServer().start()
    server.stop()
    server.stop()
    SandboxServer().stop()


def test_start_twice_raises(sandbox: SandboxServer) -> None:
    with pytest.raises(RuntimeError, match="already started"):
        sandbox.start()


def test_context_manager_stops() -> None:
    with SandboxServer() as server:
        port = server.port
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_keep_alive_headers(sandbox: SandboxServer) -> None:
    response = requests.get(sandbox.base_url.replace("/v2/", "/"), timeout=5)
    assert response.raw.version == 11
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.headers["Content-Type"] == "application/json"


def test_invalid_settings_rejected() -> None:
    with pytest.raises(ValueError, match="publish_delay"):
        SandboxServer(publish_delay=-1)
    with pytest.raises(ValueError, match="link_ttl"):
        SandboxServer(link_ttl=0)


def test_cli_key_options_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--public-key", "OnlyPublic"])
    assert raised.value.code == 2
    assert "--private-key together" in capsys.readouterr().err


def test_cli_rejects_public_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2  # noqa: S104
    assert "loopback" in capsys.readouterr().err


def test_cli_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with SandboxServer() as server:
        assert main(["--port", str(server.port)]) == 1
    assert "--port" in capsys.readouterr().err


def test_cli_serves_and_stops() -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--publish-delay", "0"],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        match = re.search(r"serving at (http://127\.0\.0\.1:\d+/v2/)", lines[0])
        assert match, lines
        assert DEMO_PUBLIC_KEY in lines[1]
        assert DEMO_PRIVATE_KEY in lines[2]

        client = SignedClient(match.group(1))
        assert client.call("GET", "projects").status_code == 200
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "Sandbox stopped." in stdout
