"""The sandbox account: demo projects and releases, and their thread-safe state.

Release records follow Elucidat's v2 replies: numbers as strings ("3"), dates as
"YYYY-MM-DD HH:MM:SS" in UTC, "0000-00-00 00:00:00" for a release never modified, and
`download_url` null for online modes.

Publishing model. A new release is listed with status "publishing" at version 1, and
turns "complete" `publish_delay` seconds after its turn begins. A re-release keeps its
release code, goes back to "publishing", and its `version_number` goes up by one when it
completes. Elucidat publishes one release at a time per account, so the sandbox keeps a
simple first-in, first-out queue: each release starts when the one before it has
finished, and a queued release is also listed as "publishing". State is brought up to
date whenever it is read, so a delay of 0 means complete on the next read.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

PUBLISHING = "publishing"
COMPLETE = "complete"
ZERO_DATE = "0000-00-00 00:00:00"

RELEASE_MODES = ("online-public", "online-private", "scorm", "offline-backup")
PACKAGE_MODES = frozenset({"scorm", "offline-backup"})
LEARNER_ACCESS_VALUES = ("any", "identify", "restricted")


@dataclass
class Account:
    """The one account the sandbox serves."""

    company_name: str
    company_email: str
    subscription_level: str
    created: str


@dataclass
class Project:
    """A project and the settings a release inherits when a field is left out."""

    project_code: str
    name: str
    created: str
    modified: str
    learner_access: str
    lrs_endpoint: str = ""


@dataclass
class Release:
    """A release and its publishing state."""

    release_code: str
    project_code: str
    release_mode: str
    description: str
    learner_access: str
    lrs_endpoint: str
    version: int
    created: str
    modified: str
    status: str = COMPLETE
    view_count: int = 0
    pass_count: int = 0
    lrs_username: str = ""
    #: time.monotonic() at which publishing completes; None when complete.
    ready_at: float | None = None
    #: True while a re-release is publishing: completion raises the version by one.
    raises_version: bool = False

    @property
    def is_package(self) -> bool:
        return self.release_mode in PACKAGE_MODES


@dataclass
class AccountState:
    """Everything the sandbox account contains, guarded by one lock.

    Readers get copies, so a record never changes under a caller's feet. API handlers
    that validate and then write hold `lock` across both steps through `transaction()`.
    """

    account: Account
    projects: dict[str, Project]
    releases: dict[str, Release]
    publish_delay: float = 5.0
    clock: Callable[[], float] = time.monotonic
    lock: threading.RLock = field(default_factory=threading.RLock)
    _queue_free_at: float = field(default=0.0, init=False, repr=False)
    _last_code_micros: int = field(default=0, init=False, repr=False)

    @contextmanager
    def transaction(self) -> Iterator[AccountState]:
        """Hold the lock with publishing brought up to date."""
        with self.lock:
            self.advance()
            yield self

    def advance(self) -> None:
        """Complete every release whose publishing time has passed."""
        now = self.clock()
        with self.lock:
            for release in self.releases.values():
                if release.ready_at is None or release.ready_at > now:
                    continue
                release.status = COMPLETE
                release.ready_at = None
                release.modified = format_date(time.time())
                if release.raises_version:
                    release.version += 1
                    release.raises_version = False

    def get_project(self, project_code: str) -> Project | None:
        with self.transaction():
            project = self.projects.get(project_code)
            return copy.copy(project) if project else None

    def get_release(self, release_code: str) -> Release | None:
        with self.transaction():
            release = self.releases.get(release_code)
            return copy.copy(release) if release else None

    def list_projects(self) -> list[Project]:
        with self.transaction():
            ordered = sorted(self.projects.values(), key=lambda p: p.created)
            return [copy.copy(project) for project in ordered]

    def list_releases(self, project_code: str) -> list[Release]:
        """Return the project's releases, newest first."""
        with self.transaction():
            found = [
                copy.copy(release)
                for release in self.releases.values()
                if release.project_code == project_code
            ]
        found.sort(key=lambda release: release.created, reverse=True)
        return found

    def add_release(
        self,
        project: Project,
        *,
        release_mode: str,
        description: str,
        learner_access: str,
        lrs_endpoint: str,
        lrs_username: str,
    ) -> Release:
        """Create a release at version 1 and queue it for publishing."""
        with self.transaction():
            now = time.time()
            release = Release(
                release_code=self.new_release_code(),
                project_code=project.project_code,
                release_mode=release_mode,
                description=description,
                learner_access=learner_access,
                lrs_endpoint=lrs_endpoint,
                lrs_username=lrs_username,
                version=1,
                created=format_date(now),
                modified=ZERO_DATE,
            )
            self._queue(release)
            self.releases[release.release_code] = release
            return copy.copy(release)

    def re_release(
        self,
        release_code: str,
        *,
        description: str | None,
        learner_access: str | None,
        lrs_endpoint: str | None,
        lrs_username: str | None,
    ) -> Release:
        """Queue an existing release for publishing again; None keeps a setting."""
        with self.transaction():
            release = self.releases[release_code]
            if description is not None:
                release.description = description
            if learner_access is not None:
                release.learner_access = learner_access
            if lrs_endpoint is not None:
                release.lrs_endpoint = lrs_endpoint
            if lrs_username is not None:
                release.lrs_username = lrs_username
            release.modified = format_date(time.time())
            release.raises_version = True
            self._queue(release)
            return copy.copy(release)

    def new_release_code(self) -> str:
        """Return a code like PHP's uniqid(): 8 hex digits of seconds, 5 of micros.

        Codes are strictly increasing, so two calls in the same microsecond differ.
        """
        with self.lock:
            micros = max(int(time.time() * 1_000_000), self._last_code_micros + 1)
            self._last_code_micros = micros
        return uniqid(micros)

    def _queue(self, release: Release) -> None:
        now = self.clock()
        starts_at = max(now, self._queue_free_at)
        release.ready_at = starts_at + self.publish_delay
        release.status = PUBLISHING
        self._queue_free_at = release.ready_at


def uniqid(micros: int) -> str:
    """Format a Unix time in microseconds as PHP's uniqid() does (13 hex digits)."""
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{seconds:08x}{fraction:05x}"


def format_date(timestamp: float) -> str:
    """Format a Unix time as Elucidat does: "YYYY-MM-DD HH:MM:SS" in UTC."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def demo_state(publish_delay: float = 5.0) -> AccountState:
    """Build a fresh demo account: six projects and seven complete releases."""
    projects = [
        Project(_code_at("2019-11-20 18:03:50", 307_383), "Data Protection Essentials",
                "2019-11-20 18:03:50", "2024-01-12 16:05:41", "any"),
        Project(_code_at("2020-03-02 09:14:05", 51_210), "Fire Safety in the Workplace",
                "2020-03-02 09:14:05", "2023-11-30 10:48:02", "any"),
        Project(_code_at("2021-06-15 13:40:22", 630_004), "Customer Service Excellence",
                "2021-06-15 13:40:22", "2024-04-03 08:12:55", "identify"),
        Project(_code_at("2022-09-05 08:02:51", 917_340),
                "Onboarding: Your First 30 Days", "2022-09-05 08:02:51",
                "2024-05-20 14:31:09", "identify",
                "https://lrs.northwind.example/xapi/"),
        Project(_code_at("2023-01-23 16:55:10", 442_118),
                "Anti-Bribery and Corruption Awareness", "2023-01-23 16:55:10",
                ZERO_DATE, "any"),
        Project(_code_at("2024-02-12 11:30:00", 88_761), "Manual Handling Basics",
                "2024-02-12 11:30:00", ZERO_DATE, "any"),
    ]  # fmt: skip
    data_protection, fire_safety, customer_service, onboarding, anti_bribery, _ = (
        projects
    )
    releases = [
        _demo_release(data_protection, "scorm", "Annual refresh for the LMS", 3,
                      "2023-02-01 10:00:07", "2024-01-15 09:30:12", 412, 368),
        _demo_release(data_protection, "online-public", "Public link for partners", 1,
                      "2024-03-04 14:22:10", ZERO_DATE, 57, 31),
        _demo_release(fire_safety, "offline-backup", "Archive copy for audit", 2,
                      "2021-05-10 15:41:33", "2022-05-10 11:02:48", 0, 0),
        _demo_release(fire_safety, "scorm", "SCORM 1.2 for Moodle", 1,
                      "2023-11-30 11:15:26", ZERO_DATE, 239, 201),
        _demo_release(customer_service, "online-private", "Store managers, invited", 5,
                      "2021-07-01 09:00:45", "2024-04-03 08:20:17", 1_284, 1_102,
                      learner_access="restricted"),
        _demo_release(onboarding, "online-public", "New starters, autumn intake", 2,
                      "2022-09-19 12:34:56", "2024-05-20 14:40:00", 96, 88),
        _demo_release(anti_bribery, "scorm", "", 1,
                      "2023-02-06 08:45:19", ZERO_DATE, 18, 12),
    ]  # fmt: skip
    account = Account(
        company_name="Northwind Learning Ltd",
        company_email="learning-team@northwind.example",
        subscription_level="Enterprise",
        created="2019-11-18 09:12:30",
    )
    return AccountState(
        account=account,
        projects={project.project_code: project for project in projects},
        releases={release.release_code: release for release in releases},
        publish_delay=publish_delay,
    )


def _code_at(date: str, micros: int) -> str:
    parsed = datetime.strptime(date, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return uniqid(int(parsed.timestamp()) * 1_000_000 + micros)


def _demo_release(
    project: Project,
    release_mode: str,
    description: str,
    version: int,
    created: str,
    modified: str,
    view_count: int,
    pass_count: int,
    *,
    learner_access: str | None = None,
) -> Release:
    # The microseconds part only has to differ between the demo releases.
    micros = (view_count * 7_919 + version * 104_729) % 1_000_000
    return Release(
        release_code=_code_at(created, micros),
        project_code=project.project_code,
        release_mode=release_mode,
        description=description,
        learner_access=learner_access or project.learner_access,
        lrs_endpoint=project.lrs_endpoint,
        version=version,
        created=created,
        modified=modified,
        view_count=view_count,
        pass_count=pass_count,
    )
