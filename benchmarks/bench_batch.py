"""Benchmark: a live batch of re-releases against 100 single re-releases.

Against a sandbox on loopback with publishing delay zero, the script times
1. a live batch of N re-releases (default 100) through `BatchRunner`, followed until
   each is complete, at the default concurrency and at concurrency 1, and
2. the same N re-releases made one after the other by one client through
   `ReleaseService.create` and `ReleaseService.follow`, as the window makes one.

It prints the total time, the time per re-release and the HTTP requests of each. Both
use the default poll schedule, whose first check comes at once, and a zero publishing
delay makes every release complete at its first check, so the figures measure the
requests and the history writes, not the wait for Elucidat.

Run from the repository root:

    .venv/bin/python benchmarks/bench_batch.py [--items 100]

NOTE: the sandbox runs in the same process as the clients and shares its interpreter
lock, so parallel sends gain less here than against a remote server.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.batch import DEFAULT_CONCURRENCY, BatchItem, BatchRunner, BatchSettings
from core.client import ElucidatClient
from core.history import HistoryStore
from core.models import ReleaseMode, ReleaseRequest
from core.service import ReleaseService
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

MODES = ("scorm", "offline-backup", "online-public", "online-private")


@dataclass(frozen=True)
class Run:
    """The figures of one way of making the re-releases."""

    label: str
    seconds: float
    complete: int
    http_requests: int
    polls: int


class Clients:
    """A service factory that makes one client per thread and counts their requests."""

    def __init__(self, sandbox: SandboxServer, history: HistoryStore) -> None:
        self.sandbox = sandbox
        self.history = history
        self.clients: list[ElucidatClient] = []
        self.lock = threading.Lock()

    def __call__(self) -> ReleaseService:
        client = ElucidatClient(
            self.sandbox.base_url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY
        )
        with self.lock:
            self.clients.append(client)
        return ReleaseService(
            client, self.history, account_name="Sandbox", base_url=self.sandbox.base_url
        )

    def total(self, counter: str) -> int:
        return sum(getattr(client.stats, counter) for client in self.clients)

    def calls(self, name: str) -> int:
        return sum(client.stats.calls[name] for client in self.clients)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100, help="re-releases per run")
    args = parser.parse_args()
    # A proxy from the environment must not see loopback traffic.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

    sandbox = SandboxServer(publish_delay=0.0).start()
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    history = HistoryStore(folder / "history.sqlite3")
    try:
        items = add_releases(sandbox, args.items)
        runs = [
            run_batch(sandbox, history, items, DEFAULT_CONCURRENCY),
            run_batch(sandbox, history, items, 1),
            run_singles(sandbox, history, items),
        ]
    finally:
        history.close()
        sandbox.stop()

    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"live re-releases per run: {args.items}, publishing delay 0 s")
    print(
        f"{'run':<34} {'total s':>8} {'ms each':>8} {'complete':>9} "
        f"{'HTTP req':>9} {'polls':>6}"
    )
    for run in runs:
        print(
            f"{run.label:<34} {run.seconds:>8.2f} "
            f"{run.seconds * 1000 / args.items:>8.1f} {run.complete:>9} "
            f"{run.http_requests:>9} {run.polls:>6}"
        )
    singles = runs[-1].seconds
    for run in runs[:-1]:
        print(f"{run.label}: {singles / run.seconds:.2f} times as fast as the singles")
    return 0 if all(run.complete == args.items for run in runs) else 1


def add_releases(sandbox: SandboxServer, count: int) -> list[BatchItem]:
    """Add count complete releases, spread over the sandbox's projects and modes."""
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
            description=f"Benchmark course {number}",
            learner_access="any",
            lrs_endpoint="",
            lrs_username="",
        )
        items.append(
            BatchItem(
                project_code=project.project_code,
                release_code=release.release_code,
                release_mode=ReleaseMode(mode),
                project_name=project.name,
            )
        )
    sandbox.state.advance()
    return items


def run_batch(
    sandbox: SandboxServer,
    history: HistoryStore,
    items: list[BatchItem],
    concurrency: int,
) -> Run:
    clients = Clients(sandbox, history)
    settings = BatchSettings(simulation=False, follow=True, concurrency=concurrency)
    runner = BatchRunner(items, settings, clients)
    started = time.perf_counter()
    runner.start()
    runner.wait()
    seconds = time.perf_counter() - started
    runner.join()
    summary = runner.summary()
    clients.close()
    return Run(
        label=f"batch, concurrency {concurrency}",
        seconds=seconds,
        complete=summary.succeeded,
        http_requests=clients.total("http_requests"),
        polls=clients.calls("list_releases"),
    )


def run_singles(
    sandbox: SandboxServer, history: HistoryStore, items: list[BatchItem]
) -> Run:
    clients = Clients(sandbox, history)
    service = clients()
    complete = 0
    started = time.perf_counter()
    for item in items:
        assert item.release_mode is not None
        request = ReleaseRequest(
            project_code=item.project_code,
            release_mode=item.release_mode,
            release_code=item.release_code,
        )
        created = service.create(
            request, simulation=False, project_name=item.project_name
        )
        release = service.follow(created.attempt_id, created.follow_target)
        complete += release.is_complete
    seconds = time.perf_counter() - started
    clients.close()
    return Run(
        label="singles, one after the other",
        seconds=seconds,
        complete=complete,
        http_requests=clients.total("http_requests"),
        polls=clients.calls("list_releases"),
    )


if __name__ == "__main__":
    sys.exit(main())
