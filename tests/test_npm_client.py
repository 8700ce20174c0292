"""Elucidat's own Node client, npm package elucidat-api 1.2.0, against the sandbox.

The package builds its URL from `protocol`, `hostname`, `port` and `version` options
(`protocol + hostname + ":" + port + "/v" + version + "/" + path`), so it can point
at the sandbox unchanged. It fetches each nonce with the call's own method, waits
500 ms, and keys its HMAC with the raw private key, which matches while the key needs
no encoding, as the demo key does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_sandbox_support import DATA_PROTECTION

from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

pytestmark = pytest.mark.npm

PACKAGE = "elucidat-api@1.2.0"
INSTALL_TIMEOUT = 300
CALL_TIMEOUT = 30

# Prints {"status": ..., "data": ...} as one JSON line, then exits, because an idle
# keep-alive socket would otherwise keep Node running.
CALL_SCRIPT = """
const elucidatAPI = require('elucidat-api');
const [port, path, method, fieldsJson, key, secret] = process.argv.slice(2);
elucidatAPI({
  protocol: 'http://',
  hostname: '127.0.0.1',
  port: Number(port),
  version: 2,
  path: path,
  method: method,
  consumer_key: key,
  consumer_secret: secret,
  fields: JSON.parse(fieldsJson),
}, function (status, data) {
  process.stdout.write(JSON.stringify({status: status, data: data}) + '\\n',
                       function () { process.exit(0); });
});
"""


@pytest.fixture(scope="session")
def node_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the Node client once per session; return the script that calls it."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        reason = "npm and node are needed to install Elucidat's Node client"
        if os.environ.get("RELEASE_DESK_REQUIRE_ALL_TESTS"):
            pytest.fail(reason)
        pytest.skip(reason)

    folder = tmp_path_factory.mktemp("npm-elucidat-api")
    (folder / "package.json").write_text('{"name": "sandbox-check", "private": true}')
    result = subprocess.run(
        [npm, "install", PACKAGE, "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"npm install {PACKAGE} failed:\n{result.stderr}"
    script = folder / "call.js"
    script.write_text(CALL_SCRIPT)
    return script


def _run_node(
    script: Path,
    server: SandboxServer,
    path: str,
    method: str,
    fields: dict[str, str],
    *,
    private_key: str = DEMO_PRIVATE_KEY,
) -> dict[str, Any]:
    result = subprocess.run(
        [
            "node",
            str(script),
            str(server.port),
            path,
            method,
            json.dumps(fields),
            DEMO_PUBLIC_KEY,
            private_key,
        ],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    reply: dict[str, Any] = json.loads(result.stdout)
    return reply


def test_node_client_lists_projects(node_client: Path, sandbox: SandboxServer) -> None:
    reply = _run_node(node_client, sandbox, "projects", "GET", {})
    assert reply["status"] == 200
    codes = [project["project_code"] for project in reply["data"]]
    assert codes == [project["project_code"] for project in sandbox.projects()]


def test_node_client_simulated_release(
    node_client: Path, sandbox: SandboxServer
) -> None:
    before = sandbox.releases(DATA_PROTECTION)
    fields = {
        "project_code": DATA_PROTECTION,
        "release_mode": "scorm",
        "description": "Checked with the Node client",
        "simulation_mode": "simulation",
    }
    reply = _run_node(node_client, sandbox, "releases/create", "POST", fields)
    assert reply["status"] == 200
    assert len(reply["data"]["release_code"]) == 13
    assert "Simulation" in reply["data"]["message"]
    assert sandbox.releases(DATA_PROTECTION) == before
    # Nonce request and call, each by POST.
    assert sandbox.stats.requests_by_path["/v2/releases/create"] == 2


def test_node_client_wrong_key(node_client: Path, sandbox: SandboxServer) -> None:
    reply = _run_node(
        node_client, sandbox, "account", "GET", {}, private_key="WrongPrivateKey"
    )
    assert reply["status"] == 401
    assert "Invalid signature" in reply["data"]["message"]


def test_node_client_parentheses_rejected(
    node_client: Path, sandbox: SandboxServer
) -> None:
    # The Node client signs with encodeURIComponent, which leaves ( ) unencoded,
    # while a server that checks with rawurlencode, as Elucidat's does, encodes them.
    fields = {
        "project_code": DATA_PROTECTION,
        "release_mode": "scorm",
        "description": "Checked (twice)",
        "simulation_mode": "simulation",
    }
    reply = _run_node(node_client, sandbox, "releases/create", "POST", fields)
    assert reply["status"] == 401
    assert "Invalid signature" in reply["data"]["message"]
