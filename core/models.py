"""Typed values of the Elucidat Project API v2, parsed leniently from its JSON.

The API often sends numbers as strings ("3"), dates as "YYYY-MM-DD HH:MM:SS" in UTC,
sometimes "0000-00-00 00:00:00", and leaves optional keys out. The `from_json`
constructors accept all of that and never raise on a missing optional key.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class ReleaseMode(enum.StrEnum):
    """The `release_mode` field of `releases/create`."""

    ONLINE_PUBLIC = "online-public"
    ONLINE_PRIVATE = "online-private"
    SCORM = "scorm"
    OFFLINE_BACKUP = "offline-backup"

    @property
    def label(self) -> str:
        return _MODE_LABELS[self]

    @property
    def is_package(self) -> bool:
        """True for modes that produce a zip package to download."""
        return self in (ReleaseMode.SCORM, ReleaseMode.OFFLINE_BACKUP)


_MODE_LABELS = {
    ReleaseMode.ONLINE_PUBLIC: "Online – public",
    ReleaseMode.ONLINE_PRIVATE: "Online – private",
    ReleaseMode.SCORM: "SCORM package",
    ReleaseMode.OFFLINE_BACKUP: "Offline backup",
}


class LearnerAccess(enum.StrEnum):
    """The `learner_access` field; leaving it out keeps the project's setting."""

    ANY = "any"
    IDENTIFY = "identify"
    RESTRICTED = "restricted"

    @property
    def label(self) -> str:
        return _ACCESS_LABELS[self]


_ACCESS_LABELS = {
    LearnerAccess.ANY: "Anyone",
    LearnerAccess.IDENTIFY: "Identified by e-mail",
    LearnerAccess.RESTRICTED: "Restricted to invited learners",
}


@dataclass(frozen=True)
class ReleaseRequest:
    """A request to `releases/create`: a release, or a re-release when
    `release_code` is set. Optional fields left as None are not sent."""

    project_code: str
    release_mode: ReleaseMode
    release_code: str | None = None
    description: str | None = None
    learner_access: LearnerAccess | None = None
    lrs_endpoint_url: str | None = None
    lrs_username: str | None = None
    lrs_password: str | None = field(default=None, repr=False)

    @property
    def is_re_release(self) -> bool:
        return bool(self.release_code)


@dataclass(frozen=True)
class CreateResult:
    """The reply to `releases/create`."""

    release_code: str
    message: str
    simulation: bool
    status: int

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, simulation: bool, status: int
    ) -> CreateResult:
        return cls(
            release_code=as_str(data.get("release_code")),
            message=as_str(data.get("message")),
            simulation=simulation,
            status=status,
        )


@dataclass(frozen=True)
class ProjectRef:
    """The `project` object inside a release's details."""

    project_code: str
    name: str


@dataclass(frozen=True)
class Release:
    """One release record from `releases` or `releases/details`."""

    release_code: str
    release_mode: str
    status: str
    description: str = ""
    version_number: int | None = None
    created: datetime | None = None
    modified: datetime | None = None
    learner_access: str = ""
    lrs_endpoint: str = ""
    launch_url: str = ""
    download_url: str | None = None
    edit_url: str = ""
    view_count: int | None = None
    pass_count: int | None = None
    project: ProjectRef | None = None

    @property
    def is_complete(self) -> bool:
        return self.status.lower() == "complete"

    @property
    def mode(self) -> ReleaseMode | None:
        """The release mode as an enum, or None for a mode this app does not know."""
        try:
            return ReleaseMode(self.release_mode)
        except ValueError:
            return None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Release:
        project_data = data.get("project")
        project = None
        if isinstance(project_data, Mapping):
            project = ProjectRef(
                project_code=as_str(project_data.get("project_code")),
                name=as_str(project_data.get("name")),
            )
        download_url = data.get("download_url")
        return cls(
            release_code=as_str(data.get("release_code")),
            release_mode=as_str(data.get("release_mode")),
            status=as_str(data.get("status")),
            description=as_str(data.get("description")),
            version_number=as_int(data.get("version_number")),
            created=as_datetime(data.get("created")),
            modified=as_datetime(data.get("modified")),
            learner_access=as_str(data.get("learner_access")),
            lrs_endpoint=as_str(data.get("lrs_endpoint")),
            launch_url=as_str(data.get("launch_url")),
            download_url=as_str(download_url) or None,
            edit_url=as_str(data.get("edit_url")),
            view_count=as_int(data.get("view_count", data.get("views"))),
            pass_count=as_int(data.get("pass_count", data.get("passes"))),
            project=project,
        )


@dataclass(frozen=True)
class Project:
    """One project from `projects`."""

    project_code: str
    name: str
    created: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Project:
        return cls(
            project_code=as_str(data.get("project_code")),
            name=as_str(data.get("name")),
            created=as_datetime(data.get("created")),
        )


@dataclass(frozen=True)
class AccountInfo:
    """The reply to `account`."""

    company_name: str
    company_email: str = ""
    subscription_level: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccountInfo:
        return cls(
            company_name=as_str(data.get("company_name")),
            company_email=as_str(data.get("company_email")),
            subscription_level=as_str(data.get("subscription_level")),
        )


@dataclass(frozen=True)
class LaunchLink:
    """The reply to `releases/launch`."""

    url: str
    link_type: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LaunchLink:
        return cls(url=as_str(data.get("url")), link_type=as_str(data.get("link_type")))


def as_str(value: Any) -> str:
    """Return value as text; None becomes the empty string."""
    if value is None:
        return ""
    return str(value)


def as_int(value: Any) -> int | None:
    """Return an int from an int or a numeric string, or None when there is none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            return int(float(str(value).strip()))
        except ValueError:
            return None


def as_datetime(value: Any) -> datetime | None:
    """Return a UTC datetime from "YYYY-MM-DD HH:MM:SS" or ISO 8601 text.

    The zero date "0000-00-00 00:00:00", empty text and anything unparsable give None.
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith("0000-00-00"):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
