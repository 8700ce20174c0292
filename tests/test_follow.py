"""Tests for core.follow: following releases on the sandbox over loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.client import ElucidatClient
from core.errors import (
    AuthenticationError,
    CancelledError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TimedOutError,
)
from core.follow import (
    MAX_CONSECUTIVE_FAILURES,
    FollowTarget,
    PollSchedule,
    follow_release,
)
from core.models import Release, ReleaseMode, ReleaseRequest
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

# Small intervals keep the polling in each test short.
FAST = PollSchedule(first=0.02, factor=1.5, maximum=0.05, limit=5.0)
PUBLISH_DELAY = 0.3


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[ElucidatClient]:
    """A client of the sandbox whose reads are not retried inside the client, so
    every injected fault reaches follow_release."""
    sandbox.publish_delay = PUBLISH_DELAY
    with ElucidatClient(
        sandbox.base_url,
        DEMO_PUBLIC_KEY,
        DEMO_PRIVATE_KEY,
        max_read_retries=0,
    ) as elucidat:
        yield elucidat


@pytest.fixture
def project_code(sandbox: SandboxServer) -> str:
    return str(sandbox.projects()[0]["project_code"])


class PollRecorder:
    """An on_poll callback that keeps every report and when it arrived."""

    def __init__(self) -> None:
        self.reports: list[tuple[Release | None, float]] = []
        self.times: list[float] = []

    def __call__(self, release: Release | None, seconds_until_next: float) -> None:
        self.reports.append((release, seconds_until_next))
        self.times.append(time.monotonic())

    @property
    def statuses(self) -> list[str | None]:
        return [release.status if release else None for release, _ in self.reports]


def create(
    client: ElucidatClient,
    project_code: str,
    mode: ReleaseMode = ReleaseMode.SCORM,
    *,
    release_code: str | None = None,
    simulation: bool = False,
) -> str:
    request = ReleaseRequest(project_code, mode, release_code=release_code)
    return client.create_release(request, simulation=simulation).release_code


def complete_demo_release(sandbox: SandboxServer) -> tuple[str, dict[str, Any]]:
    """Return a project code and one of its complete demo releases."""
    for project in sandbox.projects():
        code = str(project["project_code"])
        for record in sandbox.releases(code):
            if record["status"] == "complete":
                return code, record
    raise AssertionError("the sandbox has no complete demo release")


# Following releases on the sandbox


def test_follow_new_release_until_complete(
    client: ElucidatClient, project_code: str
) -> None:
    release_code = create(client, project_code)
    recorder = PollRecorder()
    started = time.monotonic()

    release = follow_release(
        client,
        FollowTarget(project_code, release_code, None),
        schedule=FAST,
        on_poll=recorder,
    )

    assert time.monotonic() - started >= PUBLISH_DELAY * 0.9
    assert release.release_code == release_code
    assert release.is_complete
    assert release.version_number == 1
    assert recorder.statuses[0] == "publishing"
    assert recorder.statuses[-1] == "complete"
    assert recorder.reports[-1][1] == 0.0
    assert all(delay > 0 for _, delay in recorder.reports[:-1])
    assert client.stats.calls["list_releases"] == len(recorder.reports)


def test_follow_re_release_waits_for_version(
    sandbox: SandboxServer, client: ElucidatClient
) -> None:
    project_code, record = complete_demo_release(sandbox)
    release_code = str(record["release_code"])
    previous_version = int(record["version_number"])
    recorder = PollRecorder()

    returned_code = create(
        client,
        project_code,
        ReleaseMode(record["release_mode"]),
        release_code=release_code,
    )
    release = follow_release(
        client,
        FollowTarget(project_code, release_code, previous_version),
        schedule=FAST,
        on_poll=recorder,
    )

    assert returned_code == release_code
    assert release.is_complete
    assert release.version_number == previous_version + 1
    assert recorder.statuses[0] == "publishing"
    assert len(recorder.reports) >= 2


def test_follow_re_release_ignores_old_complete_version(
    sandbox: SandboxServer, client: ElucidatClient
) -> None:
    project_code, record = complete_demo_release(sandbox)
    current_version = int(record["version_number"])
    target = FollowTarget(project_code, str(record["release_code"]), current_version)

    # Nothing was re-released, so the listed version never rises above the current.
    with pytest.raises(TimedOutError):
        follow_release(
            client,
            target,
            schedule=PollSchedule(first=0.02, maximum=0.05, limit=0.2),
        )


def test_follow_already_complete_returns_at_once(
    sandbox: SandboxServer, client: ElucidatClient
) -> None:
    project_code, record = complete_demo_release(sandbox)
    recorder = PollRecorder()

    release = follow_release(
        client,
        FollowTarget(project_code, str(record["release_code"]), None),
        schedule=FAST,
        on_poll=recorder,
    )

    assert release.is_complete
    assert len(recorder.reports) == 1
    assert client.stats.calls["list_releases"] == 1


def test_follow_cancel_from_other_thread(
    sandbox: SandboxServer, client: ElucidatClient, project_code: str
) -> None:
    sandbox.publish_delay = 60.0
    release_code = create(client, project_code)
    cancelled = threading.Event()
    cancel_time: list[float] = []

    def cancel_soon() -> None:
        time.sleep(0.2)
        cancel_time.append(time.monotonic())
        cancelled.set()

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    # The first interval is long, so only the cancel can end the wait in time.
    with pytest.raises(CancelledError) as raised:
        follow_release(
            client,
            FollowTarget(project_code, release_code, None),
            schedule=PollSchedule(first=30.0, maximum=30.0, limit=600.0),
            cancelled=cancelled,
        )
    ended = time.monotonic()
    canceller.join()

    assert ended - cancel_time[0] < 0.5
    assert release_code in str(raised.value)
    assert client.stats.calls["list_releases"] == 1


def test_follow_cancel_before_first_poll(
    client: ElucidatClient, project_code: str
) -> None:
    cancelled = threading.Event()
    cancelled.set()

    with pytest.raises(CancelledError):
        follow_release(
            client,
            FollowTarget(project_code, "5dd580064b0b7", None),
            schedule=FAST,
            cancelled=cancelled,
        )

    assert client.stats.calls["list_releases"] == 0


def test_follow_time_limit(
    sandbox: SandboxServer, client: ElucidatClient, project_code: str
) -> None:
    sandbox.publish_delay = 60.0
    release_code = create(client, project_code)
    recorder = PollRecorder()
    started = time.monotonic()

    with pytest.raises(TimedOutError) as raised:
        follow_release(
            client,
            FollowTarget(project_code, release_code, None),
            schedule=PollSchedule(first=0.05, factor=2.0, maximum=0.1, limit=0.4),
            on_poll=recorder,
        )
    elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 2.0
    assert release_code in str(raised.value)
    assert "history" in str(raised.value)
    assert set(recorder.statuses) == {"publishing"}
    # One more poll happens at the limit, after the last report.
    assert client.stats.calls["list_releases"] == len(recorder.reports) + 1


def test_follow_simulated_release_times_out(
    client: ElucidatClient, project_code: str
) -> None:
    # A simulated create changes nothing, so its code never appears in the list.
    release_code = create(client, project_code, simulation=True)
    recorder = PollRecorder()

    with pytest.raises(TimedOutError):
        follow_release(
            client,
            FollowTarget(project_code, release_code, None),
            schedule=PollSchedule(first=0.02, maximum=0.05, limit=0.2),
            on_poll=recorder,
        )

    assert release_code
    assert recorder.reports
    assert set(recorder.statuses) == {None}


# Failures while polling


def test_follow_retries_transient_errors(
    sandbox: SandboxServer, client: ElucidatClient, project_code: str
) -> None:
    release_code = create(client, project_code)
    sandbox.faults.server_error = 2
    recorder = PollRecorder()

    release = follow_release(
        client,
        FollowTarget(project_code, release_code, None),
        schedule=FAST,
        on_poll=recorder,
    )

    assert release.is_complete
    assert recorder.statuses[:2] == [None, None]
    assert sandbox.faults.server_error == 0


def test_follow_gives_up_after_repeated_failures(
    sandbox: SandboxServer, client: ElucidatClient, project_code: str
) -> None:
    release_code = create(client, project_code)
    sandbox.faults.server_error = 100
    recorder = PollRecorder()

    with pytest.raises(ServerError) as raised:
        follow_release(
            client,
            FollowTarget(project_code, release_code, None),
            schedule=FAST,
            on_poll=recorder,
        )

    assert client.stats.calls["list_releases"] == MAX_CONSECUTIVE_FAILURES
    assert len(recorder.reports) == MAX_CONSECUTIVE_FAILURES - 1
    assert raised.value.status == 500
    assert "stopped following" in str(raised.value)
    assert release_code in str(raised.value)


def test_follow_failure_count_resets_after_success(
    sandbox: SandboxServer, client: ElucidatClient, project_code: str
) -> None:
    sandbox.publish_delay = 60.0
    release_code = create(client, project_code)
    failures_per_burst = MAX_CONSECUTIVE_FAILURES - 1
    polls_before_cancel = 3 * MAX_CONSECUTIVE_FAILURES
    cancelled = threading.Event()
    statuses: list[str | None] = []

    def fail_in_bursts(release: Release | None, seconds_until_next: float) -> None:
        # After each successful poll the next polls fail, one short of the limit, so
        # only a failure count that resets on success keeps the follow going.
        statuses.append(release.status if release else None)
        if release is not None:
            sandbox.faults.server_error = failures_per_burst
        if len(statuses) >= polls_before_cancel:
            cancelled.set()

    with pytest.raises(CancelledError):
        follow_release(
            client,
            FollowTarget(project_code, release_code, None),
            schedule=PollSchedule(first=0.01, maximum=0.01, limit=30.0),
            cancelled=cancelled,
            on_poll=fail_in_bursts,
        )

    assert len(statuses) == polls_before_cancel
    assert statuses.count(None) > MAX_CONSECUTIVE_FAILURES
    assert statuses[:6] == ["publishing", None, None, None, None, "publishing"]


def test_follow_waits_for_retry_after(
    sandbox: SandboxServer, client: ElucidatClient, project_code: str
) -> None:
    release_code = create(client, project_code)
    sandbox.faults.retry_after = 1.0
    sandbox.faults.rate_limit = 1
    recorder = PollRecorder()

    release = follow_release(
        client,
        FollowTarget(project_code, release_code, None),
        schedule=FAST,
        on_poll=recorder,
    )

    assert release.is_complete
    first_release, first_delay = recorder.reports[0]
    assert first_release is None
    assert first_delay >= 1.0
    assert recorder.times[1] - recorder.times[0] >= 0.9


def test_follow_rate_limit_gives_up(
    sandbox: SandboxServer, client: ElucidatClient, project_code: str
) -> None:
    sandbox.faults.retry_after = 0.0
    sandbox.faults.rate_limit = 100

    with pytest.raises(RateLimitedError):
        follow_release(
            client,
            FollowTarget(project_code, "5dd580064b0b7", None),
            schedule=FAST,
        )

    assert client.stats.calls["list_releases"] == MAX_CONSECUTIVE_FAILURES


def test_follow_authentication_error_ends_at_once(
    sandbox: SandboxServer, project_code: str
) -> None:
    with ElucidatClient(
        sandbox.base_url, DEMO_PUBLIC_KEY, "WrongPrivateKey123", max_auth_retries=0
    ) as wrong_key_client:
        with pytest.raises(AuthenticationError):
            follow_release(
                wrong_key_client,
                FollowTarget(project_code, "5dd580064b0b7", None),
                schedule=FAST,
            )

        assert wrong_key_client.stats.calls["list_releases"] == 1


def test_follow_unknown_project_ends_at_once(client: ElucidatClient) -> None:
    with pytest.raises(NotFoundError):
        follow_release(
            client,
            FollowTarget("0000000000000", "5dd580064b0b7", None),
            schedule=FAST,
        )

    assert client.stats.calls["list_releases"] == 1


# Failed releases. The sandbox never fails a release, so a stub list replaces it.


class FixedReleases:
    """A release lister that always returns the same list."""

    def __init__(self, releases: list[Release]) -> None:
        self.releases = releases
        self.calls = 0

    def list_releases(self, project_code: str) -> list[Release]:
        self.calls += 1
        return self.releases


def test_follow_failed_status_raises() -> None:
    lister = FixedReleases([Release("abc123", "scorm", "failed")])

    with pytest.raises(ServerError) as raised:
        follow_release(lister, FollowTarget("p1", "abc123", None), schedule=FAST)

    assert "failed" in str(raised.value)
    assert lister.calls == 1


# The schedule, driven by a fake clock


def test_poll_schedule_intervals() -> None:
    schedule = PollSchedule(first=3.0, factor=1.5, maximum=60.0, limit=3600.0)
    intervals = schedule.intervals()

    first_values = [next(intervals) for _ in range(12)]

    assert first_values[:4] == [3.0, 4.5, 6.75, 10.125]
    assert max(first_values) == 60.0
    assert first_values[-1] == 60.0
    assert first_values == sorted(first_values)


@pytest.mark.parametrize(
    "arguments",
    [
        {"first": 0.0},
        {"first": -1.0},
        {"factor": 0.5},
        {"first": 10.0, "maximum": 5.0},
        {"limit": 0.0},
    ],
)
def test_poll_schedule_rejects_invalid(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="PollSchedule"):
        PollSchedule(**arguments)


def test_follow_default_schedule_with_fake_clock() -> None:
    now = [0.0]
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    lister = FixedReleases([])

    with pytest.raises(TimedOutError):
        follow_release(
            lister,
            FollowTarget("p1", "abc123", None),
            sleep=fake_sleep,
            clock=lambda: now[0],
        )

    assert waits[:3] == [3.0, 4.5, 6.75]
    assert max(waits) == 60.0
    assert sum(waits) == pytest.approx(3600.0)
    assert lister.calls == len(waits) + 1


def test_follow_target_is_done() -> None:
    new = FollowTarget("p1", "r1", None)
    re_release = FollowTarget("p1", "r1", 3)

    assert new.is_done(Release("r1", "scorm", "complete", version_number=1))
    assert not new.is_done(Release("r1", "scorm", "publishing", version_number=1))
    assert not re_release.is_done(Release("r1", "scorm", "complete", version_number=3))
    assert not re_release.is_done(
        Release("r1", "scorm", "publishing", version_number=4)
    )
    assert re_release.is_done(Release("r1", "scorm", "complete", version_number=4))
    assert not re_release.is_done(Release("r1", "scorm", "complete"))
