"""The release form: project, mode, re-release, description, learner access, LRS.

The form only collects and checks values. It never calls the API itself: the window
fills its pickers (`set_projects`, `set_releases`) and reads `release_request()`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.models import LearnerAccess, Project, Release, ReleaseMode, ReleaseRequest
from core.validation import FieldMessage, Level, ReleaseForm, validate_release_form

NEW_RELEASE_TEXT = "None – make a new release"
PROJECT_SETTING_TEXT = "Project setting"


class ReleaseFormWidget(QWidget):
    """The form for one release or re-release.

    Signals:
        validity_changed(bool, str): the form became valid or invalid, with the
            reason as text.
        project_changed(str): the chosen project code changed (the window then loads
            that project's releases).
        refresh_requested(): the user asked to reload the projects.
        download_requested(Release): the user asked to download the package of the
            release chosen in the re-release picker.
    """

    validity_changed = Signal(bool, str)
    project_changed = Signal(str)
    refresh_requested = Signal()
    download_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._releases: list[Release] = []
        self._messages: list[FieldMessage] = []
        self._last_project = ""
        # Modes of releases chosen by code before the project's list arrived.
        self._extra_modes: dict[str, str] = {}
        self._listed_codes: set[str] | None = None
        self._project_touched = False
        self._build()
        self._project_timer = QTimer(self, singleShot=True, interval=400)
        self._project_timer.timeout.connect(self._emit_project_changed)
        self._connect()
        self.validate()

    # Building -----------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        layout.addLayout(form)

        self.project_combo = QComboBox(editable=True)
        self.project_combo.setAccessibleName("Project")
        self.project_combo.setToolTip("Pick a project, or type its project code.")
        self.project_combo.lineEdit().setPlaceholderText(
            "Project code, such as 5dd580064b0b7"
        )
        self.project_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh projects")
        self.refresh_button.setToolTip("Reload the account's projects (F5)")
        project_row = QHBoxLayout()
        project_row.addWidget(self.project_combo, 1)
        project_row.addWidget(self.refresh_button)
        self.project_message = self._message_label()
        form.addRow(self._label("&Project:", self.project_combo), project_row)
        form.addRow("", self.project_message)

        self.mode_combo = QComboBox()
        self.mode_combo.setAccessibleName("Release mode")
        for mode in ReleaseMode:
            self.mode_combo.addItem(mode.label, str(mode))
        self.mode_message = self._message_label()
        form.addRow(self._label("Release &mode:", self.mode_combo), self.mode_combo)
        form.addRow("", self.mode_message)

        self.release_combo = QComboBox()
        self.release_combo.setAccessibleName("Re-release of")
        self.release_combo.setToolTip(
            "Pick an existing release to re-release it; its code and mode are kept."
        )
        self.release_combo.addItem(NEW_RELEASE_TEXT, "")
        self.release_message = self._message_label()
        self.release_download_button = QPushButton("Download its package")
        self.release_download_button.setAccessibleName("Download the chosen release")
        self.release_download_button.setToolTip(
            "Save the zip package of the chosen release (complete SCORM or offline "
            "backup releases only)"
        )
        self.release_download_button.setEnabled(False)
        release_row = QHBoxLayout()
        release_row.addWidget(self.release_combo, 1)
        release_row.addWidget(self.release_download_button)
        form.addRow(self._label("R&e-release of:", self.release_combo), release_row)
        form.addRow("", self.release_message)

        self.description_edit = QLineEdit()
        self.description_edit.setAccessibleName("Description")
        self.description_edit.setPlaceholderText("A note that identifies this release")
        self.description_message = self._message_label()
        form.addRow(
            self._label("&Description:", self.description_edit), self.description_edit
        )
        form.addRow("", self.description_message)

        self.access_combo = QComboBox()
        self.access_combo.setAccessibleName("Learner access")
        self.access_combo.addItem(PROJECT_SETTING_TEXT, "")
        for access in LearnerAccess:
            self.access_combo.addItem(access.label, str(access))
        form.addRow(
            self._label("&Learner access:", self.access_combo), self.access_combo
        )

        self.lrs_group = QGroupBox(
            "xAPI LRS (leave empty to keep the project's setting)"
        )
        lrs_form = QFormLayout(self.lrs_group)
        self.lrs_url_edit = QLineEdit()
        self.lrs_url_edit.setAccessibleName("LRS endpoint URL")
        self.lrs_url_edit.setPlaceholderText("https://lrs.example.com/xapi/")
        self.lrs_url_message = self._message_label()
        self.lrs_username_edit = QLineEdit()
        self.lrs_username_edit.setAccessibleName("LRS username")
        self.lrs_username_message = self._message_label()
        self.lrs_password_edit = QLineEdit()
        self.lrs_password_edit.setAccessibleName("LRS password")
        self.lrs_password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.lrs_password_message = self._message_label()
        lrs_form.addRow(
            self._label("Endpoint &URL:", self.lrs_url_edit), self.lrs_url_edit
        )
        lrs_form.addRow("", self.lrs_url_message)
        lrs_form.addRow(
            self._label("User&name:", self.lrs_username_edit), self.lrs_username_edit
        )
        lrs_form.addRow("", self.lrs_username_message)
        lrs_form.addRow(
            self._label("Pass&word:", self.lrs_password_edit), self.lrs_password_edit
        )
        lrs_form.addRow("", self.lrs_password_message)
        self.remember_lrs_check = QCheckBox("Remember the password in the OS keyring")
        self.remember_lrs_check.setAccessibleName("Remember the LRS password")
        self.remember_lrs_check.setToolTip(
            "Keep this project's LRS password in the operating system's keyring and "
            "fill it in next time. It is never written to a file."
        )
        lrs_form.addRow("", self.remember_lrs_check)
        layout.addWidget(self.lrs_group)

        self._field_labels = {
            "project_code": self.project_message,
            "release_mode": self.mode_message,
            "release_code": self.release_message,
            "description": self.description_message,
            "lrs_endpoint_url": self.lrs_url_message,
            "lrs_username": self.lrs_username_message,
            "lrs_password": self.lrs_password_message,
        }
        for first, second in [
            (self.project_combo, self.refresh_button),
            (self.refresh_button, self.mode_combo),
            (self.mode_combo, self.release_combo),
            (self.release_combo, self.release_download_button),
            (self.release_download_button, self.description_edit),
            (self.description_edit, self.access_combo),
            (self.access_combo, self.lrs_url_edit),
            (self.lrs_url_edit, self.lrs_username_edit),
            (self.lrs_username_edit, self.lrs_password_edit),
            (self.lrs_password_edit, self.remember_lrs_check),
        ]:
            QWidget.setTabOrder(first, second)

    @staticmethod
    def _label(text: str, buddy: QWidget) -> QLabel:
        label = QLabel(text)
        label.setBuddy(buddy)
        return label

    @staticmethod
    def _message_label() -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setVisible(False)
        # Without an expanding policy a word-wrapped label in a form row takes its
        # narrowest width and breaks after every few words.
        label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def _connect(self) -> None:
        self.project_combo.editTextChanged.connect(self._on_project_text_changed)
        self.project_combo.activated.connect(
            lambda _index: self._emit_project_changed()
        )
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.release_download_button.clicked.connect(self._on_release_download_clicked)
        self.release_combo.currentIndexChanged.connect(self._on_release_chosen)
        for signal in (
            self.mode_combo.currentIndexChanged,
            self.description_edit.textChanged,
            self.lrs_url_edit.textChanged,
            self.lrs_username_edit.textChanged,
            self.lrs_password_edit.textChanged,
        ):
            signal.connect(self.validate)

    def stop_timers(self) -> None:
        """Stop the pending project-change signal (the window is closing)."""
        self._project_timer.stop()

    # Pickers ------------------------------------------------------------------------

    def set_projects(self, projects: list[Project]) -> None:
        """Fill the project picker, keeping whatever code is typed or chosen."""
        current = self.project_code()
        self.project_combo.blockSignals(True)
        self.project_combo.clear()
        for project in sorted(projects, key=lambda item: item.name.lower()):
            self.project_combo.addItem(
                f"{project.name} ({project.project_code})", project.project_code
            )
        self.project_combo.blockSignals(False)
        self.set_project_code(current)

    def project_code(self) -> str:
        """Return the chosen project's code, or the typed text when no item matches."""
        text = self.project_combo.currentText()
        index = self.project_combo.findText(text)
        if index >= 0:
            return str(self.project_combo.itemData(index))
        return text

    def project_name(self) -> str:
        index = self.project_combo.findText(self.project_combo.currentText())
        if index < 0:
            return ""
        return self.project_combo.itemText(index).rsplit(" (", 1)[0]

    def set_project_code(self, code: str) -> None:
        index = self.project_combo.findData(code)
        if index >= 0:
            self.project_combo.setCurrentIndex(index)
        else:
            self.project_combo.setEditText(code)
        self._on_project_text_changed()

    def set_releases(self, project_code: str, releases: list[Release]) -> None:
        """Fill the re-release picker with one project's releases."""
        if project_code != self.project_code():
            return  # the user moved on to another project meanwhile
        keep = self.release_code()
        self._releases = list(releases)
        self.release_combo.blockSignals(True)
        self.release_combo.clear()
        self.release_combo.addItem(NEW_RELEASE_TEXT, "")
        for release in self._releases:
            mode = release.mode.label if release.mode else release.release_mode
            version = f"v{release.version_number}" if release.version_number else ""
            text = " – ".join(
                part
                for part in (release.release_code, mode, version, release.description)
                if part
            )
            self.release_combo.addItem(text, release.release_code)
        self.release_combo.blockSignals(False)
        self._listed_codes = {release.release_code for release in self._releases}
        self.set_release_code(keep)

    def release_code(self) -> str:
        return str(self.release_combo.currentData() or "")

    def set_release_code(self, code: str, mode: str = "") -> None:
        """Choose a release to re-release; a code not listed is added as it is."""
        if not code:
            self.release_combo.setCurrentIndex(0)
            self._on_release_chosen()
            return
        index = self.release_combo.findData(code)
        if index < 0:
            label = (
                f"{code} – {ReleaseMode(mode).label}"
                if mode in set(ReleaseMode)
                else code
            )
            self.release_combo.addItem(label, code)
            index = self.release_combo.count() - 1
            if mode:
                self._extra_modes[code] = mode
        self.release_combo.setCurrentIndex(index)
        self._on_release_chosen()

    def chosen_release(self) -> Release | None:
        """Return the listed release chosen in the re-release picker, if any."""
        code = self.release_code()
        return next((r for r in self._releases if r.release_code == code), None)

    def chosen_release_downloadable(self) -> bool:
        release = self.chosen_release()
        return bool(
            release is not None
            and release.is_complete
            and release.mode is not None
            and release.mode.is_package
        )

    def _on_release_download_clicked(self) -> None:
        release = self.chosen_release()
        if release is not None:
            self.download_requested.emit(release)

    def releases(self) -> list[Release]:
        return list(self._releases)

    # Values -------------------------------------------------------------------------

    def release_mode(self) -> ReleaseMode:
        return ReleaseMode(self.mode_combo.currentData())

    def set_release_mode(self, mode: str) -> None:
        index = self.mode_combo.findData(mode)
        if index >= 0:
            self.mode_combo.setCurrentIndex(index)

    def learner_access(self) -> LearnerAccess | None:
        value = self.access_combo.currentData()
        return LearnerAccess(value) if value else None

    def set_learner_access(self, value: str) -> None:
        index = self.access_combo.findData(value or "")
        self.access_combo.setCurrentIndex(max(index, 0))

    def raw_values(self) -> ReleaseForm:
        return ReleaseForm(
            project_code=self.project_code(),
            release_mode=str(self.mode_combo.currentData() or ""),
            release_code=self.release_code(),
            description=self.description_edit.text(),
            lrs_endpoint_url=self.lrs_url_edit.text(),
            lrs_username=self.lrs_username_edit.text(),
            lrs_password=self.lrs_password_edit.text(),
        )

    def release_request(self) -> ReleaseRequest:
        """Return the request the form describes; call only when the form is valid."""
        values = self.raw_values()
        return ReleaseRequest(
            project_code=values.project_code,
            release_mode=self.release_mode(),
            release_code=values.release_code or None,
            description=values.description.strip() or None,
            learner_access=self.learner_access(),
            lrs_endpoint_url=values.lrs_endpoint_url or None,
            lrs_username=values.lrs_username or None,
            lrs_password=values.lrs_password or None,
        )

    def fill_from(
        self,
        *,
        project_code: str,
        release_mode: str,
        release_code: str = "",
        description: str = "",
        learner_access: str = "",
        lrs_endpoint_url: str = "",
        lrs_username: str = "",
    ) -> None:
        """Set every non-secret field at once (a re-release from the history, or the
        values restored at start). The LRS password is cleared, never filled."""
        self.set_project_code(project_code)
        self.set_release_mode(release_mode)
        self.set_release_code(release_code, release_mode)
        self.description_edit.setText(description)
        self.set_learner_access(learner_access)
        self.lrs_url_edit.setText(lrs_endpoint_url)
        self.lrs_username_edit.setText(lrs_username)
        self.lrs_password_edit.clear()
        self.validate()

    # Validation ---------------------------------------------------------------------

    def messages(self) -> list[FieldMessage]:
        return list(self._messages)

    def is_valid(self) -> bool:
        return not any(message.level is Level.ERROR for message in self._messages)

    def validate(self) -> bool:
        """Check every field, show the messages next to them, and emit validity."""
        values = self.raw_values()
        self._messages = validate_release_form(values)
        self._messages += self._unlisted_release_warning(values)
        self._show_messages(values)

        errors = [m.text for m in self._messages if m.level is Level.ERROR]
        valid = not errors
        self.validity_changed.emit(valid, errors[0] if errors else "")
        return valid

    def _unlisted_release_warning(self, values: ReleaseForm) -> list[FieldMessage]:
        if (
            values.release_code
            and self._listed_codes is not None
            and values.release_code not in self._listed_codes
        ):
            return [
                FieldMessage(
                    "release_code",
                    Level.WARNING,
                    f"Release {values.release_code} is not in this project's release "
                    "list. Check that it belongs to this project.",
                )
            ]
        return []

    def _show_messages(self, values: ReleaseForm) -> None:
        by_field: dict[str, FieldMessage] = {}
        for message in self._messages:
            by_field.setdefault(message.field, message)
        if not values.project_code and not self._project_touched:
            # An empty form at start is not a mistake yet. The button's reason names
            # what is missing, without a red message before the user did anything.
            by_field.pop("project_code", None)
        for field, label in self._field_labels.items():
            message = by_field.get(field)
            label.setVisible(message is not None)
            if message is None:
                label.clear()
                continue
            color = "#b00020" if message.level is Level.ERROR else "#8a5a00"
            label.setStyleSheet(f"color: {color};")
            label.setText(message.text)

    # Slots --------------------------------------------------------------------------

    def _on_project_text_changed(self, _text: str = "") -> None:
        if self.project_combo.hasFocus() or self.project_code():
            self._project_touched = True
        self.validate()
        self._project_timer.start()

    def _emit_project_changed(self) -> None:
        code = self.project_code().strip()
        if code != self._last_project:
            self._last_project = code
            self._releases = []
            self._listed_codes = None
            self.release_combo.blockSignals(True)
            keep = self.release_code()
            self.release_combo.clear()
            self.release_combo.addItem(NEW_RELEASE_TEXT, "")
            if keep:
                self.release_combo.addItem(keep, keep)
                self.release_combo.setCurrentIndex(1)
            self.release_combo.blockSignals(False)
            self.project_changed.emit(code)

    def _on_release_chosen(self, _index: int = 0) -> None:
        code = self.release_code()
        release = next((r for r in self._releases if r.release_code == code), None)
        mode = release.release_mode if release else self._extra_modes.get(code, "")
        if code and mode:
            self.set_release_mode(mode)
        # A re-release keeps the release's own mode, so the mode is fixed while one is
        # chosen.
        self.mode_combo.setEnabled(not code)
        self.release_download_button.setEnabled(self.chosen_release_downloadable())
        self.validate()
