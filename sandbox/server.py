"""A local stand-in for the Elucidat Project API v2, served on a loopback address.

The sandbox speaks Elucidat's signed protocol: every call needs a fresh nonce and an
HMAC-SHA1 signature made with a key pair. It accepts one key pair, by default the demo
pair below, which is public on purpose and unlocks nothing but this server:

- public key:  ``SANDBOXPUBLIC0001``
- private key: ``SandboxPrivateKeyDemo2026``

Usage::

    with SandboxServer(publish_delay=0.0) as server:
        print(server.base_url)  # http://127.0.0.1:PORT/v2/

or from a shell: ``python -m sandbox --port 8765``. The account holds demo projects and
releases (see sandbox.data); faults can be switched on at run time through
``server.faults`` (see sandbox.faults.Faults).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import socketserver
import sys
import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from sandbox.api import ApiContext, project_record, release_record
from sandbox.auth import DEFAULT_NONCE_TTL, NonceStore, Verifier
from sandbox.data import demo_state
from sandbox.faults import Faults
from sandbox.handler import SandboxRequestHandler
from sandbox.packages import DownloadLinks

logger = logging.getLogger(__name__)

DEMO_PUBLIC_KEY = "SANDBOXPUBLIC0001"
DEMO_PRIVATE_KEY = "SandboxPrivateKeyDemo2026"


class Stats:
    """Request and connection counters, safe to read while the server runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests_total = 0
        self._connections_opened = 0
        self._requests_by_path: dict[str, int] = {}

    @property
    def requests_total(self) -> int:
        """Requests received, of every kind, since the start or the last reset."""
        with self._lock:
            return self._requests_total

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted; fewer than requests when clients reuse them."""
        with self._lock:
            return self._connections_opened

    @property
    def requests_by_path(self) -> dict[str, int]:
        """A copy of the request count per URL path without its query string."""
        with self._lock:
            return dict(self._requests_by_path)

    def record_request(self, path: str) -> None:
        with self._lock:
            self._requests_total += 1
            self._requests_by_path[path] = self._requests_by_path.get(path, 0) + 1

    def record_connection(self) -> None:
        with self._lock:
            self._connections_opened += 1

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._requests_total = 0
            self._connections_opened = 0
            self._requests_by_path = {}


class SandboxServer(ThreadingHTTPServer):
    """The sandbox HTTP server: binds its port when built, serves after start().

    Raises ValueError for a host that is not a loopback address, and OSError when the
    port cannot be bound.
    """

    daemon_threads = True

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_key: str = DEMO_PUBLIC_KEY,
        private_key: str = DEMO_PRIVATE_KEY,
        publish_delay: float = 5.0,
        link_ttl: float = 30.0,
        nonce_ttl: float = DEFAULT_NONCE_TTL,
    ) -> None:
        check_loopback_host(host)
        if not public_key or not private_key:
            raise ValueError("public_key and private_key must not be empty")
        if publish_delay < 0:
            raise ValueError(f"publish_delay must be >= 0 seconds, got {publish_delay}")
        if link_ttl <= 0:
            raise ValueError(f"link_ttl must be > 0 seconds, got {link_ttl}")

        self.host = host
        self.faults = Faults()
        self.stats = Stats()
        self.state = demo_state(publish_delay)
        self.links = DownloadLinks(link_ttl)
        self.nonces = NonceStore(nonce_ttl)
        self.verifier = Verifier({public_key: private_key}, self.nonces)
        self.public_key = public_key
        #: Launch tokens issued by releases/launch, guarded by state.lock.
        self.launch_tokens: dict[str, tuple[str, str]] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), SandboxRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.host
        self.server_port = self.port

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def netloc(self) -> str:
        """Host and port as they appear in a URL, with brackets around IPv6."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API's base URL, with a trailing slash: http://127.0.0.1:PORT/v2/."""
        return f"http://{self.netloc}/v2/"

    @property
    def publish_delay(self) -> float:
        """Seconds from a release's turn in the publishing queue to "complete"."""
        return self.state.publish_delay

    @publish_delay.setter
    def publish_delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"publish_delay must be >= 0 seconds, got {seconds}")
        with self.state.lock:
            self.state.publish_delay = seconds

    @property
    def link_ttl(self) -> float:
        """Lifetime in seconds of a download link issued from now on."""
        return self.links.ttl

    @link_ttl.setter
    def link_ttl(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"link_ttl must be > 0 seconds, got {seconds}")
        self.links.ttl = seconds

    def start(self) -> SandboxServer:
        """Serve in a daemon thread and return self."""
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already started")
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("Sandbox serving at %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and wait for handler threads.

        Safe to call twice, and on a server that was never started.
        """
        self._stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
            logger.info("Sandbox at %s stopped", self.base_url)
        with self._connections_lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            # OSError: the client closed it first.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def __enter__(self) -> SandboxServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def releases(self, project_code: str) -> list[dict[str, Any]]:
        """Return the project's release records as `GET releases` would.

        Raises KeyError for a project code the account does not have.
        """
        project = self.state.get_project(project_code)
        if project is None:
            raise KeyError(project_code)
        context = self._context()
        return [
            release_record(release, project, context)
            for release in self.state.list_releases(project_code)
        ]

    def projects(self) -> list[dict[str, Any]]:
        """Return the project records as `GET projects` would."""
        context = self._context()
        return [
            project_record(
                project,
                context,
                release_count=len(self.state.list_releases(project.project_code)),
            )
            for project in self.state.list_projects()
        ]

    def wait_latency(self) -> None:
        """Sleep for the latency fault; stop() cuts the sleep short."""
        latency = self.faults.latency
        if latency > 0:
            self._stopping.wait(latency)

    def track_connection(self, connection: socket.socket, *, opened: bool) -> None:
        """Remember open connections so stop() can close them."""
        with self._connections_lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
        if opened:
            self.stats.record_connection()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that drops its connection is routine; anything else is a bug.
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            logger.debug("Connection from %s ended: %s", client_address, error)
        else:
            logger.exception("Sandbox failed on a request from %s", client_address)

    def _context(self) -> ApiContext:
        return ApiContext(
            state=self.state,
            links=self.links,
            origin=f"http://{self.netloc}",
            launch_tokens=self.launch_tokens,
        )


def check_loopback_host(host: str) -> None:
    """Raise ValueError unless host is "localhost" or a loopback IP address.

    The sandbox accepts a published demo key pair, so it must not be reachable from
    other machines.
    """
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"Invalid host {host!r}: use a loopback address such as 127.0.0.1."
        ) from None
    if not address.is_loopback:
        raise ValueError(
            f"Rejected host {host}: the sandbox accepts a published demo key, so it "
            "serves only on a loopback address such as 127.0.0.1."
        )
