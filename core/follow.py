"""Follow a release until Elucidat has finished preparing it.

`releases/create` returns as soon as Elucidat has accepted the job. The release is then
prepared asynchronously, one release at a time per account and often 5 to 15 minutes
each, and shows up in `GET releases` with status `complete` when it is ready. A new
release keeps the code from the create reply. A re-release keeps its code, and its
`version_number` goes up.

`follow_release` polls the project's release list on a growing interval until the
release is complete, the time limit passes, or the caller cancels.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from core.errors import (
    CancelledError,
    NetworkError,
    RateLimitedError,
    ReleaseDeskError,
    ServerError,
    TimedOutError,
)
from core.models import Release

logger = logging.getLogger(__name__)

#: Read errors that may pass on their own. A poll that fails with one of these is
#: retried at the next interval. Any other error (AuthenticationError, NotFoundError,
#: InvalidRequestError) ends the follow at once.
TRANSIENT_ERRORS: tuple[type[ReleaseDeskError], ...] = (
    NetworkError,
    TimedOutError,
    ServerError,
    RateLimitedError,
)

#: Number of failed polls in a row after which the follow gives up.
MAX_CONSECUTIVE_FAILURES = 5

# NOTE: Elucidat does not document the status of a release whose preparation failed.
# These names are a guess. Any other status that is not `complete` is treated as
# still being prepared.
_FAILED_STATUSES = frozenset({"failed", "error"})


class ReleaseLister(Protocol):
    """The part of `ElucidatClient` that following a release needs."""

    def list_releases(self, project_code: str) -> list[Release]: ...


@dataclass(frozen=True)
class PollSchedule:
    """Intervals between polls, in seconds, and the total time limit.

    The intervals start at `first` and grow by `factor` up to `maximum`. The follow
    gives up `limit` seconds after it started. The defaults suit Elucidat, which
    prepares one release at a time per account, often 5 to 15 minutes each.
    """

    first: float = 3.0
    factor: float = 1.5
    maximum: float = 60.0
    limit: float = 3600.0

    def __post_init__(self) -> None:
        if self.first <= 0:
            raise ValueError(f"PollSchedule.first must be positive, got {self.first}")
        if self.factor < 1:
            raise ValueError(f"PollSchedule.factor must be >= 1, got {self.factor}")
        if self.maximum < self.first:
            raise ValueError(
                f"PollSchedule.maximum ({self.maximum}) must be >= first ({self.first})"
            )
        if self.limit <= 0:
            raise ValueError(f"PollSchedule.limit must be positive, got {self.limit}")

    def intervals(self) -> Iterator[float]:
        """Yield the wait before each next poll: first, first * factor, ... maximum."""
        interval = self.first
        while True:
            yield interval
            interval = min(interval * self.factor, self.maximum)


@dataclass(frozen=True)
class FollowTarget:
    """The release to follow.

    `previous_version` is None for a new release, which is done when its code is
    listed as complete. For a re-release it is the version number before the
    re-release, and the release is done when it is listed as complete with a higher
    version number.
    """

    project_code: str
    release_code: str
    previous_version: int | None = None

    @property
    def is_re_release(self) -> bool:
        return self.previous_version is not None

    def is_done(self, release: Release) -> bool:
        """Return True when `release` shows that publishing has finished."""
        if not release.is_complete:
            return False
        if self.previous_version is None:
            return True
        # NOTE: a re-release whose record has no version number never counts as done,
        # because nothing else in the list shows that the re-release has finished.
        version = release.version_number
        return version is not None and version > self.previous_version


_E = TypeVar("_E", bound=ReleaseDeskError)

PollCallback = Callable[[Release | None, float], None]


def follow_release(
    client: ReleaseLister,
    target: FollowTarget,
    *,
    schedule: PollSchedule | None = None,
    cancelled: threading.Event | None = None,
    on_poll: PollCallback | None = None,
    sleep: Callable[[float], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Release:
    """Poll `list_releases` until the target release is complete, and return it.

    Each poll is one `list_releases(target.project_code)` call. After each poll,
    `on_poll(release, seconds_until_next)` receives the release as listed (None when
    it is not listed yet or the poll failed) and the wait before the next poll, which
    is 0.0 on the poll that finds the release complete.

    The wait between polls is `sleep(seconds)`. By default that is
    `cancelled.wait(seconds)`, so setting `cancelled` from another thread ends the
    wait at once. `clock` returns monotonic seconds. Both are parameters so that a
    test can drive time.

    Raises:
        CancelledError: `cancelled` was set.
        TimedOutError: the release was not complete after `schedule.limit` seconds.
            It may still be published later.
        ServerError, NetworkError, TimedOutError, RateLimitedError: the last of
            MAX_CONSECUTIVE_FAILURES failed polls in a row, with a note added to its
            text.
        AuthenticationError, NotFoundError, InvalidRequestError: raised by a poll,
            passed on at once.
        ServerError: Elucidat lists the release with a failed status.
    """
    schedule = schedule or PollSchedule()
    cancel_event = cancelled if cancelled is not None else threading.Event()
    wait = sleep if sleep is not None else cancel_event.wait

    started = clock()
    deadline = started + schedule.limit
    intervals = schedule.intervals()
    failures = 0
    logger.info(
        "Following release %s of project %s (previous version %s)",
        target.release_code,
        target.project_code,
        target.previous_version,
    )

    while True:
        _raise_if_cancelled(cancel_event, target)

        release: Release | None = None
        retry_after: float | None = None
        try:
            release = _find_release(client, target)
        except TRANSIENT_ERRORS as error:
            failures += 1
            logger.warning(
                "Poll %d in a row failed for release %s of project %s: %s",
                failures,
                target.release_code,
                target.project_code,
                error,
            )
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise _with_follow_note(error, target, failures) from error
            if isinstance(error, RateLimitedError):
                retry_after = error.retry_after
        else:
            failures = 0

        if release is not None and target.is_done(release):
            logger.info(
                "Release %s of project %s is complete (version %s) after %.1f s",
                target.release_code,
                target.project_code,
                release.version_number,
                clock() - started,
            )
            if on_poll is not None:
                on_poll(release, 0.0)
            return release
        if release is not None:
            _raise_if_failed(release, target)

        remaining = deadline - clock()
        if remaining <= 0:
            raise _timed_out(target, schedule.limit)

        interval = next(intervals)
        if retry_after is not None:
            interval = max(interval, retry_after)
        delay = min(interval, remaining)
        if on_poll is not None:
            on_poll(release, delay)
        wait(delay)


def _find_release(client: ReleaseLister, target: FollowTarget) -> Release | None:
    releases = client.list_releases(target.project_code)
    for release in releases:
        if release.release_code == target.release_code:
            logger.debug(
                "Release %s of project %s: status %r, version %s",
                target.release_code,
                target.project_code,
                release.status,
                release.version_number,
            )
            return release
    logger.debug(
        "Release %s is not listed yet in project %s (%d releases listed)",
        target.release_code,
        target.project_code,
        len(releases),
    )
    return None


def _raise_if_cancelled(cancelled: threading.Event, target: FollowTarget) -> None:
    if cancelled.is_set():
        logger.info(
            "Stopped following release %s of project %s: cancelled",
            target.release_code,
            target.project_code,
        )
        raise CancelledError(
            f"Stopped following release {target.release_code}. Publishing continues "
            "on Elucidat: follow the release again later from the history."
        )


def _raise_if_failed(release: Release, target: FollowTarget) -> None:
    if release.status.lower() not in _FAILED_STATUSES:
        return
    logger.warning(
        "Release %s of project %s is listed with status %r",
        target.release_code,
        target.project_code,
        release.status,
    )
    raise ServerError(
        f"Elucidat lists release {target.release_code} of project "
        f"{target.project_code} with status '{release.status}', so it was not "
        "published. Check the release in Elucidat, then release the project again."
    )


def _timed_out(target: FollowTarget, limit: float) -> TimedOutError:
    logger.warning(
        "Stopped following release %s of project %s: not complete after %s",
        target.release_code,
        target.project_code,
        _format_duration(limit),
    )
    return TimedOutError(
        f"Release {target.release_code} was not complete after "
        f"{_format_duration(limit)}. It is probably still being prepared on Elucidat: "
        "follow it again later from the history."
    )


def _with_follow_note(error: _E, target: FollowTarget, failures: int) -> _E:
    """Return a copy of `error`, of the same class, with a sentence about the follow
    added to its text."""
    message = (
        f"{error.message} Release Desk stopped following release "
        f"{target.release_code} after {failures} failed checks in a row. Publishing "
        "continues on Elucidat: follow the release again later from the history."
    )
    noted = copy.copy(error)
    noted.args = (message,)
    noted.message = message
    return noted


def _format_duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    if seconds >= 10:
        return f"{seconds:.0f} seconds"
    return f"{seconds:.1f} seconds"
