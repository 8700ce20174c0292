"""The CSV form of a batch: the list of releases to re-release, and the summary.

Input: a header line, then one release per line. `project_code` and `release_code`
are required, and `release_mode`, `description`, `learner_access`,
`lrs_endpoint_url` and `lrs_username` are optional columns, in any order. Blank lines
and lines starting with `#` are skipped. Every bad row is reported at once, by line
number, and no item is returned while any row is bad, so nothing is sent.

Output: the summary of a batch, one row per item, for a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.batch import BatchItem
from core.errors import InputError
from core.models import LearnerAccess, ReleaseMode
from core.validation import MAX_DESCRIPTION_LENGTH, Level, check_lrs_url

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("project_code", "release_code")
OPTIONAL_COLUMNS = (
    "release_mode",
    "description",
    "learner_access",
    "lrs_endpoint_url",
    "lrs_username",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

SUMMARY_COLUMNS = (
    "item",
    "project_code",
    "project_name",
    "release_code",
    "release_mode",
    "state",
    "attempt_id",
    "version_number",
    "package_path",
    "message",
)

#: Bad rows listed in the error text; all of them stay in `BatchCsvError.problems`.
MAX_LISTED_PROBLEMS = 50


@dataclass(frozen=True)
class RowProblem:
    """A problem on one line of a batch CSV: an error, or a warning when noted."""

    line: int
    text: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.text}"


@dataclass(frozen=True)
class BatchCsv:
    """The items read from a batch CSV, and warnings that do not block sending."""

    items: list[BatchItem]
    warnings: list[RowProblem] = field(default_factory=list)


class BatchCsvError(InputError):
    """A batch CSV has bad rows. `problems` names each one by line number."""

    title = "Invalid batch list"

    def __init__(self, problems: Sequence[RowProblem], *, source: str = "") -> None:
        self.problems = list(problems)
        where = f" in {source}" if source else ""
        lines = [str(problem) for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        hidden = len(self.problems) - len(lines)
        if hidden > 0:
            lines.append(f"… and {hidden} more.")
        count = len(self.problems)
        super().__init__(
            f"The batch list{where} has {count} problem{'s' if count != 1 else ''}, "
            "so nothing was sent. Fix these rows and load it again:\n"
            + "\n".join(lines),
            field="csv",
        )


def parse_batch_csv(text: str, *, source: str = "") -> BatchCsv:
    """Read a batch CSV and return its items, or raise BatchCsvError.

    `source` names the file in the error text. Line numbers count every physical
    line, blank lines, comments and the header included, as a text editor does.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    problems: list[RowProblem] = []
    warnings: list[RowProblem] = []
    items: list[BatchItem] = []
    header: list[str] | None = None
    header_line = 0
    first_line_of: dict[str, int] = {}
    next_line = 1

    try:
        for cells in reader:
            line = next_line
            next_line = reader.line_num + 1
            if _is_blank_or_comment(cells):
                continue
            if header is None:
                header_line = line
                header = _read_header(cells, line, problems)
                continue
            if problems and problems[0].line == header_line:
                # Rows read through a broken header would only repeat its problem.
                continue
            item = _read_row(cells, header, line, problems, warnings)
            if item is None:
                continue
            first = first_line_of.setdefault(item.release_code, line)
            if first != line:
                problems.append(
                    RowProblem(
                        line,
                        f"duplicate release code {item.release_code} (first on line "
                        f"{first}); list each release once.",
                    )
                )
                continue
            items.append(item)
    except csv.Error as error:
        problems.append(
            RowProblem(reader.line_num, f"the CSV cannot be read here: {error}.")
        )

    if header is None:
        problems.append(
            RowProblem(
                1,
                "the header line is missing: start with "
                f"'{','.join(REQUIRED_COLUMNS)}' and any optional columns.",
            )
        )
    elif not items and not problems:
        problems.append(
            RowProblem(header_line, "there are no releases below the header line.")
        )
    if problems:
        problems.sort(key=lambda problem: problem.line)
        raise BatchCsvError(problems, source=source)
    log.info("Read %d batch items%s", len(items), f" from {source}" if source else "")
    return BatchCsv(items, warnings)


def read_batch_csv(path: Path) -> BatchCsv:
    """Read a batch CSV file (UTF-8, with or without a byte order mark).

    Raises InputError when the file cannot be read and BatchCsvError for bad rows.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"The batch list {path} is not UTF-8 text. Save it as CSV UTF-8 and "
            "load it again.",
            field="csv",
        ) from None
    except OSError as error:
        raise InputError(
            f"Could not read the batch list {path}: {error.strerror or error}. Check "
            "the file name and that it is readable.",
            field="csv",
        ) from None
    return parse_batch_csv(text, source=str(path))


def items_to_csv(items: Iterable[BatchItem]) -> str:
    """Return items as a batch CSV that `parse_batch_csv` reads back."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in items:
        writer.writerow(
            [
                item.project_code,
                item.release_code,
                item.release_mode or "",
                item.description or "",
                item.learner_access or "",
                item.lrs_endpoint_url or "",
                item.lrs_username or "",
            ]
        )
    return buffer.getvalue()


def summary_rows(items: Sequence[BatchItem]) -> list[list[str]]:
    """Return one row of text per item, in the order of SUMMARY_COLUMNS."""
    rows = []
    for number, item in enumerate(items, start=1):
        rows.append(
            [
                str(number),
                item.project_code,
                item.project_name,
                item.release_code,
                item.release_mode or "",
                str(item.state),
                "" if item.attempt_id is None else str(item.attempt_id),
                "" if item.version_number is None else str(item.version_number),
                "" if item.package_path is None else str(item.package_path),
                item.message,
            ]
        )
    return rows


def write_summary_csv(items: Sequence[BatchItem], path: Path) -> None:
    """Write the batch summary to a CSV file, replacing it only once it is complete.

    The file is UTF-8 with a byte order mark, so spreadsheet apps read accented text
    correctly, and cells that a spreadsheet would run as a formula are prefixed with
    an apostrophe. Raises OSError when the folder is not writable.
    """
    descriptor, temporary_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8-sig", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(SUMMARY_COLUMNS)
            for row in summary_rows(items):
                writer.writerow([_spreadsheet_safe(cell) for cell in row])
        os.replace(temporary_name, path)
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise
    log.info("Wrote the summary of %d batch items to %s", len(items), path)


def _is_blank_or_comment(cells: Sequence[str]) -> bool:
    if not any(cell.strip() for cell in cells):
        return True
    return cells[0].lstrip().startswith("#")


def _read_header(
    cells: Sequence[str], line: int, problems: list[RowProblem]
) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    if not any(name in REQUIRED_COLUMNS for name in names):
        problems.append(
            RowProblem(
                line,
                "the header line is missing: the first line that is not blank or a "
                f"comment must name the columns, starting with "
                f"'{','.join(REQUIRED_COLUMNS)}'.",
            )
        )
        return names
    for name in names:
        if name not in COLUMNS:
            problems.append(
                RowProblem(
                    line,
                    f"unknown column '{name}' in the header line; the columns are "
                    f"{', '.join(COLUMNS)}.",
                )
            )
    for name in sorted(set(names)):
        if names.count(name) > 1:
            problems.append(RowProblem(line, f"the column '{name}' appears twice."))
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        problems.append(
            RowProblem(
                line, f"the header line lacks the column {' and '.join(missing)}."
            )
        )
    return names


def _read_row(
    cells: Sequence[str],
    header: Sequence[str],
    line: int,
    problems: list[RowProblem],
    warnings: list[RowProblem],
) -> BatchItem | None:
    """Return the row's item, or None after adding its problems."""
    if len(cells) > len(header):
        problems.append(
            RowProblem(
                line,
                f"{len(cells)} cells, but the header names {len(header)} columns; "
                "put a description that contains a comma in double quotes.",
            )
        )
        return None
    values = {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
    found: list[str] = []

    project_code = values.get("project_code", "")
    release_code = values.get("release_code", "")
    found += _code_problems("project code", project_code)
    found += _code_problems("release code", release_code)

    mode = None
    if values.get("release_mode"):
        try:
            mode = ReleaseMode(values["release_mode"])
        except ValueError:
            modes = ", ".join(mode.value for mode in ReleaseMode)
            found.append(
                f"unknown release mode '{values['release_mode']}'; use one of {modes}, "
                "or leave it empty to use the release's own."
            )

    access = None
    if values.get("learner_access"):
        try:
            access = LearnerAccess(values["learner_access"])
        except ValueError:
            accesses = ", ".join(access.value for access in LearnerAccess)
            found.append(
                f"unknown learner access '{values['learner_access']}'; use one of "
                f"{accesses}, or leave it empty."
            )

    description = values.get("description", "")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        found.append(
            f"the description has {len(description)} characters; shorten it to "
            f"{MAX_DESCRIPTION_LENGTH} or fewer."
        )

    lrs_url = values.get("lrs_endpoint_url", "")
    for message in check_lrs_url(lrs_url):
        if message.level is Level.ERROR:
            found.append(f"invalid LRS endpoint URL: {message.text}")
        else:
            warnings.append(RowProblem(line, message.text))
    lrs_username = values.get("lrs_username", "")
    if lrs_username and not lrs_url:
        found.append(
            "an LRS user name needs an LRS endpoint URL on the same row; add the URL "
            "or clear the user name."
        )

    problems.extend(RowProblem(line, text) for text in found)
    if found:
        return None
    return BatchItem(
        project_code=project_code,
        release_code=release_code,
        release_mode=mode,
        description=description or None,
        learner_access=access,
        lrs_endpoint_url=lrs_url or None,
        lrs_username=lrs_username or None,
        line=line,
    )


def _code_problems(label: str, value: str) -> list[str]:
    if not value:
        return [f"missing {label}."]
    if any(character.isspace() for character in value):
        return [f"the {label} '{value}' contains a space; codes have none."]
    return []


def _spreadsheet_safe(text: str) -> str:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe.

    Descriptions and messages come from users and from the server, and a cell that
    starts with =, +, -, @, tab or carriage return is a formula in Excel and
    LibreOffice (OWASP's "CSV injection").
    """
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text
