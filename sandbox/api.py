"""The endpoints of the Project API v2: validation, state changes and JSON replies.

Nothing here depends on HTTP. Each endpoint takes the decoded request fields and
returns a JSON-ready value, or raises ApiError with a status and a message that names
the field and the value at fault. Authentication has already passed when these run.
"""

from __future__ import annotations

import logging
import re
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.data import (
    COMPLETE,
    LEARNER_ACCESS_VALUES,
    PUBLISHING,
    RELEASE_MODES,
    AccountState,
    Project,
    Release,
)
from sandbox.packages import DownloadLinks

logger = logging.getLogger(__name__)

CREATE_REPLY_MESSAGE = "Release is being prepared."
SIMULATION_REPLY_MESSAGE = (
    "Simulation mode: the request is valid. Nothing was released and the account "
    "is unchanged."
)
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ApiError(Exception):
    """A call the API rejects: the HTTP status and a message for the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ApiContext:
    """State and settings that the endpoints use."""

    state: AccountState
    links: DownloadLinks
    #: Scheme, host and port that the client used, for links in replies.
    origin: str
    #: Launch tokens issued by releases/launch: token -> (release code, learner name).
    launch_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)


Handler = Callable[[Mapping[str, str], ApiContext], Any]


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: its HTTP method, the fields it accepts and its handler."""

    method: str
    fields: frozenset[str]
    handler: Handler


def call_endpoint(
    name: str, fields: Mapping[str, str], context: ApiContext
) -> tuple[int, Any]:
    """Run endpoint `name` with the request's fields and return (status, JSON value).

    Raises ApiError for a call the API rejects.
    """
    endpoint = ENDPOINTS[name]
    # NOTE: Elucidat's handling of unknown fields is undocumented. The sandbox rejects
    # them so that a misspelt field name shows up instead of being ignored.
    unknown = sorted(set(fields) - endpoint.fields)
    if unknown:
        accepted = ", ".join(sorted(endpoint.fields)) or "none"
        raise ApiError(
            400,
            f"Unknown field {unknown[0]!r} for {name}. Accepted fields: {accepted}.",
        )
    return 200, endpoint.handler(fields, context)


def create_release(fields: Mapping[str, str], context: ApiContext) -> dict[str, str]:
    """POST releases/create: a new release, or a re-release when release_code is set."""
    simulation = _simulation_flag(fields)
    with context.state.transaction() as state:
        project = _require_project(fields, state)
        release_mode = _require_choice(fields, "release_mode", RELEASE_MODES)
        learner_access = _optional_choice(
            fields, "learner_access", LEARNER_ACCESS_VALUES
        )
        lrs_endpoint = _optional_lrs_url(fields)
        lrs_username = fields.get("xapi_lrs_endpoint_username") or None
        description = fields.get("description")

        release_code = fields.get("release_code")
        if release_code:
            _check_re_release(release_code, project, release_mode, state)
            if simulation:
                return _simulation_reply(release_code)
            release = state.re_release(
                release_code,
                description=description,
                learner_access=learner_access,
                lrs_endpoint=lrs_endpoint,
                lrs_username=lrs_username,
            )
            logger.info(
                "Re-release of %s in project %s queued",
                release.release_code,
                project.project_code,
            )
            return {
                "release_code": release.release_code,
                "message": CREATE_REPLY_MESSAGE,
            }

        if simulation:
            return _simulation_reply(state.new_release_code())
        release = state.add_release(
            project,
            release_mode=release_mode,
            description=description or "",
            learner_access=learner_access or project.learner_access,
            lrs_endpoint=lrs_endpoint or project.lrs_endpoint,
            lrs_username=lrs_username or "",
        )
    logger.info(
        "Release %s (%s) in project %s queued",
        release.release_code,
        release_mode,
        project.project_code,
    )
    return {"release_code": release.release_code, "message": CREATE_REPLY_MESSAGE}


def list_releases(
    fields: Mapping[str, str], context: ApiContext
) -> list[dict[str, Any]]:
    """GET releases?project_code=: the project's releases, newest first."""
    project = _require_project(fields, context.state)
    return [
        release_record(release, project, context)
        for release in context.state.list_releases(project.project_code)
    ]


def release_details(fields: Mapping[str, str], context: ApiContext) -> dict[str, Any]:
    """GET releases/details?release_code=: one release with a fresh download link."""
    release, project = _require_release(fields, context.state)
    return release_record(release, project, context, details=True)


def launch_link(fields: Mapping[str, str], context: ApiContext) -> dict[str, str]:
    """GET releases/launch?release_code=[&name=&email_address=]: a launch URL."""
    release, _ = _require_release(fields, context.state)
    if not _has_been_published(release):
        raise ApiError(
            400,
            f"Release {release.release_code!r} is still publishing; ask for a launch "
            "link once its status is complete.",
        )
    name = fields.get("name", "")
    email = fields.get("email_address", "")
    if email and not _EMAIL_PATTERN.match(email):
        raise ApiError(400, f"Invalid email_address {email!r}: expected name@domain.")
    # NOTE: Elucidat does not document link_type or whether a restricted release
    # needs the learner's e-mail address. The sandbox requires it and names the link
    # "learner" when it is tied to a learner, else "anonymous".
    if release.learner_access == "restricted" and not email:
        raise ApiError(
            400,
            f"Missing email_address: release {release.release_code!r} is restricted "
            "to invited learners.",
        )

    url = f"{context.origin}/launch/{release.release_code}/"
    if not (name or email):
        return {"url": url, "link_type": "anonymous"}
    token = secrets.token_urlsafe(12)
    with context.state.lock:
        context.launch_tokens[token] = (release.release_code, name or email)
    return {"url": f"{url}?learner={token}", "link_type": "learner"}


def list_projects(
    fields: Mapping[str, str], context: ApiContext
) -> list[dict[str, Any]]:
    """GET projects: every project of the account, oldest first."""
    with context.state.transaction() as state:
        counts: dict[str, int] = {}
        for release in state.releases.values():
            counts[release.project_code] = counts.get(release.project_code, 0) + 1
        projects = state.list_projects()
    return [
        project_record(
            project, context, release_count=counts.get(project.project_code, 0)
        )
        for project in projects
    ]


def account_info(fields: Mapping[str, str], context: ApiContext) -> dict[str, str]:
    """GET account: the account's company details and subscription."""
    with context.state.transaction() as state:
        account = state.account
        return {
            "company_name": account.company_name,
            "company_email": account.company_email,
            "subscription_level": account.subscription_level,
            "created": account.created,
            "project_count": str(len(state.projects)),
        }


ENDPOINTS: dict[str, Endpoint] = {
    "releases/create": Endpoint(
        "POST",
        frozenset(
            {
                "project_code",
                "release_mode",
                "release_code",
                "description",
                "xapi_lrs_endpoint_url",
                "xapi_lrs_endpoint_username",
                "xapi_lrs_endpoint_password",
                "learner_access",
                "simulation_mode",
            }
        ),
        create_release,
    ),
    "releases": Endpoint("GET", frozenset({"project_code"}), list_releases),
    "releases/details": Endpoint("GET", frozenset({"release_code"}), release_details),
    "releases/launch": Endpoint(
        "GET", frozenset({"release_code", "name", "email_address"}), launch_link
    ),
    "projects": Endpoint("GET", frozenset(), list_projects),
    "account": Endpoint("GET", frozenset(), account_info),
}


def release_record(
    release: Release, project: Project, context: ApiContext, *, details: bool = False
) -> dict[str, Any]:
    """Render a release as Elucidat does, with a download link in the details reply.

    NOTE: whether Elucidat's release list carries download links is not documented.
    The sandbox sends null there, so a client must call releases/details (which also
    renews the short-lived link) right before downloading.
    """
    download_url: str | None = None
    if details and release.is_package and release.status == COMPLETE:
        link = context.links.issue(
            release_code=release.release_code,
            version=release.version,
            release_mode=release.release_mode,
            course_name=project.name,
        )
        download_url = f"{context.origin}/downloads/{link.token}"
    launch_url = ""
    if _has_been_published(release):
        launch_url = f"{context.origin}/launch/{release.release_code}/"

    record: dict[str, Any] = {
        "release_code": release.release_code,
        "project_code": release.project_code,
        "release_mode": release.release_mode,
        "status": release.status,
        "description": release.description,
        "version_number": str(release.version),
        "created": release.created,
        "modified": release.modified,
        "learner_access": release.learner_access,
        "lrs_endpoint": release.lrs_endpoint,
        "launch_url": launch_url,
        "download_url": download_url,
        "edit_url": f"{context.origin}/edit/{release.project_code}",
        "view_count": str(release.view_count),
        "pass_count": str(release.pass_count),
    }
    if details:
        record["project"] = {"project_code": project.project_code, "name": project.name}
    return record


def project_record(
    project: Project, context: ApiContext, *, release_count: int
) -> dict[str, Any]:
    """Render a project as it appears in the projects reply."""
    return {
        "project_code": project.project_code,
        "name": project.name,
        "created": project.created,
        "modified": project.modified,
        "learner_access": project.learner_access,
        "lrs_endpoint": project.lrs_endpoint,
        "edit_url": f"{context.origin}/edit/{project.project_code}",
        "release_count": str(release_count),
    }


def _simulation_flag(fields: Mapping[str, str]) -> bool:
    value = fields.get("simulation_mode", "")
    if value not in ("", "simulation"):
        raise ApiError(
            400,
            f"Invalid simulation_mode {value!r}: the only accepted value is "
            "'simulation'; leave the field out for a real release.",
        )
    return value == "simulation"


def _simulation_reply(release_code: str) -> dict[str, str]:
    logger.info("Simulated releases/create returned %s", release_code)
    return {"release_code": release_code, "message": SIMULATION_REPLY_MESSAGE}


def _require_project(fields: Mapping[str, str], state: AccountState) -> Project:
    code = fields.get("project_code", "")
    if not code:
        raise ApiError(404, "Missing project_code: name the project to use.")
    project = state.get_project(code)
    if project is None:
        raise ApiError(
            404, f"Project {code!r} not found in this account. GET projects lists them."
        )
    return project


def _require_release(
    fields: Mapping[str, str], state: AccountState
) -> tuple[Release, Project]:
    code = fields.get("release_code", "")
    if not code:
        raise ApiError(404, "Missing release_code: name the release to use.")
    release = state.get_release(code)
    if release is None:
        raise ApiError(404, f"Release {code!r} not found in this account.")
    project = state.get_project(release.project_code)
    if project is None:  # The demo data never removes a project.
        raise ApiError(404, f"Project {release.project_code!r} not found.")
    return release, project


def _require_choice(
    fields: Mapping[str, str], name: str, choices: tuple[str, ...]
) -> str:
    value = fields.get(name, "")
    if not value:
        raise ApiError(400, f"Missing {name}: use one of {', '.join(choices)}.")
    if value not in choices:
        raise ApiError(
            400, f"Invalid {name} {value!r}: use one of {', '.join(choices)}."
        )
    return value


def _optional_choice(
    fields: Mapping[str, str], name: str, choices: tuple[str, ...]
) -> str | None:
    if not fields.get(name):
        return None
    return _require_choice(fields, name, choices)


def _optional_lrs_url(fields: Mapping[str, str]) -> str | None:
    value = fields.get("xapi_lrs_endpoint_url", "")
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ApiError(
            400,
            f"Invalid xapi_lrs_endpoint_url {_without_userinfo(value)!r}: expected an "
            "http or https URL with a host name.",
        )
    return value


def _without_userinfo(url: str) -> str:
    # A URL may carry "user:password@"; an error message must not repeat a password.
    return re.sub(r"//[^/@]*@", "//***@", url)[:200]


def _check_re_release(
    release_code: str, project: Project, release_mode: str, state: AccountState
) -> None:
    release = state.get_release(release_code)
    if release is None:
        raise ApiError(404, f"Release {release_code!r} not found in this account.")
    if release.project_code != project.project_code:
        raise ApiError(
            400,
            f"Release {release_code!r} belongs to project {release.project_code!r}, "
            f"not to project {project.project_code!r}.",
        )
    # NOTE: Elucidat does not document whether a re-release may change the release
    # mode. The sandbox rejects a different mode, which Elucidat's own example
    # clients never send.
    if release.release_mode != release_mode:
        raise ApiError(
            400,
            f"Invalid release_mode {release_mode!r} for re-release of "
            f"{release_code!r}: its release mode is {release.release_mode!r}.",
        )
    # NOTE: also undocumented; the sandbox accepts one re-release at a time.
    if release.status == PUBLISHING:
        raise ApiError(
            400,
            f"Release {release_code!r} is still publishing; re-release it once its "
            "status is complete.",
        )


def _has_been_published(release: Release) -> bool:
    # A re-release in progress still has its previous version online.
    return release.status == COMPLETE or release.raises_version
