"""The batch runner against the sandbox on loopback.

Thirty re-releases run as a dry run and live, with an invalid item, an injected
authentication failure and a connection dropped after a create. Other tests cover
concurrency, pause, resume, cancel, retry and the history rows."""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.batch import (
    BatchItem,
    BatchRunner,
    BatchSettings,
    BatchSummary,
    ItemState,
    RetryNotAllowedError,
    Step,
    build_request,
)
from core.client import ElucidatClient
from core.errors import (
    AuthenticationError,
    NotFoundError,
    OutcomeUnknownError,
    ServerError,
)
from core.follow import PollSchedule
from core.history import Attempt, HistoryQuery, HistoryStore, Outcome
from core.models import LearnerAccess, ReleaseMode
from core.service import ReleaseService
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

FAST_POLLS = PollSchedule(first=0.05, factor=1.5, maximum=0.2, limit=20.0)
MODES = ("scorm", "offline-backup", "online-public", "online-private")
WAIT_SECONDS = 45.0

#: The client retries a rejected signature this many times, so one more rejection than
#: this fails exactly one call.
AUTH_REJECTIONS_FOR_ONE_CALL = 4


class Services:
    """A service factory for BatchRunner: one client per thread, closed at the end."""

    def __init__(self, sandbox: SandboxServer, history: HistoryStore) -> None:
        self.sandbox = sandbox
        self.history = history
        self.clients: list[ElucidatClient] = []
        self.threads: set[int] = set()
        self.lock = threading.Lock()

    def __call__(self) -> ReleaseService:
        client = ElucidatClient(
            self.sandbox.base_url,
            DEMO_PUBLIC_KEY,
            DEMO_PRIVATE_KEY,
            timeout=(5.0, 10.0),
        )
        with self.lock:
            self.clients.append(client)
            self.threads.add(threading.get_ident())
        return ReleaseService(
            client, self.history, account_name="Sandbox", base_url=self.sandbox.base_url
        )

    def calls(self, name: str) -> int:
        with self.lock:
            return sum(client.stats.calls[name] for client in self.clients)

    def close(self) -> None:
        for client in self.clients:
            client.close()


class Recorder:
    """Records every item change and the finished summaries, and runs hooks."""

    def __init__(self) -> None:
        self.changes: list[tuple[int, BatchItem]] = []
        self.finished: list[BatchSummary] = []
        self.threads: set[str] = set()
        self.hooks: dict[tuple[int, ItemState], Callable[[], None]] = {}

    def on_item_changed(self, index: int, item: BatchItem) -> None:
        self.changes.append((index, item))
        self.threads.add(threading.current_thread().name)
        hook = self.hooks.pop((index, item.state), None)
        if hook is not None:
            hook()

    def on_finished(self, summary: BatchSummary) -> None:
        self.finished.append(summary)

    def states(self, index: int) -> list[ItemState]:
        return [item.state for changed, item in self.changes if changed == index]


@pytest.fixture
def history(tmp_path: Path) -> Iterator[HistoryStore]:
    store = HistoryStore(tmp_path / "history.sqlite3")
    yield store
    store.close()


@pytest.fixture
def services(sandbox: SandboxServer, history: HistoryStore) -> Iterator[Services]:
    factory = Services(sandbox, history)
    yield factory
    factory.close()


def add_releases(sandbox: SandboxServer, count: int) -> list[BatchItem]:
    """Add count complete releases to the sandbox, spread over its projects and modes.

    Every item names its release mode, except every seventh, whose mode the runner
    has to look up.
    """
    projects = [
        sandbox.state.get_project(p["project_code"]) for p in sandbox.projects()
    ]
    items = []
    for number in range(count):
        project = projects[number % len(projects)]
        assert project is not None
        mode = MODES[number % len(MODES)]
        release = sandbox.state.add_release(
            project,
            release_mode=mode,
            description=f"Course copy {number}",
            learner_access="any",
            lrs_endpoint="",
            lrs_username="",
        )
        items.append(
            BatchItem(
                project_code=project.project_code,
                release_code=release.release_code,
                release_mode=None if number % 7 == 3 else ReleaseMode(mode),
            )
        )
    sandbox.state.advance()
    return items


def versions(sandbox: SandboxServer) -> dict[str, int]:
    """Return every release's version number, brought up to date."""
    found = {}
    for project in sandbox.projects():
        for release in sandbox.releases(project["project_code"]):
            found[release["release_code"]] = int(release["version_number"])
    return found


def batch_rows(history: HistoryStore, batch_id: str) -> list[Attempt]:
    rows = history.search(HistoryQuery(limit=500))
    return [row for row in rows if row.batch_id == batch_id]


def run_to_end(runner: BatchRunner) -> None:
    runner.start()
    assert runner.wait(WAIT_SECONDS), "the batch did not finish in time"
    assert runner.join(5.0), "a batch thread is still running"


def thirty_items_with_faults(
    sandbox: SandboxServer, recorder: Recorder
) -> tuple[list[BatchItem], int, int, int]:
    """Return 30 items, one with a release code that does not exist, and hooks that
    inject an authentication failure and a dropped connection into two others."""
    items = add_releases(sandbox, 29)
    invalid = 12
    items.insert(
        invalid,
        BatchItem(
            project_code=items[0].project_code,
            release_code="0000000000000",
            release_mode=ReleaseMode.SCORM,
        ),
    )
    auth_failure, dropped = 9, 20

    def reject_auth() -> None:
        sandbox.faults.reject_auth = AUTH_REJECTIONS_FOR_ONE_CALL

    def drop_after_create() -> None:
        sandbox.faults.drop_after_create = 1

    recorder.hooks[(auth_failure, ItemState.SENDING)] = reject_auth
    recorder.hooks[(dropped, ItemState.SENDING)] = drop_after_create
    return items, invalid, auth_failure, dropped


# Thirty re-releases with faults


def test_dry_run_of_thirty_with_faults(
    sandbox: SandboxServer, history: HistoryStore, services: Services
) -> None:
    recorder = Recorder()
    items, invalid, auth_failure, dropped = thirty_items_with_faults(sandbox, recorder)
    before = versions(sandbox)
    # One item at a time, so each injected fault hits the item whose hook set it.
    settings = BatchSettings(simulation=True, concurrency=1)
    runner = BatchRunner(
        items,
        settings,
        services,
        on_item_changed=recorder.on_item_changed,
        on_finished=recorder.on_finished,
    )
    run_to_end(runner)

    results = runner.items
    assert len(results) == 30
    assert results[invalid].state is ItemState.FAILED
    assert isinstance(results[invalid].error, NotFoundError)
    assert "0000000000000" in results[invalid].message
    assert results[auth_failure].state is ItemState.FAILED
    assert isinstance(results[auth_failure].error, AuthenticationError)
    assert results[dropped].state is ItemState.OUTCOME_UNKNOWN
    assert isinstance(results[dropped].error, OutcomeUnknownError)
    assert results[dropped].retry_step is Step.CREATE
    assert recorder.states(dropped) == [ItemState.SENDING, ItemState.OUTCOME_UNKNOWN]
    others = set(range(30)) - {invalid, auth_failure, dropped}
    assert {results[i].state for i in others} == {ItemState.SUCCEEDED}
    assert sandbox.faults.reject_auth == 0
    assert sandbox.faults.drop_after_create == 0

    summary = runner.summary()
    assert summary.succeeded == 27
    assert summary.failed == 2
    assert summary.outcome_unknown == 1
    assert [index for index, _ in summary.problems] == sorted(
        [invalid, auth_failure, dropped]
    )
    assert recorder.finished == [summary]
    assert versions(sandbox) == before

    rows = batch_rows(history, runner.batch_id)
    assert len(rows) == 30
    assert all(row.simulation for row in rows)
    outcomes = sorted(row.outcome for row in rows)
    assert outcomes.count(Outcome.SUCCEEDED) == 27
    assert outcomes.count(Outcome.FAILED) == 2
    assert outcomes.count(Outcome.OUTCOME_UNKNOWN) == 1
    assert all(row.batch_id == runner.batch_id for row in rows)


def test_live_batch_of_thirty_with_faults(
    sandbox: SandboxServer, history: HistoryStore, services: Services, tmp_path: Path
) -> None:
    recorder = Recorder()
    items, invalid, auth_failure, dropped = thirty_items_with_faults(sandbox, recorder)
    before = versions(sandbox)
    downloads = tmp_path / "packages"
    settings = BatchSettings(
        simulation=False,
        concurrency=1,
        download_dir=downloads,
        poll_schedule=FAST_POLLS,
    )
    runner = BatchRunner(
        items, settings, services, on_item_changed=recorder.on_item_changed
    )
    run_to_end(runner)

    results = runner.items
    assert isinstance(results[invalid].error, NotFoundError)
    assert isinstance(results[auth_failure].error, AuthenticationError)
    assert results[dropped].state is ItemState.OUTCOME_UNKNOWN
    others = set(range(30)) - {invalid, auth_failure, dropped}
    assert {results[i].state for i in others} == {ItemState.COMPLETE}

    after = versions(sandbox)
    assert "0000000000000" not in after
    assert (
        after[items[auth_failure].release_code]
        == (before[items[auth_failure].release_code])
    )
    # The dropped create was carried out once and never sent again.
    assert after[items[dropped].release_code] == before[items[dropped].release_code] + 1
    for index in others:
        code = items[index].release_code
        assert after[code] == before[code] + 1
        assert results[index].version_number == after[code]

    package_items = [
        i for i in others if (mode := results[i].release_mode) and mode.is_package
    ]
    assert package_items
    saved = sorted(downloads.glob("*.zip"))
    assert len(saved) == len(package_items)
    for index in package_items:
        path = results[index].package_path
        assert path is not None
        assert path.parent == downloads
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None
    assert not list(downloads.glob("*.part"))

    # One poll per project covers all the releases of that project.
    assert services.calls("list_releases") < len(others)

    rows = batch_rows(history, runner.batch_id)
    # The invalid and the rejected items failed on the version read before the
    # create call; they are recorded as failed all the same.
    assert len(rows) == 30
    outcomes = [row.outcome for row in rows]
    assert outcomes.count(Outcome.COMPLETE) == 27
    assert outcomes.count(Outcome.OUTCOME_UNKNOWN) == 1
    assert outcomes.count(Outcome.FAILED) == 2
    assert history.publishing() == []


# Concurrency, pause, resume, cancel


def test_concurrency_is_bounded(sandbox: SandboxServer, services: Services) -> None:
    items = add_releases(sandbox, 8)
    sandbox.faults.latency = 0.05
    lock = threading.Lock()
    sending: set[int] = set()
    peak = 0

    def on_item_changed(index: int, item: BatchItem) -> None:
        nonlocal peak
        with lock:
            if item.state is ItemState.SENDING:
                sending.add(index)
            else:
                sending.discard(index)
            peak = max(peak, len(sending))

    runner = BatchRunner(
        items, BatchSettings(), services, on_item_changed=on_item_changed
    )
    run_to_end(runner)

    assert peak == 2
    assert runner.summary().all_succeeded
    assert len(services.threads) == 2


def test_pause_and_resume(sandbox: SandboxServer, services: Services) -> None:
    items = add_releases(sandbox, 6)
    recorder = Recorder()
    runner = BatchRunner(
        items,
        BatchSettings(concurrency=1),
        services,
        on_item_changed=recorder.on_item_changed,
        on_finished=recorder.on_finished,
    )
    recorder.hooks[(1, ItemState.SENDING)] = runner.pause
    runner.start()

    assert not runner.wait(1.0)
    assert runner.is_paused
    states = [item.state for item in runner.items]
    assert states[:2] == [ItemState.SUCCEEDED, ItemState.SUCCEEDED]
    assert states[2:] == [ItemState.WAITING] * 4
    assert recorder.finished == []

    runner.resume()
    assert runner.wait(WAIT_SECONDS)
    assert runner.join(5.0)
    assert runner.summary().all_succeeded
    assert len(recorder.finished) == 1


def test_cancel_keeps_what_was_sent(
    sandbox: SandboxServer, history: HistoryStore, services: Services
) -> None:
    items = add_releases(sandbox, 8)
    recorder = Recorder()
    runner = BatchRunner(
        items,
        BatchSettings(concurrency=1),
        services,
        on_item_changed=recorder.on_item_changed,
        on_finished=recorder.on_finished,
    )
    recorder.hooks[(3, ItemState.SENDING)] = runner.cancel
    run_to_end(runner)

    states = [item.state for item in runner.items]
    assert states[:4] == [ItemState.SUCCEEDED] * 4
    assert states[4:] == [ItemState.CANCELLED] * 4
    assert all(item.retry_step is Step.CREATE for item in runner.items[4:])
    summary = runner.summary()
    assert summary.cancelled == 4
    assert not summary.all_succeeded
    assert len(recorder.finished) == 1
    assert len(batch_rows(history, runner.batch_id)) == 4


def test_cancel_stops_following_and_retry_resumes(
    sandbox: SandboxServer, history: HistoryStore, services: Services
) -> None:
    items = add_releases(sandbox, 2)
    sandbox.publish_delay = 0.5
    recorder = Recorder()
    runner = BatchRunner(
        items,
        BatchSettings(simulation=False, poll_schedule=FAST_POLLS),
        services,
        on_item_changed=recorder.on_item_changed,
    )
    runner.start()
    following = threading.Event()
    recorder.hooks[(1, ItemState.PUBLISHING)] = following.set
    assert following.wait(10.0)
    runner.cancel()
    assert runner.wait(5.0)

    for item in runner.items:
        assert item.state is ItemState.PUBLISHING
        assert item.retry_step is Step.FOLLOW
        assert "no longer followed" in item.message
    assert runner.summary().publishing == 2
    # The rows stay at publishing, so the window follows them at its next start.
    publishing = history.publishing()
    assert {row.batch_id for row in publishing} == {runner.batch_id}
    assert len(publishing) == 2

    runner.retry(0)
    runner.retry(1)
    assert runner.wait(WAIT_SECONDS)
    assert runner.join(5.0)
    assert [item.state for item in runner.items] == [ItemState.COMPLETE] * 2
    assert history.publishing() == []


# Retry


def test_retry_failed_item(
    sandbox: SandboxServer, history: HistoryStore, services: Services
) -> None:
    items = add_releases(sandbox, 3)
    recorder = Recorder()
    runner = BatchRunner(
        items,
        BatchSettings(concurrency=1),
        services,
        on_item_changed=recorder.on_item_changed,
        on_finished=recorder.on_finished,
    )

    def fail_next_create() -> None:
        sandbox.faults.server_error = 1

    recorder.hooks[(1, ItemState.SENDING)] = fail_next_create
    run_to_end(runner)
    failed = runner.item(1)
    assert failed.state is ItemState.FAILED
    assert isinstance(failed.error, ServerError)
    assert runner.can_retry(1)
    assert not runner.can_retry(0)

    runner.retry(1)
    assert runner.wait(WAIT_SECONDS)
    assert runner.join(5.0)
    assert runner.item(1).state is ItemState.SUCCEEDED
    assert runner.summary().all_succeeded
    assert len(recorder.finished) == 2
    assert recorder.states(1) == [
        ItemState.SENDING,
        ItemState.FAILED,
        ItemState.WAITING,
        ItemState.SENDING,
        ItemState.SUCCEEDED,
    ]
    rows = batch_rows(history, runner.batch_id)
    assert sorted(
        row.outcome for row in rows if row.re_release_of == items[1].release_code
    ) == [Outcome.FAILED, Outcome.SUCCEEDED]

    with pytest.raises(RetryNotAllowedError, match="nothing to retry"):
        runner.retry(0)


def test_outcome_unknown_needs_force(
    sandbox: SandboxServer, services: Services
) -> None:
    items = add_releases(sandbox, 2)
    code = items[0].release_code
    before = versions(sandbox)[code]
    recorder = Recorder()
    runner = BatchRunner(
        items[:1],
        BatchSettings(simulation=False, follow=False),
        services,
        on_item_changed=recorder.on_item_changed,
    )

    def drop_after_create() -> None:
        sandbox.faults.drop_after_create = 1

    recorder.hooks[(0, ItemState.SENDING)] = drop_after_create
    run_to_end(runner)
    assert runner.item(0).state is ItemState.OUTCOME_UNKNOWN
    assert versions(sandbox)[code] == before + 1

    with pytest.raises(RetryNotAllowedError, match="Check the project's releases"):
        runner.retry(0)
    assert runner.item(0).state is ItemState.OUTCOME_UNKNOWN

    runner.retry(0, force=True)
    assert runner.wait(WAIT_SECONDS)
    assert runner.join(5.0)
    assert runner.item(0).state is ItemState.PUBLISHING
    assert runner.summary().all_succeeded
    assert versions(sandbox)[code] == before + 2


def test_retry_download_without_new_create(
    sandbox: SandboxServer, services: Services, tmp_path: Path
) -> None:
    items = add_releases(sandbox, 1)
    assert items[0].release_mode is ReleaseMode.SCORM
    code = items[0].release_code
    before = versions(sandbox)[code]
    sandbox.faults.truncate_download = 1
    runner = BatchRunner(
        items,
        BatchSettings(
            simulation=False, download_dir=tmp_path / "out", poll_schedule=FAST_POLLS
        ),
        services,
    )
    run_to_end(runner)
    item = runner.item(0)
    assert item.state is ItemState.FAILED
    assert item.retry_step is Step.DOWNLOAD
    assert item.message.startswith("Complete, but the package was not saved")

    runner.retry(0)
    assert runner.wait(WAIT_SECONDS)
    assert runner.join(5.0)
    item = runner.item(0)
    assert item.state is ItemState.COMPLETE
    assert item.package_path is not None
    assert item.package_path.exists()
    assert versions(sandbox)[code] == before + 1
    assert services.calls("create_release") == 1


# Live batch rows and requests


def test_unfollowed_live_rows_stay_publishing(
    sandbox: SandboxServer, history: HistoryStore, services: Services
) -> None:
    items = add_releases(sandbox, 3)
    sandbox.publish_delay = 30.0
    runner = BatchRunner(items, BatchSettings(simulation=False, follow=False), services)
    run_to_end(runner)

    assert [item.state for item in runner.items] == [ItemState.PUBLISHING] * 3
    assert runner.summary().all_succeeded
    publishing = history.publishing()
    assert len(publishing) == 3
    assert {row.batch_id for row in publishing} == {runner.batch_id}
    assert {row.re_release_of for row in publishing} == {
        item.release_code for item in items
    }
    assert services.calls("list_releases") == 0


def test_mode_lookup_checks_project(sandbox: SandboxServer, services: Services) -> None:
    items = add_releases(sandbox, 2)
    other_project = items[1].project_code
    runner = BatchRunner(
        [
            BatchItem(items[0].project_code, items[0].release_code),
            BatchItem(other_project, items[0].release_code),
        ],
        BatchSettings(),
        services,
    )
    run_to_end(runner)

    first, second = runner.items
    assert first.state is ItemState.SUCCEEDED
    assert first.release_mode is ReleaseMode(MODES[0])
    assert first.project_name
    assert second.state is ItemState.FAILED
    assert f"belongs to project {items[0].project_code}" in second.message


def test_shared_settings_replace_item_values() -> None:
    item = BatchItem(
        project_code="p1",
        release_code="r1",
        description="Own text",
        learner_access=LearnerAccess.ANY,
        lrs_endpoint_url="https://lrs.example/own",
        lrs_username="own-user",
    )
    own = build_request(item, BatchSettings(), ReleaseMode.SCORM)
    assert own.description == "Own text"
    assert own.learner_access is LearnerAccess.ANY
    assert own.lrs_endpoint_url == "https://lrs.example/own"
    assert own.lrs_username == "own-user"
    assert own.lrs_password is None

    shared = BatchSettings(
        description="Legal text update",
        learner_access=LearnerAccess.RESTRICTED,
        lrs_endpoint_url="https://lrs.example/shared",
        lrs_password="shared-secret",
    )
    request = build_request(item, shared, ReleaseMode.SCORM)
    assert request.release_code == "r1"
    assert request.description == "Legal text update"
    assert request.learner_access is LearnerAccess.RESTRICTED
    assert request.lrs_endpoint_url == "https://lrs.example/shared"
    assert request.lrs_username is None
    assert request.lrs_password == "shared-secret"


def test_settings_reject_bad_concurrency() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        BatchSettings(concurrency=0)
    with pytest.raises(ValueError, match="concurrency"):
        BatchSettings(concurrency=9)


def test_callbacks_run_on_batch_threads(
    sandbox: SandboxServer, services: Services
) -> None:
    items = add_releases(sandbox, 3)
    recorder = Recorder()
    runner = BatchRunner(
        items, BatchSettings(), services, on_item_changed=recorder.on_item_changed
    )
    run_to_end(runner)
    assert recorder.threads
    assert all(
        name.startswith(f"batch-{runner.batch_id[:8]}") for name in recorder.threads
    )
    assert threading.current_thread().name not in recorder.threads
