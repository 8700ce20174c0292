"""Errors with text a course designer can act on.

Each class stands for one kind of failure. `str(error)` is the user-ready sentence:
what failed, on which value, and what to do next. None of them ever carries a key,
a signature or a password.
"""

from __future__ import annotations


class ReleaseDeskError(Exception):
    """A failure the user can understand and act on (not a bug)."""

    #: A short heading for dialogs and the command line.
    title = "Release Desk error"
    #: The history row of the release attempt that failed, when one was recorded.
    attempt_id: int | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The HTTP status of the reply, when there was one.
        self.status = status


class InputError(ReleaseDeskError):
    """A value the user typed or passed is invalid; nothing was sent."""

    title = "Invalid input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConfigurationError(ReleaseDeskError):
    """Keys, the account or the keyring are missing or unusable."""

    title = "Set-up needed"


class ApiError(ReleaseDeskError):
    """The Elucidat API replied, and the reply was a failure."""

    title = "Request rejected"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message, status=status)
        #: The server's own `message` or `error` text, or a short excerpt of the body.
        self.server_message = server_message


class AuthenticationError(ApiError):
    """The keys are wrong or revoked, or the request signature was rejected."""

    title = "Authentication failed"


class InvalidRequestError(ApiError):
    """The server rejected a field value."""

    title = "Invalid request"


class NotFoundError(ApiError):
    """The project or release does not exist in this account."""

    title = "Not found"


class RateLimitedError(ApiError):
    """The server asked us to slow down."""

    title = "Too many requests"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        server_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, server_message=server_message)
        #: Seconds the server asked us to wait, from `Retry-After`, when it sent one.
        self.retry_after = retry_after


class ServerError(ApiError):
    """The server failed (5xx) or replied with something that is not the API's JSON."""

    title = "Server error"


class TransportError(ReleaseDeskError):
    """The request got no reply from the API."""

    title = "Network error"


class NetworkError(TransportError):
    """The connection failed: DNS, refused, reset, TLS or proxy trouble."""


class TimedOutError(TransportError):
    """No reply arrived within the timeout."""

    title = "Timed out"


class OutcomeUnknownError(TransportError):
    """A create call may have reached the server, but no reply came back.

    The release may or may not exist. It is never resent automatically: the user checks
    the project's releases first.
    """

    title = "Outcome unknown"


class CancelledError(ReleaseDeskError):
    """The user cancelled a wait. Shown quietly, never as an error dialog."""

    title = "Cancelled"


class DownloadError(ReleaseDeskError):
    """A package download failed or produced a file that is not a readable zip."""

    title = "Download failed"


class KeyringError(ConfigurationError):
    """The OS keyring is missing, locked or refused access."""

    title = "Keyring unavailable"
