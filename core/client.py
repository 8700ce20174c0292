"""Client for the Elucidat Project API v2: signed calls, nonces, retries, typed results.

Each call is two HTTP requests: a signed GET of the endpoint's URL that returns a nonce,
then the call itself signed with that nonce. The client builds the exact bytes that are
signed and sent. Reads are retried on connection failures, 429 and 5xx, but
`releases/create` is never resent once it may have reached the server. Failures are
raised as the typed errors of `core.errors`, with text a course designer can act on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests

from core.errors import (
    AuthenticationError,
    ConfigurationError,
    DownloadError,
    InputError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ReleaseDeskError,
    ServerError,
    TimedOutError,
)
from core.logs import redact, register_secret
from core.models import (
    AccountInfo,
    CreateResult,
    LaunchLink,
    LearnerAccess,
    Project,
    Release,
    ReleaseMode,
    ReleaseRequest,
)
from core.signing import SignedRequest, sign_request
from core.transport import (
    EXCERPT_LENGTH,
    PresetAuthorization,
    build_session,
    check_download_url,
    describe_failure,
    excerpt,
    is_timeout,
    normalize_base_url,
    parse_retry_after,
    request_may_have_been_sent,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.elucidat.com/v2/"

# Age a fresh nonce reaches before a rejected call is resent with it, doubled on each
# retry: 50, 100, 200 ms. The server's nonce store can lag behind for a moment.
AUTH_RETRY_BASE_DELAY = 0.05
# Delay before retrying a read after a network failure, 429 or 5xx, doubled on each
# retry: 0.5, 1, 2 s.
READ_RETRY_BASE_DELAY = 0.5
# A Retry-After longer than this many seconds is reported instead of waited out.
MAX_RETRY_AFTER = 30.0
# No read retry starts once this many seconds have passed since the call began.
MAX_READ_RETRY_SECONDS = 60.0

_API_KEYS_HINT = (
    "Compare the public key and private key in use (the account's, or "
    "ELUCIDAT_PUBLIC_KEY and ELUCIDAT_PRIVATE_KEY when those are set) with API Access "
    "> Project API (v2) in Elucidat, because keys may have been revoked. Also check "
    "that this computer's clock is set correctly."
)


@dataclass
class ClientStats:
    """Counters of what a client sent, for the benchmark and tests."""

    #: Every HTTP request sent or attempted: nonce requests, calls and downloads.
    http_requests: int = 0
    nonce_requests: int = 0
    auth_retries: int = 0
    read_retries: int = 0
    #: Calls made, keyed by client method name ("create_release", "list_releases"...).
    calls: Counter[str] = field(default_factory=Counter)


def build_create_fields(
    request: ReleaseRequest, simulation: bool
) -> list[tuple[str, str]]:
    """Return the fields of a `releases/create` call, in the order they are sent.

    This list is both signed and sent. An optional value that is None or empty is left
    out of both, so the project's own setting applies. Raises InputError naming the
    field when a value is missing or invalid.
    """
    project_code = request.project_code.strip()
    if not project_code:
        raise InputError(
            "The project code is missing. Choose a project, or enter its code as "
            "shown in the project list.",
            field="project_code",
        )
    learner_access = request.learner_access
    candidates = [
        ("project_code", project_code),
        ("release_mode", _release_mode(request.release_mode).value),
        ("release_code", (request.release_code or "").strip()),
        ("description", request.description or ""),
        ("learner_access", _learner_access(learner_access) if learner_access else ""),
        ("xapi_lrs_endpoint_url", _lrs_endpoint_url(request.lrs_endpoint_url)),
        ("xapi_lrs_endpoint_username", request.lrs_username or ""),
        ("xapi_lrs_endpoint_password", request.lrs_password or ""),
    ]
    fields = [(name, value) for name, value in candidates if value]
    if simulation:
        fields.append(("simulation_mode", "simulation"))
    return fields


class ElucidatClient:
    """Signed calls to one Elucidat account over one HTTP session.

    Use it as a context manager, or call close(), to release the connections.
    NOTE: requests does not promise that a Session is thread-safe, so make the calls
    of one client from one thread at a time. Only the stats counters are locked.
    """

    def __init__(
        self,
        base_url: str,
        public_key: str,
        private_key: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_auth_retries: int = 3,
        max_read_retries: int = 3,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Check the settings; nothing is sent until the first call.

        base_url must be https unless its host is loopback (InputError). Spaces
        around the keys, a common paste mistake, are removed, and an empty key raises
        ConfigurationError. timeout is (connect, read) in seconds for every request. A
        session passed in is used as it is and is not closed by close().
        """
        self.base_url = normalize_base_url(base_url)
        public_key = public_key.strip()
        private_key = private_key.strip()
        if not public_key or not private_key:
            missing = "public key" if not public_key else "private key"
            raise _missing_key_error(missing)
        if min(timeout) <= 0 or max_auth_retries < 0 or max_read_retries < 0:
            raise ValueError("timeouts must be positive and retry counts not negative")
        register_secret(private_key)

        self._public_key = public_key
        self._private_key = private_key
        self._timeout = timeout
        self._max_auth_retries = max_auth_retries
        self._max_read_retries = max_read_retries
        self._clock = clock
        self._sleep = sleep
        self._owns_session = session is None
        self._session = build_session() if session is None else session
        self._host = urlsplit(self.base_url).netloc
        self._stats_lock = threading.Lock()
        self.stats = ClientStats()

    def __enter__(self) -> ElucidatClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the session's connections, unless the session was passed in."""
        if self._owns_session:
            self._session.close()

    # The calls

    def create_release(
        self, request: ReleaseRequest, *, simulation: bool
    ) -> CreateResult:
        """Create a release, or a re-release when request.release_code is set.

        In simulation mode the server validates the call and replies, changing nothing.
        The call is never resent once it may have reached the server: a timeout or a
        dropped connection after sending raises OutcomeUnknownError, and a 429 or 5xx
        is raised for the user to decide.
        """
        register_secret(request.lrs_password)
        fields = build_create_fields(request, simulation)
        values = dict(fields)
        project_code = values["project_code"]
        release_code = values.get("release_code")
        if release_code:
            action = f"re-release release {release_code} of project {project_code}"
            not_found = (
                f"Project {project_code} or its release {release_code} was not found "
                "in this Elucidat account",
                "Check both codes in the project's release list.",
            )
        else:
            action = f"create a release of project {project_code}"
            not_found = _project_not_found(project_code)
        if simulation:
            action += " in simulation mode"
        call = _Call(
            name="create_release",
            method="POST",
            path="releases/create",
            fields=tuple(fields),
            action=action,
            not_found=not_found,
            log_ids=_log_ids(project_code, release_code),
            create_of_project=project_code,
        )

        status, data = self._call(call)
        if not isinstance(data, Mapping):
            raise ServerError(
                f"The reply to the request to {action} is not a JSON object (HTTP "
                f"{status}). {_check_releases_hint(project_code)}",
                status=status,
            )
        result = CreateResult.from_json(data, simulation=simulation, status=status)
        if not result.release_code and release_code:
            result = dataclasses.replace(result, release_code=release_code)
        if not result.release_code and not simulation:
            logger.warning(
                "Create reply for project %s has no release code (HTTP %d)",
                project_code,
                status,
            )
        logger.info(
            "%s release %s of project %s (%s)",
            "Simulated" if simulation else "Created",
            result.release_code or "(no code)",
            project_code,
            values["release_mode"],
        )
        return result

    def list_releases(self, project_code: str) -> list[Release]:
        """Return the releases of a project, as the server lists them."""
        code = _required_code(project_code, "project code", "project_code")
        call = _Call(
            name="list_releases",
            method="GET",
            path="releases",
            fields=(("project_code", code),),
            action=f"list the releases of project {code}",
            not_found=_project_not_found(code),
            log_ids=_log_ids(code, None),
        )
        _, data = self._call(call)
        releases = [Release.from_json(item) for item in _records(data, "releases")]
        logger.info("Listed %d release(s) of project %s", len(releases), code)
        return releases

    def release_details(self, release_code: str) -> Release:
        """Return one release with a fresh `download_url`, valid for seconds only."""
        code = _required_code(release_code, "release code", "release_code")
        call = _Call(
            name="release_details",
            method="GET",
            path="releases/details",
            fields=(("release_code", code),),
            action=f"read the details of release {code}",
            not_found=_release_not_found(code),
            log_ids=_log_ids(None, code),
        )
        _, data = self._call(call)
        release = Release.from_json(_record(data, "release", call.action))
        logger.info("Read details of release %s: %s", code, release.status or "?")
        return release

    def launch_link(
        self,
        release_code: str,
        *,
        name: str | None = None,
        email: str | None = None,
    ) -> LaunchLink:
        """Return a launch link for a release, for a named learner when given."""
        code = _required_code(release_code, "release code", "release_code")
        fields = [("release_code", code)]
        if name and name.strip():
            fields.append(("name", name.strip()))
        if email and email.strip():
            address = email.strip()
            if "@" not in address.strip("@"):
                raise InputError(
                    f"The e-mail address {address!r} is not valid. Enter an address "
                    "such as learner@example.com, or leave it empty.",
                    field="email",
                )
            fields.append(("email_address", address))
        call = _Call(
            name="launch_link",
            method="GET",
            path="releases/launch",
            fields=tuple(fields),
            action=f"get a launch link for release {code}",
            not_found=_release_not_found(code),
            log_ids=_log_ids(None, code),
        )
        _, data = self._call(call)
        link = LaunchLink.from_json(_record(data, "launch", call.action))
        if not link.url:
            raise ServerError(
                f"Elucidat's reply to the request to {call.action} has no URL. Try "
                "again; if it keeps happening, check the release in Elucidat."
            )
        logger.info("Got a %s launch link for release %s", link.link_type or "", code)
        return link

    def list_projects(self) -> list[Project]:
        """Return the projects of the account."""
        call = _Call(
            name="list_projects",
            method="GET",
            path="projects",
            fields=(),
            action="list the projects",
            not_found=self._endpoint_not_found("projects"),
        )
        _, data = self._call(call)
        projects = [Project.from_json(item) for item in _records(data, "projects")]
        logger.info("Listed %d projects", len(projects))
        return projects

    def account(self) -> AccountInfo:
        """Return the account's company name, e-mail and subscription level."""
        call = _Call(
            name="account",
            method="GET",
            path="account",
            fields=(),
            action="read the account details",
            not_found=self._endpoint_not_found("account"),
        )
        _, data = self._call(call)
        info = AccountInfo.from_json(_record(data, "account", call.action))
        logger.info("Read account details of %s", info.company_name or "(no name)")
        return info

    def open_download(self, url: str) -> requests.Response:
        """Start a plain GET of a package URL and return the streaming response.

        No signature is sent and redirects are followed. The URL from
        `releases/details` expires within seconds, so call this right after it. The
        caller reads and closes the response. Raises DownloadError for an HTTP error
        status, and NetworkError or TimedOutError when no reply arrives.
        """
        check_download_url(url)
        parts = urlsplit(url.strip())
        # The query string of a package URL is often a signed token: keep it out of
        # logs and error texts.
        where = f"{parts.netloc}{parts.path}"
        self._count_call("open_download")
        self._count("http_requests")
        started = time.monotonic()
        try:
            response = self._session.get(
                url.strip(),
                stream=True,
                allow_redirects=True,
                timeout=self._timeout,
                auth=PresetAuthorization(None),
            )
        except requests.RequestException as exc:
            reason = describe_failure(exc)
            logger.warning("Download from %s failed: %s", where, reason)
            error_type = TimedOutError if is_timeout(exc) else NetworkError
            raise error_type(
                f"Could not download the package from {parts.netloc} because {reason}. "
                "Check the internet connection, then fetch the release details again "
                "and retry, because the download link expires within seconds."
            ) from exc

        status = response.status_code
        logger.info(
            "GET %s -> HTTP %d in %.1f ms (download, %d redirects)",
            where,
            status,
            (time.monotonic() - started) * 1000,
            len(response.history),
        )
        if not 200 <= status < 300:
            response.close()
            raise DownloadError(
                f"The package download from {parts.netloc} failed with HTTP {status}. "
                "The download link expires within seconds: fetch the release details "
                "again and retry.",
                status=status,
            )
        return response

    # The call engine

    def _call(self, call: _Call) -> tuple[int, Any]:
        """Run one call with its retries; return the HTTP status and the JSON reply."""
        self._count_call(call.name)
        try:
            return self._call_with_retries(call)
        except ReleaseDeskError as error:
            logger.warning(
                "%s failed%s: %s: %s",
                call.name,
                call.log_ids,
                type(error).__name__,
                error,
            )
            raise

    def _call_with_retries(self, call: _Call) -> tuple[int, Any]:
        started = self._clock()
        auth_rejections = 0
        read_retries = 0
        nonce_wait = 0.0
        while True:
            try:
                return self._attempt(call, nonce_wait)
            except _AuthRejected as rejection:
                auth_rejections += 1
                if auth_rejections > self._max_auth_retries:
                    raise self._authentication_error(
                        call, rejection, auth_rejections
                    ) from None
                nonce_wait = AUTH_RETRY_BASE_DELAY * 2 ** (auth_rejections - 1)
                self._count("auth_retries")
                logger.info(
                    "%s %s%s rejected (%s); retry %d of %d, fresh nonce %.0f ms old",
                    call.method,
                    call.path,
                    call.log_ids,
                    rejection.detail,
                    auth_rejections,
                    self._max_auth_retries,
                    nonce_wait * 1000,
                )
            except _RetryableFailure as failure:
                delay = self._read_retry_delay(failure, read_retries, started)
                if delay is None:
                    raise failure.error from failure.error.__cause__
                read_retries += 1
                self._count("read_retries")
                logger.warning(
                    "%s %s%s: %s; retry %d of %d in %.2f s",
                    call.method,
                    call.path,
                    call.log_ids,
                    failure.detail,
                    read_retries,
                    self._max_read_retries,
                    delay,
                )
                self._sleep(delay)

    def _attempt(self, call: _Call, nonce_wait: float) -> tuple[int, Any]:
        """Fetch a nonce, then send the call once; raise what the retry loop handles.

        After a rejected nonce, the retry waits nonce_wait seconds between fetching
        the fresh nonce and using it: a nonce store that lags behind needs the time
        after the nonce was issued, and a wait before fetching would not help.
        """
        url = self.base_url + call.path
        nonce = self._fetch_nonce(call, url)
        if nonce_wait > 0:
            self._sleep(nonce_wait)
        signed = self._sign(call.method, url, call.fields, nonce)
        response = self._send(call, signed, may_retry=call.create_of_project is None)
        data = self._read_reply(call, response, is_nonce_request=False)
        if _holds_only_nonce(data):
            raise _AuthRejected(
                response.status_code, None, "the server sent a new nonce, not a reply"
            )
        return response.status_code, data

    def _fetch_nonce(self, call: _Call, url: str) -> str:
        """Return a fresh nonce from a signed GET of url with no fields and no nonce.

        This GET changes nothing on the server, so it may be retried even for a create.
        """
        signed = self._sign("GET", url, (), None)
        response = self._send(call, signed, may_retry=True, is_nonce_request=True)
        data = self._read_reply(call, response, is_nonce_request=True)
        nonce = data.get("nonce") if isinstance(data, Mapping) else None
        if isinstance(nonce, int) and not isinstance(nonce, bool):
            nonce = str(nonce)
        if not isinstance(nonce, str) or not nonce:
            raise ServerError(
                f"Could not {call.action}: Elucidat's reply to the nonce request has "
                f"no nonce (HTTP {response.status_code}). Check the API base URL in "
                f"the account settings ({self.base_url}).",
                status=response.status_code,
            )
        return nonce

    def _sign(
        self,
        method: str,
        url: str,
        fields: Iterable[tuple[str, str]],
        nonce: str | None,
    ) -> SignedRequest:
        return sign_request(
            method,
            url,
            fields,
            public_key=self._public_key,
            private_key=self._private_key,
            nonce=nonce,
            timestamp=int(self._clock()),
        )

    def _send(
        self,
        call: _Call,
        signed: SignedRequest,
        *,
        may_retry: bool,
        is_nonce_request: bool = False,
    ) -> requests.Response:
        """Send the signed bytes once, with redirects off, and return the response."""
        headers = {"Accept": "application/json"}
        url = signed.url
        body: bytes | None = None
        if signed.method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = signed.encoded_fields.encode("ascii")
        elif signed.fields:
            url = f"{url}?{signed.encoded_fields}"

        self._count("http_requests")
        if is_nonce_request:
            self._count("nonce_requests")
        label = f"{signed.method} {call.path}{' (nonce)' if is_nonce_request else ''}"
        started = time.monotonic()
        try:
            response = self._session.request(
                signed.method,
                url,
                data=body,
                headers=headers,
                auth=PresetAuthorization(signed.authorization),
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            logger.info(
                "%s failed after %.1f ms%s: %s",
                label,
                (time.monotonic() - started) * 1000,
                call.log_ids,
                describe_failure(exc),
            )
            raise self._transport_error(call, exc, may_retry=may_retry) from exc

        logger.debug(
            "%s -> HTTP %d in %.1f ms%s",
            label,
            response.status_code,
            (time.monotonic() - started) * 1000,
            call.log_ids,
        )
        return response

    def _transport_error(
        self, call: _Call, exc: requests.RequestException, *, may_retry: bool
    ) -> Exception:
        reason = describe_failure(exc)
        error: ReleaseDeskError
        if not may_retry and call.create_of_project and request_may_have_been_sent(exc):
            error = OutcomeUnknownError(
                f"The request to {call.action} was sent, but {reason} before Elucidat "
                "replied. The release may have been created: check the releases of "
                f"project {call.create_of_project} before trying again."
            )
        elif is_timeout(exc):
            connect, read = self._timeout
            error = TimedOutError(
                f"Could not {call.action} at {self._host} because {reason} (waited "
                f"{connect:g} s to connect and {read:g} s for a reply). Check the "
                "internet connection, then try again."
            )
        else:
            error = NetworkError(
                f"Could not {call.action} at {self._host} because {reason}. Check the "
                "internet connection, the proxy settings and the API base URL in the "
                "account settings, then try again."
            )
        error.__cause__ = exc
        if may_retry:
            return _RetryableFailure(error, None, reason)
        return error

    def _read_reply(
        self, call: _Call, response: requests.Response, *, is_nonce_request: bool
    ) -> Any:
        """Return the JSON of a 2xx reply, or raise the error its status stands for.

        NOTE: Elucidat does not document its error replies. The mapping follows HTTP
        conventions and reads the body's `message` or `error` text when there is one.
        """
        status = response.status_code
        is_json, data = _parse_json(response.content)
        server_text = _server_text(data) if is_json else excerpt(response.content)
        detail = f"HTTP {status}" + (f": {_clause(server_text)}" if server_text else "")
        may_retry = call.create_of_project is None or is_nonce_request
        uncertain = (
            "" if may_retry else " " + _check_releases_hint(call.create_of_project)
        )

        if 200 <= status < 300:
            if is_json:
                return data
            raise ServerError(
                f"The reply to the request to {call.action} is not Elucidat API data "
                f"(HTTP {status}); a proxy or network login page may be in the way. "
                f"The reply starts: {_clause(server_text) or '(empty)'}.{uncertain}",
                status=status,
                server_message=server_text,
            )
        if 300 <= status < 400:
            location = response.headers.get("Location") or "(no address given)"
            raise ServerError(
                f"Elucidat responded to the request to {call.action} with a redirect "
                f"(HTTP {status}) to {location}, which is not followed. Check the API "
                f"base URL in the account settings ({self.base_url}); if the API has "
                "moved, enter its new address.",
                status=status,
                server_message=server_text,
            )
        if status == 401 and is_nonce_request:
            # No nonce was involved, so a retry cannot help: the key pair or the
            # clock is wrong.
            raise AuthenticationError(
                f"Elucidat rejected the API keys while trying to {call.action} "
                f"({detail}). " + _API_KEYS_HINT,
                status=status,
                server_message=server_text,
            )
        if status == 401:
            raise _AuthRejected(status, server_text, detail)
        if status == 403:
            raise AuthenticationError(
                f"Elucidat denied access while trying to {call.action} ({detail}). "
                + _API_KEYS_HINT,
                status=status,
                server_message=server_text,
            )
        if status == 404:
            raise NotFoundError(
                f"{call.not_found[0]} ({detail}). {call.not_found[1]}",
                status=status,
                server_message=server_text,
            )
        if status == 429:
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), self._clock()
            )
            wait = (
                f"Wait {_seconds(retry_after)}"
                if retry_after is not None
                else "Wait a minute"
            )
            rate_error = RateLimitedError(
                f"Elucidat received too many requests and asked to slow down while "
                f"trying to {call.action} ({detail}). {wait} and try again.",
                server_message=server_text,
                retry_after=retry_after,
            )
            if may_retry:
                raise _RetryableFailure(rate_error, retry_after, detail)
            raise rate_error
        if status == 408 or status >= 500:
            server_error = ServerError(
                f"Elucidat had a server error while trying to {call.action} "
                f"({detail}). Try again in a few minutes.{uncertain}",
                status=status,
                server_message=server_text,
            )
            if may_retry:
                raise _RetryableFailure(server_error, None, detail)
            raise server_error
        if 400 <= status < 500:
            raise InvalidRequestError(
                f"Elucidat rejected the request to {call.action} ({detail})."
                + _field_hint(server_text, call.fields),
                status=status,
                server_message=server_text,
            )
        raise ServerError(
            f"Elucidat's reply to the request to {call.action} has an unexpected "
            f"status ({detail}). Try again later.",
            status=status,
            server_message=server_text,
        )

    def _read_retry_delay(
        self, failure: _RetryableFailure, retries_done: int, started: float
    ) -> float | None:
        """Return the seconds to wait before the next read retry, or None to give up."""
        if retries_done >= self._max_read_retries:
            return None
        if failure.retry_after is not None:
            if failure.retry_after > MAX_RETRY_AFTER:
                return None
            delay = failure.retry_after
        else:
            delay = READ_RETRY_BASE_DELAY * 2**retries_done
        if self._clock() - started + delay > MAX_READ_RETRY_SECONDS:
            return None
        return delay

    def _authentication_error(
        self, call: _Call, rejection: _AuthRejected, attempts: int
    ) -> AuthenticationError:
        return AuthenticationError(
            f"Elucidat rejected the request to {call.action} {attempts} times "
            f"({rejection.detail}). " + _API_KEYS_HINT,
            status=rejection.status,
            server_message=rejection.server_text,
        )

    def _endpoint_not_found(self, path: str) -> tuple[str, str]:
        return (
            f"The API address {self.base_url}{path} was not found",
            "Check the API base URL in the account settings; Elucidat's is "
            f"{DEFAULT_BASE_URL}.",
        )

    def _count(self, counter: str) -> None:
        with self._stats_lock:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    def _count_call(self, name: str) -> None:
        with self._stats_lock:
            self.stats.calls[name] += 1


@dataclass(frozen=True)
class _Call:
    """One API call: what is sent, and the words used for it in logs and errors."""

    name: str
    method: str
    path: str
    fields: tuple[tuple[str, str], ...]
    #: Completes "Could not ...", for example "list the releases of project X".
    action: str
    #: For a 404: what was not found (no final period), and what to do about it.
    not_found: tuple[str, str]
    #: " [project X, release Y]" for log lines.
    log_ids: str = ""
    #: The project code when this is a `releases/create` call, which is never resent.
    create_of_project: str | None = None


class _AuthRejected(Exception):
    """The server rejected the nonce or signature; the call changed nothing."""

    def __init__(self, status: int, server_text: str | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.server_text = server_text
        self.detail = detail


class _RetryableFailure(Exception):
    """A read failure worth retrying; `error` is raised when no retry is left."""

    def __init__(
        self, error: ReleaseDeskError, retry_after: float | None, detail: str
    ) -> None:
        super().__init__(detail)
        self.error = error
        self.retry_after = retry_after
        self.detail = detail


def _holds_only_nonce(data: Any) -> bool:
    """Return True for a reply that contains only a nonce.

    NOTE: Elucidat's example clients treat such a reply to a signed call as a rejected
    nonce; this is not documented.
    """
    return isinstance(data, Mapping) and set(data) == {"nonce"}


def _parse_json(body: bytes) -> tuple[bool, Any]:
    if not body.strip():
        return False, None
    try:
        return True, json.loads(body)
    except ValueError:
        return False, None


def _server_text(data: Any) -> str | None:
    """Return the `message` or `error` text of a JSON reply, redacted and shortened."""
    if not isinstance(data, Mapping):
        return None
    for key in ("message", "error", "error_message"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            text = value.strip()
        elif isinstance(value, Mapping | list) and value:
            text = json.dumps(value, ensure_ascii=False)
        else:
            continue
        text = redact(text)
        if len(text) > EXCERPT_LENGTH:
            text = text[: EXCERPT_LENGTH - 1] + "…"
        return text
    return None


# Fields a server message may name. The password's value is never repeated.
_FIELD_LABELS = {
    "project_code": "project code",
    "release_code": "release code",
    "release_mode": "release mode",
    "description": "description",
    "learner_access": "learner access",
    "xapi_lrs_endpoint_url": "LRS endpoint URL",
    "xapi_lrs_endpoint_username": "LRS user name",
    "xapi_lrs_endpoint_password": "LRS password",
    "simulation_mode": "simulation mode",
    "email_address": "e-mail address",
    "name": "learner name",
}


def _field_hint(server_text: str | None, fields: tuple[tuple[str, str], ...]) -> str:
    """Return " Check the <field> (<value>)." for the first field the message names."""
    if not server_text:
        return " Check the values entered, then try again."
    lowered = server_text.lower()
    sent = dict(fields)
    # Longer names first, so "release_code" wins over "release" inside other names.
    for name in sorted(_FIELD_LABELS, key=len, reverse=True):
        label = _FIELD_LABELS[name]
        if name not in lowered and name.replace("_", " ") not in lowered:
            continue
        value = sent.get(name)
        if value is None or name == "xapi_lrs_endpoint_password":
            return f" Check the {label}."
        return f" Check the {label} ({_safe_value(value)!r})."
    return " Check the values entered, then try again."


def _safe_value(value: str) -> str:
    """Return a field value fit for an error text: no URL password, no known secret."""
    masked = _URL_USERINFO.sub("//***@", value)
    return redact(masked)[:EXCERPT_LENGTH]


_URL_USERINFO = re.compile(r"//[^/@\s]*@")


def _records(data: Any, key: str) -> list[Mapping[str, Any]]:
    """Return the records of a list reply.

    NOTE: the reply shape is not documented. Elucidat's example clients read a plain
    JSON list. An object containing the list under `key`, "data", "items" or
    "results" is accepted too, and so is an object of records keyed by code, which is
    what PHP's json_encode makes of an array that is not a plain list.
    """
    items: Any = data
    if isinstance(data, Mapping):
        wrapped = [data.get(name) for name in (key, "data", "items", "results")]
        lists = [value for value in wrapped if isinstance(value, list | Mapping)]
        if lists:
            items = lists[0]
        if isinstance(items, Mapping):
            items = list(items.values())
    if not isinstance(items, list):
        raise ServerError(
            f"Elucidat's list of {key} has an unexpected form ({type(data).__name__}). "
            "Try again later."
        )
    records = [item for item in items if isinstance(item, Mapping)]
    if len(records) != len(items):
        logger.warning(
            "Skipped %d %s entries that are not objects", len(items) - len(records), key
        )
    return records


def _record(data: Any, key: str, action: str) -> Mapping[str, Any]:
    """Return the object of a single-record reply, unwrapping {key: {...}} if needed."""
    if isinstance(data, Mapping):
        inner = data.get(key)
        if isinstance(inner, Mapping) and len(data) == 1:
            return inner
        return data
    raise ServerError(
        f"Elucidat's reply to the request to {action} is not a JSON object "
        f"({type(data).__name__}). Try again later."
    )


def _release_mode(value: ReleaseMode | str) -> ReleaseMode:
    try:
        return ReleaseMode(value)
    except ValueError:
        allowed = ", ".join(mode.value for mode in ReleaseMode)
        raise InputError(
            f"The release mode {value!r} is not valid. Choose one of: {allowed}.",
            field="release_mode",
        ) from None


def _learner_access(value: LearnerAccess | str) -> str:
    try:
        return LearnerAccess(value).value
    except ValueError:
        allowed = ", ".join(access.value for access in LearnerAccess)
        raise InputError(
            f"The learner access {value!r} is not valid. Choose one of: {allowed}, or "
            "leave it empty to keep the project's setting.",
            field="learner_access",
        ) from None


def _lrs_endpoint_url(value: str | None) -> str:
    url = (value or "").strip()
    if url and urlsplit(url).scheme.lower() not in ("http", "https"):
        raise InputError(
            f"The LRS endpoint URL {url!r} is not a web address. Enter the address "
            "your LRS gives for xAPI statements, starting with https://, or leave it "
            "empty to keep the project's setting.",
            field="lrs_endpoint_url",
        )
    return url


def _required_code(value: str, label: str, field_name: str) -> str:
    code = value.strip()
    if not code:
        raise InputError(
            f"The {label} is missing. Choose one from the list, or enter it as shown "
            "in Elucidat.",
            field=field_name,
        )
    return code


def _missing_key_error(missing: str) -> ConfigurationError:
    return ConfigurationError(
        f"The {missing} is empty. Copy the public key and private key from API Access "
        "> Project API (v2) in Elucidat into the account settings."
    )


def _project_not_found(code: str) -> tuple[str, str]:
    return (
        f"Project {code} was not found in this Elucidat account",
        "Check the project code; the project list shows the codes this account can "
        "use.",
    )


def _release_not_found(code: str) -> tuple[str, str]:
    return (
        f"Release {code} was not found in this Elucidat account",
        "Check the release code in the project's release list.",
    )


def _clause(text: str | None) -> str:
    """Return text without its final period, to embed it in a sentence."""
    return (text or "").rstrip(" .")


def _seconds(value: float) -> str:
    count = max(1, round(value))
    return f"{count} second" if count == 1 else f"{count} seconds"


def _check_releases_hint(project_code: str | None) -> str:
    return (
        "The release may have been created anyway: check the releases of project "
        f"{project_code} before trying again."
    )


def _log_ids(project_code: str | None, release_code: str | None) -> str:
    ids = []
    if project_code:
        ids.append(f"project {project_code}")
    if release_code:
        ids.append(f"release {release_code}")
    return f" [{', '.join(ids)}]" if ids else ""
