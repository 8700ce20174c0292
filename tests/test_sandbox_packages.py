"""Package downloads: redirect, headers, zip contents and link expiry."""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Iterator

import pytest
import requests
from test_sandbox_support import MANUAL_HANDLING, SignedClient

from sandbox.packages import FILLER_SIZE, build_package, package_file_name
from sandbox.server import SandboxServer

SCORM_RELEASE = "63da38278cd2f"  # Data Protection Essentials, scorm, version 3
OFFLINE_RELEASE = "6099542d33232"  # Fire Safety in the Workplace, offline-backup, v2
IMSCP = "{http://www.imsproject.org/xsd/imscp_rootv1p1p2}"
ADLCP = "{http://www.adlnet.org/xsd/adlcp_rootv1p2}"


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[SignedClient]:
    signed_client = SignedClient(sandbox.base_url)
    yield signed_client
    signed_client.close()


def _download(client: SignedClient, release_code: str) -> requests.Response:
    url = client.details(release_code).json()["download_url"]
    # A plain GET: no Authorization header, redirects followed.
    return requests.get(url, timeout=10)


def test_scorm_download_headers(client: SignedClient) -> None:
    response = _download(client, SCORM_RELEASE)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [302]
    assert response.headers["Content-Type"] == "application/zip"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="data-protection-essentials-v3-scorm12.zip"'
    )
    assert response.url.endswith("/data-protection-essentials-v3-scorm12.zip")
    assert len(response.content) > FILLER_SIZE


def test_scorm_package_is_scorm12(client: SignedClient) -> None:
    archive = zipfile.ZipFile(io.BytesIO(_download(client, SCORM_RELEASE).content))
    assert archive.testzip() is None
    names = set(archive.namelist())
    assert {"imsmanifest.xml", "index.html", "scorm.js", "assets/media.bin"} <= names

    # The manifest comes from the sandbox under test, not from an untrusted source.
    manifest = ElementTree.fromstring(archive.read("imsmanifest.xml"))  # noqa: S314
    assert manifest.tag == f"{IMSCP}manifest"
    assert manifest.findtext(f"{IMSCP}metadata/{IMSCP}schema") == "ADL SCORM"
    assert manifest.findtext(f"{IMSCP}metadata/{IMSCP}schemaversion") == "1.2"
    organizations = manifest.find(f"{IMSCP}organizations")
    assert organizations is not None
    assert organizations.get("default") == "ORG-1"
    title = organizations.findtext(f"{IMSCP}organization/{IMSCP}title")
    assert title == "Data Protection Essentials"

    resource = manifest.find(f"{IMSCP}resources/{IMSCP}resource")
    assert resource is not None
    assert resource.get(f"{ADLCP}scormtype") == "sco"
    launch = resource.get("href")
    assert launch == "index.html"
    for file_element in resource.findall(f"{IMSCP}file"):
        assert file_element.get("href") in names
    assert b"LMSInitialize" in archive.read("scorm.js")
    assert b"scorm.js" in archive.read("index.html")


def test_offline_package_contents(client: SignedClient) -> None:
    response = _download(client, OFFLINE_RELEASE)
    assert response.headers["Content-Disposition"].endswith(
        'filename="fire-safety-in-the-workplace-v2-offline.zip"'
    )
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = set(archive.namelist())
    assert {"index.html", "course.js", "course.css", "README.txt"} <= names
    assert "imsmanifest.xml" not in names
    page = archive.read("index.html").decode()
    assert 'href="course.css"' in page
    assert 'src="course.js"' in page
    assert "Fire Safety in the Workplace" in archive.read("README.txt").decode()


def test_package_bytes_are_reproducible() -> None:
    first = build_package(
        "scorm", course_name="Course", release_code="0123456789abc", version=2
    )
    second = build_package(
        "scorm", course_name="Course", release_code="0123456789abc", version=2
    )
    next_version = build_package(
        "scorm", course_name="Course", release_code="0123456789abc", version=3
    )
    assert first == second
    assert first != next_version


def test_online_mode_has_no_package() -> None:
    with pytest.raises(ValueError, match="online-public"):
        build_package("online-public", course_name="C", release_code="a", version=1)


def test_package_file_name_slug() -> None:
    name = package_file_name("Onboarding: Your First 30 Days!", "offline-backup", 4)
    assert name == "onboarding-your-first-30-days-v4-offline.zip"


def test_new_release_package_downloads(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    code = client.create(project_code=MANUAL_HANDLING, release_mode="scorm").json()[
        "release_code"
    ]
    response = _download(client, code)
    assert response.status_code == 200
    assert (
        "manual-handling-basics-v1-scorm12.zip"
        in response.headers["Content-Disposition"]
    )


def test_download_link_expires() -> None:
    with SandboxServer(publish_delay=0.0, link_ttl=0.3) as server:
        client = SignedClient(server.base_url)
        url = client.details(SCORM_RELEASE).json()["download_url"]
        assert requests.get(url, timeout=5).status_code == 200
        time.sleep(0.5)

        expired = requests.get(url, timeout=5)
        assert expired.status_code == 403
        assert "expired" in expired.text
        fresh = client.details(SCORM_RELEASE).json()["download_url"]
        assert fresh != url
        assert requests.get(fresh, timeout=5).status_code == 200
        client.close()


def test_unknown_download_link(sandbox: SandboxServer) -> None:
    url = sandbox.base_url.replace("/v2/", "/downloads/no-such-token")
    response = requests.get(url, timeout=5)
    assert response.status_code == 404


def test_wrong_file_name(client: SignedClient) -> None:
    url = client.details(SCORM_RELEASE).json()["download_url"]
    response = requests.get(f"{url}/other.zip", timeout=5)
    assert response.status_code == 404
