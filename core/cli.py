"""The command line: the same jobs as the window, on the same core, for scripts.

`build_parser()` defines every option; with no command, main.py opens the window.
`run_command()` runs a command and turns typed errors into exit statuses. They are 0
for success, 2 for invalid input, 3 when the API rejects a request, 4 for a network
failure, a timeout or an unknown outcome, and 5 for missing keys or no usable keyring.
An unexpected failure exits with 1, and Ctrl+C with 130.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from core import APP_NAME, __version__
from core.errors import ReleaseDeskError
from core.models import LearnerAccess, ReleaseMode
from core.paths import AppPaths

log = logging.getLogger(__name__)

LOG_LEVELS = ["debug", "info", "warning", "error"]

if TYPE_CHECKING:
    from core.cli_context import CommandContext

Handler = Callable[["CommandContext"], int]

# The command names, for telling a command from the window's options without
# building the whole parser.
COMMANDS = ("release", "projects", "account", "history", "sandbox")
# Global options that take a value, so the value is not mistaken for a command.
_OPTIONS_WITH_VALUE = ("--log-level", "--api-url", "--account")


def command_requested(argv: Sequence[str]) -> bool:
    """Return whether argv names a command or requests help, which lists them."""
    skip_next = False
    for token in argv:
        if token in ("-h", "--help"):
            return True
        if skip_next:
            skip_next = False
        elif token in _OPTIONS_WITH_VALUE:
            skip_next = True
        elif not token.startswith("-"):
            return True
    return False


def _lazy(module: str, name: str) -> Handler:
    """Return a handler that imports its module when the command runs.

    Opening the window parses the same options, and importing every command's
    module (requests, the batch queue) would slow down its start-up.
    """

    def handler(context: CommandContext) -> int:
        function = getattr(importlib.import_module(module), name)
        return int(function(context))

    handler.__name__ = name
    return handler


run_account = _lazy("core.cli_commands", "run_account")
run_history = _lazy("core.cli_commands", "run_history")
run_projects = _lazy("core.cli_commands", "run_projects")
run_release_details = _lazy("core.cli_commands", "run_release_details")
run_release_list = _lazy("core.cli_commands", "run_release_list")
run_release_create = _lazy("core.cli_release", "run_release_create")
run_sandbox = _lazy("core.cli_sandbox", "run_sandbox")

_EPILOG = """\
keys:
  Commands that call Elucidat use the stored account (--account NAME picks one), or
  the keys in ELUCIDAT_PUBLIC_KEY and ELUCIDAT_PRIVATE_KEY when both are set.

exit status:
  0 success, 2 invalid input, 3 rejected by the Elucidat API, 4 network failure,
  timeout or unknown outcome, 5 missing keys or no usable keyring, 1 unexpected
  failure (details in the log file), 130 interrupted with Ctrl+C.

examples:
  release-desk projects
  release-desk release create --project 5dd580064b0b7 --mode scorm
  release-desk release create --project 5dd580064b0b7 --mode offline-backup \\
      --live --download ~/packages
  release-desk sandbox --port 8765
"""


def build_parser(*, with_commands: bool = True) -> argparse.ArgumentParser:
    """Return the parser for the window's options and, when with_commands is true,
    every command."""
    parser = argparse.ArgumentParser(
        prog="release-desk",
        description=f"{APP_NAME}: make releases of Elucidat courses. "
        "With no command, opens the window.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_options(parser)
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="open the window on a built-in sandbox server on 127.0.0.1 "
        "instead of Elucidat (no account or network needed)",
    )
    if not with_commands:
        parser.set_defaults(command=None)
        return parser
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_release_parser(commands)

    projects = _add_command(
        commands, "projects", run_projects, "list the account's projects"
    )
    projects.description = "List the projects of the account: code, name, created."

    account = _add_command(
        commands, "account", run_account, "show the account that the keys belong to"
    )
    account.description = (
        "Show the Elucidat account of the keys in use, and where the keys come from."
    )

    history = _add_command(
        commands, "history", run_history, "list recent release attempts"
    )
    history.description = (
        "List the most recent release attempts made from this computer, by the "
        "window and by the command line, newest first."
    )
    history.add_argument(
        "--limit",
        metavar="N",
        default="20",
        help="how many attempts to list, newest first (default: 20)",
    )

    sandbox = _add_command(
        commands,
        "sandbox",
        run_sandbox,
        "serve the built-in sandbox on 127.0.0.1 until Ctrl+C",
    )
    sandbox.description = (
        "Serve a fake Elucidat API on 127.0.0.1 for trying Release Desk without an "
        "account. Prints its URL and demo keys, then serves until Ctrl+C."
    )
    sandbox.add_argument(
        "--port",
        metavar="N",
        type=int,
        default=0,
        help="TCP port to listen on (default: 0, a free port chosen by the system)",
    )
    sandbox.add_argument(
        "--publish-delay",
        metavar="S",
        type=float,
        default=None,
        help="seconds a live release stays in preparation before it is complete "
        "(default: the sandbox's own)",
    )
    return parser


def add_common_options(
    parser: argparse.ArgumentParser, *, suppress_defaults: bool = False
) -> None:
    """Add the options accepted globally and on every command.

    On a command's parser, `suppress_defaults=True` leaves an option out of the
    parsed arguments when it is not given there, so a value given before the command
    (`release-desk --json projects`) is not replaced by the command's default.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress_defaults else value

    parser.add_argument(
        "--version", action="version", version=f"{APP_NAME} {__version__}"
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=default("info"),
        help="how much to write to the log file (default: info); commands also "
        "show log records on stderr when the level is debug",
    )
    parser.add_argument(
        "--api-url",
        metavar="URL",
        default=default(None),
        help="Elucidat API base URL (default: the account's, "
        "normally https://api.elucidat.com/v2/)",
    )
    parser.add_argument(
        "--account",
        metavar="NAME",
        default=default(None),
        help="the stored account to use (default: the current account)",
    )
    # NOTE: argparse reports usage errors (an unknown option, a missing --project)
    # itself, as plain text on stderr with exit status 2, so they print no JSON.
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="write one JSON document on stdout; messages still go to stderr",
    )


def run_command(args: argparse.Namespace, paths: AppPaths) -> int:
    """Run the command named in args and return the exit status."""
    from core.cli_output import (
        EXIT_INTERRUPTED,
        EXIT_INVALID_INPUT,
        EXIT_UNEXPECTED,
        Output,
        report_error,
    )

    output = Output(json_mode=bool(args.json))
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        output.error("InputError", f"unknown command: {args.command}")
        return EXIT_INVALID_INPUT

    from core.cli_context import CommandContext

    _keep_log_records_off_stderr(args.log_level)
    context = CommandContext(args=args, paths=paths, output=output)
    log.debug("Command %s started", args.command)
    try:
        status = handler(context)
    except ReleaseDeskError as error:
        log.info("Command %s failed: %s", args.command, error)
        return report_error(output, error)
    except BrokenPipeError:
        # The reader of stdout went away (`release-desk history | head`). Later
        # writes, including the interpreter's final flush, go to the null device.
        log.info("Command %s stopped: stdout was closed", args.command)
        _redirect_stdout_to_null()
        return EXIT_UNEXPECTED
    except KeyboardInterrupt:
        log.info("Command %s interrupted", args.command)
        output.error("Interrupted", "interrupted with Ctrl+C.")
        return EXIT_INTERRUPTED
    except Exception as error:
        log.exception("Unexpected error in command %s", args.command)
        output.error(
            type(error).__name__,
            f"unexpected failure ({type(error).__name__}). The details are in the "
            f"log file {paths.log_file}; please include it when you report this.",
        )
        return EXIT_UNEXPECTED
    log.debug("Command %s finished with exit status %d", args.command, status)
    return status


def _add_release_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    release = commands.add_parser(
        "release",
        help="create a release, list a project's releases, show one release",
        description="Create releases and look them up.",
    )
    add_common_options(release, suppress_defaults=True)
    actions = release.add_subparsers(
        dest="release_command", metavar="ACTION", required=True
    )

    create = _add_command(
        actions, "create", run_release_create, "create a release or a re-release"
    )
    create.description = (
        "Create a release of a project, or re-release an existing release with\n"
        "--release-code. Runs in simulation mode unless --live is given: Elucidat\n"
        "then checks the request and changes nothing."
    )
    create.epilog = (
        "The LRS password is read from ELUCIDAT_LRS_PASSWORD, or asked for when\n"
        "--lrs-username is given and stdin is a terminal. It is never an argument."
    )
    create.formatter_class = argparse.RawDescriptionHelpFormatter
    _add_create_options(create)

    listing = _add_command(
        actions, "list", run_release_list, "list the releases of a project"
    )
    listing.description = "List the releases of a project, as Elucidat lists them."
    listing.add_argument(
        "--project", metavar="CODE", required=True, help="the project's code"
    )

    details = _add_command(actions, "details", run_release_details, "show one release")
    details.description = "Show one release, with its launch and download links."
    details.add_argument(
        "--release-code", metavar="CODE", required=True, help="the release's code"
    )

    from core.cli_batch import add_batch_parser

    add_batch_parser(actions)


def _add_create_options(create: argparse.ArgumentParser) -> None:
    modes = ", ".join(mode.value for mode in ReleaseMode)
    accesses = "|".join(access.value for access in LearnerAccess)
    create.add_argument(
        "--project", metavar="CODE", required=True, help="the project's code"
    )
    create.add_argument(
        "--mode", metavar="MODE", required=True, help=f"release mode: one of {modes}"
    )

    create.add_argument(
        "--release-code",
        metavar="CODE",
        help="re-release this existing release instead of making a new one "
        "(give the release's own mode)",
    )
    create.add_argument(
        "--description", metavar="TEXT", help="a note that identifies this release"
    )

    create.add_argument(
        "--learner-access",
        metavar=accesses,
        help="who may open the release: anyone, learners who give their e-mail, or "
        "invited learners only (default: the project's setting)",
    )

    create.add_argument(
        "--lrs-url",
        metavar="URL",
        help="xAPI LRS endpoint URL (default: the project's setting)",
    )
    create.add_argument(
        "--lrs-username",
        metavar="NAME",
        help="LRS user name; needs --lrs-url (default: the project's setting)",
    )

    create.add_argument(
        "--live",
        action="store_true",
        help="make a real release; without it the request runs in simulation mode",
    )
    create.add_argument(
        "--wait",
        action="store_true",
        help="after a live release, wait until Elucidat has finished preparing it",
    )
    create.add_argument(
        "--download",
        metavar="DIR",
        help="after a live scorm or offline-backup release, wait for it and save "
        "its zip package into DIR (implies --wait)",
    )


def _add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    summary: str,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=summary)
    add_common_options(parser, suppress_defaults=True)
    parser.set_defaults(handler=handler)
    return parser


def _redirect_stdout_to_null() -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)


def _keep_log_records_off_stderr(level: str) -> None:
    """Leave log records to the log file, so stderr carries only the command's lines.

    The stderr handler of `core.logs.setup_logging` stays on when the level is debug,
    and when there is no log file, because it is then the only record.
    """
    if level == "debug":
        return
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if getattr(handler, "_release_desk", False)
    ]
    if not any(isinstance(handler, logging.FileHandler) for handler in handlers):
        return
    for handler in handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            handler.setLevel(logging.CRITICAL + 1)
