"""The read-only commands: `release list`, `release details`, `projects`, `account`
and `history`."""

from __future__ import annotations

import logging

from core.cli_context import CommandContext, connect, open_history
from core.cli_output import EXIT_OK, format_datetime, format_fields, format_table
from core.cli_release import check_code
from core.errors import InputError
from core.history import HistoryQuery
from core.models import Release

log = logging.getLogger(__name__)


def run_release_list(context: CommandContext) -> int:
    """List the releases of one project."""
    project_code = check_code(context.args.project, option="--project")
    with connect(context) as connection:
        releases = connection.client.list_releases(project_code)

    rows = [
        [
            release.release_code,
            release.release_mode,
            release.status,
            _text(release.version_number),
            format_datetime(release.created),
            release.description,
        ]
        for release in releases
    ]
    lines = (
        format_table(
            ["RELEASE CODE", "MODE", "STATUS", "VERSION", "CREATED", "DESCRIPTION"],
            rows,
        )
        if rows
        else [f"Project {project_code} has no releases."]
    )
    context.output.result({"project_code": project_code, "releases": releases}, lines)
    return EXIT_OK


def run_release_details(context: CommandContext) -> int:
    """Show one release."""
    release_code = check_code(context.args.release_code, option="--release-code")
    with connect(context) as connection:
        release = connection.client.release_details(release_code)
    context.output.result({"release": release}, _release_lines(release))
    return EXIT_OK


def run_projects(context: CommandContext) -> int:
    """List the account's projects."""
    with connect(context) as connection:
        projects = connection.client.list_projects()

    rows = [
        [project.project_code, project.name, format_datetime(project.created)]
        for project in projects
    ]
    lines = (
        format_table(["PROJECT CODE", "NAME", "CREATED"], rows)
        if rows
        else ["The account has no projects."]
    )
    context.output.result({"projects": projects}, lines)
    return EXIT_OK


def run_account(context: CommandContext) -> int:
    """Show the account that the keys belong to, and where the keys come from."""
    with connect(context) as connection:
        account = connection.client.account()
        credentials = connection.credentials
        base_url = connection.base_url

    document = {
        "account": account,
        "account_name": credentials.account_name,
        "key_source": credentials.source,
        "base_url": base_url,
    }
    lines = format_fields(
        [
            ("Company", account.company_name),
            ("E-mail", account.company_email or "-"),
            ("Subscription", account.subscription_level or "-"),
            ("Account", credentials.account_name or "-"),
            ("Keys from", str(credentials.source)),
            ("API URL", base_url),
        ]
    )
    context.output.result(document, lines)
    return EXIT_OK


def run_history(context: CommandContext) -> int:
    """List the most recent release attempts, newest first."""
    limit = _check_limit(context.args.limit)
    with open_history(context) as history:
        attempts = history.search(HistoryQuery(limit=limit))

    rows = [
        [
            str(attempt.id),
            attempt.time,
            attempt.project_code,
            attempt.release_mode,
            "simulation" if attempt.simulation else "live",
            str(attempt.outcome),
            attempt.release_code or "-",
        ]
        for attempt in attempts
    ]
    lines = (
        format_table(
            ["ID", "TIME", "PROJECT", "MODE", "KIND", "OUTCOME", "RELEASE CODE"], rows
        )
        if rows
        else ["No release attempts yet."]
    )
    context.output.result({"attempts": attempts}, lines)
    return EXIT_OK


def _check_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise InputError(
            f"Invalid --limit '{value}': give a whole number of attempts, 1 or more.",
            field="--limit",
        )
    return limit


def _release_lines(release: Release) -> list[str]:
    project = "-"
    if release.project is not None:
        project = f"{release.project.project_code} ({release.project.name})"
    return format_fields(
        [
            ("Release code", release.release_code),
            ("Project", project),
            ("Mode", release.release_mode),
            ("Status", release.status),
            ("Version", _text(release.version_number)),
            ("Description", release.description or "-"),
            ("Created", format_datetime(release.created)),
            ("Modified", format_datetime(release.modified)),
            ("Learner access", release.learner_access or "-"),
            ("LRS endpoint", release.lrs_endpoint or "-"),
            ("Launch URL", release.launch_url or "-"),
            ("Download URL", release.download_url or "-"),
            ("Views", _text(release.view_count)),
            ("Passes", _text(release.pass_count)),
        ]
    )


def _text(value: int | None) -> str:
    return "-" if value is None else str(value)
