"""`release create`: check the input, create the release, then follow and download it.

Every attempt goes through `ReleaseService`, which records it in the same history as
the window's before the create call is sent and updates the row afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from core.cli_context import CommandContext, connect, open_history
from core.cli_output import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Output,
    format_fields,
    format_size,
    report_error,
)
from core.client import ElucidatClient
from core.errors import InputError, ReleaseDeskError
from core.logs import register_secret
from core.models import LearnerAccess, Release, ReleaseMode, ReleaseRequest
from core.service import CreatedRelease, ReleaseService
from core.validation import MAX_DESCRIPTION_LENGTH, Level, check_lrs_url

log = logging.getLogger(__name__)

LRS_PASSWORD_ENV = "ELUCIDAT_LRS_PASSWORD"  # noqa: S105 - a variable name, not a value


@dataclass(frozen=True)
class CreatePlan:
    """A checked `release create` invocation: what to send and what to do after."""

    request: ReleaseRequest
    simulation: bool
    wait: bool
    download_dir: Path | None


def run_release_create(context: CommandContext) -> int:
    """Run `release create` and return the exit status."""
    output = context.output
    plan = check_create_arguments(context.args, output)
    request = _with_lrs_password(plan.request, context.environ, output, sys.stdin)
    plan = dataclasses.replace(plan, request=request)
    _announce(plan, output)

    with connect(context) as connection, open_history(context) as history:
        service = ReleaseService(
            connection.client,
            history,
            account_name=connection.credentials.account_name,
            base_url=connection.base_url,
        )
        project_name = _find_project_name(connection.client, request.project_code)
        created = _send(service, plan, project_name, output)
        if created is None:
            return EXIT_INTERRUPTED

        document = _created_document(created, project_name)
        output.lines(_created_lines(created, project_name))
        if plan.wait or plan.download_dir is not None:
            status = _follow_and_download(service, created, plan, document, output)
            if status != EXIT_OK:
                return status
        output.document(document)
    return EXIT_OK


def check_create_arguments(args: argparse.Namespace, output: Output) -> CreatePlan:
    """Check every `release create` option before anything is sent.

    Raises InputError naming the option and the fix. Warnings, such as an LRS URL
    on plain http, go to stderr.
    """
    project_code = check_code(args.project, option="--project")
    mode = _check_mode(args.mode)
    release_code = None
    if args.release_code is not None:
        release_code = check_code(args.release_code, option="--release-code")
    learner_access = _check_learner_access(args.learner_access)
    description = args.description or None
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise InputError(
            f"Invalid --description: it has {len(description)} characters; shorten it "
            f"to {MAX_DESCRIPTION_LENGTH} or fewer.",
            field="--description",
        )

    lrs_url = None
    if args.lrs_url is not None:
        lrs_url = _check_lrs_url(args.lrs_url, output)
    if args.lrs_username is not None and lrs_url is None:
        raise InputError(
            "--lrs-username needs --lrs-url: give the LRS endpoint URL as well, or "
            "leave both out to keep the project's LRS settings.",
            field="--lrs-username",
        )

    download_dir = None
    if args.download is not None:
        if not mode.is_package:
            raise InputError(
                f"--download needs a release mode that makes a zip package (scorm or "
                f"offline-backup), but the mode is {mode.value}: online releases "
                "have a launch link instead. Leave out --download.",
                field="--download",
            )
        download_dir = check_download_dir(args.download)

    request = ReleaseRequest(
        project_code=project_code,
        release_mode=mode,
        release_code=release_code,
        description=description,
        learner_access=learner_access,
        lrs_endpoint_url=lrs_url,
        lrs_username=args.lrs_username or None,
    )
    return CreatePlan(
        request=request,
        simulation=not args.live,
        wait=bool(args.wait) or download_dir is not None,
        download_dir=download_dir,
    )


def check_code(value: str, *, option: str) -> str:
    """Return a project or release code, or raise InputError if empty or spaced."""
    if not value or any(character.isspace() for character in value):
        problem = "is empty" if not value else "contains a space"
        raise InputError(
            f"Invalid {option} '{value}': the code {problem}. Copy the code from the "
            "output of the `projects` or `release list` command.",
            field=option,
        )
    return value


def check_download_dir(value: str) -> Path:
    """Return the download folder as an absolute path.

    The folder may not exist yet, but its nearest existing ancestor must be a folder
    that this user can write to. Raises InputError otherwise.
    """
    path = Path(value).expanduser().absolute()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(
            f"Invalid --download '{value}': {existing} is a file, not a folder. "
            "Give a folder to save the package in.",
            field="--download",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"Invalid --download '{value}': {existing} is not writable by this "
            "user. Give a folder you can write to.",
            field="--download",
        )
    return path


def _check_mode(value: str) -> ReleaseMode:
    try:
        return ReleaseMode(value)
    except ValueError:
        modes = ", ".join(mode.value for mode in ReleaseMode)
        raise InputError(
            f"Invalid --mode '{value}': use one of {modes}.", field="--mode"
        ) from None


def _check_lrs_url(value: str, output: Output) -> str:
    for problem in check_lrs_url(value):
        if problem.level is Level.ERROR:
            raise InputError(f"Invalid --lrs-url: {problem.text}", field="--lrs-url")
        output.message(f"warning: {problem.text}")
    return value


def _check_learner_access(value: str | None) -> LearnerAccess | None:
    if value is None:
        return None
    try:
        return LearnerAccess(value)
    except ValueError:
        accesses = ", ".join(access.value for access in LearnerAccess)
        raise InputError(
            f"Invalid --learner-access '{value}': use one of {accesses}.",
            field="--learner-access",
        ) from None


def _with_lrs_password(
    request: ReleaseRequest,
    environ: Mapping[str, str],
    output: Output,
    stdin: TextIO,
) -> ReleaseRequest:
    """Add the LRS password from the environment or a hidden prompt, if there is one.

    The prompt appears only when --lrs-username is given and stdin is a terminal.
    """
    password = environ.get(LRS_PASSWORD_ENV) or None
    if request.lrs_endpoint_url is None:
        if password:
            output.message(
                f"note: {LRS_PASSWORD_ENV} is set but --lrs-url is not, so no LRS "
                "settings are sent and the project's stay in effect."
            )
        return request

    if password is None and request.lrs_username and _is_terminal(stdin):
        password = getpass.getpass(f"LRS password for {request.lrs_username}: ") or None
    if password is None and request.lrs_username:
        output.message(
            f"note: no LRS password given (set {LRS_PASSWORD_ENV}), so none is sent."
        )
    if password is None:
        return request

    register_secret(password)
    return dataclasses.replace(request, lrs_password=password)


def _announce(plan: CreatePlan, output: Output) -> None:
    request = plan.request
    release_label = (
        f"re-release of {request.release_code}"
        if request.release_code
        else f"{request.release_mode.value} release"
    )
    if plan.simulation:
        output.message(
            f"Simulation mode: Elucidat checks this {release_label} of project "
            f"{request.project_code} and changes nothing. Add --live to make a real "
            "release."
        )
    else:
        output.message(
            f"LIVE: making a real {release_label} of project {request.project_code}."
        )


def _find_project_name(client: ElucidatClient, project_code: str) -> str:
    """Return the project's name for the history, or "" when it is not listed.

    An unlisted project is still sent, so that the API's own rejection is recorded.
    """
    for project in client.list_projects():
        if project.project_code == project_code:
            return project.name
    log.info("Project %s is not in the account's project list", project_code)
    return ""


def _send(
    service: ReleaseService, plan: CreatePlan, project_name: str, output: Output
) -> CreatedRelease | None:
    """Send the create call; return None after reporting a Ctrl+C during it."""
    request = plan.request
    try:
        return service.create(
            request, simulation=plan.simulation, project_name=project_name
        )
    except KeyboardInterrupt:
        output.error(
            "Interrupted",
            "interrupted while the create request was being sent, so the release "
            "may or may not exist. Check with `release-desk release list --project "
            f"{request.project_code}` before trying again.",
        )
        return None


def _follow_and_download(
    service: ReleaseService,
    created: CreatedRelease,
    plan: CreatePlan,
    document: dict[str, object],
    output: Output,
) -> int:
    """Wait for a live release and download its package; return the exit status.

    On failure the error document also carries the created release, because the
    release exists even though a later step failed.
    """
    if plan.simulation:
        output.message(
            "Simulation mode: nothing was released, so there is nothing to wait for "
            "or download."
        )
        return EXIT_OK

    target = created.follow_target
    output.message(
        f"Waiting for Elucidat to prepare release {target.release_code}; this often "
        "takes 5 to 15 minutes. Ctrl+C stops waiting, not the release."
    )
    try:
        release = service.follow(
            created.attempt_id,
            target,
            on_poll=_PollReporter(output, target.release_code),
        )
        document["release"] = release
        output.lines(_complete_lines(release))

        if plan.download_dir is not None:
            path = _download(service, created.attempt_id, plan.download_dir, output)
            document["package_path"] = path
            output.lines([f"Package: {path}"])
    except ReleaseDeskError as error:
        return report_error(output, error, extra={"created": document})
    except KeyboardInterrupt:
        output.error(
            "Interrupted",
            f"stopped waiting for release {target.release_code}. Elucidat keeps "
            "preparing it: check it with `release-desk release details "
            f"--release-code {target.release_code}`.",
            extra={"created": document},
        )
        return EXIT_INTERRUPTED
    return EXIT_OK


def _download(
    service: ReleaseService, attempt_id: int, target_dir: Path, output: Output
) -> Path:
    progress = _DownloadProgress(output) if output.stderr_is_terminal else None
    try:
        path = service.download(attempt_id, target_dir, progress=progress)
    finally:
        if progress is not None:
            progress.finish()
    return path


class _PollReporter:
    """Write a line on stderr each time the followed release's status changes."""

    def __init__(self, output: Output, release_code: str) -> None:
        self._output = output
        self._release_code = release_code
        self._last_status: str | None = None

    def __call__(self, release: Release | None, seconds_until_next: float) -> None:
        status = release.status if release is not None else "not listed yet"
        if status == self._last_status:
            return
        self._last_status = status
        self._output.message(f"Release {self._release_code}: {status}")


class _DownloadProgress:
    """Rewrite one stderr line with the bytes received so far."""

    def __init__(self, output: Output) -> None:
        self._output = output
        self._written = False

    def __call__(self, received: int, total: int | None) -> None:
        if total:
            text = (
                f"Downloading: {format_size(received)} of {format_size(total)} "
                f"({received * 100 // total}%)"
            )
        else:
            text = f"Downloading: {format_size(received)}"
        self._output.stderr.write(f"\r{text:<50}")
        self._output.stderr.flush()
        self._written = True

    def finish(self) -> None:
        if self._written:
            self._output.stderr.write("\n")
            self._output.stderr.flush()


def _created_document(created: CreatedRelease, project_name: str) -> dict[str, object]:
    request = created.request
    return {
        "simulation": created.result.simulation,
        "attempt_id": created.attempt_id,
        "project_code": request.project_code,
        "project_name": project_name,
        "release_mode": request.release_mode.value,
        "re_release_of": request.release_code,
        "release_code": created.result.release_code or request.release_code or "",
        "message": created.result.message,
        "http_status": created.result.status,
        "release": None,
        "package_path": None,
    }


def _created_lines(created: CreatedRelease, project_name: str) -> list[str]:
    request = created.request
    if created.result.simulation:
        heading = (
            "Simulation succeeded: Elucidat accepted the request; nothing changed."
        )
    else:
        heading = "Release created: Elucidat is preparing it."
    project = request.project_code
    if project_name:
        project = f"{project} ({project_name})"
    fields = [
        ("Project", project),
        ("Release mode", request.release_mode.value),
        ("Release code", created.result.release_code or request.release_code or "-"),
        ("Message", created.result.message or "-"),
        ("History attempt", str(created.attempt_id)),
    ]
    if request.release_code:
        fields.insert(2, ("Re-release of", request.release_code))
    return [heading, *format_fields(fields)]


def _complete_lines(release: Release) -> list[str]:
    fields = [
        ("Status", release.status),
        (
            "Version",
            "-" if release.version_number is None else str(release.version_number),
        ),
    ]
    if release.launch_url:
        fields.append(("Launch URL", release.launch_url))
    return [f"Release {release.release_code} is complete.", *format_fields(fields)]


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
