"""Tests of the PyInstaller bundle built from packaging/release-desk.spec.

The module builds the one-folder bundle once, into a temporary folder, then runs the
built executable as a user would: `--version`, the bundled sandbox with `projects`,
`release create` and `history` against it, and the window on Qt's offscreen platform.
Each child gets its own RELEASE_DESK_HOME and keyring's `fail` backend, so no child
reads or writes the developer's files or keyring. The build takes 10 to 60 seconds.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from core import __version__
from sandbox.data import demo_state
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(240)]

REPOSITORY = Path(__file__).resolve().parent.parent
SPEC = REPOSITORY / "packaging" / "release-desk.spec"

BUILD_TIMEOUT_S = 180.0
COMMAND_TIMEOUT_S = 30.0
# How long the window process must keep running to count as started.
WINDOW_UP_S = 3.0

# Modules that keyring imports by name or finds through entry points, so PyInstaller's
# import scan cannot see them. The spec lists them as hidden imports.
KEYRING_MODULES = [
    "keyring.backends.SecretService",
    "keyring.backends.kwallet",
    "keyring.backends.libsecret",
    "keyring.backends.chainer",
    "keyring.backends.fail",
    "keyring.backends.null",
    "secretstorage",
    "jeepney",
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the bundle from the spec and return the path of its executable."""
    pytest.importorskip(
        "PyInstaller",
        reason="PyInstaller is not installed; pip install -e '.[dev]' installs it",
    )
    folder = tmp_path_factory.mktemp("pyinstaller")
    dist = folder / "dist"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--distpath",
            str(dist),
            "--workpath",
            str(folder / "build"),
            str(SPEC),
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"PyInstaller failed:\n{result.stderr[-4000:]}"
    executable = dist / f"release-desk-{__version__}" / "release-desk"
    assert executable.is_file(), f"no executable at {executable}"
    return executable


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a bundled child: a fresh app home and keyring's fail backend."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ELUCIDAT_", "PYTHON_KEYRING"))
    }
    home = tmp_path / "bundle-home"
    home.mkdir()
    environ.update(
        RELEASE_DESK_HOME=str(home),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return environ


@pytest.fixture
def sandbox_url(bundle: Path, child_env: dict[str, str]) -> Iterator[str]:
    """Run the bundle's `sandbox --port 0`, yield its base URL, then stop it."""
    process = subprocess.Popen(
        [str(bundle), "sandbox", "--port", "0"],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = read_line(process.stdout, COMMAND_TIMEOUT_S)
        match = re.match(
            r"Sandbox running at (http://127\.0\.0\.1:\d+/v2/)$", first_line
        )
        assert match, f"unexpected first line from the bundled sandbox: {first_line!r}"
        yield match.group(1)

        # A person stops the sandbox with Ctrl+C, so SIGINT must end it with status 0.
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=COMMAND_TIMEOUT_S)
        assert process.returncode == 0, stderr
        assert "Sandbox stopped." in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=COMMAND_TIMEOUT_S)


def read_line(stream: IO[str] | None, timeout: float) -> str:
    """Return the next line of stream without its newline, or fail after timeout s."""
    assert stream is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).rstrip("\n")
    except queue.Empty:
        pytest.fail(f"timed out after {timeout:g} s waiting for a line on stdout")


def run_bundle(
    bundle: Path, args: list[str], environ: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bundle), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def with_demo_keys(environ: dict[str, str]) -> dict[str, str]:
    return dict(
        environ,
        ELUCIDAT_PUBLIC_KEY=DEMO_PUBLIC_KEY,
        ELUCIDAT_PRIVATE_KEY=DEMO_PRIVATE_KEY,
    )


def test_version_prints_name(bundle: Path, child_env: dict[str, str]) -> None:
    result = run_bundle(bundle, ["--version"], child_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Release Desk {__version__}"


def test_projects_from_bundled_sandbox(
    bundle: Path, child_env: dict[str, str], sandbox_url: str
) -> None:
    result = run_bundle(
        bundle,
        ["--api-url", sandbox_url, "projects", "--json"],
        with_demo_keys(child_env),
    )

    assert result.returncode == 0, result.stderr
    listed = {
        p["project_code"]: p["name"] for p in json.loads(result.stdout)["projects"]
    }
    expected = {code: p.name for code, p in demo_state().projects.items()}
    assert listed == expected


def test_dry_run_recorded_in_history(
    bundle: Path, child_env: dict[str, str], sandbox_url: str
) -> None:
    """A dry run through the bundle reaches the sandbox and is stored in the history."""
    project_code, project = next(iter(demo_state().projects.items()))
    environ = with_demo_keys(child_env)
    created = run_bundle(
        bundle,
        [
            "--api-url",
            sandbox_url,
            "release",
            "create",
            "--project",
            project_code,
            "--mode",
            "scorm",
            "--json",
        ],
        environ,
    )

    assert created.returncode == 0, created.stderr
    document = json.loads(created.stdout)
    assert document["simulation"] is True
    assert document["project_code"] == project_code
    assert document["project_name"] == project.name

    listed = run_bundle(bundle, ["history", "--json"], environ)
    assert listed.returncode == 0, listed.stderr
    attempts = json.loads(listed.stdout)["attempts"]
    assert len(attempts) == 1
    assert attempts[0]["id"] == document["attempt_id"]
    assert attempts[0]["simulation"] is True
    assert attempts[0]["outcome"] == "succeeded"


def test_window_stays_up_offscreen(bundle: Path, child_env: dict[str, str]) -> None:
    environ = dict(child_env, QT_QPA_PLATFORM="offscreen")
    process = subprocess.Popen(
        [str(bundle), "--sandbox"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=WINDOW_UP_S)
        assert time.monotonic() - started >= WINDOW_UP_S
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=COMMAND_TIMEOUT_S)

    assert "Traceback" not in stderr
    log_text = (
        Path(environ["RELEASE_DESK_HOME"]) / "logs" / "release-desk.log"
    ).read_text(encoding="utf-8")
    assert "Sandbox running at http://127.0.0.1:" in log_text
    # The window loads the project list on a worker thread as soon as it shows.
    assert f"Listed {len(demo_state().projects)} projects" in log_text


def test_keyring_backends_bundled(bundle: Path) -> None:
    """Look for keyring's backends in the bundle's PYZ archive and its metadata.

    The app has no command that imports a module by name, so the check reads the
    table of contents of the PYZ archive embedded in the executable instead.
    """
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(bundle)).open_embedded_archive("PYZ.pyz")
    for module in KEYRING_MODULES:
        assert module in archive.toc, f"{module} is missing from the bundle"

    # keyring discovers its backends through the entry points in its metadata.
    internal = bundle.parent / "_internal"
    entry_points = list(internal.glob("keyring-*.dist-info/entry_points.txt"))
    assert entry_points, f"no keyring metadata in {internal}"
    text = entry_points[0].read_text(encoding="utf-8")
    assert "SecretService = keyring.backends.SecretService" in text


def test_window_icon_bundled(bundle: Path) -> None:
    """gui.app loads the window icon from resources/ next to the gui package."""
    internal = bundle.parent / "_internal"

    assert (internal / "resources" / "release-desk.svg").is_file()
    icon_engines = internal / "PySide6" / "Qt" / "plugins" / "iconengines"
    assert list(icon_engines.glob("*qsvgicon*")), (
        f"no SVG icon engine in {icon_engines}"
    )
