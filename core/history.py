"""The release history: one SQLite row per release attempt, live or simulated.

A row is written with outcome `sending` before `releases/create` goes out and is updated
when the reply arrives, so an attempt interrupted by a crash is still on record and
`mark_interrupted` turns it into `outcome-unknown` at the next start.

The file uses WAL mode, so readers do not wait for writers. Each thread gets its own
connection, and every write is one short `BEGIN IMMEDIATE` transaction. The schema is
versioned with `PRAGMA user_version` and migrated forward on open. A file that SQLite
reports as corrupt or not a database is moved aside and a new history starts. A file
written by a newer schema is never changed.

No LRS password is ever stored: there is no column for it, and `Attempt` has no field
for it.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import ReleaseDeskError
from core.models import ReleaseMode

log = logging.getLogger(__name__)

#: Seconds a connection waits for another connection's write lock before failing.
BUSY_TIMEOUT_SECONDS = 5.0

#: The default number of rows `HistoryQuery` returns per page.
DEFAULT_PAGE_SIZE = 200

# SQLite's primary result codes SQLITE_CORRUPT and SQLITE_NOTADB. Other errors, such as
# a locked or unreadable file, leave the data intact, so the file is not moved aside
# for them.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_SQLITE_HEADER = b"SQLite format 3\x00"


class Outcome(enum.StrEnum):
    """The state of one release attempt, as stored in the `outcome` column.

    A simulated attempt ends at `succeeded`. A live one goes on to `publishing` while
    Elucidat prepares the release, then to `complete`. There is no `cancelled` state: a
    user who cancels after the request may have left the app gets `outcome-unknown`,
    and one who stops following a release leaves it at `publishing`, which
    `HistoryStore.publishing` returns so that it can be followed again.
    """

    SENDING = "sending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    OUTCOME_UNKNOWN = "outcome-unknown"
    PUBLISHING = "publishing"
    COMPLETE = "complete"

    @property
    def label(self) -> str:
        return _OUTCOME_LABELS[self]

    @property
    def is_failure(self) -> bool:
        """True for the outcomes that the "failed only" filter shows."""
        return self in _FAILURE_OUTCOMES


_OUTCOME_LABELS = {
    Outcome.SENDING: "Sending…",
    Outcome.SUCCEEDED: "Succeeded",
    Outcome.FAILED: "Failed",
    Outcome.OUTCOME_UNKNOWN: "Outcome unknown",
    Outcome.PUBLISHING: "Publishing…",
    Outcome.COMPLETE: "Complete",
}
_FAILURE_OUTCOMES = (Outcome.FAILED, Outcome.OUTCOME_UNKNOWN)

INTERRUPTED_MESSAGE = (
    "Release Desk stopped before the server's reply arrived, so the release may or "
    "may not have been created. Check the project's releases in Elucidat before "
    "releasing again."
)


def utc_now_text() -> str:
    """Return the current UTC time as ISO 8601 text with seconds, the stored format."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One release attempt: what was sent, and what came back.

    `id` is None until the attempt is recorded. `time` is UTC ISO 8601 text. Empty text
    means "not set": `re_release_of` is empty for a new release, and `learner_access`,
    `lrs_endpoint` and `lrs_username` are empty when the project's own setting applied.
    `release_code` is the code that the release has after the attempt. There is no
    field for the LRS password, by design.
    """

    id: int | None = None
    time: str = field(default_factory=utc_now_text)
    account: str = ""
    base_url: str = ""
    project_code: str
    project_name: str = ""
    release_mode: str
    re_release_of: str = ""
    release_code: str = ""
    description: str = ""
    learner_access: str = ""
    lrs_endpoint: str = ""
    lrs_username: str = ""
    simulation: bool = False
    outcome: Outcome = Outcome.SENDING
    server_message: str = ""
    http_status: int | None = None
    duration_ms: int | None = None
    version_number: int | None = None
    launch_url: str = ""
    package_path: str = ""
    destination_note: str = ""
    batch_id: str | None = None

    @property
    def is_live(self) -> bool:
        return not self.simulation

    @property
    def re_release_target(self) -> str:
        """The release code that a new re-release of this attempt would use, or "".

        A simulation creates nothing, so its reply's code is never a target.
        """
        if self.simulation:
            return self.re_release_of
        return self.release_code or self.re_release_of

    @property
    def has_package(self) -> bool:
        """True for a live, complete release whose mode produces a zip package."""
        mode_is_package = self.release_mode in (
            ReleaseMode.SCORM,
            ReleaseMode.OFFLINE_BACKUP,
        )
        return self.is_live and self.outcome == Outcome.COMPLETE and mode_is_package


#: Field names in column order, used for SQL and for the CSV header.
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Attempt))

#: Fields that `HistoryStore.update` may change: the reply, and the user's note. The
#: request fields stay as they were sent.
UPDATABLE_FIELDS = frozenset(
    {
        "outcome",
        "release_code",
        "server_message",
        "http_status",
        "duration_ms",
        "version_number",
        "launch_url",
        "package_path",
        "destination_note",
    }
)
_INT_FIELDS = frozenset({"http_status", "duration_ms", "version_number"})
_SEARCHED_FIELDS = (
    "project_code",
    "project_name",
    "release_code",
    "re_release_of",
    "description",
)


class SortKey(enum.StrEnum):
    """The orders that `HistoryQuery` can list attempts in, one per pane column."""

    TIME = "time"
    PROJECT = "project"
    MODE = "mode"
    RELEASE_CODE = "release_code"
    SIMULATION = "simulation"
    OUTCOME = "outcome"


# The ORDER BY terms of each sort key, before the row id that breaks ties. Only these
# fixed strings are ever put into ORDER BY.
_ORDER_SQL: dict[SortKey, tuple[str, ...]] = {
    SortKey.TIME: ("time",),
    SortKey.PROJECT: ("project_name COLLATE NOCASE", "project_code"),
    SortKey.MODE: ("release_mode",),
    SortKey.RELEASE_CODE: ("release_code",),
    SortKey.SIMULATION: ("simulation",),
    SortKey.OUTCOME: ("outcome",),
}


@dataclass(frozen=True)
class HistoryQuery:
    """A filter, an order and a page of the history.

    `text` is split on whitespace, and each word must occur, ignoring case, in the
    project code, project name, release code, re-released code or description.
    `failed_only` keeps `failed` and `outcome-unknown` rows. Rows are sorted by
    `sort_key`, newest first by default, with the row id breaking ties.
    """

    text: str = ""
    live_only: bool = False
    failed_only: bool = False
    limit: int = DEFAULT_PAGE_SIZE
    offset: int = 0
    sort_key: SortKey = SortKey.TIME
    descending: bool = True

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError(f"HistoryQuery.limit must be 0 or more, got {self.limit}")
        if self.offset < 0:
            raise ValueError(
                f"HistoryQuery.offset must be 0 or more, got {self.offset}"
            )

    @property
    def is_filtered(self) -> bool:
        return bool(self.text.split()) or self.live_only or self.failed_only


class HistoryError(ReleaseDeskError):
    """The history file cannot be opened, read or written."""

    title = "History unavailable"


class AttemptNotFoundError(HistoryError, LookupError):
    """No attempt has the requested id; it may have been deleted."""


class HistoryStore:
    """The release history in one SQLite file, safe to use from several threads.

    Each thread gets its own connection, opened on first use. The connections are keyed
    by `threading.get_ident()` instead of kept in a `threading.local`, because on a
    QThreadPool thread a `threading.local` starts empty for every task (seen with
    PySide6 6.12), which would open a new connection per task. A thread's connection
    stays open after the thread ends, until `close`, which closes every connection:
    call it only after the worker threads have stopped.

    SQLite failures are raised as HistoryError, with the path and a next step.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        #: Where a corrupt file was moved when this store opened, else None.
        self.recovered_from: Path | None = None
        self._lock = threading.Lock()
        self._connections: dict[int, sqlite3.Connection] = {}
        self._closed = False

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = self._open_and_migrate()
        self._connections[threading.get_ident()] = connection

    # Writing

    def record_sending(self, attempt: Attempt) -> int:
        """Insert an attempt whose create request is about to go out; return its id.

        Raises ValueError when the attempt already has an id or another outcome than
        `sending`.
        """
        if attempt.outcome != Outcome.SENDING:
            raise ValueError(
                f"record_sending requires outcome 'sending', got {attempt.outcome!r}. "
                "Use insert_many to import finished attempts."
            )
        with self._write("record the attempt in") as connection:
            attempt_id = self._insert(connection, attempt)
        log.info(
            "Recorded attempt %d: project %s, mode %s, %s",
            attempt_id,
            attempt.project_code,
            attempt.release_mode,
            "simulation" if attempt.simulation else "live",
        )
        return attempt_id

    def insert_many(self, attempts: Iterable[Attempt]) -> int:
        """Insert finished or pending attempts in one transaction; return the count.

        For imports and tests. Raises ValueError when an attempt already has an id.
        """
        count = 0
        with self._write("add attempts to") as connection:
            for attempt in attempts:
                self._insert(connection, attempt)
                count += 1
        return count

    def update(self, attempt_id: int, **changes: Any) -> None:
        """Change the reply fields or the destination note of one attempt.

        Raises ValueError for a name outside `UPDATABLE_FIELDS` or an invalid outcome,
        TypeError for a value of the wrong type, and AttemptNotFoundError when no row
        has that id.
        """
        values = _validated_changes(changes)
        if not values:
            return
        assignments = [f"{name} = ?" for name in values]
        parameters: list[object] = list(values.values())

        with self._write("update the attempt in") as connection:
            if "release_code" in values:
                row = connection.execute(
                    f"SELECT {', '.join(_SEARCHED_FIELDS)} FROM attempts "  # noqa: S608
                    "WHERE id = ?",
                    (attempt_id,),
                ).fetchone()
                if row is not None:
                    searched = dict(zip(_SEARCHED_FIELDS, row, strict=True))
                    searched["release_code"] = values["release_code"]
                    assignments.append("search_text = ?")
                    parameters.append(_search_text(searched))
            cursor = connection.execute(
                f"UPDATE attempts SET {', '.join(assignments)} WHERE id = ?",  # noqa: S608
                (*parameters, attempt_id),
            )
            if cursor.rowcount == 0:
                raise AttemptNotFoundError(f"No release attempt has id {attempt_id}.")

    def delete(self, ids: Iterable[int]) -> int:
        """Delete the attempts with these ids; return how many rows were deleted."""
        unique_ids = sorted(set(ids))
        deleted = 0
        with self._write("delete attempts from") as connection:
            for chunk in _chunks(unique_ids, 500):
                placeholders = ", ".join("?" * len(chunk))
                cursor = connection.execute(
                    f"DELETE FROM attempts WHERE id IN ({placeholders})",  # noqa: S608
                    chunk,
                )
                deleted += cursor.rowcount
        log.info("Deleted %d attempts from the history", deleted)
        return deleted

    def mark_interrupted(self) -> int:
        """Mark attempts left at `sending` by an earlier run as `outcome-unknown`.

        Call it once at start-up, before any new attempt; return the number of rows
        changed.
        """
        # NOTE: a second copy of the app sending at this moment would have its row
        # marked too. The app does not guard against running twice.
        with self._write("mark interrupted attempts in") as connection:
            ids = [
                row[0]
                for row in connection.execute(
                    "SELECT id FROM attempts WHERE outcome = ?", (Outcome.SENDING,)
                )
            ]
            connection.execute(
                "UPDATE attempts SET outcome = ?, server_message = ? WHERE outcome = ?",
                (Outcome.OUTCOME_UNKNOWN, INTERRUPTED_MESSAGE, Outcome.SENDING),
            )
        if ids:
            log.warning(
                "Marked %d attempts as outcome unknown because the app stopped "
                "before their reply arrived: ids %s",
                len(ids),
                ", ".join(map(str, ids)),
            )
        return len(ids)

    # Reading

    def get(self, attempt_id: int) -> Attempt:
        """Return one attempt, or raise AttemptNotFoundError."""
        with self._sqlite_errors("read"):
            row = (
                self._connection()
                .execute(_SELECT_SQL + " WHERE id = ?", (attempt_id,))
                .fetchone()
            )
        if row is None:
            raise AttemptNotFoundError(f"No release attempt has id {attempt_id}.")
        return _attempt_from_row(row)

    def search(self, query: HistoryQuery | None = None) -> list[Attempt]:
        """Return one page of the attempts that match the query, in its order."""
        query = query or HistoryQuery()
        sql, parameters = _select_sql(query)
        sql += " LIMIT ? OFFSET ?"
        with self._sqlite_errors("search"):
            rows = self._connection().execute(
                sql, (*parameters, query.limit, query.offset)
            )
            return [_attempt_from_row(row) for row in rows]

    def count(self, query: HistoryQuery | None = None) -> int:
        """Return how many attempts match the query's text and filters."""
        where, parameters = _where_sql(query or HistoryQuery())
        with self._sqlite_errors("search"):
            row = (
                self._connection()
                .execute("SELECT count(*) FROM attempts" + where, parameters)  # noqa: S608
                .fetchone()
            )
        return int(row[0])

    def publishing(self) -> list[Attempt]:
        """Return the live attempts still at `publishing`, oldest first."""
        with self._sqlite_errors("read"):
            rows = self._connection().execute(
                _SELECT_SQL + " WHERE outcome = ? AND simulation = 0 ORDER BY time, id",
                (Outcome.PUBLISHING,),
            )
            return [_attempt_from_row(row) for row in rows]

    def export_csv(self, path: Path, query: HistoryQuery | None = None) -> int:
        """Write the matching attempts to a CSV file; return the number of rows.

        The query's text, filters and order apply, but its limit and offset do not:
        every matching row is written. The file is UTF-8 with a byte order mark, so
        spreadsheet apps read accented text correctly. It is written to a temporary
        file first and renamed into place, so a failed export leaves no partial file.
        """
        sql, parameters = _select_sql(query or HistoryQuery())
        path = Path(path)
        descriptor, temporary_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
        count = 0
        try:
            with (
                os.fdopen(descriptor, "w", encoding="utf-8-sig", newline="") as file,
                self._sqlite_errors("export"),
            ):
                writer = csv.writer(file)
                writer.writerow(FIELD_NAMES)
                for row in self._connection().execute(sql, parameters):
                    writer.writerow(_csv_row(_attempt_from_row(row)))
                    count += 1
            os.replace(temporary_name, path)
        except BaseException:
            Path(temporary_name).unlink(missing_ok=True)
            raise
        log.info("Exported %d attempts to %s", count, path)
        return count

    def close(self) -> None:
        """Close every thread's connection. Later calls raise HistoryError."""
        with self._lock:
            self._closed = True
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            connection.close()

    # Connections

    def _connection(self) -> sqlite3.Connection:
        ident = threading.get_ident()
        with self._lock:
            if self._closed:
                raise HistoryError(f"The history {self.path} is already closed.")
            connection = self._connections.get(ident)
            if connection is None:
                connection = self._connect()
                self._connections[ident] = connection
        return connection

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None leaves transactions to the explicit BEGIN in _write.
        # check_same_thread=False only lets close() run on another thread: each
        # connection is otherwise used by the one thread it was opened for.
        return sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction, rolled back if anything fails."""
        with self._sqlite_errors(action):
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some errors, such as a full
                # disk, and a second ROLLBACK would raise and hide the first error.
                if connection.in_transaction:
                    connection.rollback()
                raise

    @contextmanager
    def _sqlite_errors(self, action: str) -> Iterator[None]:
        """Raise SQLite's errors in the block as HistoryError with the file's path."""
        try:
            yield
        except sqlite3.Error as error:
            raise HistoryError(
                f"Could not {action} the history {self.path}: {error}. Check that the "
                "disk has free space and that no other program locks the file, then "
                "try again."
            ) from error

    def _insert(self, connection: sqlite3.Connection, attempt: Attempt) -> int:
        if attempt.id is not None:
            raise ValueError(f"Attempt {attempt.id} is already recorded.")
        cursor = connection.execute(_INSERT_SQL, _row_values(attempt))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    # Opening, migrating and recovering

    def _open_and_migrate(self) -> sqlite3.Connection:
        _create_private_file(self.path)
        # A file without the SQLite header is moved aside before SQLite opens it,
        # because closing a connection to it can delete the -wal file next to it.
        problem = _header_problem(self.path)
        if problem is None:
            try:
                connection = self._open_checked()
            except sqlite3.DatabaseError as error:
                if not _is_corrupt(error):
                    raise HistoryError(
                        f"Could not open the history {self.path}: {error}. Close "
                        "other copies of Release Desk and check that the file is "
                        "readable and writable, then start the app again."
                    ) from error
                # NOTE: SQLite has opened this damaged file, so its -wal file may
                # already be checkpointed or deleted when it is moved aside.
                problem = str(error)
        if problem is not None:
            self._move_aside(problem)
            _create_private_file(self.path)
            connection = self._open_checked()
        return connection

    def _open_checked(self) -> sqlite3.Connection:
        """Open the file, refuse a newer schema, switch to WAL and migrate."""
        connection = self._connect()
        try:
            version = _user_version(connection)
            if version > SCHEMA_VERSION:
                raise HistoryError(
                    f"The history {self.path} was written by a newer version of "
                    f"Release Desk (schema {version}; this version reads up to "
                    f"{SCHEMA_VERSION}). Update Release Desk, or move the file away "
                    "to start a new history."
                )
            # Reading the schema finds a damaged first page, which the header
            # fields read so far do not cover.
            connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()
            connection.execute("PRAGMA journal_mode = WAL")
            _migrate(connection, self.path)
        except BaseException:
            connection.close()
            raise
        return connection

    def _move_aside(self, problem: str) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")  # local time, for people
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        suffix = 2
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{suffix}")
            suffix += 1

        self.path.rename(target)
        for extension in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + extension)
            if companion.exists():
                companion.rename(target.with_name(target.name + extension))
        self.recovered_from = target
        log.warning(
            "The history %s could not be read (%s). Moved it to %s and started a new "
            "history.",
            self.path,
            problem,
            target,
        )


# Schema. Each migration is a list of statements that moves the file from version N
# to N + 1; MIGRATIONS[0] creates schema 1 from an empty file. Add new versions at the
# end and never change a released one.

SCHEMA_1: tuple[str, ...] = (
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        account TEXT NOT NULL DEFAULT '',
        base_url TEXT NOT NULL DEFAULT '',
        project_code TEXT NOT NULL,
        project_name TEXT NOT NULL DEFAULT '',
        release_mode TEXT NOT NULL,
        re_release_of TEXT NOT NULL DEFAULT '',
        release_code TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        learner_access TEXT NOT NULL DEFAULT '',
        lrs_endpoint TEXT NOT NULL DEFAULT '',
        lrs_username TEXT NOT NULL DEFAULT '',
        simulation INTEGER NOT NULL CHECK (simulation IN (0, 1)),
        outcome TEXT NOT NULL,
        server_message TEXT NOT NULL DEFAULT '',
        http_status INTEGER,
        duration_ms INTEGER,
        version_number INTEGER,
        launch_url TEXT NOT NULL DEFAULT '',
        package_path TEXT NOT NULL DEFAULT '',
        destination_note TEXT NOT NULL DEFAULT '',
        search_text TEXT NOT NULL DEFAULT ''
    )
    """,
    # search_text is in the time index so that a text search, which scans the history
    # newest first, reads the row only for matches. That halved the time of a search
    # without matches, to about 30 ms on 100,000 attempts with SQLite 3.40.
    "CREATE INDEX attempts_by_time ON attempts (time, id, search_text)",
    "CREATE INDEX attempts_by_simulation ON attempts (simulation, time)",
    "CREATE INDEX attempts_by_outcome ON attempts (outcome, time)",
)

SCHEMA_2: tuple[str, ...] = (
    "ALTER TABLE attempts ADD COLUMN batch_id TEXT",
    "CREATE INDEX attempts_by_batch ON attempts (batch_id) WHERE batch_id IS NOT NULL",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (SCHEMA_1, SCHEMA_2)
SCHEMA_VERSION = len(MIGRATIONS)

# Every SQL text built in this module interpolates only column names from FIELD_NAMES,
# the fixed ORDER BY text of _ORDER_SQL and "?" placeholders. Values always travel as
# parameters, hence the "noqa: S608" marks.
_COLUMNS_SQL = ", ".join(FIELD_NAMES)
_SELECT_SQL = f"SELECT {_COLUMNS_SQL} FROM attempts"  # noqa: S608
assert FIELD_NAMES[0] == "id"
_INSERTED_COLUMNS = (*FIELD_NAMES[1:], "search_text")
_INSERT_SQL = (
    f"INSERT INTO attempts ({', '.join(_INSERTED_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_INSERTED_COLUMNS))})"
)


def _user_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Apply the missing migrations in one transaction.

    The version is read again inside the transaction, so two processes that open the
    same file at once never apply a migration twice.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        start = _user_version(connection)
        for version in range(start, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                connection.execute(statement)
        # PRAGMA takes no parameters; SCHEMA_VERSION is an int constant.
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.rollback()
        raise
    if start < SCHEMA_VERSION:
        log.info(
            "Migrated the history %s from schema %d to %d", path, start, SCHEMA_VERSION
        )


def _header_problem(path: Path) -> str | None:
    """Return why the file is not an SQLite database, or None when it may be one.

    A missing or empty file is a new database. A file that cannot be read is left to
    SQLite, which reports it as an error that does not move the file aside.
    """
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError:
        return None
    if header and header != _SQLITE_HEADER:
        return "the file does not start with the SQLite header"
    return None


def _is_corrupt(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return False
    return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _create_private_file(path: Path) -> None:
    """Create an empty database file readable by the user only, unless one exists.

    The history names accounts, projects and LRS user names. SQLite creates the -wal
    and -shm files with the permissions of the database file, so they follow.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


def _validated_changes(changes: Mapping[str, Any]) -> dict[str, object]:
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise ValueError(
            f"Cannot update {', '.join(unknown)}: only "
            f"{', '.join(sorted(UPDATABLE_FIELDS))} can change after an attempt is "
            "recorded."
        )
    values: dict[str, object] = {}
    for name, value in changes.items():
        if name == "outcome":
            values[name] = str(Outcome(value))
        elif name in _INT_FIELDS:
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool)
            ):
                raise TypeError(f"{name} must be an int or None, got {value!r}")
            values[name] = value
        elif value is None:
            values[name] = ""
        elif isinstance(value, str | os.PathLike):
            values[name] = os.fspath(value)
        else:
            raise TypeError(f"{name} must be text, got {value!r}")
    return values


def _search_text(fields: Mapping[str, str]) -> str:
    """Return the searched fields case-folded, one per line.

    Search words never contain a line break, so a word cannot match across two fields.
    """
    return "\n".join(fields[name] for name in _SEARCHED_FIELDS).casefold()


def _row_values(attempt: Attempt) -> tuple[object, ...]:
    """Return the values to insert, in the order of _INSERTED_COLUMNS."""
    values: dict[str, object] = {name: getattr(attempt, name) for name in FIELD_NAMES}
    values["time"] = _normalized_time(attempt.time)
    values["simulation"] = int(attempt.simulation)
    values["outcome"] = str(Outcome(attempt.outcome))
    values["search_text"] = _search_text(
        {name: getattr(attempt, name) for name in _SEARCHED_FIELDS}
    )
    return tuple(values[name] for name in _INSERTED_COLUMNS)


def _normalized_time(text: str) -> str:
    """Return the time as UTC ISO text with seconds, so that text order is time order.

    Text without a time zone is taken as UTC. Raises ValueError for text that is not
    ISO 8601.
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"Attempt time {text!r} is not ISO 8601 text") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="seconds")


def _attempt_from_row(row: Sequence[Any]) -> Attempt:
    values = dict(zip(FIELD_NAMES, row, strict=True))
    values["simulation"] = bool(values["simulation"])
    values["outcome"] = Outcome(values["outcome"])
    return Attempt(**values)


def _where_sql(query: HistoryQuery) -> tuple[str, list[object]]:
    clauses: list[str] = []
    parameters: list[object] = []
    for word in query.text.casefold().split():
        # search_text is already case-folded in Python, because LIKE folds only ASCII
        # letters. LIKE measured faster than instr() here: 40 against 58 ms for four
        # words over 100,000 attempts.
        clauses.append("search_text LIKE ? ESCAPE '\\'")
        parameters.append(f"%{_escape_like(word)}%")
    if query.live_only:
        clauses.append("simulation = 0")
    if query.failed_only:
        clauses.append("outcome IN (?, ?)")
        parameters.extend(_FAILURE_OUTCOMES)
    if not clauses:
        return "", parameters
    return " WHERE " + " AND ".join(clauses), parameters


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _select_sql(query: HistoryQuery) -> tuple[str, list[object]]:
    where, parameters = _where_sql(query)
    direction = "DESC" if query.descending else "ASC"
    order_terms = [*_ORDER_SQL[query.sort_key], "id"]
    order = ", ".join(f"{term} {direction}" for term in order_terms)
    return f"{_SELECT_SQL}{where} ORDER BY {order}", parameters


def _csv_row(attempt: Attempt) -> list[str]:
    cells: list[str] = []
    for name in FIELD_NAMES:
        value = getattr(attempt, name)
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, int):
            cells.append(str(value))
        else:
            cells.append(_spreadsheet_safe(str(value)))
    return cells


def _spreadsheet_safe(text: str) -> str:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe.

    Descriptions and server messages come from users and from the server. Spreadsheet
    apps such as Excel and LibreOffice Calc treat a cell that starts with =, +, -, @,
    tab or carriage return as a formula.
    """
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
