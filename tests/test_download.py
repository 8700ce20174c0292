"""Tests for core.download: package downloads from the sandbox over loopback."""

from __future__ import annotations

import gzip
import http.server
import io
import os
import stat
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from core.client import ElucidatClient
from core.download import download_package, package_file_name, safe_file_component
from core.errors import CancelledError, DownloadError
from core.models import Release, ReleaseMode, ReleaseRequest
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

# safe_file_component


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("../../etc/passwd", "etc-passwd"),
        ("a/b\\c", "a-b-c"),
        ("C:\\x", "C-x"),
        ("..", ""),
        (".hidden", "hidden"),
        ("", ""),
        ("Fire Safety Basics", "Fire-Safety-Basics"),
        ("Sécurité incendie", "Securite-incendie"),
        ("Ärger über Öl", "Arger-uber-Ol"),
        ("火災安全 基礎", "火災安全-基礎"),
        ("Onboarding: Your First 30 Days", "Onboarding-Your-First-30-Days"),
        ("a..b", "a.b"),
        ("name.", "name"),
        ("CON", "CON_"),
        ("nul.txt", "nul.txt_"),
        ("tab\there\nnewline", "tab-here-newline"),
        ("v1.2_final-copy", "v1.2_final-copy"),
    ],
)
def test_safe_file_component_cases(text: str, expected: str) -> None:
    assert safe_file_component(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "../../etc/passwd",
        "a/b\\c",
        "C:\\x",
        "..",
        "...",
        ".hidden",
        "",
        "/",
        "\\\\server\\share",
        "x" * 500,
        "ü" * 500,
        "名" * 500,
        "a/../" * 50,
        "\x00\x1f\x7f",
        "..\u2024\u2024",  # ONE DOT LEADER, which NFKD turns into "."
        "\uff0e\uff0e\uff0fetc",  # full-width "../"
    ],
)
def test_safe_file_component_invariants(text: str) -> None:
    result = safe_file_component(text, max_length=40)

    assert len(result) <= 40
    assert "/" not in result
    assert "\\" not in result
    assert ".." not in result
    assert not result.startswith(".")
    assert result not in (".", "..")
    assert all(char.isalnum() or char in "-_." for char in result)


def test_safe_file_component_fallback() -> None:
    assert safe_file_component("..", fallback="project") == "project"
    assert safe_file_component("", fallback="project") == "project"
    assert safe_file_component("///", fallback="../x") == "x"
    assert safe_file_component("Intro", fallback="project") == "Intro"


def test_safe_file_component_bounds_length() -> None:
    long_name = "Compliance " * 30

    result = safe_file_component(long_name, max_length=60)

    assert len(result) <= 60
    assert result.startswith("Compliance-Compliance")
    assert not result.endswith("-")


def test_package_file_name_example() -> None:
    name = package_file_name(
        project_name="Fire Safety Basics",
        release_mode="offline-backup",
        release_code="5dd580064b0b7",
        version=3,
    )

    assert name == "Fire-Safety-Basics_offline-backup_5dd580064b0b7_v3.zip"


def test_package_file_name_without_version() -> None:
    name = package_file_name(
        project_name="Intro", release_mode="scorm", release_code="abc", version=None
    )

    assert name == "Intro_scorm_abc.zip"


def test_package_file_name_hostile_parts() -> None:
    name = package_file_name(
        project_name="../../etc/passwd",
        release_mode="scorm/../..",
        release_code="..\\..\\win.ini",
        version=2,
    )

    assert name == "etc-passwd_scorm_win.ini_v2.zip"
    assert "/" not in name
    assert "\\" not in name
    assert ".." not in name


def test_package_file_name_empty_parts() -> None:
    name = package_file_name(
        project_name="", release_mode="", release_code="", version=None
    )

    assert name == "project_package_release.zip"


# Downloads from the sandbox

PACKAGE_ENTRY = {
    ReleaseMode.SCORM: "imsmanifest.xml",
    ReleaseMode.OFFLINE_BACKUP: "index.html",
}


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[ElucidatClient]:
    with ElucidatClient(
        sandbox.base_url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY, max_read_retries=0
    ) as elucidat:
        yield elucidat


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


class ProgressRecorder:
    def __init__(self) -> None:
        self.reports: list[tuple[int, int | None]] = []

    def __call__(self, done: int, total: int | None) -> None:
        self.reports.append((done, total))


class DelayedDownloads:
    """Wraps a client so that its first `delayed` downloads start `delay` seconds
    after they are asked for, long enough for a short-lived link to expire."""

    def __init__(self, client: ElucidatClient, delay: float, delayed: int) -> None:
        self.client = client
        self.delay = delay
        self.delayed = delayed
        self.urls: list[str] = []

    def release_details(self, release_code: str) -> Release:
        return self.client.release_details(release_code)

    def open_download(self, url: str) -> requests.Response:
        self.urls.append(url)
        if len(self.urls) <= self.delayed:
            time.sleep(self.delay)
        return self.client.open_download(url)


def project_of(sandbox: SandboxServer, name: str) -> str:
    for project in sandbox.projects():
        if project["name"] == name:
            return str(project["project_code"])
    raise AssertionError(f"the sandbox has no project named {name!r}")


def demo_release(
    sandbox: SandboxServer, mode: ReleaseMode
) -> tuple[str, dict[str, Any]]:
    """Return a project code and its first complete demo release of `mode`."""
    for project in sandbox.projects():
        code = str(project["project_code"])
        for record in sandbox.releases(code):
            if record["release_mode"] == mode and record["status"] == "complete":
                return code, record
    raise AssertionError(f"the sandbox has no complete {mode} release")


def new_release(client: ElucidatClient, project_code: str, mode: ReleaseMode) -> str:
    result = client.create_release(ReleaseRequest(project_code, mode), simulation=False)
    return result.release_code


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("mode", [ReleaseMode.SCORM, ReleaseMode.OFFLINE_BACKUP])
def test_download_package_each_mode(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path, mode: ReleaseMode
) -> None:
    project_code = project_of(sandbox, "Fire Safety in the Workplace")
    # publish_delay is 0, so the release is complete on the next read.
    release_code = new_release(client, project_code, mode)
    recorder = ProgressRecorder()

    path = download_package(
        client,
        release_code,
        downloads,
        project_code=project_code,
        project_name="Fire Safety Basics",
        progress=recorder,
    )

    assert path == downloads / f"Fire-Safety-Basics_{mode}_{release_code}_v1.zip"
    assert files_in(downloads) == [path.name]
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert PACKAGE_ENTRY[mode] in archive.namelist()
        assert release_code in archive.read(PACKAGE_ENTRY[mode]).decode()


def test_download_progress_reaches_total(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.SCORM)
    recorder = ProgressRecorder()

    path = download_package(
        client,
        record["release_code"],
        downloads,
        project_code=project_code,
        progress=recorder,
    )

    size = path.stat().st_size
    done_values = [done for done, _ in recorder.reports]
    assert len(recorder.reports) > 2
    assert recorder.reports[0] == (0, size)
    assert recorder.reports[-1] == (size, size)
    assert done_values == sorted(done_values)
    assert len(set(done_values)) == len(done_values)
    assert {total for _, total in recorder.reports} == {size}


def test_download_name_from_details(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.OFFLINE_BACKUP)
    project_name = next(
        project["name"]
        for project in sandbox.projects()
        if project["project_code"] == project_code
    )

    # Stale mode and version from the caller lose to the release details.
    path = download_package(
        client,
        record["release_code"],
        downloads,
        project_code=project_code,
        release_mode="scorm",
        version=99,
    )

    expected = package_file_name(
        project_name=project_name,
        release_mode="offline-backup",
        release_code=record["release_code"],
        version=int(record["version_number"]),
    )
    assert path.name == expected
    assert "/" not in path.name


def test_download_expired_link_retried_once(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.SCORM)
    sandbox.link_ttl = 0.2
    delayed = DelayedDownloads(client, delay=0.4, delayed=1)

    path = download_package(
        delayed, record["release_code"], downloads, project_code=project_code
    )

    assert zipfile.is_zipfile(path)
    assert len(delayed.urls) == 2
    assert delayed.urls[0] != delayed.urls[1]
    assert client.stats.calls["release_details"] == 2
    assert files_in(downloads) == [path.name]


def test_download_expired_link_twice_fails(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.SCORM)
    sandbox.link_ttl = 0.1
    delayed = DelayedDownloads(client, delay=0.3, delayed=10)

    with pytest.raises(DownloadError) as raised:
        download_package(
            delayed, record["release_code"], downloads, project_code=project_code
        )

    assert raised.value.status == 403
    assert "expired" in str(raised.value)
    assert len(delayed.urls) == 2
    assert client.stats.calls["release_details"] == 2
    assert files_in(downloads) == []


def test_download_cut_short_leaves_nothing(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.SCORM)
    sandbox.faults.truncate_download = 1

    with pytest.raises(DownloadError) as raised:
        download_package(
            client, record["release_code"], downloads, project_code=project_code
        )

    assert record["release_code"] in str(raised.value)
    assert files_in(downloads) == []
    assert sandbox.faults.truncate_download == 0


def test_download_cancel_leaves_nothing(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.OFFLINE_BACKUP)
    cancelled = threading.Event()
    reports: list[int] = []

    def cancel_after_first_chunk(done: int, total: int | None) -> None:
        reports.append(done)
        if done > 0:
            cancelled.set()

    with pytest.raises(CancelledError):
        download_package(
            client,
            record["release_code"],
            downloads,
            project_code=project_code,
            progress=cancel_after_first_chunk,
            cancelled=cancelled,
        )

    assert reports[-1] > 0
    assert files_in(downloads) == []


def test_download_keeps_existing_file(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.SCORM)
    release_code = record["release_code"]
    first = download_package(client, release_code, downloads, project_code=project_code)
    first.write_bytes(b"the user's own edits")

    second = download_package(
        client, release_code, downloads, project_code=project_code
    )
    third = download_package(client, release_code, downloads, project_code=project_code)

    assert first.read_bytes() == b"the user's own edits"
    assert second == downloads / f"{first.stem} (2).zip"
    assert third == downloads / f"{first.stem} (3).zip"
    assert zipfile.is_zipfile(second)
    assert zipfile.is_zipfile(third)
    assert files_in(downloads) == sorted([first.name, second.name, third.name])


def test_download_overwrite_replaces(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.SCORM)
    release_code = record["release_code"]
    first = download_package(client, release_code, downloads, project_code=project_code)
    first.write_bytes(b"stale")

    second = download_package(
        client, release_code, downloads, project_code=project_code, overwrite=True
    )

    assert second == first
    assert zipfile.is_zipfile(second)
    assert files_in(downloads) == [first.name]


def test_download_creates_missing_folder(
    sandbox: SandboxServer, client: ElucidatClient, tmp_path: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.SCORM)
    target = tmp_path / "new" / "folder"

    path = download_package(
        client, record["release_code"], target, project_code=project_code
    )

    assert path.parent == target
    assert zipfile.is_zipfile(path)


def test_download_online_release_rejected(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.ONLINE_PUBLIC)

    with pytest.raises(DownloadError) as raised:
        download_package(
            client, record["release_code"], downloads, project_code=project_code
        )

    assert "launch link" in str(raised.value)
    assert client.stats.calls["open_download"] == 0
    assert files_in(downloads) == []


def test_download_incomplete_release_rejected(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    sandbox.publish_delay = 60.0
    project_code = project_of(sandbox, "Manual Handling Basics")
    release_code = new_release(client, project_code, ReleaseMode.SCORM)

    with pytest.raises(DownloadError) as raised:
        download_package(client, release_code, downloads, project_code=project_code)

    assert "not complete" in str(raised.value)
    assert "publishing" in str(raised.value)
    assert client.stats.calls["open_download"] == 0
    assert files_in(downloads) == []


# Bad packages, served by a small loopback server because the sandbox only serves
# good ones


class StaticReply:
    """One reply for the static package server."""

    def __init__(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


class StaticHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        reply: StaticReply = self.server.reply  # type: ignore[attr-defined]
        self.send_response(reply.status)
        headers = {"Content-Length": str(len(reply.body)), **reply.headers}
        for name, value in headers.items():
            if value:
                self.send_header(name, value)
        if not headers.get("Content-Length"):
            self.close_connection = True
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StaticHandler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}
    )
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


class StaticPackageClient:
    """A client whose release details point at the static server. The download
    itself goes through the real client's open_download."""

    def __init__(self, client: ElucidatClient, url: str) -> None:
        self.client = client
        self.url = url
        self.details_calls = 0

    def release_details(self, release_code: str) -> Release:
        self.details_calls += 1
        return Release(
            release_code,
            "scorm",
            "complete",
            version_number=1,
            download_url=self.url,
        )

    def open_download(self, url: str) -> requests.Response:
        return self.client.open_download(url)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def static_download(
    client: ElucidatClient,
    server: http.server.ThreadingHTTPServer,
    reply: StaticReply,
    folder: Path,
) -> tuple[StaticPackageClient, Path]:
    server.reply = reply  # type: ignore[attr-defined]
    host, port = server.server_address[:2]
    package_client = StaticPackageClient(client, f"http://{host}:{port}/package.zip")
    path = download_package(package_client, "abc123", folder, project_code="p1")
    return package_client, path


def test_download_damaged_zip_rejected(
    client: ElucidatClient,
    static_server: http.server.ThreadingHTTPServer,
    downloads: Path,
) -> None:
    good = zip_bytes({"imsmanifest.xml": b"<manifest/>" * 50})
    # Flip one byte of the stored member data, so its CRC no longer matches.
    position = good.index(b"<manifest/>") + 3
    damaged = good[:position] + b"X" + good[position + 1 :]

    with pytest.raises(DownloadError) as raised:
        static_download(client, static_server, StaticReply(200, damaged), downloads)

    assert "damaged" in str(raised.value)
    assert files_in(downloads) == []


def test_download_not_zip_rejected(
    client: ElucidatClient,
    static_server: http.server.ThreadingHTTPServer,
    downloads: Path,
) -> None:
    page = b"<!DOCTYPE html><html><body>Sign in to the network</body></html>"

    with pytest.raises(DownloadError) as raised:
        static_download(client, static_server, StaticReply(200, page), downloads)

    assert "not a zip" in str(raised.value)
    assert files_in(downloads) == []


def test_download_server_error_not_retried(
    client: ElucidatClient,
    static_server: http.server.ThreadingHTTPServer,
    downloads: Path,
) -> None:
    static_server.reply = StaticReply(500, b"oops")  # type: ignore[attr-defined]
    host, port = static_server.server_address[:2]
    package_client = StaticPackageClient(client, f"http://{host}:{port}/package.zip")

    with pytest.raises(DownloadError) as raised:
        download_package(package_client, "abc123", downloads, project_code="p1")

    assert raised.value.status == 500
    assert package_client.details_calls == 1
    assert files_in(downloads) == []


def test_download_gzip_encoded_package(
    client: ElucidatClient,
    static_server: http.server.ThreadingHTTPServer,
    downloads: Path,
) -> None:
    package = zip_bytes({"imsmanifest.xml": b"<manifest/>" * 500})
    compressed = gzip.compress(package)
    reply = StaticReply(200, compressed, {"Content-Encoding": "gzip"})

    _, path = static_download(client, static_server, reply, downloads)

    assert path.read_bytes() == package


def test_download_without_content_length(
    client: ElucidatClient,
    static_server: http.server.ThreadingHTTPServer,
    downloads: Path,
) -> None:
    package = zip_bytes({"imsmanifest.xml": b"<manifest/>" * 500})
    static_server.reply = StaticReply(  # type: ignore[attr-defined]
        200, package, {"Content-Length": ""}
    )
    host, port = static_server.server_address[:2]
    package_client = StaticPackageClient(client, f"http://{host}:{port}/package.zip")
    recorder = ProgressRecorder()

    path = download_package(
        package_client, "abc123", downloads, project_code="p1", progress=recorder
    )

    assert path.read_bytes() == package
    assert {total for _, total in recorder.reports} == {None}
    assert recorder.reports[-1][0] == len(package)


def test_saved_package_has_umask_permissions(
    sandbox: SandboxServer, client: ElucidatClient, downloads: Path
) -> None:
    project_code, record = demo_release(sandbox, ReleaseMode.SCORM)
    previous = os.umask(0o022)
    try:
        path = download_package(
            client, record["release_code"], downloads, project_code=project_code
        )
    finally:
        os.umask(previous)

    assert stat.S_IMODE(path.stat().st_mode) == 0o644
