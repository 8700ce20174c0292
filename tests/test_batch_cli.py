"""`release batch` end to end: a child process against a sandbox on 127.0.0.1, with
the app's folders in the test's RELEASE_DESK_HOME."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.history import HistoryQuery, HistoryStore, Outcome
from core.paths import app_paths
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMAND_TIMEOUT = 60.0
LRS_PASSWORD = "Batch-Lrs-Pass-5521"

# main.py with `release batch` added to the parser when core/cli.py does not add it
# yet; once it does, this runs main.py unchanged.
CHILD = """\
import argparse
import sys

import main
from core import cli
from core.cli_batch import add_batch_parser

add_release_parser = cli._add_release_parser


def add_release_parser_with_batch(commands):
    add_release_parser(commands)
    release = commands.choices["release"]
    for action in release._actions:
        if isinstance(action, argparse._SubParsersAction):
            if "batch" not in action.choices:
                add_batch_parser(action)


cli._add_release_parser = add_release_parser_with_batch
sys.exit(main.main())
"""


def child_env(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ELUCIDAT_")
    }
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    env["ELUCIDAT_PUBLIC_KEY"] = DEMO_PUBLIC_KEY
    env["ELUCIDAT_PRIVATE_KEY"] = DEMO_PRIVATE_KEY
    env.update(extra)
    return env


def batch_command(server: SandboxServer, *args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        CHILD,
        "--api-url",
        server.base_url,
        "release",
        "batch",
        *args,
    ]


def run_batch(
    server: SandboxServer,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        batch_command(server, *args),
        cwd=REPO_ROOT,
        env=env or child_env(),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def history_attempts() -> list[Any]:
    store = HistoryStore(app_paths().history_file)
    try:
        return store.search(HistoryQuery(limit=200))
    finally:
        store.close()


def sandbox_releases(server: SandboxServer) -> list[tuple[str, str, str, int]]:
    """Return (project, release, mode, version) for every release, in list order."""
    found = []
    for project in server.projects():
        for release in server.releases(project["project_code"]):
            found.append(
                (
                    project["project_code"],
                    release["release_code"],
                    release["release_mode"],
                    int(release["version_number"]),
                )
            )
    return found


def write_list(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(["project_code,release_code,release_mode", *rows]) + "\n")
    return path


@pytest.fixture
def slow_sandbox() -> Iterator[SandboxServer]:
    """A sandbox whose live releases stay in preparation for a minute."""
    server = SandboxServer(publish_delay=60.0).start()
    yield server
    server.stop()


def test_dry_run_with_one_invalid_item(sandbox: SandboxServer, tmp_path: Path) -> None:
    releases = sandbox_releases(sandbox)
    rows = [f"{project},{code},{mode}" for project, code, mode, _ in releases]
    rows.insert(2, f"{releases[0][0]},0000000000000,scorm")
    csv_file = write_list(tmp_path / "batch.csv", ["# theme change", "", *rows])

    result = run_batch(sandbox, str(csv_file))

    assert result.returncode == 3, result.stderr
    assert "Simulation mode" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "#",
        "PROJECT",
        "RELEASE",
        "CODE",
        "MODE",
        "STATE",
        "ATTEMPT",
        "PACKAGE",
    ]
    assert sum("Simulation succeeded" in line for line in lines) == len(releases)
    assert any("0000000000000" in line and "Failed" in line for line in lines)
    assert (
        f"{len(releases)} of {len(releases) + 1} succeeded (simulation), 1 failed."
        in (result.stdout)
    )
    assert "Traceback" not in result.stderr
    assert sandbox_releases(sandbox) == releases

    attempts = history_attempts()
    assert len(attempts) == len(releases) + 1
    batch_ids = {attempt.batch_id for attempt in attempts}
    assert len(batch_ids) == 1
    [batch_id] = batch_ids
    assert batch_id
    assert f"Batch id: {batch_id}" in result.stdout


def test_live_download_json(sandbox: SandboxServer, tmp_path: Path) -> None:
    releases = sandbox_releases(sandbox)
    rows = [f"{project},{code}," for project, code, _, _ in releases]
    csv_file = write_list(tmp_path / "batch.csv", rows)
    downloads = tmp_path / "packages"

    result = run_batch(
        sandbox,
        str(csv_file),
        "--live",
        "--download",
        str(downloads),
        "--concurrency",
        "3",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    assert "LIVE" in result.stderr
    assert "resets the saved progress of learners" in result.stderr
    document = json.loads(result.stdout)
    assert document["simulation"] is False
    assert document["summary"]["succeeded"] == len(releases)
    items = document["items"]
    assert [item["state"] for item in items] == ["complete"] * len(releases)
    for item, (_, code, mode, version) in zip(items, releases, strict=True):
        assert item["release_code"] == code
        assert item["release_mode"] == mode
        assert item["version_number"] == version + 1
        if mode in ("scorm", "offline-backup"):
            path = Path(item["package_path"])
            assert path.parent == downloads
            with zipfile.ZipFile(path) as archive:
                assert archive.testzip() is None
        else:
            assert item["package_path"] is None
    after = sandbox_releases(sandbox)
    assert [version for *_, version in after] == [v + 1 for *_, v in releases]

    attempts = history_attempts()
    assert {attempt.outcome for attempt in attempts} == {Outcome.COMPLETE}
    assert {attempt.batch_id for attempt in attempts} == {document["batch_id"]}


def test_bad_list_sends_nothing(sandbox: SandboxServer, tmp_path: Path) -> None:
    csv_file = write_list(
        tmp_path / "batch.csv",
        ["p1,r1,scorm", "p 2,r2,scorm", "p3,r3,zip", "p4,r1,"],
    )
    sandbox.stats.reset()

    result = run_batch(sandbox, str(csv_file), "--live")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Line 3: the project code 'p 2' contains a space" in result.stderr
    assert "Line 4: unknown release mode 'zip'" in result.stderr
    assert "Line 5: duplicate release code r1 (first on line 2)" in result.stderr
    assert "nothing was sent" in result.stderr
    assert sandbox.stats.requests_total == 0
    assert not app_paths().history_file.exists() or history_attempts() == []


def test_invalid_concurrency(sandbox: SandboxServer, tmp_path: Path) -> None:
    csv_file = write_list(tmp_path / "batch.csv", ["p1,r1,scorm"])
    result = run_batch(sandbox, str(csv_file), "--concurrency", "0", "--json")
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["error"]["kind"] == "InputError"
    assert "--concurrency 0" in document["error"]["message"]


def test_list_from_stdin(sandbox: SandboxServer) -> None:
    project, code, mode, _ = sandbox_releases(sandbox)[0]
    text = f"project_code,release_code,release_mode\n{project},{code},{mode}\n"
    result = run_batch(sandbox, "-", stdin=text)
    assert result.returncode == 0, result.stderr
    assert "1 of 1 succeeded (simulation)." in result.stdout
    assert "from stdin" in result.stderr


def test_dropped_connection_exits_4(sandbox: SandboxServer, tmp_path: Path) -> None:
    releases = sandbox_releases(sandbox)
    rows = [f"{project},{code},{mode}" for project, code, mode, _ in releases[:3]]
    csv_file = write_list(tmp_path / "batch.csv", rows)
    sandbox.faults.drop_after_create = 1

    result = run_batch(sandbox, str(csv_file), "--live", "--concurrency", "1", "--json")

    assert result.returncode == 4, result.stderr
    document = json.loads(result.stdout)
    states = [item["state"] for item in document["items"]]
    assert states == ["outcome-unknown", "publishing", "publishing"]
    assert document["items"][0]["error_kind"] == "OutcomeUnknownError"
    assert document["summary"]["outcome_unknown"] == 1
    # Created once by the dropped call, and never sent again.
    assert sandbox_releases(sandbox)[0][3] == releases[0][3] + 1


def test_lrs_password_from_environment_stays_secret(
    sandbox: SandboxServer, tmp_path: Path, app_home: Path
) -> None:
    project, code, mode, _ = sandbox_releases(sandbox)[0]
    csv_file = tmp_path / "batch.csv"
    csv_file.write_text(
        "project_code,release_code,release_mode,lrs_endpoint_url,lrs_username\n"
        f"{project},{code},{mode},https://lrs.example.com/xapi/,lrs-user\n"
    )
    result = run_batch(
        sandbox,
        str(csv_file),
        "--live",
        env=child_env(ELUCIDAT_LRS_PASSWORD=LRS_PASSWORD),
    )

    assert result.returncode == 0, result.stderr
    assert LRS_PASSWORD not in result.stdout + result.stderr
    for path in app_home.rglob("*"):
        if path.is_file():
            assert LRS_PASSWORD.encode() not in path.read_bytes(), path
    [attempt] = history_attempts()
    assert attempt.lrs_endpoint == "https://lrs.example.com/xapi/"
    assert attempt.lrs_username == "lrs-user"


def test_ctrl_c_cancels_the_rest(slow_sandbox: SandboxServer, tmp_path: Path) -> None:
    releases = sandbox_releases(slow_sandbox)
    rows = [f"{project},{code},{mode}" for project, code, mode, _ in releases]
    csv_file = write_list(tmp_path / "batch.csv", rows)
    process = subprocess.Popen(
        batch_command(slow_sandbox, str(csv_file), "--live", "--wait"),
        cwd=REPO_ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        seen: list[str] = []
        while not any("Publishing" in line for line in seen):
            line = process.stderr.readline()
            assert line, f"the command ended early: {seen}"
            seen.append(line)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130, stderr
    assert "Cancelled: no further item is sent" in stderr
    assert "Traceback" not in stderr
    assert "cancelled" in stdout
    attempts = history_attempts()
    assert 1 <= len(attempts) < len(releases)
    # Sent items stay publishing, so the window follows them at its next start.
    assert {attempt.outcome for attempt in attempts} == {Outcome.PUBLISHING}
