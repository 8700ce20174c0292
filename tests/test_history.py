"""The history store on real SQLite files: outcomes, a crash mid-attempt, migration,
recovery from a corrupt file, search and filters, delete, CSV export and threads."""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import history
from core.history import (
    FIELD_NAMES,
    INTERRUPTED_MESSAGE,
    SCHEMA_1,
    SCHEMA_VERSION,
    Attempt,
    AttemptNotFoundError,
    HistoryError,
    HistoryQuery,
    HistoryStore,
    Outcome,
    SortKey,
)

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


@pytest.fixture
def store(path: Path) -> HistoryStore:
    history_store = HistoryStore(path)
    yield history_store
    history_store.close()


def make_attempt(minute: int = 0, **fields: object) -> Attempt:
    values: dict[str, object] = {
        "time": (START + timedelta(minutes=minute)).isoformat(),
        "account": "Acme Learning",
        "base_url": "http://127.0.0.1:8000/v2/",
        "project_code": "5dd580064b0b7",
        "project_name": "Fire safety",
        "release_mode": "scorm",
        "description": "Quarterly update",
        "lrs_endpoint": "https://lrs.example/xapi/",
        "lrs_username": "lrs-user",
    }
    values.update(fields)
    return Attempt(**values)  # type: ignore[arg-type]


# Recording attempts


@pytest.mark.parametrize(
    ("outcome", "changes"),
    [
        (
            Outcome.SUCCEEDED,
            {"release_code": "5e1f0a2b3c4d5", "http_status": 200, "duration_ms": 412},
        ),
        (
            Outcome.FAILED,
            {"server_message": "Invalid project_code", "http_status": 400},
        ),
        (
            Outcome.OUTCOME_UNKNOWN,
            {"server_message": "No reply within 30 s", "duration_ms": 30_000},
        ),
        (
            Outcome.PUBLISHING,
            {"release_code": "5e1f0a2b3c4d5", "server_message": "Being prepared."},
        ),
        (
            Outcome.COMPLETE,
            {
                "release_code": "5e1f0a2b3c4d5",
                "version_number": 3,
                "launch_url": "https://learning.example/launch/abc",
                "package_path": "/home/designer/Downloads/fire-safety-v3.zip",
            },
        ),
    ],
)
def test_outcome_survives_reopening(
    path: Path, outcome: Outcome, changes: dict[str, object]
) -> None:
    store = HistoryStore(path)
    attempt_id = store.record_sending(make_attempt())
    assert store.get(attempt_id).outcome is Outcome.SENDING

    store.update(attempt_id, outcome=outcome, **changes)
    store.close()

    reopened = HistoryStore(path)
    stored = reopened.get(attempt_id)
    reopened.close()
    assert stored.id == attempt_id
    assert stored.outcome is outcome
    for name, value in changes.items():
        assert getattr(stored, name) == value
    assert stored.project_code == "5dd580064b0b7"
    assert stored.lrs_username == "lrs-user"
    assert stored.time == "2026-03-01T09:00:00+00:00"


def test_record_sending_keeps_every_field(store: HistoryStore) -> None:
    attempt = make_attempt(
        re_release_of="5e1f0a2b3c4d5",
        learner_access="identify",
        simulation=True,
        version_number=2,
        batch_id="batch-7",
    )
    attempt_id = store.record_sending(attempt)

    stored = store.get(attempt_id)
    for name in FIELD_NAMES:
        if name != "id":
            assert getattr(stored, name) == getattr(attempt, name), name
    assert stored.simulation is True


def test_record_sending_rejects_other_outcome(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="sending"):
        store.record_sending(make_attempt(outcome=Outcome.FAILED))


def test_record_sending_rejects_recorded(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="already recorded"):
        store.record_sending(make_attempt(id=5))


def test_time_stored_as_utc(store: HistoryStore) -> None:
    paris = make_attempt(time="2026-03-01T10:30:00+01:00")
    naive = make_attempt(time="2026-03-01T09:45:00")

    assert store.get(store.record_sending(paris)).time == "2026-03-01T09:30:00+00:00"
    assert store.get(store.record_sending(naive)).time == "2026-03-01T09:45:00+00:00"
    with pytest.raises(ValueError, match="ISO 8601"):
        store.record_sending(make_attempt(time="yesterday"))


def test_update_rejects_unknown_field(store: HistoryStore) -> None:
    attempt_id = store.record_sending(make_attempt())

    with pytest.raises(ValueError, match="colour"):
        store.update(attempt_id, colour="red")
    with pytest.raises(ValueError, match="description"):
        store.update(attempt_id, description="changed after the fact")
    with pytest.raises(ValueError, match="lrs_password"):
        store.update(attempt_id, lrs_password="hunter22")
    assert store.get(attempt_id).description == "Quarterly update"


def test_update_rejects_bad_values(store: HistoryStore) -> None:
    attempt_id = store.record_sending(make_attempt())

    with pytest.raises(ValueError, match="'done'"):
        store.update(attempt_id, outcome="done")
    with pytest.raises(TypeError, match="http_status"):
        store.update(attempt_id, http_status="200")
    with pytest.raises(TypeError, match="launch_url"):
        store.update(attempt_id, launch_url=42)
    assert store.get(attempt_id).outcome is Outcome.SENDING


def test_update_missing_attempt(store: HistoryStore) -> None:
    with pytest.raises(AttemptNotFoundError, match="id 404"):
        store.update(404, outcome=Outcome.FAILED)
    with pytest.raises(AttemptNotFoundError, match="id 404"):
        store.get(404)


def test_update_accepts_path_and_none(store: HistoryStore, tmp_path: Path) -> None:
    attempt_id = store.record_sending(make_attempt(http_status=500))

    store.update(attempt_id, package_path=tmp_path / "a.zip", http_status=None)

    stored = store.get(attempt_id)
    assert stored.package_path == str(tmp_path / "a.zip")
    assert stored.http_status is None


def test_publishing_lists_live_rows(store: HistoryStore) -> None:
    older = store.record_sending(make_attempt(minute=1))
    newer = store.record_sending(make_attempt(minute=2))
    dry_run = store.record_sending(make_attempt(minute=3, simulation=True))
    done = store.record_sending(make_attempt(minute=4))
    for attempt_id in (newer, older, dry_run):
        store.update(attempt_id, outcome=Outcome.PUBLISHING)
    store.update(done, outcome=Outcome.COMPLETE)

    assert [a.id for a in store.publishing()] == [older, newer]


def test_files_readable_by_owner_only(store: HistoryStore, path: Path) -> None:
    store.record_sending(make_attempt())

    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        assert (path.parent / name).stat().st_mode & 0o777 == 0o600, name


def test_closed_store_raises(path: Path) -> None:
    store = HistoryStore(path)
    store.close()

    with pytest.raises(HistoryError, match="closed"):
        store.count()


def test_locked_write_raises_history_error(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "BUSY_TIMEOUT_SECONDS", 0.1)
    store = HistoryStore(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    with pytest.raises(HistoryError, match="Could not record the attempt") as caught:
        store.record_sending(make_attempt())

    holder.execute("ROLLBACK")
    holder.close()
    assert "locked" in str(caught.value)
    assert str(path) in str(caught.value)
    store.record_sending(make_attempt())
    assert store.count() == 1
    store.close()


def test_failed_batch_rolls_back(store: HistoryStore) -> None:
    batch = [make_attempt(1), make_attempt(2, time="not a time"), make_attempt(3)]

    with pytest.raises(ValueError, match="not a time"):
        store.insert_many(batch)

    assert store.count() == 0
    store.record_sending(make_attempt(4))
    assert store.count() == 1


# A crash between the sending row and the reply

CRASHING_WRITER = """
import os, sys
from core.history import Attempt, HistoryStore
store = HistoryStore(sys.argv[1])
attempt_id = store.record_sending(
    Attempt(project_code="5dd580064b0b7", release_mode="scorm")
)
print(attempt_id, flush=True)
os._exit(1)  # no update, no close: as if the app died before the reply
"""


def test_crash_before_reply_reads_unknown(path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1, finished.stderr
    attempt_id = int(finished.stdout.strip())

    store = HistoryStore(path)
    assert store.get(attempt_id).outcome is Outcome.SENDING

    assert store.mark_interrupted() == 1

    stored = store.get(attempt_id)
    assert stored.outcome is Outcome.OUTCOME_UNKNOWN
    assert stored.server_message == INTERRUPTED_MESSAGE
    assert "stopped before" in stored.server_message
    assert store.mark_interrupted() == 0
    store.close()


def test_mark_interrupted_leaves_finished(store: HistoryStore) -> None:
    finished = store.record_sending(make_attempt())
    store.update(finished, outcome=Outcome.FAILED, server_message="Invalid mode")

    assert store.mark_interrupted() == 0
    assert store.get(finished).server_message == "Invalid mode"


# Schema migration, corrupt and newer files


def write_schema_1_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    for statement in SCHEMA_1:
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    connection.execute(
        "INSERT INTO attempts (time, project_code, project_name, release_mode, "
        "release_code, simulation, outcome, search_text) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "2025-11-02T08:00:00+00:00",
            "5dd580064b0b7",
            "Fire safety",
            "online-public",
            "5e1f0a2b3c4d5",
            0,
            "complete",
            "5dd580064b0b7\nfire safety\n5e1f0a2b3c4d5\n\n",
        ),
    )
    connection.commit()
    connection.close()


def test_migrates_schema_1_file(path: Path) -> None:
    write_schema_1_file(path)

    store = HistoryStore(path)

    connection = sqlite3.connect(path)
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    columns = [row[1] for row in connection.execute("PRAGMA table_info(attempts)")]
    indexes = [row[1] for row in connection.execute("PRAGMA index_list(attempts)")]
    connection.close()
    assert version == SCHEMA_VERSION == 2
    assert "batch_id" in columns
    assert "attempts_by_batch" in indexes

    (old,) = store.search()
    assert old.release_code == "5e1f0a2b3c4d5"
    assert old.outcome is Outcome.COMPLETE
    assert old.batch_id is None
    assert store.count(HistoryQuery(text="FIRE")) == 1

    new_id = store.record_sending(make_attempt(batch_id="batch-1"))
    assert store.get(new_id).batch_id == "batch-1"
    store.close()


def test_corrupt_file_moved_aside(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path.parent.mkdir(parents=True)
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    wal = path.with_name(path.name + "-wal")
    wal.write_bytes(b"stale write-ahead log")

    with caplog.at_level(logging.WARNING, logger="core.history"):
        store = HistoryStore(path)

    moved = store.recovered_from
    assert moved is not None
    assert re.fullmatch(r"history\.sqlite3\.corrupt-\d{8}-\d{6}", moved.name)
    assert moved.read_bytes() == garbage
    assert moved.with_name(moved.name + "-wal").read_bytes() == b"stale write-ahead log"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()
    assert str(moved) in warnings[0].getMessage()

    attempt_id = store.record_sending(make_attempt())
    assert store.count() == 1
    assert store.get(attempt_id).project_name == "Fire safety"
    store.close()


def test_damaged_schema_page_moved_aside(path: Path) -> None:
    store = HistoryStore(path)
    store.record_sending(make_attempt())
    store.close()
    damaged = bytearray(path.read_bytes())
    damaged[100:4096] = os.urandom(3996)  # page 1 after its 100-byte file header
    path.write_bytes(bytes(damaged))

    recovered = HistoryStore(path)

    assert recovered.recovered_from is not None
    assert recovered.recovered_from.read_bytes() == bytes(damaged)
    assert recovered.count() == 0
    recovered.close()


def test_corrupt_again_gets_new_name(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(4096))
    first = HistoryStore(path)
    first.close()
    path.unlink()
    path.write_bytes(os.urandom(4096))

    second = HistoryStore(path)
    second.close()

    assert first.recovered_from is not None
    assert second.recovered_from is not None
    assert first.recovered_from != second.recovered_from
    assert first.recovered_from.exists()


def test_healthy_file_not_recovered(store: HistoryStore) -> None:
    assert store.recovered_from is None


def test_newer_schema_left_untouched(path: Path) -> None:
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE attempts (id INTEGER PRIMARY KEY, future TEXT)")
    connection.execute("PRAGMA user_version = 9")
    connection.commit()
    connection.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    with pytest.raises(HistoryError, match="newer version of Release Desk") as caught:
        HistoryStore(path)

    assert "schema 9" in str(caught.value)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert not path.with_name(path.name + "-wal").exists()


def test_locked_file_not_moved(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "BUSY_TIMEOUT_SECONDS", 0.1)
    path.parent.mkdir(parents=True)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE unrelated (x)")
    holder.execute("BEGIN EXCLUSIVE")

    with pytest.raises(HistoryError, match="Could not open the history") as caught:
        HistoryStore(path)

    holder.execute("ROLLBACK")
    holder.close()
    assert "locked" in str(caught.value)
    assert path.exists()
    assert list(path.parent.glob("*.corrupt-*")) == []


# Search, filters and order


@pytest.fixture
def filled(store: HistoryStore) -> dict[str, int]:
    """Insert six attempts a minute apart and return their ids by name."""
    rows = {
        "fire_live": make_attempt(
            1, release_code="AAA111", outcome=Outcome.COMPLETE, release_mode="scorm"
        ),
        "fire_dry": make_attempt(
            2, simulation=True, outcome=Outcome.SUCCEEDED, description="Try 50% off"
        ),
        "onboarding_failed": make_attempt(
            3,
            project_code="7aa0c3d9e1f2a",
            project_name="Onboarding",
            description="New hire_intro, files in S:\\hr",
            outcome=Outcome.FAILED,
        ),
        "sécurité_unknown": make_attempt(
            4,
            project_code="8bb1d4e0f2a3b",
            project_name="Sécurité incendie",
            description="Version française",
            outcome=Outcome.OUTCOME_UNKNOWN,
        ),
        "re_release": make_attempt(
            5,
            re_release_of="AAA111",
            release_code="AAA111",
            outcome=Outcome.PUBLISHING,
            description="Fixes typo",
        ),
        "dry_failed": make_attempt(
            6,
            project_name="Onboarding",
            project_code="7aa0c3d9e1f2a",
            simulation=True,
            outcome=Outcome.FAILED,
        ),
    }
    store.insert_many(rows.values())
    by_time = store.search(HistoryQuery(descending=False))
    return {name: attempt.id for name, attempt in zip(rows, by_time, strict=True)}  # type: ignore[misc]


def ids(attempts: list[Attempt]) -> list[int | None]:
    return [attempt.id for attempt in attempts]


def test_search_newest_first(store: HistoryStore, filled: dict[str, int]) -> None:
    names = list(filled)

    assert ids(store.search()) == [filled[name] for name in reversed(names)]
    assert store.count() == 6


def test_search_pages(store: HistoryStore, filled: dict[str, int]) -> None:
    first = store.search(HistoryQuery(limit=4))
    second = store.search(HistoryQuery(limit=4, offset=4))

    assert len(first) == 4
    assert len(second) == 2
    assert ids(first + second) == ids(store.search())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("onboarding", ["dry_failed", "onboarding_failed"]),
        ("7AA0C3", ["dry_failed", "onboarding_failed"]),
        ("aaa111", ["re_release", "fire_live"]),
        ("typo", ["re_release"]),
        ("SÉCURITÉ", ["sécurité_unknown"]),
        ("française", ["sécurité_unknown"]),
        ("fire update", ["fire_live"]),
        ("fire 50%", ["fire_dry"]),
        ("%", ["fire_dry"]),
        ("_", ["onboarding_failed"]),
        ("s:\\HR", ["onboarding_failed"]),
        ("\\", ["onboarding_failed"]),
        (
            "  ",
            [
                "dry_failed",
                "re_release",
                "sécurité_unknown",
                "onboarding_failed",
                "fire_dry",
                "fire_live",
            ],
        ),
        ("lrs-user", []),
        ("Acme", []),
    ],
)
def test_search_text(
    store: HistoryStore, filled: dict[str, int], text: str, expected: list[str]
) -> None:
    query = HistoryQuery(text=text)

    assert ids(store.search(query)) == [filled[name] for name in expected]
    assert store.count(query) == len(expected)


def test_search_sees_updated_code(store: HistoryStore, filled: dict[str, int]) -> None:
    store.update(filled["onboarding_failed"], release_code="NEWCODE9")

    found = store.search(HistoryQuery(text="newcode9"))

    assert ids(found) == [filled["onboarding_failed"]]
    assert store.count(HistoryQuery(text="onboarding newcode9")) == 1


@pytest.mark.parametrize(
    ("live_only", "failed_only", "expected"),
    [
        (
            True,
            False,
            ["re_release", "sécurité_unknown", "onboarding_failed", "fire_live"],
        ),
        (False, True, ["dry_failed", "sécurité_unknown", "onboarding_failed"]),
        (True, True, ["sécurité_unknown", "onboarding_failed"]),
    ],
)
def test_search_filters(
    store: HistoryStore,
    filled: dict[str, int],
    live_only: bool,
    failed_only: bool,
    expected: list[str],
) -> None:
    query = HistoryQuery(live_only=live_only, failed_only=failed_only)

    assert ids(store.search(query)) == [filled[name] for name in expected]
    assert store.count(query) == len(expected)


def test_search_text_and_filter(store: HistoryStore, filled: dict[str, int]) -> None:
    query = HistoryQuery(text="onboarding", live_only=True)

    assert ids(store.search(query)) == [filled["onboarding_failed"]]


def test_search_sorts_by_column(store: HistoryStore, filled: dict[str, int]) -> None:
    by_project = store.search(HistoryQuery(sort_key=SortKey.PROJECT, descending=False))
    by_outcome = store.search(HistoryQuery(sort_key=SortKey.OUTCOME, descending=False))

    assert [a.project_name for a in by_project] == [
        "Fire safety",
        "Fire safety",
        "Fire safety",
        "Onboarding",
        "Onboarding",
        "Sécurité incendie",
    ]
    assert [a.outcome for a in by_outcome] == sorted(a.outcome for a in by_outcome)
    assert by_outcome[0].outcome is Outcome.COMPLETE


def test_query_rejects_negative_page() -> None:
    with pytest.raises(ValueError, match="limit"):
        HistoryQuery(limit=-1)
    with pytest.raises(ValueError, match="offset"):
        HistoryQuery(offset=-5)


# Delete


def test_delete_removes_rows(store: HistoryStore, filled: dict[str, int]) -> None:
    doomed = [filled["fire_dry"], filled["dry_failed"], 9999]

    assert store.delete(doomed) == 2

    assert store.count() == 4
    assert filled["fire_dry"] not in ids(store.search())
    with pytest.raises(AttemptNotFoundError):
        store.get(filled["dry_failed"])
    assert store.delete([]) == 0


def test_delete_many_ids(store: HistoryStore) -> None:
    store.insert_many(make_attempt(minute) for minute in range(1200))
    every_id = [attempt.id for attempt in store.search(HistoryQuery(limit=2000))]

    assert store.delete(i for i in every_id[:1100] if i is not None) == 1100
    assert store.count() == 100


# CSV export


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_export_csv_header_and_values(
    store: HistoryStore, filled: dict[str, int], tmp_path: Path
) -> None:
    target = tmp_path / "history.csv"

    assert store.export_csv(target) == 6

    header, rows = read_csv(target)
    assert header == list(FIELD_NAMES)
    assert len(rows) == 6
    newest, *_, oldest = rows
    assert newest["id"] == str(filled["dry_failed"])
    assert newest["simulation"] == "true"
    assert newest["outcome"] == "failed"
    assert oldest["release_code"] == "AAA111"
    assert oldest["simulation"] == "false"
    assert oldest["time"] == "2026-03-01T09:01:00+00:00"
    assert oldest["lrs_username"] == "lrs-user"
    assert oldest["http_status"] == ""
    french = next(row for row in rows if row["id"] == str(filled["sécurité_unknown"]))
    assert french["project_name"] == "Sécurité incendie"


def test_export_csv_applies_filters(
    store: HistoryStore, filled: dict[str, int], tmp_path: Path
) -> None:
    target = tmp_path / "failed.csv"

    # limit=1 is a page size; export writes every matching row regardless.
    count = store.export_csv(target, HistoryQuery(failed_only=True, limit=1))

    _header, rows = read_csv(target)
    assert count == 3
    assert [row["id"] for row in rows] == [
        str(filled[name])
        for name in ("dry_failed", "sécurité_unknown", "onboarding_failed")
    ]


def test_export_csv_neutralises_formulas(store: HistoryStore, tmp_path: Path) -> None:
    store.record_sending(make_attempt(description='=HYPERLINK("http://x")'))
    target = tmp_path / "formula.csv"

    store.export_csv(target)

    _header, (row,) = read_csv(target)
    assert row["description"] == '\'=HYPERLINK("http://x")'


def test_no_password_anywhere(store: HistoryStore, tmp_path: Path) -> None:
    target = tmp_path / "history.csv"
    store.record_sending(make_attempt())
    store.export_csv(target)
    connection = sqlite3.connect(store.path)
    columns = [row[1] for row in connection.execute("PRAGMA table_info(attempts)")]
    connection.close()

    assert "password" not in target.read_text(encoding="utf-8-sig").lower()
    assert not [name for name in columns if "password" in name]
    assert not [name for name in FIELD_NAMES if "password" in name]
    with pytest.raises(TypeError, match="lrs_password"):
        Attempt(project_code="x", release_mode="scorm", lrs_password="pw")  # type: ignore[call-arg]


def test_export_failure_leaves_no_file(store: HistoryStore, tmp_path: Path) -> None:
    store.record_sending(make_attempt())
    target = tmp_path / "missing-folder" / "history.csv"

    with pytest.raises(FileNotFoundError):
        store.export_csv(target)

    assert not target.parent.exists()


# Threads


def test_concurrent_writers(store: HistoryStore) -> None:
    thread_count, per_thread = 8, 25
    errors: list[BaseException] = []
    recorded: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(thread_count + 1)

    def write(worker: int) -> None:
        try:
            start.wait()
            for step in range(per_thread):
                attempt = make_attempt(step, description=f"worker {worker} step {step}")
                attempt_id = store.record_sending(attempt)
                store.update(
                    attempt_id,
                    outcome=Outcome.SUCCEEDED,
                    release_code=f"W{worker}S{step}",
                )
                with lock:
                    recorded.append(attempt_id)
        except BaseException as error:
            errors.append(error)

    def read() -> None:
        try:
            start.wait()
            for _ in range(50):
                store.search(HistoryQuery(text="worker"))
                store.count()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(thread_count)]
    reader = threading.Thread(target=read)
    for thread in [*threads, reader]:
        thread.start()
    for thread in [*threads, reader]:
        thread.join(timeout=60)

    assert errors == []
    assert len(recorded) == thread_count * per_thread
    assert len(set(recorded)) == len(recorded)
    assert store.count() == thread_count * per_thread
    assert store.count(HistoryQuery(text="w3s24")) == 1
    outcomes = {a.outcome for a in store.search(HistoryQuery(limit=1000))}
    assert outcomes == {Outcome.SUCCEEDED}


def test_thread_gets_own_connection(store: HistoryStore) -> None:
    connections: list[object] = []

    def grab() -> None:
        connections.append(store._connection())

    worker = threading.Thread(target=grab)
    worker.start()
    worker.join()

    assert connections[0] is not store._connection()
