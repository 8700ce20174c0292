"""The main window against the sandbox on loopback: dry run, live release followed to
completion and downloaded, validation, errors, cancel, and worker-thread discipline."""

from __future__ import annotations

import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from core.accounts import Credentials
from core.follow import PollSchedule
from core.history import HistoryQuery, HistoryStore, Outcome
from core.paths import app_paths
from gui import tasks
from gui.context import AppContext
from gui.main_window import MainWindow
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY

LEFT = Qt.MouseButton.LeftButton
FAST_FOLLOW = PollSchedule(first=0.05, factor=1.5, maximum=0.2, limit=20.0)


def make_window(
    qtbot: QtBot, sandbox: Any, tmp_path: Path, private_key: str = DEMO_PRIVATE_KEY
) -> MainWindow:
    paths = app_paths().ensure()
    context = AppContext(
        paths=paths,
        history=HistoryStore(paths.history_file),
        credentials=Credentials.for_sandbox(
            sandbox.base_url, DEMO_PUBLIC_KEY, private_key
        ),
    )
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    settings.setValue("downloads/folder", str(tmp_path / "downloads"))
    window = MainWindow(context, settings=settings, follow_schedule=FAST_FOLLOW)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot: QtBot, sandbox: Any, tmp_path: Path) -> Iterator[MainWindow]:
    main_window = make_window(qtbot, sandbox, tmp_path)
    yield main_window
    close_window(main_window)


def close_window(window: MainWindow) -> None:
    for box in window.findChildren(QMessageBox):
        box.close()
    window.shutdown()
    window.context.close()
    window.context.history.close()


def load_projects(qtbot: QtBot, window: MainWindow) -> None:
    window.load_projects()
    qtbot.waitUntil(lambda: window.form.project_combo.count() > 0, timeout=5000)


def choose_project(qtbot: QtBot, window: MainWindow, code: str) -> None:
    window.form.set_project_code(code)
    qtbot.waitUntil(lambda: window.form.release_combo.count() > 1, timeout=5000)


def answer_next_dialog(button_text: str) -> list[str]:
    """Click button_text on the next modal dialog; return the texts it showed."""
    seen: list[str] = []

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text() + "\n" + box.informativeText())
        for button in box.buttons():
            if button.text().replace("&", "") == button_text:
                button.click()
                return
        raise AssertionError(
            f"no button {button_text!r} in {[b.text() for b in box.buttons()]}"
        )

    QTimer.singleShot(0, click)
    return seen


def wait_idle(qtbot: QtBot, window: MainWindow, timeout: int = 10000) -> None:
    qtbot.waitUntil(lambda: window.runner.active_count == 0, timeout=timeout)


def attempts(window: MainWindow) -> list[Any]:
    return window.context.history.search(HistoryQuery(limit=50))


def first_project(sandbox: Any) -> str:
    return str(sandbox.projects()[0]["project_code"])


def test_dry_run_end_to_end(qtbot: QtBot, window: MainWindow, sandbox: Any) -> None:
    project = first_project(sandbox)
    releases_before = sandbox.releases(project)
    load_projects(qtbot, window)
    choose_project(qtbot, window, project)
    window.form.set_release_mode("scorm")
    window.form.description_edit.setText("Café — été 2026")

    assert window.is_simulation()
    assert window.release_button.isEnabled()
    qtbot.mouseClick(window.release_button, LEFT)
    wait_idle(qtbot, window)

    assert window.result.heading.text().startswith("Dry run succeeded")
    assert window.result.code_edit.text()
    assert window.result.repeat_live_button.isVisibleTo(window.result)
    rows = attempts(window)
    assert len(rows) == 1
    assert rows[0].simulation is True
    assert rows[0].outcome == Outcome.SUCCEEDED
    assert rows[0].project_code == project
    assert rows[0].description == "Café — été 2026"
    assert sandbox.releases(project) == releases_before


def test_live_offline_backup_followed_and_saved(
    qtbot: QtBot, window: MainWindow, sandbox: Any, tmp_path: Path
) -> None:
    project = first_project(sandbox)
    count_before = len(sandbox.releases(project))
    load_projects(qtbot, window)
    choose_project(qtbot, window, project)
    window.form.set_release_mode("offline-backup")
    window.form.description_edit.setText("Backup for the archive")

    window.simulation_check.setChecked(False)
    assert "LIVE" in window.mode_banner.text()
    shown = answer_next_dialog("Release live")
    qtbot.mouseClick(window.release_button, LEFT)
    assert shown
    assert "Offline backup" in shown[0]

    qtbot.waitUntil(
        lambda: window.result.download_button.isVisibleTo(window.result), timeout=15000
    )
    assert "complete" in window.result.heading.text()
    assert len(sandbox.releases(project)) == count_before + 1

    qtbot.mouseClick(window.result.download_button, LEFT)
    qtbot.waitUntil(lambda: window.last_download is not None, timeout=15000)
    path = window.last_download
    assert path is not None
    assert path.parent == tmp_path / "downloads"
    assert path.suffix == ".zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert "index.html" in archive.namelist()

    row = attempts(window)[0]
    assert row.simulation is False
    assert row.outcome == Outcome.COMPLETE
    assert row.package_path == str(path)
    assert not list((tmp_path / "downloads").glob("*.part"))


def test_live_release_can_be_declined(
    qtbot: QtBot, window: MainWindow, sandbox: Any
) -> None:
    project = first_project(sandbox)
    count_before = len(sandbox.releases(project))
    load_projects(qtbot, window)
    window.form.set_project_code(project)
    window.simulation_check.setChecked(False)

    answer_next_dialog("Cancel")
    qtbot.mouseClick(window.release_button, LEFT)
    wait_idle(qtbot, window)

    assert attempts(window) == []
    assert len(sandbox.releases(project)) == count_before


def test_repeat_dry_run_live(qtbot: QtBot, window: MainWindow, sandbox: Any) -> None:
    project = first_project(sandbox)
    count_before = len(sandbox.releases(project))
    load_projects(qtbot, window)
    window.form.set_project_code(project)
    window.form.set_release_mode("online-public")
    qtbot.mouseClick(window.release_button, LEFT)
    wait_idle(qtbot, window)
    assert window.repeat_live_action.isEnabled()

    shown = answer_next_dialog("Release live")
    window.result.repeat_live_button.click()
    qtbot.waitUntil(lambda: "complete" in window.result.heading.text(), timeout=15000)

    assert shown
    assert len(sandbox.releases(project)) == count_before + 1
    outcomes = [row.outcome for row in attempts(window)]
    assert outcomes == [Outcome.COMPLETE, Outcome.SUCCEEDED]


def test_live_re_release_warns_about_progress(
    qtbot: QtBot, window: MainWindow, sandbox: Any
) -> None:
    project = first_project(sandbox)
    load_projects(qtbot, window)
    choose_project(qtbot, window, project)
    window.form.release_combo.setCurrentIndex(1)
    code = window.form.release_code()
    assert code
    assert not window.form.mode_combo.isEnabled()
    window.simulation_check.setChecked(False)

    shown = answer_next_dialog("Cancel")
    qtbot.mouseClick(window.release_button, LEFT)

    assert shown
    assert code in shown[0]
    assert "progress of learners" in shown[0]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("project", "", "Project code is required"),
        ("project", " 5dd580064b0b7", "spaces at its start or end"),
        ("project", "5dd58 0064b0b7", "contains a space"),
        ("lrs_url", "ftp://lrs.example.com", "is not a web address"),
        ("lrs_url", "https://", "is not a web address"),
        ("lrs_username", "learner-bot", "needs an LRS endpoint URL"),
        ("lrs_password", "hunter22", "needs an LRS endpoint URL"),
        ("description", "x" * 300, "shorten it to 255"),
    ],
)
def test_validation_message_blocks_release(
    qtbot: QtBot, window: MainWindow, field: str, value: str, expected: str
) -> None:
    form = window.form
    form.set_project_code("5dd580064b0b7")
    widgets = {
        "project": None,
        "lrs_url": form.lrs_url_edit,
        "lrs_username": form.lrs_username_edit,
        "lrs_password": form.lrs_password_edit,
        "description": form.description_edit,
    }
    if field == "project":
        form.set_project_code(value)
    else:
        widgets[field].setText(value)

    texts = [message.text for message in form.messages()]
    assert any(expected in text for text in texts), texts
    assert not window.release_button.isEnabled()
    assert (
        expected.split()[0] in window.invalid_reason.text()
        or window.invalid_reason.text()
    )
    shown = [
        label.text() for label in form._field_labels.values() if label.isVisibleTo(form)
    ]
    assert any(expected in text for text in shown)


def test_plain_http_lrs_only_warns(qtbot: QtBot, window: MainWindow) -> None:
    window.form.set_project_code("5dd580064b0b7")
    window.form.lrs_url_edit.setText("http://lrs.example.com/xapi/")

    assert window.form.lrs_url_message.isVisibleTo(window.form)
    assert "plain http" in window.form.lrs_url_message.text()
    assert window.release_button.isEnabled()


def test_authentication_error_is_explained(
    qtbot: QtBot, sandbox: Any, tmp_path: Path
) -> None:
    window = make_window(qtbot, sandbox, tmp_path, private_key="WrongPrivateKey123")
    try:
        window.form.set_project_code(first_project(sandbox))
        qtbot.mouseClick(window.release_button, LEFT)
        wait_idle(qtbot, window)

        assert window.result.heading.text() == "Authentication failed"
        assert "private key" in window.result.message.text()
        assert "WrongPrivateKey123" not in window.result.message.text()
        row = attempts(window)[0]
        assert row.outcome == Outcome.FAILED
        assert row.http_status == 401
        boxes = [box for box in window.findChildren(QMessageBox) if box.isVisible()]
        assert boxes
    finally:
        close_window(window)


def test_outcome_unknown_after_dropped_create(
    qtbot: QtBot, window: MainWindow, sandbox: Any
) -> None:
    project = first_project(sandbox)
    count_before = len(sandbox.releases(project))
    window.form.set_project_code(project)
    window.simulation_check.setChecked(False)
    sandbox.faults.drop_after_create = 1

    answer_next_dialog("Release live")
    qtbot.mouseClick(window.release_button, LEFT)
    wait_idle(qtbot, window)

    assert window.result.heading.text() == "Outcome unknown"
    assert "releases" in window.result.message.text()
    assert attempts(window)[0].outcome == Outcome.OUTCOME_UNKNOWN
    # The create reached the server once and was not sent again.
    assert len(sandbox.releases(project)) == count_before + 1


def test_cancel_stops_waiting(qtbot: QtBot, window: MainWindow, sandbox: Any) -> None:
    window.form.set_project_code(first_project(sandbox))
    sandbox.faults.latency = 1.5

    qtbot.mouseClick(window.release_button, LEFT)
    qtbot.waitUntil(lambda: window.cancel_button.isVisibleTo(window), timeout=3000)
    window.cancel_button.click()
    qtbot.waitUntil(
        lambda: window.result.heading.text() == "Stopped waiting", timeout=5000
    )

    assert "cannot be taken back" in window.result.message.text()
    assert window.release_button.isEnabled()
    sandbox.faults.latency = 0.0


def test_workers_never_touch_widgets(
    qtbot: QtBot, window: MainWindow, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Profile every call made on worker threads; none may be a QWidget method."""
    violations: list[str] = []
    main_thread = threading.main_thread()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if threading.current_thread() is main_thread:
            return
        if event == "c_call" and isinstance(getattr(arg, "__self__", None), QWidget):
            violations.append(f"{type(arg.__self__).__name__}.{arg.__name__}")
        elif event == "call" and "<locals>" not in frame.f_code.co_qualname:
            target = frame.f_locals.get("self")
            if isinstance(target, QWidget):
                violations.append(frame.f_code.co_qualname)

    original_run: Callable[[Any], None] = tasks._Runnable.run

    def profiled_run(runnable: Any) -> None:
        sys.setprofile(profile)
        try:
            original_run(runnable)
        finally:
            sys.setprofile(None)

    monkeypatch.setattr(tasks._Runnable, "run", profiled_run)

    project = first_project(sandbox)
    load_projects(qtbot, window)
    choose_project(qtbot, window, project)
    window.form.set_release_mode("scorm")
    qtbot.mouseClick(window.release_button, LEFT)
    wait_idle(qtbot, window)
    window.simulation_check.setChecked(False)
    answer_next_dialog("Release live")
    qtbot.mouseClick(window.release_button, LEFT)
    qtbot.waitUntil(
        lambda: window.result.download_button.isVisibleTo(window.result), timeout=15000
    )
    window.result.download_button.click()
    qtbot.waitUntil(lambda: window.last_download is not None, timeout=15000)

    assert violations == []


def test_form_values_restored_without_password(
    qtbot: QtBot, sandbox: Any, tmp_path: Path
) -> None:
    window = make_window(qtbot, sandbox, tmp_path)
    window.form.set_project_code("5dd580064b0b7")
    window.form.set_release_mode("scorm")
    window.form.description_edit.setText("Spring intake")
    window.form.lrs_url_edit.setText("https://lrs.example.com/xapi/")
    window.form.lrs_username_edit.setText("lrs-user")
    window.form.lrs_password_edit.setText("LrsSecret-991")
    window.close()
    close_window(window)

    again = make_window(qtbot, sandbox, tmp_path)
    try:
        assert again.form.project_code() == "5dd580064b0b7"
        assert again.form.release_mode() == "scorm"
        assert again.form.description_edit.text() == "Spring intake"
        assert again.form.lrs_username_edit.text() == "lrs-user"
        assert again.form.lrs_password_edit.text() == ""
        assert again.is_simulation()
        assert "LrsSecret-991" not in (tmp_path / "window.ini").read_text()
    finally:
        close_window(again)


def test_dry_run_has_nothing_to_follow(
    qtbot: QtBot, window: MainWindow, sandbox: Any
) -> None:
    window.form.set_project_code(first_project(sandbox))
    qtbot.mouseClick(window.release_button, LEFT)
    wait_idle(qtbot, window)

    assert "nothing to follow" in window.result.next_steps.text()
    assert window._follows == {}
    assert not window.result.stop_follow_button.isVisibleTo(window.result)


def test_publishing_release_followed_after_restart(
    qtbot: QtBot, sandbox: Any, tmp_path: Path
) -> None:
    """A live release left publishing when the app closed is followed at next start."""
    project = first_project(sandbox)
    # Long enough to close the window while the release is still publishing.
    sandbox.publish_delay = 1.5
    window = make_window(qtbot, sandbox, tmp_path)
    window.form.set_project_code(project)
    window.form.set_release_mode("scorm")
    window.simulation_check.setChecked(False)
    answer_next_dialog("Release live")
    qtbot.mouseClick(window.release_button, LEFT)
    qtbot.waitUntil(lambda: bool(window._follows), timeout=5000)
    window.close()
    close_window(window)

    again = make_window(qtbot, sandbox, tmp_path)
    assert attempts(again)[0].outcome == Outcome.PUBLISHING
    notified: list[str] = []
    original_notify = again.notify
    again.notify = lambda title, text: (
        notified.append(text),
        original_notify(title, text),
    )
    try:
        assert again.resume_following() == 1
        qtbot.waitUntil(lambda: not again._follows, timeout=15000)

        row = attempts(again)[0]
        assert row.outcome == Outcome.COMPLETE
        assert row.version_number == 1
        assert len(notified) == 1
        assert row.release_code in notified[0]
    finally:
        close_window(again)


def test_history_tab_built_on_first_open(
    qtbot: QtBot, window: MainWindow, sandbox: Any
) -> None:
    window.form.set_project_code(first_project(sandbox))
    qtbot.mouseClick(window.release_button, LEFT)
    wait_idle(qtbot, window)
    assert window.history_pane is None

    window.tabs.setCurrentIndex(1)

    pane = window.history_pane
    assert pane is not None
    assert window.tabs.widget(1) is pane
    assert window.tabs.tabText(1) == "History"
    qtbot.waitUntil(lambda: pane.model.rowCount() == 1, timeout=5000)


def test_batch_tab_built_on_first_open(qtbot: QtBot, window: MainWindow) -> None:
    assert window.batch_view is None

    window.tabs.setCurrentIndex(2)

    assert window.batch_view is not None
    assert window.tabs.widget(2) is window.batch_view
    assert window.tabs.currentIndex() == 2
    assert window.tabs.tabText(2) == "Batch"


def test_download_from_project_release_list(
    qtbot: QtBot, window: MainWindow, sandbox: Any, tmp_path: Path
) -> None:
    project, record = next(
        (str(p["project_code"]), r)
        for p in sandbox.projects()
        for r in sandbox.releases(str(p["project_code"]))
        if r["release_mode"] == "scorm" and r["status"] == "complete"
    )
    load_projects(qtbot, window)
    choose_project(qtbot, window, project)
    index = window.form.release_combo.findData(record["release_code"])
    assert index > 0
    window.form.release_combo.setCurrentIndex(index)
    assert window.form.release_download_button.isEnabled()

    window.form.release_download_button.click()
    qtbot.waitUntil(lambda: window.last_download is not None, timeout=15000)

    path = window.last_download
    assert path is not None
    assert path.parent == tmp_path / "downloads"
    assert record["release_code"] in path.name
    with zipfile.ZipFile(path) as archive:
        assert "imsmanifest.xml" in archive.namelist()
    assert not window.result.download_button.isVisibleTo(window.result)


def test_online_release_offers_no_download(
    qtbot: QtBot, window: MainWindow, sandbox: Any
) -> None:
    project, record = next(
        (str(p["project_code"]), r)
        for p in sandbox.projects()
        for r in sandbox.releases(str(p["project_code"]))
        if r["release_mode"].startswith("online")
    )
    load_projects(qtbot, window)
    choose_project(qtbot, window, project)
    window.form.release_combo.setCurrentIndex(
        window.form.release_combo.findData(record["release_code"])
    )

    assert not window.form.release_download_button.isEnabled()


def test_unexpected_error_shows_bug_dialog(qtbot: QtBot, window: MainWindow) -> None:
    def broken(_context: Any) -> None:
        raise ValueError("a bug in a worker")

    window.runner.run(broken, label="Broken task")
    qtbot.waitUntil(
        lambda: any(box.isVisible() for box in window.findChildren(QMessageBox)),
        timeout=5000,
    )

    box = next(box for box in window.findChildren(QMessageBox) if box.isVisible())
    assert "bug" in box.text()
    assert "ValueError: a bug in a worker" in box.informativeText()
    assert "The log is in" in box.informativeText()
    assert "Version" in box.informativeText()
    assert "Traceback" in box.detailedText()


def test_re_release_from_history_fills_form(
    qtbot: QtBot, window: MainWindow, sandbox: Any
) -> None:
    project = first_project(sandbox)
    load_projects(qtbot, window)
    choose_project(qtbot, window, project)
    window.form.set_release_mode("scorm")
    window.form.description_edit.setText("First cut")
    window.simulation_check.setChecked(False)
    answer_next_dialog("Release live")
    qtbot.mouseClick(window.release_button, LEFT)
    qtbot.waitUntil(lambda: "complete" in window.result.heading.text(), timeout=15000)
    made = attempts(window)[0]

    window.open_history_pane().re_release_requested.emit(made)
    wait_idle(qtbot, window)

    form = window.form
    assert window.is_simulation()
    assert window.tabs.currentIndex() == 0
    assert form.project_code() == project
    assert form.release_code() == made.release_code
    assert form.release_mode() == "scorm"
    assert not form.mode_combo.isEnabled()
    assert form.description_edit.text() == "First cut"
    # The release made a moment ago is in the reloaded list: no "not in the list".
    assert [m for m in form.messages() if m.field == "release_code"] == []


def test_typed_project_code_recorded_with_name(
    qtbot: QtBot, window: MainWindow, sandbox: Any
) -> None:
    project = sandbox.projects()[0]
    load_projects(qtbot, window)
    window.form.project_combo.setEditText(project["project_code"])
    qtbot.mouseClick(window.release_button, LEFT)
    wait_idle(qtbot, window)

    assert attempts(window)[0].project_name == project["name"]


def test_lrs_password_remembered_in_keyring(
    qtbot: QtBot, sandbox: Any, tmp_path: Path, memory_keyring: Any
) -> None:
    secret = "Lrs-Remembered-4471"
    project, other = (str(p["project_code"]) for p in sandbox.projects()[:2])
    window = make_window(qtbot, sandbox, tmp_path)
    try:
        load_projects(qtbot, window)
        choose_project(qtbot, window, project)
        window.form.lrs_url_edit.setText("https://lrs.example.com/xapi/")
        window.form.lrs_username_edit.setText("lrs-user")
        window.form.lrs_password_edit.setText(secret)
        window.form.remember_lrs_check.setChecked(True)
        qtbot.mouseClick(window.release_button, LEFT)
        wait_idle(qtbot, window)
        assert secret in memory_keyring.passwords.values()
    finally:
        window.close()
        close_window(window)

    again = make_window(qtbot, sandbox, tmp_path)
    try:
        load_projects(qtbot, again)
        qtbot.waitUntil(
            lambda: again.form.lrs_password_edit.text() == secret, timeout=5000
        )
        assert again.form.remember_lrs_check.isChecked()

        again.form.set_project_code(other)
        # The password filled in for the first project is cleared for the other one.
        qtbot.waitUntil(lambda: again.form.lrs_password_edit.text() == "", timeout=3000)
        assert not again.form.remember_lrs_check.isChecked()
    finally:
        close_window(again)

    written = b"".join(
        path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()
    )
    assert secret.encode() not in written


@pytest.mark.parametrize(
    ("fault", "heading", "outcome", "step"),
    [
        ("server_error", "Server error", Outcome.FAILED, "check the releases"),
        ("not_json", "Server error", Outcome.FAILED, "check the releases"),
        ("rate_limit", "Too many requests", Outcome.FAILED, "try again"),
        ("reject_auth", "Authentication failed", Outcome.FAILED, "private key"),
        ("nonce_lag", "Dry run succeeded", Outcome.SUCCEEDED, ""),
    ],
)
def test_sandbox_fault_in_window(
    qtbot: QtBot,
    window: MainWindow,
    sandbox: Any,
    fault: str,
    heading: str,
    outcome: Outcome,
    step: str,
) -> None:
    """The result panel for each kind of server trouble on a dry run."""
    window.form.set_project_code(first_project(sandbox))
    if fault == "nonce_lag":
        sandbox.faults.nonce_lag = 0.08
    elif fault == "reject_auth":
        sandbox.faults.reject_auth = 10
    else:
        setattr(sandbox.faults, fault, 1)

    qtbot.mouseClick(window.release_button, LEFT)
    wait_idle(qtbot, window)

    assert window.result.heading.text().startswith(heading)
    assert attempts(window)[0].outcome == outcome
    if step:
        assert step in window.result.message.text().lower()
