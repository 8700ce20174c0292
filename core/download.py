"""Download the zip package of a `scorm` or `offline-backup` release.

The `download_url` in `releases/details` expires within seconds, so the details are
fetched right before the download and the URL is requested at once. The package is
streamed to a temporary `.part` file in the target folder, checked as a zip, and only
then renamed to its final name. A failed or cancelled download leaves no file behind.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

import requests

from core.errors import CancelledError, DownloadError
from core.models import Release, ReleaseMode

logger = logging.getLogger(__name__)

#: Statuses from the download host that mean the link has expired. An expired
#: pre-signed link usually gets 403, and some hosts respond with 404 or 410.
EXPIRED_LINK_STATUSES = frozenset({403, 404, 410})

#: Bytes read from the response between two cancel checks and progress reports.
CHUNK_SIZE = 64 * 1024

#: Highest n tried for `name (n).zip` before the download gives up.
MAX_NAME_SUFFIX = 999

ProgressCallback = Callable[[int, int | None], None]


class PackageClient(Protocol):
    """The part of `ElucidatClient` that downloading a package needs."""

    def release_details(self, release_code: str) -> Release: ...

    def open_download(self, url: str) -> requests.Response: ...


def download_package(
    client: PackageClient,
    release_code: str,
    target_dir: Path,
    *,
    project_code: str,
    project_name: str = "",
    release_mode: str = "",
    version: int | None = None,
    progress: ProgressCallback | None = None,
    cancelled: threading.Event | None = None,
    overwrite: bool = False,
) -> Path:
    """Download the package of a complete release into `target_dir` and return its path.

    The file name comes from `package_file_name`. An empty `project_name` falls back
    to the project name in the release details, then to `project_code`. The release
    mode and version number come from the release details, because a re-release may
    have raised the version, and fall back to `release_mode` and `version` when the
    details leave them out.

    When a file with that name exists and `overwrite` is False, the package is saved
    as `name (2).zip`, `name (3).zip` and so on, and the existing file is kept. With
    `overwrite` True it is replaced.

    `progress(bytes_done, total)` is called after each chunk, with `total` from
    Content-Length or None when the server sends none. `cancelled` is checked between
    chunks, but not while the finished zip is being checked.

    Raises:
        DownloadError: the release is not complete, has no package (online modes), the
            link failed or expired twice, the transfer was cut short, or the file is
            not a valid zip. No file is left under the final name or as `.part`.
        CancelledError: `cancelled` was set. No file is left behind.
        NetworkError, TimedOutError: the download host sent no reply (from the
            client).
        ReleaseDeskError: fetching the release details failed (from the client).
    """
    release, response = _open_package(client, release_code)

    listed_name = release.project.name if release.project is not None else ""
    listed_version = release.version_number
    name = package_file_name(
        project_name=project_name or listed_name or project_code,
        release_mode=release.release_mode or release_mode,
        release_code=release_code,
        version=listed_version if listed_version is not None else version,
    )
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        response.close()
        raise _folder_error(target_dir, error) from error
    cancel_event = cancelled if cancelled is not None else threading.Event()
    logger.info(
        "Downloading the package of release %s (project %s) to %s",
        release_code,
        project_code,
        target_dir / name,
    )
    with response:
        part_path = _stream_to_part_file(
            response, target_dir, name, release_code, progress, cancel_event
        )
    try:
        _check_zip(part_path, release_code, release.release_mode)
        final_path = _move_into_place(part_path, target_dir / name, overwrite=overwrite)
    except OSError as error:
        _remove_quietly(part_path)
        raise _folder_error(target_dir, error) from error
    except BaseException:
        _remove_quietly(part_path)
        raise
    logger.info("Saved the package of release %s as %s", release_code, final_path)
    return final_path


def package_file_name(
    *, project_name: str, release_mode: str, release_code: str, version: int | None
) -> str:
    """Build a package's file name from its project, release mode, code and version.

    For example `Fire-Safety-Basics_offline-backup_5dd580064b0b7_v3.zip`. Each part
    goes through `safe_file_component`. The version part is left out when it is None.
    """
    parts = [
        safe_file_component(project_name, max_length=60, fallback="project"),
        safe_file_component(release_mode, max_length=20, fallback="package"),
        safe_file_component(release_code, max_length=40, fallback="release"),
    ]
    if version is not None:
        parts.append(f"v{version}")
    return "_".join(parts) + ".zip"


_UNSAFE_RUN = re.compile(r"[^\w.-]+")
_DOT_RUN = re.compile(r"\.{2,}")
_HYPHEN_RUN = re.compile(r"-{2,}")
# Names that Windows reserves for devices in every folder, with or without extension.
_WINDOWS_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{digit}" for digit in range(1, 10)}
    | {f"LPT{digit}" for digit in range(1, 10)}
)


def safe_file_component(text: str, *, max_length: int = 60, fallback: str = "") -> str:
    """Turn `text` into one safe file name component of at most `max_length` chars.

    Accented Latin letters become plain ASCII (é becomes e). Letters, digits, `-`, `_`
    and `.` are kept, including letters of other scripts. Every other run of characters,
    path separators and spaces included, becomes one `-`. Runs of dots become one dot,
    so the result never contains `..`. Leading dots and hyphens, and trailing dots,
    hyphens and underscores, are removed. A name that Windows reserves for a device
    (CON, NUL, COM1 and so on) gets a trailing `_`. When nothing is left, `fallback`
    is returned after going through the same rules.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    without_marks = "".join(
        char for char in decomposed if not unicodedata.combining(char)
    )
    cleaned = _UNSAFE_RUN.sub("-", without_marks)
    cleaned = _DOT_RUN.sub(".", cleaned)
    cleaned = _HYPHEN_RUN.sub("-", cleaned)
    cleaned = _trim(cleaned)[:max_length]
    cleaned = _trim(cleaned)

    if cleaned.split(".")[0].upper() in _WINDOWS_DEVICE_NAMES:
        cleaned += "_"
    if not cleaned and fallback:
        return safe_file_component(fallback, max_length=max_length)
    return cleaned


def _trim(text: str) -> str:
    return text.lstrip(".-").rstrip(".-_")


def _open_package(
    client: PackageClient, release_code: str
) -> tuple[Release, requests.Response]:
    """Fetch the release details and start the download of its package.

    When the download host reports the link as expired, the details are fetched again
    for a fresh link and the download is retried once.
    """
    release = _fetch_package_release(client, release_code)
    try:
        return release, _open_link(client, release)
    except _LinkExpiredError as expired:
        logger.info(
            "Download link of release %s expired (HTTP %d), fetching a fresh one",
            release_code,
            expired.status,
        )

    release = _fetch_package_release(client, release_code)
    try:
        return release, _open_link(client, release)
    except _LinkExpiredError as expired:
        logger.warning(
            "Fresh download link of release %s expired too (HTTP %d)",
            release_code,
            expired.status,
        )
        raise DownloadError(
            f"The download link of release {release_code} was rejected as expired "
            f"(HTTP {expired.status}) twice in a row, although each link was used at "
            "once. Check that this computer's clock is correct, then try the "
            "download again.",
            status=expired.status,
        ) from expired


class _LinkExpiredError(Exception):
    """The download host rejected the link with a status that means it expired."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _open_link(client: PackageClient, release: Release) -> requests.Response:
    # _fetch_package_release has checked that the URL is set.
    assert release.download_url is not None
    try:
        response = client.open_download(release.download_url)
    except DownloadError as error:
        if error.status in EXPIRED_LINK_STATUSES:
            raise _LinkExpiredError(error.status) from error
        raise
    if response.status_code in EXPIRED_LINK_STATUSES:
        response.close()
        raise _LinkExpiredError(response.status_code)
    return response


def _fetch_package_release(client: PackageClient, release_code: str) -> Release:
    """Fetch the release details and check that there is a package to download."""
    release = client.release_details(release_code)
    mode = release.mode
    if mode is not None and not mode.is_package:
        raise DownloadError(
            f"Release {release_code} is an {mode.label.lower()} release, which has a "
            "launch link instead of a package to download."
        )
    if not release.is_complete:
        raise DownloadError(
            f"Release {release_code} is not complete yet (status "
            f"'{release.status or 'unknown'}'). Wait until Elucidat has finished "
            "preparing it, then download the package."
        )
    if not release.download_url:
        raise DownloadError(
            f"Elucidat sent no download link for release {release_code} "
            f"(release mode '{release.release_mode or 'unknown'}'). Only "
            f"{ReleaseMode.SCORM} and {ReleaseMode.OFFLINE_BACKUP} releases have a "
            "package to download."
        )
    return release


def _stream_to_part_file(
    response: requests.Response,
    target_dir: Path,
    name: str,
    release_code: str,
    progress: ProgressCallback | None,
    cancelled: threading.Event,
) -> Path:
    """Write the response body to a new `.part` file next to `name` and return it."""
    if not response.ok:
        raise DownloadError(
            f"The download of release {release_code} failed: the server responded with "
            f"HTTP {response.status_code}. Try again later.",
            status=response.status_code,
        )
    total = _expected_size(response)
    stem = name.removesuffix(".zip")
    try:
        handle, part_name = tempfile.mkstemp(
            prefix=f"{stem}.", suffix=".part", dir=target_dir
        )
    except OSError as error:
        raise _folder_error(target_dir, error) from error
    part_path = Path(part_name)
    try:
        # mkstemp creates the file readable by its owner only. A package is handed to
        # an LMS or a colleague, so it gets the permissions of any new file instead.
        os.fchmod(handle, 0o666 & ~_current_umask())
        with os.fdopen(handle, "wb") as part_file:
            done = _copy_body(
                response, part_file, total, progress, cancelled, release_code
            )
    except BaseException:
        _remove_quietly(part_path)
        raise

    if total is not None and done != total:
        _remove_quietly(part_path)
        raise DownloadError(
            f"The download of release {release_code} was cut short: {done} of {total} "
            "bytes arrived. Try the download again."
        )
    return part_path


def _expected_size(response: requests.Response) -> int | None:
    """Return the body size from Content-Length, or None when it is unknown.

    A content-encoded body (gzip) is decoded while it is read, so its Content-Length
    does not give the number of bytes written and is ignored.
    """
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return None
    length = response.headers.get("Content-Length")
    if length is None:
        return None
    try:
        size = int(length)
    except ValueError:
        return None
    return size if size >= 0 else None


def _copy_body(
    response: requests.Response,
    part_file: IO[bytes],
    total: int | None,
    progress: ProgressCallback | None,
    cancelled: threading.Event,
    release_code: str,
) -> int:
    done = 0
    if progress is not None:
        progress(done, total)
    try:
        for chunk in response.iter_content(chunk_size=CHUNK_SIZE):
            if cancelled.is_set():
                logger.info("Download of release %s cancelled", release_code)
                raise CancelledError(
                    f"The download of release {release_code} was cancelled. "
                    "No file was saved."
                )
            part_file.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    except requests.RequestException as error:
        logger.warning("Download of release %s failed: %s", release_code, error)
        raise DownloadError(
            f"The download of release {release_code} failed after {done} bytes: "
            "the connection broke or timed out. Try the download again."
        ) from error
    except OSError as error:
        logger.warning(
            "Writing the package of release %s failed: %s", release_code, error
        )
        raise DownloadError(
            f"The package of release {release_code} could not be written to "
            f"{part_file.name}: {error.strerror or error}. Check the free space and "
            "the folder's permissions."
        ) from error
    return done


def _check_zip(path: Path, release_code: str, release_mode: str) -> None:
    """Raise DownloadError unless `path` is a zip whose members all pass their CRC."""
    if not zipfile.is_zipfile(path):
        raise DownloadError(
            f"The download of release {release_code} is not a zip file. "
            "Try the download again."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise DownloadError(
            f"The download of release {release_code} is a damaged zip file ({error}). "
            "Try the download again."
        ) from error
    except NotImplementedError as error:
        raise DownloadError(
            f"The package of release {release_code} uses a zip feature that Release "
            f"Desk cannot check ({error})."
        ) from error
    if bad_member is not None:
        raise DownloadError(
            f"The download of release {release_code} is a damaged zip file: member "
            f"'{bad_member}' fails its checksum. Try the download again."
        )
    if release_mode == ReleaseMode.SCORM and "imsmanifest.xml" not in names:
        logger.warning(
            "The SCORM package of release %s has no imsmanifest.xml at its root",
            release_code,
        )


def _move_into_place(part_path: Path, final_path: Path, *, overwrite: bool) -> Path:
    """Rename the checked `.part` file to its final name and return that path."""
    if overwrite:
        os.replace(part_path, final_path)
        return final_path

    for number in range(1, MAX_NAME_SUFFIX + 1):
        candidate = final_path
        if number > 1:
            candidate = final_path.with_name(f"{final_path.stem} ({number}).zip")
        if _claim_name(part_path, candidate):
            return candidate
    raise DownloadError(
        f"The folder {final_path.parent} already contains {MAX_NAME_SUFFIX} packages "
        f"named like {final_path.name}. Move some of them, then download again."
    )


def _claim_name(part_path: Path, candidate: Path) -> bool:
    """Move `part_path` to `candidate` unless a file of that name exists.

    A hard link fails atomically when the name is taken, so a file that another
    program creates at the same moment is not replaced. On a file system without hard
    links, an existence check followed by a rename is used instead.
    """
    try:
        os.link(part_path, candidate)
    except FileExistsError:
        return False
    except OSError:
        if candidate.exists():
            return False
        os.replace(part_path, candidate)
        return True
    part_path.unlink()
    return True


def _folder_error(folder: Path, error: OSError) -> DownloadError:
    logger.warning("Saving a package in %s failed: %s", folder, error)
    return DownloadError(
        f"The package could not be saved in {folder}: {error.strerror or error}. "
        "Check that the folder exists, that you may write to it and that the disk "
        "has free space."
    )


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        logger.warning("Could not remove the temporary file %s: %s", path, error)


def _current_umask() -> int:
    """Return the process umask (reading it means setting it, so it is set back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
