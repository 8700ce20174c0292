"""Zip packages for scorm and offline-backup releases, and expiring download links.

A scorm package is a minimal valid SCORM 1.2 content package: `imsmanifest.xml` with
the IMS Content Packaging 1.1.2 and ADL SCORM 1.2 namespaces, and one SCO launched from
`index.html` that talks to the LMS through the SCORM 1.2 runtime API. An offline-backup
package is a self-contained web page with its script, style sheet and a README.

Both carry about 320 KiB of random filler in `assets/media.bin`, generated from the
release code and version, so a download takes long enough to show progress and the same
release always gives the same bytes.
"""

from __future__ import annotations

import html
import io
import random
import re
import secrets
import threading
import time
import zipfile
from dataclasses import dataclass

FILLER_SIZE = 320 * 1024
# A fixed date in every zip entry keeps the archive's bytes reproducible.
_ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def package_file_name(course_name: str, release_mode: str, version: int) -> str:
    """Return the zip's file name, for example `fire-safety-v2-scorm12.zip`."""
    slug = re.sub(r"[^a-z0-9]+", "-", course_name.lower()).strip("-") or "course"
    suffix = "scorm12" if release_mode == "scorm" else "offline"
    return f"{slug}-v{version}-{suffix}.zip"


def build_package(
    release_mode: str, *, course_name: str, release_code: str, version: int
) -> bytes:
    """Build the zip package of a scorm or offline-backup release."""
    files: dict[str, str | bytes]
    if release_mode == "scorm":
        files = _scorm_files(course_name, release_code, version)
    elif release_mode == "offline-backup":
        files = _offline_files(course_name, release_code, version)
    else:
        raise ValueError(f"release mode {release_mode!r} has no package")
    files["assets/media.bin"] = _filler(f"{release_code}-{version}")

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            data = content.encode("utf-8") if isinstance(content, str) else content
            archive.writestr(info, data)
    return buffer.getvalue()


@dataclass(frozen=True)
class DownloadLink:
    """One issued download link for one version of a release's package."""

    token: str
    release_code: str
    version: int
    release_mode: str
    course_name: str
    file_name: str
    #: time.monotonic() after which the link returns 403.
    expires_at: float


class LinkExpiredError(Exception):
    """The download link exists but its lifetime is over."""


class DownloadLinks:
    """Issued download links and a cache of built packages. Thread-safe."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._links: dict[str, DownloadLink] = {}
        self._packages: dict[tuple[str, int], bytes] = {}

    def issue(
        self, *, release_code: str, version: int, release_mode: str, course_name: str
    ) -> DownloadLink:
        """Create a link that stays valid for `ttl` seconds from now."""
        link = DownloadLink(
            token=secrets.token_urlsafe(18),
            release_code=release_code,
            version=version,
            release_mode=release_mode,
            course_name=course_name,
            file_name=package_file_name(course_name, release_mode, version),
            expires_at=time.monotonic() + self.ttl,
        )
        with self._lock:
            self._links[link.token] = link
        return link

    def lookup(self, token: str) -> DownloadLink | None:
        """Return the link for token, or None if it was never issued.

        Raises LinkExpiredError when the link's lifetime is over.
        """
        with self._lock:
            link = self._links.get(token)
        if link is None:
            return None
        if time.monotonic() > link.expires_at:
            raise LinkExpiredError(token)
        return link

    def package(self, link: DownloadLink) -> bytes:
        """Return the zip for link, building it on first use."""
        key = (link.release_code, link.version)
        with self._lock:
            cached = self._packages.get(key)
        if cached is not None:
            return cached
        data = build_package(
            link.release_mode,
            course_name=link.course_name,
            release_code=link.release_code,
            version=link.version,
        )
        with self._lock:
            self._packages[key] = data
        return data


def _filler(seed: str) -> bytes:
    # Random bytes do not compress, so the zip stays about FILLER_SIZE large.
    return random.Random(seed).randbytes(FILLER_SIZE)


def _scorm_files(
    course_name: str, release_code: str, version: int
) -> dict[str, str | bytes]:
    title = html.escape(course_name)
    manifest = f"""<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="sandbox.elucidat.{release_code}" version="{version}"
    xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
    xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://www.imsproject.org/xsd/imscp_rootv1p1p2
        imscp_rootv1p1p2.xsd
        http://www.imsglobal.org/xsd/imsmd_rootv1p2p1 imsmd_rootv1p2p1.xsd
        http://www.adlnet.org/xsd/adlcp_rootv1p2 adlcp_rootv1p2.xsd">
  <metadata>
    <schema>ADL SCORM</schema>
    <schemaversion>1.2</schemaversion>
  </metadata>
  <organizations default="ORG-1">
    <organization identifier="ORG-1">
      <title>{title}</title>
      <item identifier="ITEM-1" identifierref="RES-1" isvisible="true">
        <title>{title}</title>
        <adlcp:masteryscore>80</adlcp:masteryscore>
      </item>
    </organization>
  </organizations>
  <resources>
    <resource identifier="RES-1" type="webcontent" adlcp:scormtype="sco"
        href="index.html">
      <file href="index.html"/>
      <file href="scorm.js"/>
      <file href="assets/media.bin"/>
    </resource>
  </resources>
</manifest>
"""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<script src="scorm.js"></script>
</head>
<body onload="scormStart()" onunload="scormFinish(false)">
<h1>{title}</h1>
<p>Version {version} of release {release_code}, made by the Elucidat sandbox.</p>
<button type="button" onclick="scormFinish(true)">Mark as passed</button>
</body>
</html>
"""
    script = """// Finds the SCORM 1.2 runtime API in a parent or opener window.
var scormApi = null;
function findApi(win) {
  for (var depth = 0; win && depth < 10; depth++) {
    if (win.API) { return win.API; }
    if (win.parent === win) { break; }
    win = win.parent;
  }
  return null;
}
function scormStart() {
  scormApi = findApi(window) || (window.opener && findApi(window.opener));
  if (scormApi) {
    scormApi.LMSInitialize("");
    scormApi.LMSSetValue("cmi.core.lesson_status", "incomplete");
  }
}
function scormFinish(passed) {
  if (!scormApi) { return; }
  if (passed) {
    scormApi.LMSSetValue("cmi.core.score.raw", "100");
    scormApi.LMSSetValue("cmi.core.lesson_status", "passed");
  }
  scormApi.LMSCommit("");
  scormApi.LMSFinish("");
  scormApi = null;
}
"""
    return {"imsmanifest.xml": manifest, "index.html": page, "scorm.js": script}


def _offline_files(
    course_name: str, release_code: str, version: int
) -> dict[str, str | bytes]:
    title = html.escape(course_name)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="course.css">
<script src="course.js" defer></script>
</head>
<body>
<main>
<h1>{title}</h1>
<p>Offline backup of version {version}, release {release_code}.</p>
<p id="progress">Not started.</p>
<button type="button" id="complete">Complete the course</button>
</main>
</body>
</html>
"""
    script = """// Keeps progress in localStorage, because an offline copy has no LMS.
document.addEventListener("DOMContentLoaded", function () {
  var status = document.getElementById("progress");
  var key = "sandbox-course-progress";
  status.textContent = localStorage.getItem(key) || "Not started.";
  document.getElementById("complete").addEventListener("click", function () {
    localStorage.setItem(key, "Completed.");
    status.textContent = "Completed.";
  });
});
"""
    style = """body { font-family: sans-serif; margin: 2rem; color: #1d2b36; }
main { max-width: 40rem; }
button { padding: 0.5rem 1rem; }
"""
    readme = f"""{course_name}
Offline backup, version {version}, release {release_code}

Open index.html in a web browser. The course needs no network connection and keeps
its progress in the browser's local storage.

This package was made by the Elucidat sandbox for testing; it is not a real course.
"""
    return {
        "index.html": page,
        "course.js": script,
        "course.css": style,
        "README.txt": readme,
    }
