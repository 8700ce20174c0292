"""Checks on the release form's values, shared by the window and the command line.

`validate_release_form` returns one message per field with a problem; errors block the
release, warnings only inform. The texts name the value and the fix.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit


class Level(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class FieldMessage:
    """A validation message for one field of the form."""

    field: str
    level: Level
    text: str


@dataclass(frozen=True)
class ReleaseForm:
    """The form's raw text values, as typed."""

    project_code: str = ""
    release_mode: str = ""
    release_code: str = ""
    description: str = ""
    lrs_endpoint_url: str = ""
    lrs_username: str = ""
    lrs_password: str = ""


MAX_DESCRIPTION_LENGTH = 255  # NOTE: Elucidat documents no limit; this is a guess.


def validate_release_form(form: ReleaseForm) -> list[FieldMessage]:
    """Return the problems in form, errors and warnings, in the form's field order."""
    messages: list[FieldMessage] = []
    messages += _check_code(
        "project_code", "Project code", form.project_code, required=True
    )
    if not form.release_mode:
        messages.append(
            FieldMessage("release_mode", Level.ERROR, "Choose a release mode.")
        )
    messages += _check_code(
        "release_code", "Release code", form.release_code, required=False
    )
    if len(form.description) > MAX_DESCRIPTION_LENGTH:
        messages.append(
            FieldMessage(
                "description",
                Level.ERROR,
                f"The description has {len(form.description)} characters; "
                f"shorten it to {MAX_DESCRIPTION_LENGTH} or fewer.",
            )
        )
    messages += check_lrs_url(form.lrs_endpoint_url)
    if not form.lrs_endpoint_url.strip():
        if form.lrs_username.strip():
            messages.append(
                FieldMessage(
                    "lrs_username",
                    Level.ERROR,
                    "An LRS username needs an LRS endpoint URL; "
                    "enter the URL or clear the username.",
                )
            )
        if form.lrs_password:
            messages.append(
                FieldMessage(
                    "lrs_password",
                    Level.ERROR,
                    "An LRS password needs an LRS endpoint URL; "
                    "enter the URL or clear the password.",
                )
            )
    return messages


def check_lrs_url(url: str) -> list[FieldMessage]:
    """Check an LRS endpoint URL: https with a host; plain http only warns."""
    if not url:
        return []
    name = "lrs_endpoint_url"
    if url != url.strip():
        return [
            FieldMessage(
                name,
                Level.ERROR,
                "The LRS URL has spaces at its start or end; remove them.",
            )
        ]
    if any(char.isspace() for char in url):
        return [
            FieldMessage(
                name, Level.ERROR, f"The LRS URL {url!r} contains a space; remove it."
            )
        ]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            FieldMessage(
                name,
                Level.ERROR,
                f"{url!r} is not a web address; enter the LRS endpoint as "
                "https://host/path.",
            )
        ]
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return [
            FieldMessage(name, Level.ERROR, f"The port in {url!r} is not a number.")
        ]
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return [
            FieldMessage(
                name,
                Level.WARNING,
                "This LRS URL uses plain http, so learner data and the LRS password "
                "travel unencrypted. Use https if the LRS offers it.",
            )
        ]
    return []


def is_loopback_host(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_code(
    field: str, label: str, value: str, *, required: bool
) -> list[FieldMessage]:
    if not value.strip():
        if value:
            return [
                FieldMessage(
                    field,
                    Level.ERROR,
                    f"{label} is only spaces; clear it or enter a code.",
                )
            ]
        if required:
            return [
                FieldMessage(
                    field, Level.ERROR, f"{label} is required; pick a project."
                )
            ]
        return []
    if value != value.strip():
        return [
            FieldMessage(
                field,
                Level.ERROR,
                f"{label} {value!r} has spaces at its start or end; remove them.",
            )
        ]
    if any(char.isspace() for char in value):
        return [
            FieldMessage(
                field,
                Level.ERROR,
                f"{label} {value!r} contains a space; remove it, because codes "
                "have none.",
            )
        ]
    return []
