"""Private keys and LRS passwords in the operating system's keyring, and nowhere else.

Entries live under the keyring service name ``release-desk`` with these usernames:

- ``account:<account name>``: the Elucidat private key of that account;
- ``lrs:<account name>:<project code>``: the xAPI LRS password that the account uses
  for that project. Project codes contain no colon, so the last colon separates them.

Every keyring call runs on a short-lived daemon thread that the caller joins with a
timeout, because a locked keyring can block on an unlock prompt. A call that does not
return in time raises `KeyringError`, and its thread is left to end on its own.

There is no fallback to a file: the ``keyrings.alt`` plaintext backends and keyring's
``fail`` and ``null`` backends are treated as "no usable keyring".
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import keyring
import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.errors

from core.errors import InputError, KeyringError
from core.logs import redact, register_secret

log = logging.getLogger(__name__)

SERVICE_NAME = "release-desk"
DEFAULT_TIMEOUT = 10.0

T = TypeVar("T")

# Human names of the backends that keyring 25 ships, by "module.ClassName".
_BACKEND_NAMES = {
    "keyring.backends.SecretService.Keyring": (
        "Secret Service (GNOME Keyring or compatible)"
    ),
    "keyring.backends.libsecret.Keyring": "Secret Service via libsecret",
    "keyring.backends.kwallet.DBusKeyring": "KWallet",
    "keyring.backends.kwallet.DBusKeyringKWallet4": "KWallet 4",
    "keyring.backends.macOS.Keyring": "macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "Windows Credential Manager",
}


class NoUsableKeyringError(KeyringError):
    """No keyring backend that keeps secrets safely is available.

    Nothing can be stored or read, so nothing that was stored before can be reached.
    """


def private_key_username(account_name: str) -> str:
    """Return the keyring username of an account's private key."""
    return f"account:{account_name}"


def lrs_password_username(account_name: str, project_code: str) -> str:
    """Return the keyring username of an account's LRS password for one project."""
    return f"lrs:{account_name}:{project_code}"


class KeyStore:
    """Reads and writes Release Desk's secrets in the OS keyring, with a timeout.

    The backend is looked up on every call, so `keyring.set_keyring()` (tests) and a
    keyring unlocked after start-up both take effect without a restart.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout

    def backend_name(self) -> str:
        """Return the keyring's name in human words, also for an unusable one.

        Raises KeyringError when the keyring does not respond within the timeout.
        """
        return self._call("look up the keyring", _describe_backend_in_use, select=False)

    def check(self) -> None:
        """Raise KeyringError, with the fix, when no usable keyring is available.

        This only selects the backend. A locked keyring is reported by the first read
        or write, because probing it here could open an unlock prompt.
        """
        self._call("look up the keyring", lambda backend: None)

    def set_private_key(self, account_name: str, private_key: str) -> None:
        """Store the private key, replacing any stored one; InputError when invalid."""
        _check_secret(private_key, "private key", account_name)
        register_secret(private_key)
        username = private_key_username(account_name)
        self._call(
            f'store the private key of account "{account_name}"',
            lambda backend: backend.set_password(SERVICE_NAME, username, private_key),
        )
        log.info('Stored the private key of account "%s" in the keyring', account_name)

    def get_private_key(self, account_name: str) -> str | None:
        """Return the stored private key, or None when there is none."""
        username = private_key_username(account_name)
        private_key = self._call(
            f'read the private key of account "{account_name}"',
            lambda backend: _get_text(backend, username),
        )
        register_secret(private_key)
        return private_key

    def delete_private_key(self, account_name: str) -> None:
        """Delete the stored private key; a missing entry is not an error."""
        self._delete(
            private_key_username(account_name),
            f'delete the private key of account "{account_name}"',
        )

    def set_lrs_password(
        self, account_name: str, project_code: str, password: str
    ) -> None:
        """Store the LRS password, replacing any stored one; InputError when invalid."""
        check_project_code(project_code)
        _check_secret(password, "LRS password", account_name)
        register_secret(password)
        username = lrs_password_username(account_name, project_code)
        self._call(
            f'store the LRS password of project {project_code} in account "'
            f'{account_name}"',
            lambda backend: backend.set_password(SERVICE_NAME, username, password),
        )
        log.info(
            'Stored the LRS password of project %s in account "%s" in the keyring',
            project_code,
            account_name,
        )

    def get_lrs_password(self, account_name: str, project_code: str) -> str | None:
        """Return the stored LRS password, or None when there is none."""
        check_project_code(project_code)
        username = lrs_password_username(account_name, project_code)
        password = self._call(
            f'read the LRS password of project {project_code} in account "'
            f'{account_name}"',
            lambda backend: _get_text(backend, username),
        )
        register_secret(password)
        return password

    def delete_lrs_password(self, account_name: str, project_code: str) -> None:
        """Delete the stored LRS password; a missing entry is not an error."""
        check_project_code(project_code)
        self._delete(
            lrs_password_username(account_name, project_code),
            f'delete the LRS password of project {project_code} in account "'
            f'{account_name}"',
        )

    def _delete(self, username: str, action: str) -> None:
        def delete(backend: keyring.backend.KeyringBackend) -> bool:
            # Backends raise PasswordDeleteError both for a missing entry and for a
            # refused delete, so a read first distinguishes the two.
            if backend.get_password(SERVICE_NAME, username) is None:
                return False
            backend.delete_password(SERVICE_NAME, username)
            return True

        if self._call(action, delete):
            log.info("Deleted keyring entry %s", username)

    def _call(
        self,
        action: str,
        operation: Callable[[keyring.backend.KeyringBackend], T],
        *,
        select: bool = True,
    ) -> T:
        """Run operation(backend) on a daemon thread and translate what it raises.

        With select=False the operation receives keyring's current backend even when
        it is one that Release Desk rejects.
        """
        call: _ThreadCall[T] = _ThreadCall(operation, select=select)
        thread = threading.Thread(target=call.run, name="keyring-call", daemon=True)
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            log.warning(
                "The keyring did not respond within %.1f s (%s)", self.timeout, action
            )
            raise KeyringError(
                f"The keyring did not respond within {self.timeout:g} seconds when "
                f"Release Desk tried to {action}. It may be locked, or an unlock "
                "prompt may be waiting behind another window. Unlock the keyring "
                "and try again."
            )
        if call.error is not None:
            raise _translate_error(call.error, action, call.backend_name) from None
        return call.result  # type: ignore[return-value]


class _ThreadCall(Generic[T]):
    """One keyring operation and its outcome, filled in by the worker thread."""

    def __init__(
        self, operation: Callable[[keyring.backend.KeyringBackend], T], *, select: bool
    ) -> None:
        self.operation = operation
        self.select = select
        self.result: T | None = None
        self.error: BaseException | None = None
        self.backend_name = ""

    def run(self) -> None:
        try:
            backend = _select_backend() if self.select else keyring.get_keyring()
            self.backend_name = describe_backend(backend)
            self.result = self.operation(backend)
        except BaseException as error:  # the caller's thread translates or re-raises
            self.error = error


@dataclass(frozen=True)
class _Rejected:
    """A backend that Release Desk will not use, and why."""

    name: str
    reason: str


def _select_backend() -> keyring.backend.KeyringBackend:
    """Return the first backend that may hold secrets, or raise NoUsableKeyringError.

    A chainer backend (several backends at once) is replaced by its first member that
    is not rejected, so a plaintext member never receives a secret.
    """
    current = keyring.get_keyring()
    candidates: list[Any] = [current]
    if isinstance(current, keyring.backends.chainer.ChainerBackend):
        candidates = list(current.backends)
        if not candidates:
            raise NoUsableKeyringError(_no_keyring_message("keyring found no backend"))

    rejections: list[_Rejected] = []
    for candidate in candidates:
        rejected = _rejection(candidate)
        if rejected is None:
            return candidate  # type: ignore[no-any-return]
        rejections.append(rejected)
    detail = "; ".join(f"{r.name}: {r.reason}" for r in rejections)
    raise NoUsableKeyringError(_no_keyring_message(detail))


def _rejection(backend: keyring.backend.KeyringBackend) -> _Rejected | None:
    """Return why backend must not hold secrets, or None when it may."""
    module = type(backend).__module__
    if isinstance(backend, keyring.backends.fail.Keyring):
        return _Rejected("no keyring backend", "keyring found none on this system")
    if isinstance(backend, keyring.backends.null.Keyring):
        return _Rejected("the null keyring", "it stores nothing")
    if module == "keyrings.alt" or module.startswith("keyrings.alt."):
        return _Rejected(
            f"the keyrings.alt backend {type(backend).__name__}",
            "it keeps secrets in a file on disk",
        )
    return None


def describe_backend(backend: keyring.backend.KeyringBackend) -> str:
    """Return a backend's name in human words."""
    backend_type = type(backend)
    key = f"{backend_type.__module__}.{backend_type.__name__}"
    if key in _BACKEND_NAMES:
        return _BACKEND_NAMES[key]
    rejected = _rejection(backend)
    if rejected is not None:
        return f"{rejected.name} ({rejected.reason})"
    return str(backend.name)


def _describe_backend_in_use(current: keyring.backend.KeyringBackend) -> str:
    try:
        return describe_backend(_select_backend())
    except NoUsableKeyringError:
        if isinstance(current, keyring.backends.chainer.ChainerBackend):
            chained = list(current.backends)
            if chained:
                return describe_backend(chained[0])
            return "no keyring backend"
        return describe_backend(current)


def _keyring_label(backend_name: str) -> str:
    if backend_name:
        return f"the keyring ({backend_name})"
    return "the keyring"


def _get_text(backend: keyring.backend.KeyringBackend, username: str) -> str | None:
    value = backend.get_password(SERVICE_NAME, username)
    if value is None or value == "":
        return None
    return str(value)


def check_project_code(project_code: str) -> None:
    """Raise InputError when project_code cannot be part of a keyring username."""
    if not project_code or any(c.isspace() or c == ":" for c in project_code):
        raise InputError(
            f'The project code "{project_code}" is invalid: it must be non-empty and '
            "contain no spaces or colons. Copy the code from the project list.",
            field="project_code",
        )


def _check_secret(value: str, secret_label: str, account_name: str) -> None:
    # The message never repeats the value, because it is a secret.
    if not value:
        raise InputError(
            f'The {secret_label} for account "{account_name}" is empty. Paste the '
            f"{secret_label} from Elucidat's API Access page.",
            field=secret_label.replace(" ", "_").lower(),
        )
    if any(c.isspace() for c in value):
        raise InputError(
            f'The {secret_label} for account "{account_name}" contains spaces or line '
            f"breaks. Paste the {secret_label} again without them.",
            field=secret_label.replace(" ", "_").lower(),
        )


def _translate_error(
    error: BaseException, action: str, backend_name: str
) -> BaseException:
    """Return a KeyringError with the fix for a backend failure.

    Errors that no keyring backend raises (bugs) are returned unchanged.
    """
    if isinstance(error, KeyringError | InputError):
        return error
    detail = redact(str(error)).rstrip(". ") or type(error).__name__
    log.warning(
        "Keyring call failed (%s): %s: %s", action, type(error).__name__, detail
    )

    if isinstance(error, keyring.errors.NoKeyringError):
        return NoUsableKeyringError(_no_keyring_message(detail))
    if isinstance(error, keyring.errors.KeyringLocked) or _is_locked(error):
        return KeyringError(
            f"Could not {action} because {_keyring_label(backend_name)} is locked. "
            "Unlock it (log in to the desktop, or open the keyring app and unlock "
            "it) and try again."
        )
    if _is_keyring_failure(error):
        return KeyringError(
            f"Could not {action}: {_keyring_label(backend_name)} refused or "
            f'failed ("{detail}"). Allow Release Desk access when the keyring asks, '
            "check that the keyring is unlocked, and try again."
        )
    return error


def _is_locked(error: BaseException) -> bool:
    secretstorage_exceptions = sys.modules.get("secretstorage.exceptions")
    locked = getattr(secretstorage_exceptions, "LockedException", None)
    return locked is not None and isinstance(error, locked)


def _is_keyring_failure(error: BaseException) -> bool:
    """True for errors that keyring backends raise when the store fails.

    keyring wraps most failures in its own errors, but D-Bus failures can surface as
    RuntimeError, secretstorage or jeepney exceptions, or OSError from the socket.
    """
    failure_types: list[type[BaseException]] = [
        keyring.errors.KeyringError,
        RuntimeError,
        OSError,
    ]
    for module_name, class_name in (
        ("secretstorage.exceptions", "SecretStorageException"),
        ("jeepney.wrappers", "DBusErrorResponse"),
    ):
        module = sys.modules.get(module_name)
        error_type = getattr(module, class_name, None)
        if isinstance(error_type, type):
            failure_types.append(error_type)
    return isinstance(error, tuple(failure_types))


def _no_keyring_message(detail: str, platform: str = sys.platform) -> str:
    """Return the "no usable keyring" message with the fix for this platform."""
    if platform.startswith(("linux", "freebsd")):
        fix = (
            "Install and unlock GNOME Keyring (package gnome-keyring) or KWallet, "
            "and run Release Desk inside a desktop session so it can reach them "
            "over D-Bus."
        )
    else:
        fix = (
            "The keychain is built into macOS and Windows, so check that Release "
            "Desk runs as a normal signed-in user and that no keyring setting "
            "(PYTHON_KEYRING_BACKEND) overrides it."
        )
    return (
        f"No usable keyring was found ({detail}). Release Desk keeps private keys "
        f"only in the system keyring, never in a file. {fix} On the command line, "
        "you can set ELUCIDAT_PUBLIC_KEY and ELUCIDAT_PRIVATE_KEY instead."
    )
