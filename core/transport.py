"""HTTP plumbing under the Elucidat client: session, URL checks, failure analysis.

Nothing here is specific to the Elucidat API. The client builds the exact bytes of
every request, and this module sends them, classifies what went wrong when nothing
usable came back, and turns reply bodies into short texts that are safe to show.
"""

from __future__ import annotations

import email.utils
import html
import ipaddress
import re
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
import requests.auth
import truststore
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from core import __version__
from core.errors import InputError

USER_AGENT = f"ReleaseDesk/{__version__} python-requests/{requests.__version__}"

# urllib3 must never resend a request on its own: a resent releases/create could make
# a second release. Only the client can tell which calls are safe to retry.
NO_RETRIES = Retry(total=0, read=False, redirect=False)

EXCERPT_LENGTH = 200

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback_host(host: str) -> bool:
    """Return True for localhost and addresses in 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str) -> str:
    """Check an API base URL and return it normalized, ending with "/".

    HTTPS is required unless the host is loopback, because every call carries the
    public key and a signature. The scheme and host are lower-cased and a default port
    is dropped so that the URL that is signed matches the URL that is requested.
    Raises InputError naming the URL and the fix.
    """
    parts = _split_web_url(url, "API base URL", "base_url")
    if parts.query or parts.fragment:
        raise InputError(
            f"The API base URL {url!r} contains a query string or fragment. Remove "
            "everything from '?' or '#' on, for example https://api.elucidat.com/v2/.",
            field="base_url",
        )
    if parts.username or parts.password:
        raise InputError(
            f"The API base URL {_without_userinfo(parts)!r} contains a user name or "
            "password. Remove the part before '@': the API keys sign each request.",
            field="base_url",
        )
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, _netloc(parts), path, "", ""))


def check_download_url(url: str) -> None:
    """Raise InputError unless url is https, or http on a loopback host."""
    _split_web_url(url, "download URL", "download_url")


def _split_web_url(url: str, label: str, field: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    scheme = parts.scheme.lower() if parts else ""
    if parts is None or scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InputError(
            f"The {label} {url!r} is not a valid web address. Enter an address that "
            "starts with https://, for example https://api.elucidat.com/v2/.",
            field=field,
        )
    if scheme == "http" and not is_loopback_host(parts.hostname):
        raise InputError(
            f"The {label} {_without_userinfo(parts)!r} uses plain http, which would "
            "send requests unencrypted. Change it to start with https://; plain http "
            "is accepted only for a test server on this computer (127.0.0.1, ::1 or "
            "localhost).",
            field=field,
        )
    return parts._replace(scheme=scheme)


def _netloc(parts: SplitResult) -> str:
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return host
    return f"{host}:{port}"


def _without_userinfo(parts: SplitResult) -> str:
    return urlunsplit((parts.scheme, _netloc(parts), parts.path, "", ""))


class TruststoreAdapter(HTTPAdapter):
    """HTTPS adapter that checks certificates against the operating system's store.

    Corporate networks often install their own root certificate in the OS store, which
    certifi's bundle does not contain. A CA bundle named in REQUESTS_CA_BUNDLE is still
    honoured, in addition to the OS store.
    """

    def __init__(self) -> None:
        # HTTPAdapter.__init__ calls init_poolmanager, which needs the context.
        self._ssl_context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        super().__init__(max_retries=NO_RETRIES)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["ssl_context"] = self._ssl_context
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # types-requests declares cert_verify without types.
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if verify is True:
            # requests points every pool at certifi's bundle; without it, only the OS
            # store loaded by truststore is trusted.
            conn.ca_certs = None
            conn.ca_cert_dir = None

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return self._ssl_context


def build_session() -> requests.Session:
    """Return a session with OS-store TLS checks, no automatic retries and our agent.

    trust_env stays on, so HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE apply.
    """
    session = requests.Session()
    session.trust_env = True
    session.headers["User-Agent"] = USER_AGENT
    session.mount("https://", TruststoreAdapter())
    session.mount("http://", HTTPAdapter(max_retries=NO_RETRIES))
    return session


class PresetAuthorization(requests.auth.AuthBase):
    """Sets a ready-made Authorization header, or none at all.

    Passing an auth object also keeps requests from adding credentials of its own from
    ~/.netrc or the URL, which would replace the signature.
    """

    def __init__(self, value: str | None) -> None:
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._value is not None:
            request.headers["Authorization"] = self._value
        return request


# Exceptions after which the request certainly did not leave this computer: no
# connection was made, the proxy was not reached, or the TLS handshake failed on the
# certificate before any request byte was written.
_NOT_SENT_TYPES: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.ProxyError,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    urllib3.exceptions.ConnectTimeoutError,  # NewConnectionError and DNS failures too
    urllib3.exceptions.ProxyError,
    # Not PoolError itself: ReadTimeoutError is one of its subclasses.
    urllib3.exceptions.EmptyPoolError,
    urllib3.exceptions.ClosedPoolError,
    ssl.SSLCertVerificationError,
)


def request_may_have_been_sent(error: requests.RequestException) -> bool:
    """Return False only when the request certainly never reached the server.

    A read timeout, a reset or a connection closed mid-reply return True: the server
    may have received and acted on the request.
    """
    return not any(isinstance(cause, _NOT_SENT_TYPES) for cause in _causes(error))


def is_timeout(error: requests.RequestException) -> bool:
    """Return True when a connect or read timeout expired.

    requests reports a timeout while reading the body as a ConnectionError wrapping
    urllib3's ReadTimeoutError, so the wrapped exceptions are searched too.
    """
    return isinstance(error, requests.Timeout) or any(
        isinstance(cause, urllib3.exceptions.ReadTimeoutError)
        for cause in _causes(error)
    )


def describe_failure(error: requests.RequestException) -> str:
    """Return a short lower-case phrase for what went wrong on the connection."""
    causes = list(_causes(error))

    def found(*types: type[BaseException]) -> bool:
        return any(isinstance(cause, types) for cause in causes)

    if found(urllib3.exceptions.NameResolutionError):
        return "the host name could not be resolved"
    if found(ssl.SSLCertVerificationError):
        return "the server's TLS certificate is not trusted by this computer"
    if found(requests.exceptions.ProxyError, urllib3.exceptions.ProxyError):
        return "the proxy server could not be reached or refused the connection"
    if found(ConnectionRefusedError):
        return "the connection was refused"
    if found(requests.exceptions.ConnectTimeout):
        return "no connection could be made in time"
    if found(requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
        return "no reply arrived in time"
    if found(requests.exceptions.SSLError):
        return "the secure (TLS) connection failed"
    if found(requests.exceptions.ChunkedEncodingError):
        return "the connection closed before the whole reply arrived"
    if found(ConnectionResetError, BrokenPipeError):
        return "the connection was reset"
    if found(ConnectionAbortedError, urllib3.exceptions.ProtocolError):
        return "the server closed the connection without replying"
    return f"the connection failed ({type(error).__name__})"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """Yield error and every exception wrapped in it by requests, urllib3 or raise."""
    pending = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, *current.args]
        linked.append(getattr(current, "reason", None))
        pending.extend(item for item in linked if isinstance(item, BaseException))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the seconds asked for by a Retry-After header, or None.

    The header contains either a number of seconds or an HTTP date. now is the
    current Unix time, used for the date form.
    """
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def excerpt(body: bytes) -> str:
    """Return the start of a reply body as plain text: tags stripped, 200 chars max."""
    text = body.decode("utf-8", errors="replace")
    text = html.unescape(_TAG.sub(" ", text))
    text = _SPACE.sub(" ", text).strip()
    if len(text) > EXCERPT_LENGTH:
        text = text[: EXCERPT_LENGTH - 1].rstrip() + "…"
    return text
