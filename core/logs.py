"""Logging set-up: a rotating file in the app's log folder and a redaction filter.

Every handler that Release Desk installs carries `RedactingFilter`, which rewrites each
record before it is written so that no private key, LRS password, OAuth signature or
Authorization header reaches a log, whatever a caller passed in.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import threading
from pathlib import Path

REDACTED = "***"

# Values that look like secrets wherever they appear: signed query strings, form bodies,
# header dumps and dict reprs. Group 1 is kept, the secret after it is replaced.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)([^'\"\r\n]+)"),
    re.compile(r"(?i)(oauth_signature['\"]?\s*[=:]\s*['\"]?)([^&,'\"\s]+)"),
    re.compile(
        r"(?i)((?:xapi_lrs_endpoint_password|lrs_password|private_key|password|secret)"
        r"['\"]?\s*[=:]\s*['\"]?)([^&,'\"\s]+)"
    ),
]
# A known secret shorter than this is not searched for, because replacing every "a"
# or "42" in a log would make it unreadable. The patterns above still catch such
# values when they appear as named fields.
_MIN_SECRET_LENGTH = 4

_known_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Add a value (a private key, an LRS password) that must never appear in a log."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _known_secrets.add(value)


def redact(text: str) -> str:
    """Return text with registered secrets and secret-looking fields replaced."""
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Render each record's message and traceback now, with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"


def setup_logging(level: str | int, log_file: Path | None) -> None:
    """Send log records to stderr and, when log_file is given, to a rotating file.

    The file keeps at most 5 backups of 1 MiB each. Both handlers carry the
    redaction filter.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_release_desk", False):
            root.removeHandler(handler)
            handler.close()

    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=1_048_576, backupCount=5, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        handler._release_desk = True  # type: ignore[attr-defined]
        root.addHandler(handler)

    # urllib3 logs full URLs at DEBUG; those carry signed query strings.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, root.level))
