"""Benchmark: simulated creates against the sandbox on loopback.

Measures the time per `create_release(simulation=True)` call, the HTTP requests per
call (the target is exactly 2: the nonce and the call) and the TCP connections opened
for the whole run (the target is 1: the session reuses its connection).

Run from the repository root:

    .venv/bin/python benchmarks/bench_client.py [--calls 200]

Exits with status 1 when a target is missed. The latency target (median under 25 ms)
was set for a 2-core machine; the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.client import ElucidatClient
from core.models import ReleaseMode, ReleaseRequest
from sandbox.server import (
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    SandboxServer,
)

MEDIAN_TARGET_MS = 25.0
REQUESTS_PER_CALL_TARGET = 2.0
CONNECTIONS_TARGET = 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=200, help="number of simulated creates"
    )
    args = parser.parse_args()
    # A proxy from the environment must not see loopback traffic.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

    sandbox = SandboxServer(publish_delay=0.0).start()
    try:
        durations_ms, requests_per_call = run(sandbox, args.calls)
        connections = sandbox.stats.connections_opened
    finally:
        sandbox.stop()

    median = statistics.median(durations_ms)
    p95 = statistics.quantiles(durations_ms, n=20, method="inclusive")[-1]
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"simulated creates: {args.calls}")
    print(f"median: {median:.2f} ms per call (target < {MEDIAN_TARGET_MS:g})")
    print(f"p95:    {p95:.2f} ms per call")
    print(f"HTTP requests per call: {requests_per_call:.2f} (target 2)")
    print(f"TCP connections opened: {connections} (target 1, whole run)")

    missed = []
    if median >= MEDIAN_TARGET_MS:
        missed.append("median")
    if requests_per_call != REQUESTS_PER_CALL_TARGET:
        missed.append("requests per call")
    if connections != CONNECTIONS_TARGET:
        missed.append("connections")
    print("targets missed: " + (", ".join(missed) if missed else "none"))
    return 1 if missed else 0


def run(sandbox: SandboxServer, calls: int) -> tuple[list[float], float]:
    """Make the creates with one client; return call durations and requests per call."""
    with ElucidatClient(sandbox.base_url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY) as client:
        project_code = client.list_projects()[0].project_code
        request = ReleaseRequest(
            project_code, ReleaseMode.SCORM, description="Benchmark run"
        )
        requests_before = client.stats.http_requests
        durations_ms = []
        for _ in range(calls):
            started = time.perf_counter()
            client.create_release(request, simulation=True)
            durations_ms.append((time.perf_counter() - started) * 1000)
        requests_per_call = (client.stats.http_requests - requests_before) / calls

    served = sandbox.stats.requests_by_path.get("/v2/releases/create", 0)
    if served != client.stats.http_requests - requests_before:
        raise RuntimeError(
            f"the client counted {client.stats.http_requests - requests_before} "
            f"requests but the sandbox served {served}"
        )
    return durations_ms, requests_per_call


if __name__ == "__main__":
    sys.exit(main())
