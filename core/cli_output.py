"""Output of the command line: results on stdout, messages and errors on stderr.

With `--json`, each command writes exactly one JSON document on stdout: its result, or
`{"error": {"kind": ..., "message": ..., "status": ...}}` when it fails. Without it,
results are plain text on stdout. Messages for the person at the terminal (simulation
or live, progress, hints) always go to stderr, so stdout can be piped.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from core.errors import (
    ApiError,
    CancelledError,
    ConfigurationError,
    DownloadError,
    InputError,
    ReleaseDeskError,
    TransportError,
)

#: Exit statuses, in the order a caller checks them.
EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_INVALID_INPUT = 2
EXIT_REJECTED = 3
EXIT_NETWORK = 4
EXIT_CONFIGURATION = 5
EXIT_INTERRUPTED = 130

JsonValue = Any


def exit_status_for(error: ReleaseDeskError) -> int:
    """Return the exit status for a typed error."""
    if isinstance(error, InputError):
        return EXIT_INVALID_INPUT
    if isinstance(error, ApiError):
        return EXIT_REJECTED
    # A download moves bytes over the network, so its failures count as network
    # failures: running the same command again is the usual fix.
    if isinstance(error, TransportError | DownloadError):
        return EXIT_NETWORK
    if isinstance(error, ConfigurationError):
        return EXIT_CONFIGURATION
    if isinstance(error, CancelledError):
        return EXIT_INTERRUPTED
    return EXIT_UNEXPECTED


def to_jsonable(value: object) -> JsonValue:
    """Convert dataclasses, enums, dates and paths to JSON types, recursively.

    Dataclass fields declared with `repr=False` (the LRS password of a request) are
    left out, so a secret cannot reach stdout through this function.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_jsonable(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.repr
        }
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class Output:
    """The output streams of a command: stdout for results, stderr for messages."""

    def __init__(
        self,
        *,
        json_mode: bool,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr

    @property
    def stderr_is_terminal(self) -> bool:
        return _is_terminal(self.stderr)

    def message(self, text: str) -> None:
        """Write a line for the person at the terminal on stderr."""
        print(text, file=self.stderr, flush=True)

    def lines(self, lines: Sequence[str]) -> None:
        """Write result lines on stdout in text mode; nothing in JSON mode."""
        if self.json_mode:
            return
        for line in lines:
            print(line, file=self.stdout)
        self.stdout.flush()

    def document(self, document: Mapping[str, object]) -> None:
        """Write the command's JSON document on stdout in JSON mode."""
        if not self.json_mode:
            return
        json.dump(to_jsonable(document), self.stdout, indent=2, ensure_ascii=False)
        self.stdout.write("\n")
        self.stdout.flush()

    def result(self, document: Mapping[str, object], lines: Sequence[str]) -> None:
        """Write a result: the document in JSON mode, else the text lines."""
        if self.json_mode:
            self.document(document)
        else:
            self.lines(lines)

    def error(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        """Write `error: message` on stderr, and the error document in JSON mode.

        `extra` adds keys beside "error", for example the release that was created
        before a later step failed.
        """
        self.message(f"error: {message}")
        document: dict[str, object] = {
            "error": {"kind": kind, "message": message, "status": status}
        }
        if extra:
            document.update(extra)
        self.document(document)


def report_error(
    output: Output,
    error: ReleaseDeskError,
    *,
    extra: Mapping[str, object] | None = None,
) -> int:
    """Write a typed error to the output and return its exit status."""
    output.error(type(error).__name__, str(error), status=error.status, extra=extra)
    return exit_status_for(error)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Return rows as left-aligned columns under a header line."""
    widths = [len(header) for header in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = [_format_row(headers, widths)]
    lines.extend(_format_row(row, widths) for row in rows)
    return lines


def format_fields(fields: Sequence[tuple[str, str]]) -> list[str]:
    """Return `label: value` lines with the values aligned."""
    width = max((len(label) for label, _ in fields), default=0)
    return [f"{label + ':':<{width + 1}} {value}".rstrip() for label, value in fields]


def format_datetime(value: datetime | None) -> str:
    """Return a UTC date and time to the minute, or "-" when there is none."""
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def format_size(size: int) -> str:
    """Return a byte count in B, KB or MB (powers of 1000)."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.0f} KB"
    return f"{size} B"


def _format_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(
        f"{cell:<{width}}" for cell, width in zip(cells, widths, strict=True)
    ).rstrip()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
