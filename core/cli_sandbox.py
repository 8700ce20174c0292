"""`sandbox`: serve the built-in fake Elucidat API on 127.0.0.1 until Ctrl+C."""

from __future__ import annotations

import logging
import threading

from core.cli_context import CommandContext
from core.cli_output import EXIT_OK, format_fields
from core.errors import InputError

log = logging.getLogger(__name__)

#: Seconds between checks for Ctrl+C while the sandbox serves.
_WAKE_INTERVAL = 0.5


def run_sandbox(context: CommandContext) -> int:
    """Serve the sandbox, print its URL and demo keys, and stop on Ctrl+C."""
    # Imported here so that the other commands never load the sandbox package.
    from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

    args = context.args
    output = context.output
    port = _check_port(args.port)
    publish_delay = None
    if args.publish_delay is not None:
        publish_delay = _check_publish_delay(args.publish_delay)

    try:
        server = SandboxServer(port=port)
    except OSError as error:
        raise InputError(
            f"Could not listen on 127.0.0.1 port {port}: "
            f"{error.strerror or error}. Choose another --port, or 0 for a free one.",
            field="--port",
        ) from error

    if publish_delay is not None:
        server.publish_delay = publish_delay
    server.start()
    try:
        url = server.base_url
        lines = [
            f"Sandbox running at {url}",
            *format_fields(
                [("Public key", DEMO_PUBLIC_KEY), ("Private key", DEMO_PRIVATE_KEY)]
            ),
            "",
            "To use it from another terminal:",
            f"  export ELUCIDAT_PUBLIC_KEY={DEMO_PUBLIC_KEY}",
            f"  export ELUCIDAT_PRIVATE_KEY={DEMO_PRIVATE_KEY}",
            f"  release-desk --api-url {url} projects",
        ]
        document = {
            "url": url,
            "public_key": DEMO_PUBLIC_KEY,
            "private_key": DEMO_PRIVATE_KEY,
            "publish_delay": server.publish_delay,
        }
        output.result(document, lines)
        output.message("The demo keys unlock only this sandbox. Press Ctrl+C to stop.")
        _wait_for_interrupt()
    except KeyboardInterrupt:
        output.message("Sandbox stopped.")
    finally:
        server.stop()
    return EXIT_OK


def _wait_for_interrupt() -> None:
    """Block until Ctrl+C raises KeyboardInterrupt in this, the main, thread."""
    never_set = threading.Event()
    while not never_set.wait(_WAKE_INTERVAL):
        pass


def _check_port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise InputError(
            f"Invalid --port {port}: use a TCP port from 1 to 65535, or 0 for a free "
            "one.",
            field="--port",
        )
    return port


def _check_publish_delay(seconds: float) -> float:
    if not seconds >= 0:
        raise InputError(
            f"Invalid --publish-delay {seconds}: give 0 or more seconds.",
            field="--publish-delay",
        )
    return seconds
