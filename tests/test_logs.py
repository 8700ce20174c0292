"""Logging: the rotating file and the redaction filter keep every secret out of logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.logs import REDACTED, redact, register_secret, setup_logging

PRIVATE_KEY = "PrivKey-7731/abc+def=="
LRS_PASSWORD = "lrs-Pa55word!"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "release-desk.log"
    setup_logging("DEBUG", path)
    yield path
    setup_logging("WARNING", None)


def read_log(path: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def test_registered_secrets_never_written(log_file: Path) -> None:
    register_secret(PRIVATE_KEY)
    register_secret(LRS_PASSWORD)
    log = logging.getLogger("release_desk.test")

    log.info("private key is %s", PRIVATE_KEY)
    log.warning("LRS login failed for %r", {"user": "bob", "pw": LRS_PASSWORD})
    try:
        raise RuntimeError(f"could not sign with {PRIVATE_KEY}")
    except RuntimeError:
        log.exception("signing failed")

    text = read_log(log_file)
    assert PRIVATE_KEY not in text
    assert LRS_PASSWORD not in text
    assert text.count(REDACTED) >= 3
    assert "signing failed" in text
    assert "RuntimeError" in text


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: oauth_consumer_key=K,oauth_nonce=n,oauth_signature=abc%3D",
        "headers={'Authorization': 'oauth_signature=abc%3D,oauth_version=1.0'}",
        "GET /v2/projects?oauth_signature=Zm9vYmFy%3D&oauth_nonce=1",
        "body=project_code=1&xapi_lrs_endpoint_password=s3cret-unregistered&x=1",
        "config {'private_key': 'unregistered-key-value'}",
    ],
)
def test_secret_fields_redacted_without_registration(log_file: Path, line: str) -> None:
    logging.getLogger("release_desk.test").info(line)

    text = read_log(log_file)
    for secret in (
        "abc%3D",
        "Zm9vYmFy%3D",
        "s3cret-unregistered",
        "unregistered-key-value",
    ):
        assert secret not in text
    assert REDACTED in text


def test_redact_keeps_ordinary_text() -> None:
    text = "Created release 5dd580064b0b7 of project Fire Safety (HTTP 200)"

    assert redact(text) == text


def test_short_values_are_not_registered() -> None:
    register_secret("ab")

    assert redact("a tab and a cab") == "a tab and a cab"


def test_log_file_rotates(tmp_path: Path) -> None:
    path = tmp_path / "rot" / "release-desk.log"
    setup_logging("INFO", path)
    try:
        log = logging.getLogger("release_desk.test")
        for index in range(3000):
            log.info("line %05d %s", index, "x" * 400)
        for handler in logging.getLogger().handlers:
            handler.flush()
    finally:
        setup_logging("WARNING", None)

    assert path.stat().st_size <= 1_048_576
    assert (path.parent / "release-desk.log.1").exists()
    assert len(list(path.parent.glob("release-desk.log*"))) <= 6


def test_qt_messages_reach_logging(
    qtbot: object, caplog: pytest.LogCaptureFixture
) -> None:
    from PySide6.QtCore import QMessageLogContext, QtMsgType

    from gui.app import route_qt_message

    with caplog.at_level(logging.DEBUG, logger="qt"):
        route_qt_message(QtMsgType.QtWarningMsg, QMessageLogContext(), "a Qt warning")

    assert ("qt", logging.WARNING) in [(r.name, r.levelno) for r in caplog.records]
    assert "a Qt warning" in caplog.text
