"""The folders of Release Desk's config, history and logs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from core import APP_ID

HOME_ENV = "RELEASE_DESK_HOME"


@dataclass(frozen=True)
class AppPaths:
    """The app's folders: config, data (history, downloads state) and logs."""

    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    @property
    def history_file(self) -> Path:
        return self.data_dir / "history.sqlite3"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "release-desk.log"

    def ensure(self) -> AppPaths:
        """Create the folders if missing, readable by the current user only."""
        for folder in (self.config_dir, self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def app_paths(environ: dict[str, str] | None = None) -> AppPaths:
    """Return the platform folders, or folders under RELEASE_DESK_HOME when set."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    home = env.get(HOME_ENV, "").strip()
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(root / "config", root / "data", root / "logs")
    return AppPaths(
        Path(platformdirs.user_config_dir(APP_ID, appauthor=False)),
        Path(platformdirs.user_data_dir(APP_ID, appauthor=False)),
        Path(platformdirs.user_log_dir(APP_ID, appauthor=False)),
    )
