"""The command line, end to end: `python main.py ...` in a child process against a
sandbox on 127.0.0.1, with the app's folders in a temporary RELEASE_DESK_HOME."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import APP_NAME, __version__
from core.cli import build_parser
from core.history import HistoryQuery, HistoryStore, Outcome
from core.paths import app_paths
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

REPO_ROOT = Path(__file__).resolve().parent.parent
# Each child process imports requests and the core; a few seconds is plenty.
COMMAND_TIMEOUT = 30.0

LRS_PASSWORD = "Lrs-Pass-7731-Zq"
CREATE_KEYS = {
    "simulation",
    "attempt_id",
    "project_code",
    "project_name",
    "release_mode",
    "re_release_of",
    "release_code",
    "message",
    "http_status",
    "release",
    "package_path",
}


def child_env(
    *, keys: bool = True, private_key: str = DEMO_PRIVATE_KEY, **extra: str
) -> dict[str, str]:
    """Return the environment for a child: this test's app home, no real keyring."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ELUCIDAT_")
    }
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    if keys:
        env["ELUCIDAT_PUBLIC_KEY"] = DEMO_PUBLIC_KEY
        env["ELUCIDAT_PRIVATE_KEY"] = private_key
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=REPO_ROOT,
        env=env if env is not None else child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """Run a command with --json; return exit status, parsed stdout and stderr."""
    result = run_cli("--json", *args, env=env)
    return result.returncode, json.loads(result.stdout), result.stderr


def history_attempts() -> list[Any]:
    store = HistoryStore(app_paths().history_file)
    try:
        return store.search(HistoryQuery(limit=50))
    finally:
        store.close()


def first_project(server: SandboxServer) -> dict[str, Any]:
    return server.projects()[0]


def free_port() -> int:
    """Return a loopback port that nothing listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def slow_sandbox() -> Iterator[SandboxServer]:
    """A sandbox whose live releases stay in preparation for a minute."""
    server = SandboxServer(publish_delay=60.0).start()
    yield server
    server.stop()


# Parser, help and version


COMMANDS = [
    [],
    ["release"],
    ["release", "create"],
    ["release", "list"],
    ["release", "details"],
    ["projects"],
    ["account"],
    ["history"],
    ["sandbox"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_help_on_every_command(command: list[str]) -> None:
    result = run_cli(*command, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: release-desk {' '.join(command)}".strip())
    assert "--json" in result.stdout
    assert "--api-url" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("command", [[], ["projects"], ["release", "list"]])
def test_version_everywhere(command: list[str]) -> None:
    result = run_cli(*command, "--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{APP_NAME} {__version__}"


def test_global_options_survive_command_defaults() -> None:
    parser = build_parser()

    before = parser.parse_args(
        [
            *("--json", "--api-url", "http://127.0.0.1:1/v2/"),
            *("--log-level", "debug", "--account", "Acme", "projects"),
        ]
    )
    after = parser.parse_args(["projects", "--json", "--account", "Other"])
    neither = parser.parse_args(["release", "list", "--project", "p1"])

    assert before.json is True
    assert before.api_url == "http://127.0.0.1:1/v2/"
    assert before.log_level == "debug"
    assert before.account == "Acme"
    assert after.json is True
    assert after.account == "Other"
    assert neither.json is False
    assert neither.log_level == "info"
    assert neither.api_url is None


def test_release_without_action_is_usage_error() -> None:
    result = run_cli("release")

    assert result.returncode == 2
    assert "usage: release-desk release" in result.stderr


# Read commands


def test_projects_text_and_json(sandbox: SandboxServer) -> None:
    expected = sandbox.projects()

    text = run_cli("--api-url", sandbox.base_url, "projects")
    status, document, _ = run_json("--api-url", sandbox.base_url, "projects")

    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0].split() == ["PROJECT", "CODE", "NAME", "CREATED"]
    for project in expected:
        assert project["project_code"] in text.stdout
        assert project["name"] in text.stdout
    assert status == 0
    assert list(document) == ["projects"]
    listed = [(p["project_code"], p["name"]) for p in document["projects"]]
    assert listed == [(p["project_code"], p["name"]) for p in expected]
    assert set(document["projects"][0]) == {"project_code", "name", "created"}
    # ISO 8601 with the UTC offset, as every date in the JSON output.
    assert document["projects"][0]["created"].endswith("+00:00")


def test_api_url_after_command(sandbox: SandboxServer) -> None:
    status, document, _ = run_json("projects", "--api-url", sandbox.base_url)

    assert status == 0
    assert len(document["projects"]) == len(sandbox.projects())


def test_account_shows_source_not_key(sandbox: SandboxServer) -> None:
    text = run_cli("--api-url", sandbox.base_url, "account")
    status, document, _ = run_json("--api-url", sandbox.base_url, "account")

    assert text.returncode == 0, text.stderr
    assert sandbox.state.account.company_name in text.stdout
    assert "environment" in text.stdout
    assert status == 0
    assert set(document) == {"account", "account_name", "key_source", "base_url"}
    assert document["account"]["company_name"] == sandbox.state.account.company_name
    assert document["key_source"] == "environment"
    assert document["base_url"] == sandbox.base_url
    assert DEMO_PRIVATE_KEY not in text.stdout + json.dumps(document)


def test_release_list_and_details(sandbox: SandboxServer) -> None:
    project_code = first_project(sandbox)["project_code"]
    expected = sandbox.releases(project_code)
    release_code = expected[0]["release_code"]

    listing = run_cli(
        "--api-url", sandbox.base_url, "release", "list", "--project", project_code
    )
    status, document, _ = run_json(
        "--api-url", sandbox.base_url, "release", "list", "--project", project_code
    )
    details_status, details, _ = run_json(
        "--api-url", sandbox.base_url, "release", "details", "--release-code",
        release_code,
    )  # fmt: skip

    assert listing.returncode == 0, listing.stderr
    assert release_code in listing.stdout
    assert status == 0
    assert document["project_code"] == project_code
    listed_codes = [release["release_code"] for release in document["releases"]]
    assert listed_codes == [release["release_code"] for release in expected]
    assert details_status == 0
    assert details["release"]["release_code"] == release_code
    assert details["release"]["project"]["project_code"] == project_code
    assert isinstance(details["release"]["version_number"], int)


def test_history_lists_newest_first(sandbox: SandboxServer) -> None:
    project_code = first_project(sandbox)["project_code"]
    empty = run_cli("history")
    for mode in ("scorm", "online-public"):
        created = run_cli(
            "--api-url", sandbox.base_url, "release", "create", "--project",
            project_code, "--mode", mode,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr

    text = run_cli("history")
    status, document, _ = run_json("history", "--limit", "1")

    assert empty.returncode == 0, empty.stderr
    assert "No release attempts yet." in empty.stdout
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 3
    assert "online-public" in lines[1]
    assert "scorm" in lines[2]
    assert status == 0
    assert len(document["attempts"]) == 1
    newest = document["attempts"][0]
    assert newest["release_mode"] == "online-public"
    assert newest["simulation"] is True
    assert newest["outcome"] == "succeeded"


# release create


def test_simulation_create_is_recorded(sandbox: SandboxServer) -> None:
    project = first_project(sandbox)
    releases_before = sandbox.releases(project["project_code"])

    result = run_cli(
        "--api-url", sandbox.base_url, "release", "create", "--project",
        project["project_code"], "--mode", "scorm", "--description", "Check only",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "Simulation mode" in result.stderr
    assert "--live" in result.stderr
    assert result.stdout.startswith("Simulation succeeded")
    assert project["name"] in result.stdout
    assert sandbox.releases(project["project_code"]) == releases_before
    [attempt] = history_attempts()
    assert attempt.simulation is True
    assert attempt.outcome is Outcome.SUCCEEDED
    assert attempt.project_code == project["project_code"]
    assert attempt.project_name == project["name"]
    assert attempt.release_mode == "scorm"
    assert attempt.description == "Check only"
    assert attempt.account == "Environment"
    assert attempt.base_url == sandbox.base_url
    assert f"History attempt: {attempt.id}" in " ".join(result.stdout.split())


def test_simulation_create_json_shape(sandbox: SandboxServer) -> None:
    project_code = first_project(sandbox)["project_code"]

    status, document, stderr = run_json(
        "--api-url", sandbox.base_url, "release", "create", "--project",
        project_code, "--mode", "online-private", "--wait",
    )  # fmt: skip

    assert status == 0
    assert set(document) == CREATE_KEYS
    assert document["simulation"] is True
    assert document["project_code"] == project_code
    assert document["release_mode"] == "online-private"
    assert document["re_release_of"] is None
    assert document["http_status"] == 200
    assert document["release"] is None
    assert document["package_path"] is None
    assert document["attempt_id"] == history_attempts()[0].id
    assert "nothing to wait for" in stderr


def test_live_wait_download_offline_backup(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    project_code = first_project(sandbox)["project_code"]
    download_dir = tmp_path / "packages" / "new"

    status, document, stderr = run_json(
        "--api-url", sandbox.base_url, "release", "create", "--project",
        project_code, "--mode", "offline-backup", "--live", "--wait", "--download",
        str(download_dir),
    )  # fmt: skip

    assert status == 0, stderr
    assert "LIVE" in stderr
    assert document["simulation"] is False
    release_code = document["release_code"]
    assert release_code
    assert document["release"]["status"] == "complete"
    assert document["release"]["release_code"] == release_code
    package = Path(document["package_path"])
    assert package.parent == download_dir
    assert package.suffix == ".zip"
    assert zipfile.is_zipfile(package)
    with zipfile.ZipFile(package) as archive:
        assert archive.testzip() is None
    listed = [r["release_code"] for r in sandbox.releases(project_code)]
    assert release_code in listed
    [attempt] = history_attempts()
    assert attempt.simulation is False
    assert attempt.outcome is Outcome.COMPLETE
    assert attempt.release_code == release_code
    assert attempt.package_path == str(package)


def test_live_wait_text_output(sandbox: SandboxServer) -> None:
    project_code = first_project(sandbox)["project_code"]

    result = run_cli(
        "--api-url", sandbox.base_url, "release", "create", "--project",
        project_code, "--mode", "online-public", "--live", "--wait",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Release created")
    assert "is complete." in result.stdout
    assert "Launch URL:" in result.stdout
    assert "Waiting for Elucidat" in result.stderr
    [attempt] = history_attempts()
    assert attempt.outcome is Outcome.COMPLETE
    assert attempt.launch_url


def test_live_without_wait_stays_publishing(slow_sandbox: SandboxServer) -> None:
    project_code = first_project(slow_sandbox)["project_code"]

    status, document, _ = run_json(
        "--api-url", slow_sandbox.base_url, "release", "create", "--project",
        project_code, "--mode", "scorm", "--live",
    )  # fmt: skip

    assert status == 0
    assert document["release"] is None
    [attempt] = history_attempts()
    assert attempt.outcome is Outcome.PUBLISHING
    assert attempt.release_code == document["release_code"]


def test_live_re_release_waits_for_new_version(sandbox: SandboxServer) -> None:
    project_code = first_project(sandbox)["project_code"]
    existing = next(
        release
        for release in sandbox.releases(project_code)
        if release["release_mode"] == "scorm"
    )
    previous_version = int(existing["version_number"])

    status, document, stderr = run_json(
        "--api-url", sandbox.base_url, "release", "create", "--project",
        project_code, "--mode", "scorm", "--release-code", existing["release_code"],
        "--live", "--wait",
    )  # fmt: skip

    assert status == 0, stderr
    assert "re-release of" in stderr
    assert document["re_release_of"] == existing["release_code"]
    assert document["release_code"] == existing["release_code"]
    assert document["release"]["version_number"] == previous_version + 1
    [attempt] = history_attempts()
    assert attempt.re_release_of == existing["release_code"]
    assert attempt.outcome is Outcome.COMPLETE
    assert attempt.version_number == previous_version + 1


def test_lost_create_reply_exits_4(sandbox: SandboxServer) -> None:
    project_code = first_project(sandbox)["project_code"]
    sandbox.faults.drop_after_create = 1

    status, document, stderr = run_json(
        "--api-url", sandbox.base_url, "release", "create", "--project",
        project_code, "--mode", "scorm", "--live", "--wait",
    )  # fmt: skip

    assert status == 4
    assert document["error"]["kind"] == "OutcomeUnknownError"
    assert "Traceback" not in stderr
    [attempt] = history_attempts()
    assert attempt.outcome is Outcome.OUTCOME_UNKNOWN


def test_failed_download_reports_created_release(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    project_code = first_project(sandbox)["project_code"]
    sandbox.faults.truncate_download = 10
    download_dir = tmp_path / "packages"

    status, document, _ = run_json(
        "--api-url", sandbox.base_url, "release", "create", "--project",
        project_code, "--mode", "scorm", "--live", "--download", str(download_dir),
    )  # fmt: skip

    assert status == 4
    assert document["error"]["kind"] == "DownloadError"
    created = document["created"]
    assert set(created) == CREATE_KEYS
    assert created["release"]["status"] == "complete"
    assert created["package_path"] is None
    assert list(download_dir.iterdir()) == []
    [attempt] = history_attempts()
    assert attempt.outcome is Outcome.COMPLETE
    assert attempt.release_code == created["release_code"]
    assert attempt.package_path == ""


def test_lrs_password_prompt_on_terminal(sandbox: SandboxServer) -> None:
    project_code = first_project(sandbox)["project_code"]
    prompt = b"LRS password for lrs-user: "
    terminal, child_terminal = os.openpty()
    # A new session has no controlling terminal, so getpass reads the pty on stdin
    # and writes its prompt to stderr instead of using this test's own terminal.
    process = subprocess.Popen(
        [
            sys.executable, "main.py", "--api-url", sandbox.base_url, "release",
            "create", "--project", project_code, "--mode", "scorm", "--lrs-url",
            "https://lrs.example.com/xapi/", "--lrs-username", "lrs-user",
        ],
        cwd=REPO_ROOT,
        env=child_env(),
        stdin=child_terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    os.close(child_terminal)
    try:
        assert process.stderr is not None
        received = b""
        while prompt not in received:
            chunk = os.read(process.stderr.fileno(), 1024)
            assert chunk, f"no password prompt: {received!r}"
            received += chunk
        os.write(terminal, LRS_PASSWORD.encode() + b"\n")
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        os.close(terminal)
        if process.poll() is None:
            process.kill()
            process.wait()

    output = received + stdout + stderr
    assert process.returncode == 0, output
    assert b"no LRS password given" not in output
    assert LRS_PASSWORD.encode() not in output
    [attempt] = history_attempts()
    assert attempt.lrs_username == "lrs-user"
    assert attempt.lrs_endpoint == "https://lrs.example.com/xapi/"


def test_ctrl_c_while_waiting_exits_130(slow_sandbox: SandboxServer) -> None:
    project_code = first_project(slow_sandbox)["project_code"]
    process = subprocess.Popen(
        [
            sys.executable, "main.py", "--api-url", slow_sandbox.base_url, "release",
            "create", "--project", project_code, "--mode", "scorm", "--live",
            "--wait",
        ],
        cwd=REPO_ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        seen: list[str] = []
        while not any(line.startswith("Release ") for line in seen):
            line = process.stderr.readline()
            assert line, f"the command ended early: {seen}"
            seen.append(line)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130
    assert "Release created" in stdout
    assert "stopped waiting" in stderr
    assert "Traceback" not in stderr
    [attempt] = history_attempts()
    assert attempt.outcome is Outcome.PUBLISHING


def test_no_secret_in_output_or_files(sandbox: SandboxServer, app_home: Path) -> None:
    project_code = first_project(sandbox)["project_code"]
    env = child_env(ELUCIDAT_LRS_PASSWORD=LRS_PASSWORD)

    results = [
        run_cli(
            "--api-url", sandbox.base_url, "--log-level", "debug", "release",
            "create", "--project", project_code, "--mode", "scorm", "--live",
            "--download", str(app_home / "packages"), "--lrs-url",
            "https://lrs.example.com/xapi/", "--lrs-username", "lrs-user", *json_flag,
            env=env,
        )
        for json_flag in ([], ["--json"])
    ]  # fmt: skip
    results.append(
        run_cli(
            "--api-url", sandbox.base_url, "--log-level", "debug", "history", env=env
        )
    )
    failing = run_cli(
        "--api-url", sandbox.base_url, "--log-level", "debug", "projects",
        env=child_env(private_key="Wrong-Key-0042", ELUCIDAT_LRS_PASSWORD=LRS_PASSWORD),
    )  # fmt: skip

    for result in results:
        assert result.returncode == 0, result.stderr
        assert "no LRS password given" not in result.stderr
    assert failing.returncode == 3
    secrets = [DEMO_PRIVATE_KEY, LRS_PASSWORD, "Wrong-Key-0042"]
    for result in [*results, failing]:
        for secret in secrets:
            assert secret not in result.stdout
            assert secret not in result.stderr
    files = [path for path in app_home.rglob("*") if path.is_file()]
    assert any(path.suffix == ".zip" for path in files)
    assert any(path.name.endswith(".log") for path in files)
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, f"{secret!r} found in {path}"


# Errors and exit statuses


SCORM_P1 = ["--project", "p1", "--mode", "scorm"]
INVALID_CREATE_ARGUMENTS = [
    (["--project", "p1", "--mode", "web"], "--mode"),
    (["--project", "", "--mode", "scorm"], "--project"),
    (["--project", "p 1", "--mode", "scorm"], "--project"),
    ([*SCORM_P1, "--release-code", " "], "--release-code"),
    ([*SCORM_P1, "--learner-access", "all"], "--learner-access"),
    ([*SCORM_P1, "--lrs-url", "ftp://lrs.example.com/"], "--lrs-url"),
    ([*SCORM_P1, "--lrs-url", "https:///xapi"], "--lrs-url"),
    ([*SCORM_P1, "--lrs-username", "bob"], "--lrs-username"),
    ([*SCORM_P1, "--download", "main.py/packages"], "--download"),
    (["--project", "p1", "--mode", "online-public", "--download", "."], "--download"),
    ([*SCORM_P1, "--description", "x" * 300], "--description"),
]


@pytest.mark.parametrize(("arguments", "option"), INVALID_CREATE_ARGUMENTS)
def test_invalid_create_input_exits_2(
    sandbox: SandboxServer, arguments: list[str], option: str
) -> None:
    requests_before = sandbox.stats.requests_total

    status, document, stderr = run_json(
        "--api-url", sandbox.base_url, "release", "create", *arguments
    )

    assert status == 2
    assert document["error"]["kind"] == "InputError"
    assert option in document["error"]["message"]
    assert document["error"]["status"] is None
    assert stderr.startswith("error: ")
    assert len(stderr.strip().splitlines()) == 1
    assert sandbox.stats.requests_total == requests_before
    assert history_attempts() == []


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_invalid_history_limit_exits_2(limit: str) -> None:
    status, document, stderr = run_json("history", "--limit", limit)

    assert status == 2
    assert document["error"]["kind"] == "InputError"
    assert "--limit" in stderr


def test_plain_http_api_url_exits_2() -> None:
    status, document, _ = run_json(
        "--api-url", "http://api.example.com/v2/", "projects"
    )

    assert status == 2
    assert "https" in document["error"]["message"]


def test_unknown_project_exits_3_and_is_recorded(sandbox: SandboxServer) -> None:
    status, document, stderr = run_json(
        "--api-url", sandbox.base_url, "release", "create", "--project",
        "000000000none", "--mode", "scorm", "--live",
    )  # fmt: skip

    assert status == 3
    assert document["error"]["kind"] == "NotFoundError"
    assert document["error"]["status"] == 404
    assert "000000000none" in document["error"]["message"]
    assert stderr.strip().splitlines()[-1].startswith("error: ")
    [attempt] = history_attempts()
    assert attempt.outcome is Outcome.FAILED
    assert attempt.http_status == 404


def test_wrong_private_key_exits_3(sandbox: SandboxServer) -> None:
    status, document, stderr = run_json(
        "--api-url", sandbox.base_url, "projects",
        env=child_env(private_key="NotTheSandboxKey99"),
    )  # fmt: skip

    assert status == 3
    assert document["error"]["kind"] == "AuthenticationError"
    assert document["error"]["status"] == 401
    assert "private key" in stderr
    assert "Traceback" not in stderr


def test_stopped_sandbox_exits_4() -> None:
    server = SandboxServer(publish_delay=0.0).start()
    base_url = server.base_url
    server.stop()

    status, document, stderr = run_json(
        "--api-url", base_url, "release", "create", "--project", "5dd580064b0b7",
        "--mode", "scorm",
    )  # fmt: skip

    assert status == 4
    assert document["error"]["kind"] == "NetworkError"
    assert stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in stderr


def test_unused_port_exits_4() -> None:
    result = run_cli("--api-url", f"http://127.0.0.1:{free_port()}/v2/", "account")

    assert result.returncode == 4
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "refused" in result.stderr


def test_no_keys_exits_5(sandbox: SandboxServer) -> None:
    text = run_cli("--api-url", sandbox.base_url, "projects", env=child_env(keys=False))
    status, document, _ = run_json(
        "--api-url", sandbox.base_url, "projects", env=child_env(keys=False)
    )

    assert text.returncode == 5
    assert text.stderr.startswith("error: ")
    assert "ELUCIDAT_PUBLIC_KEY" in text.stderr
    assert len(text.stderr.strip().splitlines()) == 1
    assert status == 5
    assert document["error"]["kind"] == "ConfigurationError"


def test_unexpected_error_points_to_log(app_home: Path) -> None:
    script = (
        "import sys, main, core.cli as cli\n"
        "def broken(context):\n"
        "    raise RuntimeError('simulated bug')\n"
        "cli.run_projects = broken\n"
        "sys.exit(main.main(['projects']))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    log_file = app_paths().log_file
    assert line.startswith("error: ")
    assert str(log_file) in line
    assert "Traceback" in log_file.read_text(encoding="utf-8")
    assert "simulated bug" in log_file.read_text(encoding="utf-8")


# sandbox


def test_sandbox_command_serves_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "main.py", "sandbox", "--port", "0", "--publish-delay", "0"],
        cwd=REPO_ROOT,
        env=child_env(keys=False),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.startswith("Sandbox running at http://127.0.0.1:")
        url = first_line.split()[-1]
        other_lines = [process.stdout.readline() for _ in range(6)]

        projects = run_cli("--api-url", url, "--json", "projects")

        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert f"export ELUCIDAT_PUBLIC_KEY={DEMO_PUBLIC_KEY}\n" in "".join(
        line.lstrip() for line in other_lines
    )
    assert f"export ELUCIDAT_PRIVATE_KEY={DEMO_PRIVATE_KEY}\n" in "".join(
        line.lstrip() for line in other_lines
    )
    assert projects.returncode == 0, projects.stderr
    assert json.loads(projects.stdout)["projects"]
    assert process.returncode == 0
    assert "Sandbox stopped." in stderr


def test_sandbox_command_port_in_use_exits_2(sandbox: SandboxServer) -> None:
    status, document, _ = run_json(
        "sandbox", "--port", str(sandbox.port), env=child_env(keys=False)
    )

    assert status == 2
    assert str(sandbox.port) in document["error"]["message"]
