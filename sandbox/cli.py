"""Command line of the sandbox: ``python -m sandbox`` serves until Ctrl+C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

_Restore = Callable[[], object]


def build_parser(prog: str = "python -m sandbox") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Serve a local stand-in for the Elucidat Project API v2 with demo "
            "projects and releases. It serves on loopback addresses only."
        ),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="loopback address to bind (default: %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="TCP port; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--publish-delay",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds a release stays 'publishing' (default: %(default)s)",
    )
    parser.add_argument(
        "--link-ttl",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="lifetime of a package download link (default: %(default)s)",
    )
    parser.add_argument(
        "--public-key",
        help="public key to accept instead of the demo key; needs --private-key",
    )
    parser.add_argument(
        "--private-key",
        help="private key to accept instead of the demo key; needs --public-key",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log every request to stderr"
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m sandbox") -> int:
    """Run the sandbox until Ctrl+C or SIGTERM and return the exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if (args.public_key is None) != (args.private_key is None):
        parser.error("give --public-key and --private-key together, or neither")
    try:
        server = SandboxServer(
            host=args.host,
            port=args.port,
            public_key=args.public_key or DEMO_PUBLIC_KEY,
            private_key=args.private_key or DEMO_PRIVATE_KEY,
            publish_delay=args.publish_delay,
            link_ttl=args.link_ttl,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"error: cannot listen on {args.host} port {args.port}: {error.strerror}. "
            "Choose another port with --port, or 0 for a free one.",
            file=sys.stderr,
        )
        return 1

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop_requested = threading.Event()
    restore_sigterm = _stop_on_sigterm(stop_requested)
    server.start()
    print(f"Elucidat sandbox serving at {server.base_url}", flush=True)
    print(f"Public key:  {args.public_key or DEMO_PUBLIC_KEY}", flush=True)
    print(f"Private key: {args.private_key or DEMO_PRIVATE_KEY}", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    try:
        while not stop_requested.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        restore_sigterm()
    print("Sandbox stopped.", flush=True)
    return 0


def _stop_on_sigterm(event: threading.Event) -> _Restore:
    """Make SIGTERM set event, so the server stops cleanly; return the undo step."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        event.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    return lambda: signal.signal(signal.SIGTERM, previous)
