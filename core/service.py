"""One release attempt from start to finish, recorded in the history at every step.

The window, the command line and the batch queue all make releases through
`ReleaseService`, so each attempt is recorded the same way. The history row is written
before the create call is sent and updated after it. A crash or a lost connection
therefore leaves an honest "outcome unknown" row, and nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from core.download import download_package
from core.errors import (
    CancelledError,
    OutcomeUnknownError,
    ReleaseDeskError,
)
from core.follow import FollowTarget, PollSchedule, follow_release
from core.history import Attempt, HistoryStore, Outcome
from core.models import CreateResult, Release, ReleaseRequest

log = logging.getLogger(__name__)


class ReleaseClient(Protocol):
    """The calls of `core.client.ElucidatClient` that a release attempt uses."""

    def create_release(
        self, request: ReleaseRequest, *, simulation: bool
    ) -> CreateResult: ...

    def release_details(self, release_code: str) -> Release: ...

    def list_releases(self, project_code: str) -> list[Release]: ...


@dataclass(frozen=True)
class CreatedRelease:
    """A create call that succeeded, and where it is recorded."""

    attempt_id: int
    result: CreateResult
    request: ReleaseRequest
    #: The re-released release's version before this call, for following it.
    previous_version: int | None

    @property
    def follow_target(self) -> FollowTarget:
        return FollowTarget(
            project_code=self.request.project_code,
            release_code=self.result.release_code or (self.request.release_code or ""),
            previous_version=self.previous_version,
        )


class ReleaseService:
    """Makes release attempts with one client and records them in one history."""

    def __init__(
        self,
        client: ReleaseClient,
        history: HistoryStore,
        *,
        account_name: str,
        base_url: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.history = history
        self.account_name = account_name
        self.base_url = base_url
        self._clock = clock

    def create(
        self,
        request: ReleaseRequest,
        *,
        simulation: bool,
        project_name: str = "",
        batch_id: str | None = None,
    ) -> CreatedRelease:
        """Send one create call, recording it before and after.

        Raises the client's typed errors after recording them, with the history row's
        id in their `attempt_id`. A live re-release first reads the release's current
        version (a read, safe to repeat) so that following it later can tell the new
        version from the old one.
        """
        attempt_id = self.history.record_sending(
            Attempt(
                time=datetime.now(UTC).isoformat(timespec="seconds"),
                account=self.account_name,
                base_url=self.base_url,
                project_code=request.project_code,
                project_name=project_name,
                release_mode=str(request.release_mode),
                re_release_of=request.release_code or "",
                description=request.description or "",
                learner_access=str(request.learner_access or ""),
                lrs_endpoint=request.lrs_endpoint_url or "",
                lrs_username=request.lrs_username or "",
                simulation=simulation,
                outcome=Outcome.SENDING,
                batch_id=batch_id,
            )
        )
        started = self._clock()

        previous_version = None
        if request.release_code and not simulation:
            try:
                current = self.client.release_details(request.release_code)
            except BaseException as error:
                # Only a read was made, so the create was never sent.
                self._record_failure(attempt_id, error, Outcome.FAILED, started)
                raise
            previous_version = current.version_number
            self.history.update(attempt_id, version_number=previous_version)

        log.info(
            "Create %s: project %s, mode %s, re-release of %s, attempt %d",
            "simulation" if simulation else "LIVE",
            request.project_code,
            request.release_mode,
            request.release_code or "-",
            attempt_id,
        )

        try:
            result = self.client.create_release(request, simulation=simulation)
        except OutcomeUnknownError as error:
            self._record_failure(attempt_id, error, Outcome.OUTCOME_UNKNOWN, started)
            raise
        except ReleaseDeskError as error:
            self._record_failure(attempt_id, error, Outcome.FAILED, started)
            raise
        except BaseException as error:
            # A bug or an interrupt: what happened on the server is unknown.
            self._record_failure(attempt_id, error, Outcome.OUTCOME_UNKNOWN, started)
            raise

        outcome = Outcome.SUCCEEDED if simulation else Outcome.PUBLISHING
        self.history.update(
            attempt_id,
            outcome=outcome,
            release_code=result.release_code or request.release_code or "",
            server_message=result.message,
            http_status=result.status,
            duration_ms=self._elapsed_ms(started),
        )
        return CreatedRelease(attempt_id, result, request, previous_version)

    def follow(
        self,
        attempt_id: int,
        target: FollowTarget,
        *,
        schedule: PollSchedule | None = None,
        cancelled: threading.Event | None = None,
        on_poll: Callable[[Release | None, float], None] | None = None,
    ) -> Release:
        """Poll until the release is complete, then mark the history row complete."""
        release = follow_release(
            self.client,
            target,
            schedule=schedule or PollSchedule(),
            cancelled=cancelled,
            on_poll=on_poll,
        )
        self.history.update(
            attempt_id,
            outcome=Outcome.COMPLETE,
            version_number=release.version_number,
            launch_url=release.launch_url,
        )
        log.info(
            "Release %s of project %s is complete (version %s)",
            target.release_code,
            target.project_code,
            release.version_number,
        )
        return release

    def download(
        self,
        attempt_id: int,
        target_dir: Path,
        *,
        progress: Callable[[int, int | None], None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> Path:
        """Download the attempt's package into target_dir and record the saved path."""
        attempt = self.history.get(attempt_id)
        path = download_package(
            self.client,  # type: ignore[arg-type]
            attempt.release_code,
            target_dir,
            project_code=attempt.project_code,
            project_name=attempt.project_name,
            release_mode=attempt.release_mode,
            version=attempt.version_number,
            progress=progress,
            cancelled=cancelled,
        )
        self.history.update(attempt_id, package_path=str(path))
        return path

    def _record_failure(
        self, attempt_id: int, error: BaseException, outcome: Outcome, started: float
    ) -> None:
        if isinstance(error, ReleaseDeskError):
            error.attempt_id = attempt_id
        if isinstance(error, CancelledError):
            outcome = Outcome.OUTCOME_UNKNOWN
        self.history.update(
            attempt_id,
            outcome=outcome,
            server_message=str(error),
            http_status=getattr(error, "status", None),
            duration_ms=self._elapsed_ms(started),
        )
        log.warning("Create failed (%s) for attempt %d: %s", outcome, attempt_id, error)

    def _elapsed_ms(self, started: float) -> int:
        return round((self._clock() - started) * 1000)
