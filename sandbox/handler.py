"""The HTTP request handler: routing, field decoding, faults and replies.

Routes: `/v2/<endpoint>` for the signed API, `/downloads/<token>` (redirects to
`/downloads/<token>/<file name>`) for packages, `/launch/<release code>/` and
`/edit/<project code>` for small HTML pages behind the links in release records.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.parse
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, cast

from sandbox.api import ENDPOINTS, ApiContext, ApiError, call_endpoint
from sandbox.auth import (
    AuthError,
    MalformedRequestError,
    parse_authorization,
    parse_pairs,
)
from sandbox.packages import DownloadLink, LinkExpiredError

if TYPE_CHECKING:
    from sandbox.server import SandboxServer

logger = logging.getLogger(__name__)

API_PREFIX = "/v2/"
MAX_BODY_BYTES = 1024 * 1024
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_SERVER_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head>"
    "<body><h1>Internal Server Error</h1><p>The server encountered an internal error "
    "(server_error fault).</p></body></html>"
)
_NOT_JSON_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in to the network</title></head>"
    "<body><h1>Sign in</h1><p>This network requires you to sign in (not_json "
    "fault).</p></body></html>"
)
# The reply of an object store to an expired pre-signed link.
_EXPIRED_LINK_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Request has expired</Message></Error>"
)


class _RequestRejectedError(Exception):
    """A request that cannot be read; the reply closes the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Serve one connection; HTTP/1.1 keeps it open across requests."""

    protocol_version = "HTTP/1.1"
    server_version = "ElucidatSandbox/1.0"
    # Seconds an idle keep-alive connection stays open.
    timeout = 60
    # Headers and body go out in separate writes; with Nagle's algorithm on, each
    # kept-alive reply then waits about 40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    @property
    def sandbox(self) -> SandboxServer:
        return cast("SandboxServer", self.server)

    def setup(self) -> None:
        super().setup()
        self.sandbox.track_connection(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.sandbox.track_connection(self.connection, opened=False)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        # The request line contains the path and a GET's fields, never a secret.
        logger.debug("%s %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.sandbox.stats.record_request(url.path)
        try:
            body = self._read_body()
        except _RequestRejectedError as error:
            self.close_connection = True
            self._send_json(error.status, {"message": error.message})
            return

        self.sandbox.wait_latency()
        try:
            self._route(method, url.path, url.query, body)
        except Exception:
            logger.exception("Sandbox failed on %s %s", method, url.path)
            self.close_connection = True
            self._send_json(500, {"message": "Internal error in the sandbox."})

    def _route(self, method: str, path: str, query: str, body: bytes) -> None:
        if path.startswith(API_PREFIX):
            self._handle_api(method, path, query, body)
        elif path.startswith("/downloads/"):
            self._handle_download(method, path)
        elif path.startswith("/launch/"):
            self._handle_launch_page(path, query)
        elif path.startswith("/edit/"):
            self._send_html(
                200,
                "<p>The sandbox has no course editor. Projects are edited in "
                "Elucidat.</p>",
            )
        elif path == "/":
            self._send_json(
                200, {"message": f"Elucidat sandbox. The API is at {API_PREFIX}."}
            )
        else:
            self._send_json(404, {"message": f"Not found: {path}."})

    def _handle_api(self, method: str, path: str, query: str, body: bytes) -> None:
        name = path[len(API_PREFIX) :].strip("/")
        endpoint = ENDPOINTS.get(name)
        if endpoint is None:
            known = ", ".join(sorted(ENDPOINTS))
            self._send_json(
                404, {"message": f"Unknown endpoint {path!r}. Endpoints: {known}."}
            )
            return
        try:
            fields = self._decode_fields(method, query, body)
        except _RequestRejectedError as error:
            self._send_json(error.status, {"message": error.message})
            return

        authorization = self.headers.get("Authorization")
        faults = self.sandbox.faults
        hit_by_faults = _carries_nonce(authorization) or faults.hit_nonce_requests
        if hit_by_faults and self._send_call_fault():
            return
        try:
            verified = self.sandbox.verifier.verify(
                method,
                f"http://{self._host()}{path}",
                authorization,
                fields,
                nonce_lag=faults.nonce_lag,
            )
        except AuthError as error:
            self._send_json(401, {"message": error.message})
            return
        if verified.nonce is None:
            self._send_json(200, {"nonce": self.sandbox.nonces.issue()})
            return
        if faults.take("reject_auth"):
            self._send_json(
                401, {"message": "Authentication failed (reject_auth fault)."}
            )
            return
        if method != endpoint.method:
            self._send_json(
                405,
                {"message": f"{name} takes {endpoint.method}, not {method}."},
                headers={"Allow": endpoint.method},
            )
            return

        context = ApiContext(
            state=self.sandbox.state,
            links=self.sandbox.links,
            origin=f"http://{self._host()}",
            launch_tokens=self.sandbox.launch_tokens,
        )
        try:
            status, payload = call_endpoint(name, fields, context)
        except ApiError as error:
            self._send_json(error.status, {"message": error.message})
            return
        if name == "releases/create" and faults.take("drop_after_create"):
            logger.info("Closing the connection without a reply (drop_after_create)")
            self.close_connection = True
            return
        self._send_json(status, payload)

    def _send_call_fault(self) -> bool:
        """Send a rate_limit, server_error or not_json reply if one of them fires."""
        faults = self.sandbox.faults
        if faults.take("rate_limit"):
            logger.info("Fault rate_limit fired on %s", self._url_path())
            retry_after = faults.retry_after
            seconds = (
                int(retry_after) if retry_after.is_integer() else int(retry_after) + 1
            )
            self._send_json(
                429,
                {"message": f"Too many requests; retry after {seconds} seconds."},
                headers={"Retry-After": str(seconds)},
            )
            return True
        if faults.take("server_error"):
            logger.info("Fault server_error fired on %s", self._url_path())
            self._send_bytes(
                500, _SERVER_ERROR_PAGE.encode(), "text/html; charset=utf-8"
            )
            return True
        if faults.take("not_json"):
            logger.info("Fault not_json fired on %s", self._url_path())
            self._send_bytes(200, _NOT_JSON_PAGE.encode(), "text/html; charset=utf-8")
            return True
        return False

    def _decode_fields(self, method: str, query: str, body: bytes) -> dict[str, str]:
        try:
            if method != "POST":
                return parse_pairs(query, "&", source="the query string")
            if query:
                raise _RequestRejectedError(
                    400,
                    "A POST takes its fields in the form body, not the query string.",
                )
            if not body:
                return {}
            content_type = self.headers.get("Content-Type", "")
            media_type = content_type.split(";")[0].strip().lower()
            if media_type not in ("", FORM_CONTENT_TYPE):
                raise _RequestRejectedError(
                    415,
                    f"Unsupported Content-Type {content_type!r}: send the fields as "
                    f"{FORM_CONTENT_TYPE}.",
                )
            try:
                text = body.decode("ascii")
            except UnicodeDecodeError:
                raise _RequestRejectedError(
                    400,
                    "The form body contains raw non-ASCII bytes: percent-encode "
                    "every field as UTF-8.",
                ) from None
            return parse_pairs(text, "&", source="the form body")
        except MalformedRequestError as error:
            raise _RequestRejectedError(
                400, f"Malformed request: {error.message}."
            ) from None

    def _handle_download(self, method: str, path: str) -> None:
        parts = path[len("/downloads/") :].split("/")
        token = parts[0]
        file_name = "/".join(parts[1:])
        if method != "GET":
            self._send_json(
                405, {"message": "Downloads take GET."}, headers={"Allow": "GET"}
            )
            return
        try:
            link = self.sandbox.links.lookup(token)
        except LinkExpiredError:
            logger.info("Download link %s… expired", token[:6])
            self._send_bytes(403, _EXPIRED_LINK_BODY.encode(), "application/xml")
            return
        if link is None:
            self._send_json(404, {"message": "Unknown download link."})
            return
        if not file_name:
            location = f"http://{self._host()}/downloads/{token}/{link.file_name}"
            self._send_bytes(302, b"", "text/plain", headers={"Location": location})
            return
        if file_name != link.file_name:
            self._send_json(404, {"message": f"No file {file_name!r} at this link."})
            return
        self._send_package(link)

    def _send_package(self, link: DownloadLink) -> None:
        data = self.sandbox.links.package(link)
        headers = {"Content-Disposition": f'attachment; filename="{link.file_name}"'}
        if not self.sandbox.faults.take("truncate_download"):
            self._send_bytes(200, data, "application/zip", headers=headers)
            return
        logger.info(
            "Sending half of %s, then closing (truncate_download)", link.file_name
        )
        self.close_connection = True
        self._send_head(200, len(data), "application/zip", headers)
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def _handle_launch_page(self, path: str, query: str) -> None:
        release_code = path[len("/launch/") :].strip("/")
        release = self.sandbox.state.get_release(release_code)
        project = (
            self.sandbox.state.get_project(release.project_code) if release else None
        )
        if release is None or project is None:
            self._send_html(404, "<p>No such release.</p>")
            return
        learner = ""
        token = urllib.parse.parse_qs(query).get("learner", [""])[0]
        with self.sandbox.state.lock:
            entry = self.sandbox.launch_tokens.get(token)
        if entry and entry[0] == release_code:
            learner = f"<p>Welcome, {escape(entry[1])}.</p>"
        self._send_html(
            200,
            f"<h1>{escape(project.name)}</h1>{learner}<p>Version "
            f"{release.version}, {escape(release.release_mode)} release "
            f"{escape(release_code)}, served by the Elucidat sandbox.</p>",
        )

    def _url_path(self) -> str:
        """Return the request's path without the query string, for logs."""
        return urllib.parse.urlsplit(self.path).path

    def _host(self) -> str:
        """Return the host and port the client addressed, as in its signed URL."""
        return self.headers.get("Host") or self.sandbox.netloc

    def _send_json(
        self, status: int, payload: Any, *, headers: dict[str, str] | None = None
    ) -> None:
        """Send payload as JSON; an error status is logged with its message."""
        if status >= 400:
            logger.info(
                "%s %s rejected with %d: %s",
                self.command,
                self._url_path(),
                status,
                payload.get("message") if isinstance(payload, dict) else payload,
            )
        body = json.dumps(payload).encode("utf-8")
        self._send_bytes(status, body, "application/json", headers=headers)

    def _send_html(self, status: int, content: str) -> None:
        page = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Elucidat sandbox</title></head><body>{content}</body></html>"
        )
        self._send_bytes(status, page.encode("utf-8"), "text/html; charset=utf-8")

    def _send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send_head(status, len(body), content_type, headers or {})
        self.wfile.write(body)

    def _send_head(
        self, status: int, length: int, content_type: str, headers: dict[str, str]
    ) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise _RequestRejectedError(
                411, "Send a Content-Length; chunked bodies are not accepted."
            )
        raw_length = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            raise _RequestRejectedError(
                400, f"Invalid Content-Length {raw_length!r}."
            ) from None
        if length < 0:
            raise _RequestRejectedError(400, f"Invalid Content-Length {raw_length!r}.")
        if length > MAX_BODY_BYTES:
            raise _RequestRejectedError(
                413,
                f"Request body of {length} bytes is over the limit of "
                f"{MAX_BODY_BYTES} bytes.",
            )
        return self.rfile.read(length) if length else b""


def _carries_nonce(authorization: str | None) -> bool:
    """Tell a call from a nonce request; an unreadable header counts as a call."""
    if not authorization:
        return True
    try:
        return "oauth_nonce" in parse_authorization(authorization)
    except AuthError:
        return True
