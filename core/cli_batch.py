"""`release batch`: re-release every release listed in a CSV file, as one batch.

The list is checked in full before anything is sent. The items then go through
`core.batch.BatchRunner`, so each one is recorded in the history with the batch id,
exactly as the window records it. Progress goes to stderr, and the summary table (or
the JSON document) to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from core.batch import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    BatchItem,
    BatchRunner,
    BatchSettings,
    BatchSummary,
    ItemState,
)
from core.batch_csv import BatchCsv, parse_batch_csv, read_batch_csv
from core.cli_context import CommandContext, Connection, connect, open_history
from core.cli_output import (
    EXIT_CONFIGURATION,
    EXIT_INTERRUPTED,
    EXIT_INVALID_INPUT,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNEXPECTED,
    Output,
    exit_status_for,
    format_table,
    report_error,
)
from core.cli_release import LRS_PASSWORD_ENV, check_download_dir
from core.client import ElucidatClient
from core.errors import InputError, ReleaseDeskError
from core.history import HistoryStore
from core.logs import register_secret
from core.paths import AppPaths
from core.service import ReleaseService

log = logging.getLogger(__name__)

#: Seconds between checks for Ctrl+C while the batch runs.
_WAKE_INTERVAL = 0.5

#: When items fail in different ways, the exit status is the first of these present:
#: an unknown outcome or a network failure needs checking before anything else.
_EXIT_PRIORITY = (
    EXIT_NETWORK,
    EXIT_REJECTED,
    EXIT_CONFIGURATION,
    EXIT_INVALID_INPUT,
    EXIT_UNEXPECTED,
)

_STATES_REPORTED = frozenset(ItemState) - {ItemState.WAITING, ItemState.SENDING}

_EPILOG = """\
The CSV file has a header line, then one release per line:
  project_code,release_code[,release_mode,description,learner_access,
  lrs_endpoint_url,lrs_username]
Blank lines and lines starting with # are skipped. An empty release_mode is read
from the release. Every bad row is reported by line number, and then nothing is
sent. The LRS password, for rows with an LRS URL, is read from
ELUCIDAT_LRS_PASSWORD. It is never a column.

exit status: 0 every item succeeded, 2 invalid list or option, 3 some items
rejected by the API, 4 network failure or unknown outcome for some items, 130
interrupted (items already sent stay sent).
"""


@dataclass(frozen=True)
class BatchPlan:
    """A checked `release batch` invocation."""

    items: list[BatchItem]
    settings: BatchSettings
    source: str


def add_batch_parser(
    release_subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `release batch` to the actions of `release`; return its parser."""
    # Imported here because core.cli imports this module to build its parser.
    from core.cli import add_common_options

    batch = release_subparsers.add_parser(
        "batch",
        help="re-release every release listed in a CSV file",
        description=(
            "Re-release every release listed in a CSV file, a few at a time. Runs\n"
            "in simulation mode unless --live is given: Elucidat then checks each\n"
            "request and changes nothing."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_options(batch, suppress_defaults=True)
    batch.add_argument(
        "file", metavar="FILE", help="the CSV file of releases, or - to read stdin"
    )
    batch.add_argument(
        "--live",
        action="store_true",
        help="make real re-releases; without it every request runs in simulation mode",
    )
    batch.add_argument(
        "--wait",
        action="store_true",
        help="after live re-releases, wait until Elucidat has prepared each one",
    )
    batch.add_argument(
        "--download",
        metavar="DIR",
        help="after live re-releases, wait for them and save the zip package of "
        "each scorm and offline-backup release into DIR (implies --wait)",
    )
    batch.add_argument(
        "--concurrency",
        metavar="N",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"how many re-releases to send at the same time, 1 to "
        f"{MAX_CONCURRENCY} (default: {DEFAULT_CONCURRENCY}); Elucidat prepares "
        "one release at a time per account",
    )
    batch.set_defaults(handler=run_batch_command)
    return batch


def run_batch(args: argparse.Namespace, paths: AppPaths) -> int:
    """Run `release batch` outside `core.cli.run_command`; return the exit status."""
    output = Output(json_mode=bool(getattr(args, "json", False)))
    context = CommandContext(args=args, paths=paths, output=output)
    try:
        return run_batch_command(context)
    except ReleaseDeskError as error:
        log.info("release batch failed: %s", error)
        return report_error(output, error)


def run_batch_command(context: CommandContext) -> int:
    """Run `release batch` and return the exit status. Typed errors propagate."""
    output = context.output
    plan = check_batch_arguments(context.args, output, sys.stdin)
    plan = _with_lrs_password(plan, context)
    _announce(plan, output)

    with connect(context) as connection, open_history(context) as history:
        services = _ServicePerThread(connection, history)
        reporter = _ProgressReporter(output, len(plan.items))
        runner = BatchRunner(
            plan.items, plan.settings, services, on_item_changed=reporter
        )
        try:
            interrupted = _run(runner, output)
        finally:
            runner.join()
            services.close()

    summary = runner.summary()
    output.result(
        _summary_document(summary, runner.items), _summary_lines(summary, runner.items)
    )
    if interrupted:
        return EXIT_INTERRUPTED
    return batch_exit_status(summary)


def check_batch_arguments(
    args: argparse.Namespace, output: Output, stdin: TextIO
) -> BatchPlan:
    """Check every option and read the whole list before anything is sent.

    Raises InputError for an invalid option, and BatchCsvError (an InputError)
    naming every bad row. Row warnings go to stderr.
    """
    concurrency = args.concurrency
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InputError(
            f"Invalid --concurrency {concurrency}: use a number from 1 to "
            f"{MAX_CONCURRENCY}.",
            field="--concurrency",
        )
    download_dir = None
    if args.download is not None:
        download_dir = check_download_dir(args.download)

    parsed = _read_list(args.file, stdin)
    for warning in parsed.warnings:
        output.message(f"warning: {warning}")

    simulation = not args.live
    settings = BatchSettings(
        simulation=simulation,
        follow=bool(args.wait) or download_dir is not None,
        download_dir=None if simulation else download_dir,
        concurrency=concurrency,
    )
    if simulation and (args.wait or download_dir is not None):
        output.message(
            "note: simulation mode releases nothing, so there is nothing to wait for "
            "or download; --wait and --download apply with --live."
        )
    source = "stdin" if args.file == "-" else args.file
    return BatchPlan(parsed.items, settings, source)


def batch_exit_status(summary: BatchSummary) -> int:
    """Return 0 when every item succeeded, else the status of the worst failure."""
    if summary.all_succeeded:
        return EXIT_OK
    statuses = {
        exit_status_for(item.error)
        for _, item in summary.problems
        if item.error is not None
    }
    if summary.outcome_unknown or summary.publishing:
        statuses.add(EXIT_NETWORK)
    for status in _EXIT_PRIORITY:
        if status in statuses:
            return status
    if summary.cancelled:
        return EXIT_INTERRUPTED
    return EXIT_UNEXPECTED


def _read_list(file: str, stdin: TextIO) -> BatchCsv:
    if file == "-":
        return parse_batch_csv(stdin.read(), source="stdin")
    return read_batch_csv(Path(file).expanduser())


def _with_lrs_password(plan: BatchPlan, context: CommandContext) -> BatchPlan:
    """Add the LRS password from the environment when a row sends an LRS URL."""
    password = context.environ.get(LRS_PASSWORD_ENV) or None
    if password is None or not any(item.lrs_endpoint_url for item in plan.items):
        return plan
    register_secret(password)
    settings = dataclasses.replace(plan.settings, lrs_password=password)
    return BatchPlan(plan.items, settings, plan.source)


def _announce(plan: BatchPlan, output: Output) -> None:
    count = len(plan.items)
    listing = f"{count} re-release{'s' if count != 1 else ''} from {plan.source}"
    if plan.settings.simulation:
        output.message(
            f"Simulation mode: Elucidat checks {listing} and changes nothing. Add "
            "--live to make real re-releases."
        )
        return
    output.message(
        f"LIVE: making {listing}, {plan.settings.concurrency} at a time. Re-releasing "
        "resets the saved progress of learners who are part-way through a course."
    )
    if plan.settings.follows:
        output.message(
            "Waiting until Elucidat has prepared each release; this often takes 5 to "
            "15 minutes per release. Ctrl+C stops waiting, not the re-releases "
            "already sent."
        )


def _run(runner: BatchRunner, output: Output) -> bool:
    """Run the batch to its end; return True when Ctrl+C cancelled it."""
    runner.start()
    try:
        while not runner.wait(_WAKE_INTERVAL):
            pass
    except KeyboardInterrupt:
        runner.cancel()
        output.message(
            "Cancelled: no further item is sent. Waiting for the requests already "
            "on their way; the re-releases already sent stay sent."
        )
        runner.wait()
        return True
    return False


class _ServicePerThread:
    """Makes a release service with its own client for each thread of the batch."""

    def __init__(self, connection: Connection, history: HistoryStore) -> None:
        self._connection = connection
        self._history = history
        self._clients: list[ElucidatClient] = []
        self._lock = threading.Lock()

    def __call__(self) -> ReleaseService:
        credentials = self._connection.credentials
        client = ElucidatClient(
            self._connection.base_url, credentials.public_key, credentials.private_key
        )
        with self._lock:
            self._clients.append(client)
        return ReleaseService(
            client,
            self._history,
            account_name=credentials.account_name,
            base_url=self._connection.base_url,
        )

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


class _ProgressReporter:
    """Write a line on stderr when an item reaches a new state."""

    def __init__(self, output: Output, total: int) -> None:
        self._output = output
        self._width = len(str(total))
        self._total = total
        self._last: dict[int, ItemState] = {}

    def __call__(self, index: int, item: BatchItem) -> None:
        if item.state not in _STATES_REPORTED or self._last.get(index) is item.state:
            return
        self._last[index] = item.state
        line = (
            f"[{index + 1:>{self._width}}/{self._total}] {item.project_code} "
            f"{item.release_code}: {item.state.label}"
        )
        if item.message and not item.message.startswith(item.state.label):
            line += f" – {item.message}"
        self._output.message(line)


def _summary_lines(summary: BatchSummary, items: list[BatchItem]) -> list[str]:
    rows = [
        [
            str(number),
            item.project_code,
            item.release_code,
            item.release_mode or "-",
            item.state.label,
            "-" if item.attempt_id is None else str(item.attempt_id),
            "-" if item.package_path is None else str(item.package_path),
        ]
        for number, item in enumerate(items, start=1)
    ]
    lines = format_table(
        ["#", "PROJECT", "RELEASE CODE", "MODE", "STATE", "ATTEMPT", "PACKAGE"], rows
    )
    lines.append("")
    lines.append(_counts_sentence(summary))
    for index, item in summary.problems:
        lines.append(f"  {index + 1}. {item.release_code}: {item.message}")
    lines.append(f"Batch id: {summary.batch_id}")
    return lines


def _counts_sentence(summary: BatchSummary) -> str:
    mode = "simulation" if summary.simulation else "live"
    parts = [f"{summary.succeeded} of {summary.total} succeeded ({mode})"]
    return ", ".join(parts + summary.other_counts()) + "."


def _summary_document(
    summary: BatchSummary, items: list[BatchItem]
) -> dict[str, object]:
    return {
        "batch_id": summary.batch_id,
        "simulation": summary.simulation,
        "summary": {
            "total": summary.total,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "outcome_unknown": summary.outcome_unknown,
            "cancelled": summary.cancelled,
            "publishing": summary.publishing,
            "unfinished": summary.unfinished,
        },
        "items": [_item_document(item) for item in items],
    }


def _item_document(item: BatchItem) -> dict[str, Any]:
    return {
        "line": item.line,
        "project_code": item.project_code,
        "project_name": item.project_name,
        "release_code": item.release_code,
        "release_mode": item.release_mode,
        "state": item.state,
        "message": item.message,
        "error_kind": type(item.error).__name__ if item.error is not None else None,
        "attempt_id": item.attempt_id,
        "version_number": item.version_number,
        "package_path": item.package_path,
    }
