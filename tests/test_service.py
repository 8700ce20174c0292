"""The release service records every attempt in the history before and after sending."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.client import ElucidatClient
from core.errors import NotFoundError, OutcomeUnknownError
from core.history import HistoryQuery, HistoryStore, Outcome
from core.models import ReleaseMode, ReleaseRequest
from core.service import ReleaseService
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer


@pytest.fixture
def history(tmp_path: Path) -> Iterator[HistoryStore]:
    store = HistoryStore(tmp_path / "history.sqlite3")
    yield store
    store.close()


@pytest.fixture
def service(sandbox: SandboxServer, history: HistoryStore) -> Iterator[ReleaseService]:
    client = ElucidatClient(sandbox.base_url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
    yield ReleaseService(
        client, history, account_name="Sandbox", base_url=sandbox.base_url
    )
    client.close()


def project_code(sandbox: SandboxServer) -> str:
    return str(sandbox.projects()[0]["project_code"])


def test_row_written_before_reply(
    sandbox: SandboxServer, service: ReleaseService, history: HistoryStore
) -> None:
    sandbox.faults.latency = 0.5
    request = ReleaseRequest(project_code(sandbox), ReleaseMode.SCORM)
    worker = threading.Thread(
        target=service.create, args=(request,), kwargs={"simulation": True}
    )
    worker.start()
    try:
        seen_sending = False
        while worker.is_alive() and not seen_sending:
            rows = history.search(HistoryQuery(limit=5))
            seen_sending = bool(rows) and rows[0].outcome == Outcome.SENDING
            worker.join(0.02)
    finally:
        worker.join(5)

    assert seen_sending
    assert history.search(HistoryQuery(limit=5))[0].outcome == Outcome.SUCCEEDED


def test_live_release_recorded_publishing(
    sandbox: SandboxServer, service: ReleaseService, history: HistoryStore
) -> None:
    request = ReleaseRequest(
        project_code(sandbox), ReleaseMode.OFFLINE_BACKUP, description="Q4 archive"
    )

    created = service.create(request, simulation=False, project_name="Demo")

    row = history.get(created.attempt_id)
    assert row.outcome == Outcome.PUBLISHING
    assert row.release_code == created.result.release_code
    assert row.simulation is False
    assert row.project_name == "Demo"
    assert row.description == "Q4 archive"
    assert row.http_status == 200
    assert row.duration_ms is not None


def test_missing_re_release_recorded_failed(
    sandbox: SandboxServer, service: ReleaseService, history: HistoryStore
) -> None:
    request = ReleaseRequest(
        project_code(sandbox), ReleaseMode.SCORM, release_code="0000000000000"
    )

    with pytest.raises(NotFoundError) as caught:
        service.create(request, simulation=False)

    assert caught.value.attempt_id is not None
    row = history.get(caught.value.attempt_id)
    assert row.outcome == Outcome.FAILED
    assert row.re_release_of == "0000000000000"
    assert "0000000000000" in row.server_message


def test_dropped_create_recorded_unknown(
    sandbox: SandboxServer, service: ReleaseService, history: HistoryStore
) -> None:
    code = project_code(sandbox)
    before = len(sandbox.releases(code))
    sandbox.faults.drop_after_create = 1

    with pytest.raises(OutcomeUnknownError) as caught:
        service.create(ReleaseRequest(code, ReleaseMode.SCORM), simulation=False)

    assert caught.value.attempt_id is not None
    assert history.get(caught.value.attempt_id).outcome == Outcome.OUTCOME_UNKNOWN
    assert len(sandbox.releases(code)) == before + 1


def test_re_release_followed_to_new_version(
    sandbox: SandboxServer, service: ReleaseService, history: HistoryStore
) -> None:
    from core.follow import PollSchedule

    code = project_code(sandbox)
    record = next(r for r in sandbox.releases(code) if r["status"] == "complete")
    request = ReleaseRequest(
        code, ReleaseMode(record["release_mode"]), release_code=record["release_code"]
    )

    created = service.create(request, simulation=False)
    release = service.follow(
        created.attempt_id,
        created.follow_target,
        schedule=PollSchedule(first=0.05, factor=1.5, maximum=0.2, limit=10),
    )

    assert created.previous_version == int(record["version_number"])
    assert release.version_number == created.previous_version + 1
    row = history.get(created.attempt_id)
    assert row.outcome == Outcome.COMPLETE
    assert row.version_number == release.version_number
