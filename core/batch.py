"""Re-release many courses as one job.

`BatchRunner` sends the items of a batch through `ReleaseService`, a few at a time on
its own worker threads, so each item is recorded in the history with the batch id like
any single release. Live items are followed by one poller thread for the whole batch,
which lists each project's releases once per round, and their packages can be saved
into one folder. Items are independent: a failed item never stops the others.

Nothing here imports Qt. The window turns `on_item_changed` into a queued signal, and
the command line prints from it.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.errors import (
    CancelledError,
    InputError,
    OutcomeUnknownError,
    ReleaseDeskError,
    ServerError,
    TimedOutError,
)
from core.follow import (
    MAX_CONSECUTIVE_FAILURES,
    TRANSIENT_ERRORS,
    FollowTarget,
    PollSchedule,
)
from core.history import Outcome
from core.models import LearnerAccess, Project, Release, ReleaseMode, ReleaseRequest
from core.service import CreatedRelease, ReleaseService

log = logging.getLogger(__name__)

#: Items sent at the same time by default. Elucidat prepares one release at a time per
#: account, so more parallel sends only make a longer queue on its side.
DEFAULT_CONCURRENCY = 2

# NOTE: a guessed ceiling. Elucidat documents no rate limit, and this keeps a typo such
# as 50 from flooding the account.
MAX_CONCURRENCY = 8

# NOTE: Elucidat does not document the status of a release whose preparation failed.
# These are the same guessed names that core.follow treats as failed.
FAILED_STATUSES = frozenset({"failed", "error"})

STOPPED_FOLLOWING_MESSAGE = (
    "Created, but no longer followed because the batch was cancelled. Elucidat keeps "
    "preparing it, and Release Desk follows it again at the next start."
)


class ItemState(enum.StrEnum):
    """The state of one item of a batch.

    `succeeded` ends a simulated item. A live item goes through `publishing` to
    `complete`, with `downloading` in between when packages are saved. A live item
    that is not followed ends at `publishing`. `cancelled` means the item was never
    sent.
    """

    WAITING = "waiting"
    SENDING = "sending"
    PUBLISHING = "publishing"
    DOWNLOADING = "downloading"
    SUCCEEDED = "succeeded"
    COMPLETE = "complete"
    FAILED = "failed"
    OUTCOME_UNKNOWN = "outcome-unknown"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]


_STATE_LABELS = {
    ItemState.WAITING: "Waiting",
    ItemState.SENDING: "Sending…",
    ItemState.PUBLISHING: "Publishing…",
    ItemState.DOWNLOADING: "Downloading…",
    ItemState.SUCCEEDED: "Simulation succeeded",
    ItemState.COMPLETE: "Complete",
    ItemState.FAILED: "Failed",
    ItemState.OUTCOME_UNKNOWN: "Outcome unknown",
    ItemState.CANCELLED: "Cancelled",
}


class Step(enum.StrEnum):
    """A step of an item that `BatchRunner.retry` runs again."""

    CREATE = "create"
    FOLLOW = "follow"
    DOWNLOAD = "download"


@dataclass(frozen=True)
class BatchItem:
    """One release to re-release, and what has happened to it so far.

    `release_mode` None means "look it up from the release before sending". The
    optional fields None mean "not set for this item": the batch settings or the
    release's own setting apply. `line` is the CSV line the item came from, if any.
    `retry_step` is the step that `BatchRunner.retry` would run, or None when there
    is nothing to retry.
    """

    project_code: str
    release_code: str
    release_mode: ReleaseMode | None = None
    description: str | None = None
    learner_access: LearnerAccess | None = None
    lrs_endpoint_url: str | None = None
    lrs_username: str | None = None
    project_name: str = ""
    line: int | None = None

    state: ItemState = ItemState.WAITING
    message: str = ""
    attempt_id: int | None = None
    follow_target: FollowTarget | None = None
    version_number: int | None = None
    package_path: Path | None = None
    retry_step: Step | None = None
    #: The error behind a failed or outcome-unknown state.
    error: ReleaseDeskError | None = field(default=None, compare=False, repr=False)

    def as_waiting(self) -> BatchItem:
        """Return the item's input with every result field cleared."""
        return dataclasses.replace(
            self,
            state=ItemState.WAITING,
            message="",
            attempt_id=None,
            follow_target=None,
            version_number=None,
            package_path=None,
            retry_step=None,
            error=None,
        )


@dataclass(frozen=True)
class BatchSettings:
    """The values every item of a batch gets, and the steps after each create call.

    `description`, `learner_access` and `lrs_endpoint_url` set to a value replace
    each item's own. Left as None, each item keeps its own value, and an item
    without one keeps the release's setting. A shared LRS endpoint URL brings the
    shared user name with it. `lrs_password` is sent with every item that sends an
    LRS endpoint URL.

    `follow` waits for live items until Elucidat has prepared them, and
    `download_dir` saves the zip package of every scorm and offline-backup item
    there, which implies following.
    """

    simulation: bool = True
    follow: bool = True
    download_dir: Path | None = None
    description: str | None = None
    learner_access: LearnerAccess | None = None
    lrs_endpoint_url: str | None = None
    lrs_username: str | None = None
    lrs_password: str | None = field(default=None, repr=False)
    concurrency: int = DEFAULT_CONCURRENCY
    poll_schedule: PollSchedule = field(default_factory=PollSchedule)

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(
                f"concurrency must be from 1 to {MAX_CONCURRENCY}, got "
                f"{self.concurrency}"
            )

    @property
    def follows(self) -> bool:
        """True when live items are followed until complete."""
        return not self.simulation and (self.follow or self.download_dir is not None)


def build_request(
    item: BatchItem, settings: BatchSettings, mode: ReleaseMode
) -> ReleaseRequest:
    """Return the re-release request for an item under the batch settings."""
    description = item.description
    if settings.description is not None:
        description = settings.description
    lrs_url, lrs_username = item.lrs_endpoint_url, item.lrs_username
    if settings.lrs_endpoint_url:
        lrs_url, lrs_username = settings.lrs_endpoint_url, settings.lrs_username
    return ReleaseRequest(
        project_code=item.project_code,
        release_mode=mode,
        release_code=item.release_code,
        description=description or None,
        learner_access=settings.learner_access or item.learner_access,
        lrs_endpoint_url=lrs_url or None,
        lrs_username=(lrs_username or None) if lrs_url else None,
        lrs_password=settings.lrs_password if lrs_url else None,
    )


@dataclass(frozen=True)
class BatchSummary:
    """The counts of a batch's items by result, and the items that need attention.

    `succeeded` counts simulated items that succeeded, complete items, and live items
    left publishing when following was off. `publishing` counts live items that were
    still being prepared when following stopped. `unfinished` counts items still
    waiting or running. `problems` lists the failed, outcome-unknown, cancelled and
    still-publishing items with their index.
    """

    batch_id: str
    simulation: bool
    total: int
    succeeded: int
    failed: int
    outcome_unknown: int
    cancelled: int
    publishing: int
    unfinished: int
    problems: tuple[tuple[int, BatchItem], ...]

    @property
    def all_succeeded(self) -> bool:
        return self.succeeded == self.total

    def other_counts(self) -> list[str]:
        """Return phrases such as "2 failed" for every non-zero count but successes."""
        counts = (
            (self.failed, "failed"),
            (self.outcome_unknown, "outcome unknown"),
            (self.cancelled, "cancelled"),
            (self.publishing, "still publishing"),
            (self.unfinished, "not finished"),
        )
        return [f"{count} {label}" for count, label in counts if count]


def summarize(
    items: Sequence[BatchItem], settings: BatchSettings, batch_id: str
) -> BatchSummary:
    """Count the items by result, as BatchSummary describes."""
    counts = dict.fromkeys(
        ("succeeded", "failed", "outcome_unknown", "cancelled", "publishing"), 0
    )
    unfinished = 0
    problems: list[tuple[int, BatchItem]] = []
    for index, item in enumerate(items):
        kind = _result_kind(item, settings)
        if kind is None:
            unfinished += 1
            continue
        counts[kind] += 1
        if kind != "succeeded":
            problems.append((index, item))
    return BatchSummary(
        batch_id=batch_id,
        simulation=settings.simulation,
        total=len(items),
        unfinished=unfinished,
        problems=tuple(problems),
        **counts,
    )


def _result_kind(item: BatchItem, settings: BatchSettings) -> str | None:
    state = item.state
    if state in (ItemState.SUCCEEDED, ItemState.COMPLETE) and item.retry_step is None:
        return "succeeded"
    if state is ItemState.COMPLETE:
        # Complete, but the download was cancelled before the package was saved.
        return "cancelled"
    if state is ItemState.PUBLISHING and item.attempt_id is not None:
        if not settings.follows:
            return "succeeded"
        if item.retry_step is not None:
            return "publishing"
        return None
    if state is ItemState.FAILED:
        return "failed"
    if state is ItemState.OUTCOME_UNKNOWN:
        return "outcome_unknown"
    if state is ItemState.CANCELLED:
        return "cancelled"
    return None


class RetryNotAllowedError(ReleaseDeskError):
    """An item cannot be retried now. The message states why and what to do."""

    title = "Cannot retry"


ServiceFactory = Callable[[], ReleaseService]
ItemCallback = Callable[[int, BatchItem], None]
FinishedCallback = Callable[[BatchSummary], None]


@runtime_checkable
class _ProjectLister(Protocol):
    def list_projects(self) -> list[Project]: ...


@dataclass(frozen=True)
class _Followed:
    """An item the poller follows: its release, its history row and when it began."""

    target: FollowTarget
    attempt_id: int
    started: float


class BatchRunner:
    """Runs one batch: bounded parallel sends, one poller, optional downloads.

    `service_factory` is called once on each worker thread and on the poller thread,
    so that each thread has its own client: a `requests.Session` is not shared
    between threads. The threads are started when there is work and end when there
    is none, so an idle runner has no thread.

    `on_item_changed(index, item)` and `on_finished(summary)` are called from the
    runner's threads, and from the caller's thread for `start`, `cancel` and `retry`,
    with the runner's lock held, so every change arrives in order. They must return
    quickly and must not wait for another thread; a GUI posts a queued signal.
    `on_finished` is called each time the batch has no work left, which can happen
    again after `retry`. An exception raised by a callback is logged and ignored.
    """

    def __init__(
        self,
        items: Sequence[BatchItem],
        settings: BatchSettings,
        service_factory: ServiceFactory,
        *,
        on_item_changed: ItemCallback | None = None,
        on_finished: FinishedCallback | None = None,
        batch_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not items:
            raise ValueError("a batch needs at least one item")
        self.batch_id = batch_id or uuid.uuid4().hex
        self.settings = settings
        self._service_factory = service_factory
        self._on_item_changed = on_item_changed
        self._on_finished = on_finished
        self._clock = clock

        self._cond = threading.Condition(threading.RLock())
        self._items = [item.as_waiting() for item in items]
        self._create_queue: deque[int] = deque()
        self._download_queue: deque[int] = deque()
        self._following: dict[int, _Followed] = {}
        self._busy = 0
        self._creates_running = 0
        self._worker_count = 0
        self._poller: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._started = False
        self._paused = False
        self._cancelled = False
        self._cancel_event = threading.Event()
        self._finished_reported = False

        self._names_lock = threading.Lock()
        self._project_names: dict[str, str] | None = None

    # Reading ------------------------------------------------------------------------

    @property
    def items(self) -> list[BatchItem]:
        """A snapshot of every item, in batch order."""
        with self._cond:
            return list(self._items)

    def item(self, index: int) -> BatchItem:
        with self._cond:
            return self._items[index]

    @property
    def is_paused(self) -> bool:
        with self._cond:
            return self._paused

    @property
    def is_cancelled(self) -> bool:
        with self._cond:
            return self._cancelled

    @property
    def is_idle(self) -> bool:
        """True when nothing is queued, running or followed (also before start)."""
        with self._cond:
            return self._is_idle_locked()

    def summary(self) -> BatchSummary:
        with self._cond:
            return summarize(self._items, self.settings, self.batch_id)

    def can_retry(self, index: int) -> bool:
        """True when `retry(index)` would run a step, `force` aside."""
        with self._cond:
            item = self._items[index]
            return item.retry_step is not None and not self._is_active_locked(index)

    # Control ------------------------------------------------------------------------

    def start(self) -> None:
        """Queue every item and start sending. Raises RuntimeError on a second call."""
        with self._cond:
            if self._started:
                raise RuntimeError(f"batch {self.batch_id} is already started")
            self._started = True
            self._create_queue.extend(range(len(self._items)))
            log.info(
                "Batch %s started: %d items, %s, concurrency %d, follow %s, "
                "download folder %s",
                self.batch_id,
                len(self._items),
                "simulation" if self.settings.simulation else "LIVE",
                self.settings.concurrency,
                "on" if self.settings.follows else "off",
                self.settings.download_dir or "none",
            )
            self._spawn_workers_locked()

    def pause(self) -> None:
        """Start no new item; items already sent go on to their end."""
        with self._cond:
            if not self._paused:
                self._paused = True
                log.info("Batch %s paused", self.batch_id)
                self._cond.notify_all()

    def resume(self) -> None:
        """Start sending the waiting items again after `pause`."""
        with self._cond:
            if self._paused:
                self._paused = False
                log.info("Batch %s resumed", self.batch_id)
                self._spawn_workers_locked()
                self._cond.notify_all()

    def cancel(self) -> None:
        """Send no new item, stop following and stop downloads.

        What was sent stays sent: a create call already on its way finishes and its
        item shows the real result. Waiting items become `cancelled`, and followed
        items stay `publishing`, with a note that the window follows them again at
        the next start.
        """
        with self._cond:
            if self._cancelled:
                return
            self._cancelled = True
            self._cancel_event.set()
            waiting = list(self._create_queue)
            self._create_queue.clear()
            for index in waiting:
                self._set_locked(
                    index,
                    state=ItemState.CANCELLED,
                    message="Not sent: the batch was cancelled.",
                    retry_step=Step.CREATE,
                )
            downloads = list(self._download_queue)
            self._download_queue.clear()
            for index in downloads:
                self._set_locked(
                    index,
                    state=ItemState.COMPLETE,
                    message="Complete, but not downloaded: the batch was cancelled.",
                    retry_step=Step.DOWNLOAD,
                )
            followed = list(self._following)
            self._following.clear()
            for index in followed:
                self._set_locked(
                    index,
                    state=ItemState.PUBLISHING,
                    message=STOPPED_FOLLOWING_MESSAGE,
                    retry_step=Step.FOLLOW,
                )
            log.info(
                "Batch %s cancelled: %d waiting items not sent, %d releases no longer "
                "followed, %d downloads not started",
                self.batch_id,
                len(waiting),
                len(followed),
                len(downloads),
            )
            self._report_if_finished_locked()

    def retry(self, index: int, *, force: bool = False) -> None:
        """Run the step that did not finish for one item, again.

        A failed create is sent again, a follow that stopped is resumed, a failed
        download is fetched again: a create call that succeeded is never repeated.
        An outcome-unknown item may already have been created, so it is sent again
        only with `force=True`, which the user asks for after checking the project's
        releases. A retry after `cancel` clears the cancellation for new work.

        Raises RetryNotAllowedError when the item has nothing to retry, is still
        running, or is outcome-unknown without `force`. Raises IndexError for an
        index outside the batch.
        """
        with self._cond:
            item = self._items[index]
            step = item.retry_step
            if step is None or self._is_active_locked(index):
                raise RetryNotAllowedError(
                    f"Item {index + 1} (release {item.release_code}) has nothing to "
                    f"retry: it is {item.state.label.lower().rstrip('…')}."
                )
            if item.state is ItemState.OUTCOME_UNKNOWN and not force:
                raise RetryNotAllowedError(
                    f"Release {item.release_code} of project {item.project_code} may "
                    "already have been re-released, because the connection was lost "
                    "after the request was sent. Check the project's releases in "
                    "Elucidat first, then retry it only if it was not re-released."
                )
            if self._cancelled:
                self._cancelled = False
                self._cancel_event = threading.Event()
            log.info(
                "Batch %s: retrying the %s step of item %d (project %s, release %s)%s",
                self.batch_id,
                step,
                index + 1,
                item.project_code,
                item.release_code,
                ", forced" if force else "",
            )
            self._requeue_locked(index, item, step)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued, running or followed; return False on timeout.

        A paused batch with waiting items is not idle, so this waits for `resume`
        or `cancel`.
        """
        with self._cond:
            return self._cond.wait_for(self._is_idle_locked, timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the runner's threads to end; return False if one is still alive.

        Call it after `wait` or `cancel`, when no new work is expected.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            threads = list(self._threads)
        for thread in threads:
            remaining = (
                None if deadline is None else max(0.0, deadline - time.monotonic())
            )
            thread.join(remaining)
        return not any(thread.is_alive() for thread in threads)

    # State changes, always with the lock held ---------------------------------------

    def _set_locked(self, index: int, **changes: object) -> BatchItem:
        item = dataclasses.replace(self._items[index], **changes)  # type: ignore[arg-type]
        self._items[index] = item
        self._cond.notify_all()
        if self._on_item_changed is not None:
            try:
                self._on_item_changed(index, item)
            except Exception:
                log.exception("on_item_changed failed for item %d", index + 1)
        return item

    def _requeue_locked(self, index: int, item: BatchItem, step: Step) -> None:
        self._finished_reported = False
        if step is Step.CREATE:
            self._set_locked(
                index,
                state=ItemState.WAITING,
                message="",
                error=None,
                retry_step=None,
            )
            self._create_queue.append(index)
            self._spawn_workers_locked()
        elif step is Step.FOLLOW:
            assert item.follow_target is not None
            assert item.attempt_id is not None
            self._set_locked(
                index,
                state=ItemState.PUBLISHING,
                message="Waiting for Elucidat to prepare it.",
                error=None,
                retry_step=None,
            )
            self._follow_locked(index, item.follow_target, item.attempt_id)
        else:
            self._set_locked(
                index,
                state=ItemState.DOWNLOADING,
                message="",
                error=None,
                retry_step=None,
            )
            self._download_queue.append(index)
            self._spawn_workers_locked()

    def _follow_locked(self, index: int, target: FollowTarget, attempt_id: int) -> None:
        self._following[index] = _Followed(target, attempt_id, self._clock())
        if self._poller is None:
            self._poller = self._start_thread(self._poll, "poller")

    def _is_idle_locked(self) -> bool:
        return not (
            self._create_queue or self._download_queue or self._following or self._busy
        )

    def _is_active_locked(self, index: int) -> bool:
        state = self._items[index].state
        running = (ItemState.WAITING, ItemState.SENDING, ItemState.DOWNLOADING)
        return state in running or index in self._following

    def _sends_active_locked(self) -> bool:
        """True while create calls are running or about to start."""
        if self._creates_running:
            return True
        return bool(self._create_queue) and not (self._paused or self._cancelled)

    def _report_if_finished_locked(self) -> None:
        if not self._started or self._finished_reported or not self._is_idle_locked():
            return
        self._finished_reported = True
        summary = summarize(self._items, self.settings, self.batch_id)
        log.info(
            "Batch %s finished: %d of %d succeeded, %d failed, %d outcome unknown, "
            "%d cancelled, %d still publishing",
            self.batch_id,
            summary.succeeded,
            summary.total,
            summary.failed,
            summary.outcome_unknown,
            summary.cancelled,
            summary.publishing,
        )
        if self._on_finished is not None:
            try:
                self._on_finished(summary)
            except Exception:
                log.exception("on_finished failed for batch %s", self.batch_id)

    # Threads ------------------------------------------------------------------------

    def _spawn_workers_locked(self) -> None:
        available = len(self._download_queue)
        if not (self._paused or self._cancelled):
            available += len(self._create_queue)
        while (
            self._worker_count < self.settings.concurrency
            and self._worker_count - self._busy < available
        ):
            self._worker_count += 1
            self._start_thread(self._work, f"worker-{len(self._threads) + 1}")

    def _start_thread(self, target: Callable[[], None], role: str) -> threading.Thread:
        thread = threading.Thread(
            target=target, name=f"batch-{self.batch_id[:8]}-{role}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return thread

    def _take_task_locked(self) -> tuple[Step, int] | None:
        if self._download_queue:
            self._busy += 1
            return Step.DOWNLOAD, self._download_queue.popleft()
        if self._create_queue and not (self._paused or self._cancelled):
            index = self._create_queue.popleft()
            self._busy += 1
            self._creates_running += 1
            self._set_locked(index, state=ItemState.SENDING, message="")
            return Step.CREATE, index
        return None

    def _work(self) -> None:
        """Run tasks on a worker thread until none is ready, then end the thread."""
        service: ReleaseService | None = None
        while True:
            with self._cond:
                task = self._take_task_locked()
                if task is None:
                    self._worker_count -= 1
                    self._report_if_finished_locked()
                    return
            step, index = task
            try:
                if service is None:
                    service = self._make_service(index, step)
                if service is not None:
                    if step is Step.CREATE:
                        self._run_create(service, index)
                    else:
                        self._run_download(service, index)
            finally:
                with self._cond:
                    self._busy -= 1
                    if step is Step.CREATE:
                        self._creates_running -= 1
                    self._cond.notify_all()
                    self._report_if_finished_locked()

    def _make_service(self, index: int, step: Step) -> ReleaseService | None:
        """Return this thread's service, or record why there is none on the item."""
        try:
            return self._service_factory()
        except ReleaseDeskError as error:
            log.warning(
                "Batch %s: no connection for item %d: %s",
                self.batch_id,
                index + 1,
                error,
            )
            with self._cond:
                self._fail_locked(index, error, step)
            return None

    def _fail_locked(
        self,
        index: int,
        error: ReleaseDeskError,
        step: Step,
        *,
        retry_step: Step | None = None,
    ) -> None:
        """Record a failed step; `retry_step` defaults to the step itself."""
        state = ItemState.FAILED
        if isinstance(error, OutcomeUnknownError):
            state = ItemState.OUTCOME_UNKNOWN
        message = str(error)
        if step is Step.DOWNLOAD:
            message = f"Complete, but the package was not saved: {error}"
        elif step is Step.FOLLOW:
            message = f"Created, but following it failed: {error}"
        self._set_locked(
            index,
            state=state,
            message=message,
            error=error,
            retry_step=retry_step or step,
        )

    # Sending ------------------------------------------------------------------------

    def _run_create(self, service: ReleaseService, index: int) -> None:
        item = self.item(index)
        try:
            # NOTE: a failure here or in the service's read of the current version
            # comes before the history row is written, so such an item has no row.
            mode = item.release_mode or self._look_up_mode(service, item)
            project_name = item.project_name or self._project_name(
                service, item.project_code
            )
            request = build_request(item, self.settings, mode)
            created = service.create(
                request,
                simulation=self.settings.simulation,
                project_name=project_name,
                batch_id=self.batch_id,
            )
        except ReleaseDeskError as error:
            log.warning(
                "Batch %s: item %d (project %s, release %s) failed: %s",
                self.batch_id,
                index + 1,
                item.project_code,
                item.release_code,
                error,
            )
            with self._cond:
                self._fail_locked(index, error, Step.CREATE)
            return
        except Exception as error:
            # A bug: whether the create call went out is unknown, so the item is
            # never sent again without the user asking.
            log.exception(
                "Batch %s: unexpected error on item %d (project %s, release %s)",
                self.batch_id,
                index + 1,
                item.project_code,
                item.release_code,
            )
            unknown = OutcomeUnknownError(
                f"Release Desk failed unexpectedly ({type(error).__name__}) while "
                f"re-releasing release {item.release_code}, so it may or may not have "
                f"been re-released. Check the releases of project {item.project_code} "
                "before retrying; the details are in the log file."
            )
            with self._cond:
                self._fail_locked(index, unknown, Step.CREATE)
            return
        self._after_create(index, created, mode, project_name)

    def _after_create(
        self, index: int, created: CreatedRelease, mode: ReleaseMode, project_name: str
    ) -> None:
        with self._cond:
            common: dict[str, object] = {
                "release_mode": mode,
                "project_name": project_name,
                "attempt_id": created.attempt_id,
                "error": None,
            }
            if self.settings.simulation:
                self._set_locked(
                    index,
                    state=ItemState.SUCCEEDED,
                    message=created.result.message,
                    **common,
                )
                return
            target = created.follow_target
            common["follow_target"] = target
            if not self.settings.follows:
                self._set_locked(
                    index,
                    state=ItemState.PUBLISHING,
                    message="Created. Elucidat is preparing it; it is not followed "
                    "here, and Release Desk follows it at the next start.",
                    **common,
                )
            elif self._cancelled:
                self._set_locked(
                    index,
                    state=ItemState.PUBLISHING,
                    message=STOPPED_FOLLOWING_MESSAGE,
                    retry_step=Step.FOLLOW,
                    **common,
                )
            else:
                self._set_locked(
                    index,
                    state=ItemState.PUBLISHING,
                    message="Created. Waiting for Elucidat to prepare it.",
                    **common,
                )
                self._follow_locked(index, target, created.attempt_id)

    def _look_up_mode(self, service: ReleaseService, item: BatchItem) -> ReleaseMode:
        """Read the release's mode, which a re-release must repeat."""
        release = service.client.release_details(item.release_code)
        listed_project = release.project.project_code if release.project else ""
        if listed_project and listed_project != item.project_code:
            raise InputError(
                f"Release {item.release_code} belongs to project {listed_project}, "
                f"not to project {item.project_code}. Correct the project code of "
                "this item."
            )
        mode = release.mode
        if mode is None:
            raise InputError(
                f"Release {item.release_code} has the release mode "
                f"'{release.release_mode}', which Release Desk does not know, so it "
                "cannot re-release it."
            )
        return mode

    def _project_name(self, service: ReleaseService, project_code: str) -> str:
        """Return the project's name for the history; one project list per batch."""
        with self._names_lock:
            if self._project_names is None:
                names: dict[str, str] = {}
                client = service.client
                if isinstance(client, _ProjectLister):
                    try:
                        names = {p.project_code: p.name for p in client.list_projects()}
                    except ReleaseDeskError as error:
                        log.warning(
                            "Batch %s: could not list the projects for their names: %s",
                            self.batch_id,
                            error,
                        )
                self._project_names = names
            return self._project_names.get(project_code, "")

    # Downloading --------------------------------------------------------------------

    def _run_download(self, service: ReleaseService, index: int) -> None:
        with self._cond:
            item = self._items[index]
            cancelled = self._cancel_event
        assert item.attempt_id is not None
        assert self.settings.download_dir is not None
        try:
            path = service.download(
                item.attempt_id, self.settings.download_dir, cancelled=cancelled
            )
        except CancelledError:
            with self._cond:
                self._set_locked(
                    index,
                    state=ItemState.COMPLETE,
                    message="Complete, but not downloaded: the batch was cancelled.",
                    retry_step=Step.DOWNLOAD,
                )
            return
        except ReleaseDeskError as error:
            log.warning(
                "Batch %s: download of release %s failed: %s",
                self.batch_id,
                item.release_code,
                error,
            )
            with self._cond:
                self._fail_locked(index, error, Step.DOWNLOAD)
            return
        except Exception as error:
            log.exception(
                "Batch %s: unexpected error downloading release %s",
                self.batch_id,
                item.release_code,
            )
            failure = ReleaseDeskError(
                f"Release Desk failed unexpectedly ({type(error).__name__}) while "
                f"saving the package of release {item.release_code}. Retry the item; "
                "the details are in the log file."
            )
            with self._cond:
                self._fail_locked(index, failure, Step.DOWNLOAD)
            return
        with self._cond:
            self._set_locked(
                index,
                state=ItemState.COMPLETE,
                message=f"Complete. Package saved as {path.name}.",
                package_path=path,
                retry_step=None,
            )

    # Following ----------------------------------------------------------------------

    def _poll(self) -> None:
        """List each followed project's releases once per round, until none is left."""
        schedule = self.settings.poll_schedule
        intervals = schedule.intervals()
        failures: dict[str, int] = {}
        service: ReleaseService | None = None
        while True:
            with self._cond:
                # Polls wait while create calls run or are queued, because they would
                # compete with the sends, and Elucidat prepares one release at a
                # time, so the first ones are seldom ready before the last is sent.
                waited_for_sends = False
                while self._following and self._sends_active_locked():
                    waited_for_sends = True
                    self._cond.wait()
                if not self._following:
                    self._poller = None
                    self._report_if_finished_locked()
                    return
                snapshot = dict(self._following)
            if waited_for_sends:
                intervals = schedule.intervals()

            if service is None:
                service = self._make_poll_service(snapshot)
            if service is not None:
                self._poll_round(service, snapshot, failures)

            delay = next(intervals)
            with self._cond:
                self._cond.wait_for(lambda: not self._following, timeout=delay)

    def _make_poll_service(
        self, snapshot: dict[int, _Followed]
    ) -> ReleaseService | None:
        try:
            return self._service_factory()
        except ReleaseDeskError as error:
            log.warning(
                "Batch %s: no connection for following: %s", self.batch_id, error
            )
            self._stop_following(snapshot, list(snapshot), error)
            return None

    def _poll_round(
        self,
        service: ReleaseService,
        snapshot: dict[int, _Followed],
        failures: dict[str, int],
    ) -> None:
        by_project: dict[str, list[int]] = {}
        for index, followed in snapshot.items():
            by_project.setdefault(followed.target.project_code, []).append(index)

        for project_code, indices in by_project.items():
            try:
                releases = service.client.list_releases(project_code)
            except TRANSIENT_ERRORS as error:
                failures[project_code] = failures.get(project_code, 0) + 1
                log.warning(
                    "Batch %s: poll %d in a row failed for project %s: %s",
                    self.batch_id,
                    failures[project_code],
                    project_code,
                    error,
                )
                if failures[project_code] >= MAX_CONSECUTIVE_FAILURES:
                    failures[project_code] = 0
                    self._stop_following(snapshot, indices, error)
                continue
            except ReleaseDeskError as error:
                self._stop_following(snapshot, indices, error)
                continue
            failures[project_code] = 0
            listed = {release.release_code: release for release in releases}
            for index in indices:
                followed = snapshot[index]
                release = listed.get(followed.target.release_code)
                self._check_followed(service, index, followed, release)

    def _check_followed(
        self,
        service: ReleaseService,
        index: int,
        followed: _Followed,
        release: Release | None,
    ) -> None:
        target = followed.target
        if release is not None and target.is_done(release):
            self._mark_complete(service, index, followed, release)
            return
        if release is not None and release.status.lower() in FAILED_STATUSES:
            error: ReleaseDeskError = ServerError(
                f"Elucidat lists release {target.release_code} of project "
                f"{target.project_code} with status '{release.status}', so it was not "
                "published. Check the release in Elucidat, then retry the item."
            )
            self._stop_following(
                {index: followed}, [index], error, retry_step=Step.CREATE
            )
            return
        limit = self.settings.poll_schedule.limit
        if self._clock() - followed.started > limit:
            error = TimedOutError(
                f"Release {target.release_code} was not complete after {limit:.0f} "
                "seconds. It is probably still being prepared: retry the item to "
                "follow it again; Release Desk also follows it at the next start."
            )
            self._stop_following({index: followed}, [index], error)
            return
        status = release.status if release is not None else "not listed yet"
        with self._cond:
            if self._following.get(index) is followed:
                message = f"Waiting for Elucidat to prepare it (status: {status})."
                if self._items[index].message != message:
                    self._set_locked(index, message=message)

    def _mark_complete(
        self,
        service: ReleaseService,
        index: int,
        followed: _Followed,
        release: Release,
    ) -> None:
        try:
            service.history.update(
                followed.attempt_id,
                outcome=Outcome.COMPLETE,
                version_number=release.version_number,
                launch_url=release.launch_url,
            )
        except ReleaseDeskError as error:
            log.warning(
                "Batch %s: could not record attempt %d as complete: %s",
                self.batch_id,
                followed.attempt_id,
                error,
            )
        with self._cond:
            if self._following.get(index) is not followed:
                return
            del self._following[index]
            item = self._items[index]
            version = release.version_number
            done = f"Complete (version {version if version is not None else '?'})."
            wants_package = self.settings.download_dir is not None
            is_package = item.release_mode is not None and item.release_mode.is_package
            if wants_package and is_package and not self._cancelled:
                self._set_locked(
                    index,
                    state=ItemState.DOWNLOADING,
                    message=f"{done} Downloading its package.",
                    version_number=version,
                )
                self._download_queue.append(index)
                self._spawn_workers_locked()
                return
            if wants_package and is_package:
                self._set_locked(
                    index,
                    state=ItemState.COMPLETE,
                    message=f"{done} Not downloaded: the batch was cancelled.",
                    version_number=version,
                    retry_step=Step.DOWNLOAD,
                )
                return
            if wants_package:
                done += " Online release: there is no package to save."
            self._set_locked(
                index, state=ItemState.COMPLETE, message=done, version_number=version
            )

    def _stop_following(
        self,
        snapshot: dict[int, _Followed],
        indices: Sequence[int],
        error: ReleaseDeskError,
        *,
        retry_step: Step = Step.FOLLOW,
    ) -> None:
        with self._cond:
            for index in indices:
                if self._following.get(index) is not snapshot[index]:
                    continue
                del self._following[index]
                self._fail_locked(index, error, Step.FOLLOW, retry_step=retry_step)
