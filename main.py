"""Release Desk entry point: parse arguments, set up logging, hand over.

With no command it opens the window; with a command (`release`, `projects`, `account`,
`history`, `sandbox`) it runs the command line. See `python main.py --help`.
"""

from __future__ import annotations

import logging
import sys
import types

from core import cli
from core.logs import setup_logging
from core.paths import app_paths

log = logging.getLogger("release_desk")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = cli.build_parser(with_commands=cli.command_requested(argv))
    args = parser.parse_args(argv)
    paths = app_paths()
    try:
        paths.ensure()
        log_file = paths.log_file
    except OSError as error:
        print(
            f"Cannot create the app folders ({error}); logging to stderr only.",
            file=sys.stderr,
        )
        log_file = None
    setup_logging(args.log_level.upper(), log_file)
    sys.excepthook = log_uncaught_exception

    if args.command is None:
        from gui.app import run_gui

        return run_gui(args, paths)
    return cli.run_command(args, paths)


def log_uncaught_exception(
    kind: type[BaseException],
    error: BaseException,
    traceback: types.TracebackType | None,
) -> None:
    """Log an uncaught exception. The window replaces this hook with a dialog."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    log.critical("Unexpected error", exc_info=(kind, error, traceback))


if __name__ == "__main__":
    sys.exit(main())
