"""KeyStore against a real Secret Service: gnome-keyring-daemon on a private D-Bus.

The child process gets its own HOME and XDG_RUNTIME_DIR, so it never reads or writes
the developer's keyring. `gnome-keyring-daemon --unlock` creates and unlocks a login
keyring with a fixed password first, because a locked one would ask for a prompt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.secret_service

REPOSITORY = Path(__file__).resolve().parent.parent
TEST_PRIVATE_KEY = "SECRETserviceRoundTrip0123"

CHILD_SCRIPT = f"""
import json
import secretstorage  # keyring's Secret Service backend needs it on Linux

from core.keystore import KeyStore

keys = KeyStore(timeout=20.0)
keys.check()
keys.set_private_key("Acme Training", {TEST_PRIVATE_KEY!r})
read_back = keys.get_private_key("Acme Training")
keys.delete_private_key("Acme Training")
after_delete = keys.get_private_key("Acme Training")
print(json.dumps({{
    "backend": keys.backend_name(),
    "read_back_matches": read_back == {TEST_PRIVATE_KEY!r},
    "after_delete": after_delete,
    "secretstorage": secretstorage.__name__,
}}))
"""

# Runs inside the private session bus that dbus-run-session starts.
SESSION_SCRIPT = (
    "printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null "
    '&& exec "$CHILD_PYTHON" "$CHILD_SCRIPT"'
)


def test_secret_service_round_trip(tmp_path: Path) -> None:
    for tool in ("dbus-run-session", "gnome-keyring-daemon", "timeout"):
        if shutil.which(tool) is None:
            pytest.skip(
                f"{tool} is not installed; run apt-get install -y "
                "--no-install-recommends gnome-keyring libsecret-tools dbus"
            )

    home = tmp_path / "home"
    runtime_dir = tmp_path / "runtime"
    home.mkdir()
    runtime_dir.mkdir(mode=0o700)
    runtime_dir.chmod(0o700)
    script = tmp_path / "round_trip.py"
    script.write_text(CHILD_SCRIPT, encoding="utf-8")

    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DBUS_", "XDG_", "PYTHON_KEYRING"))
    }
    environ.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(runtime_dir),
        PYTHONPATH=str(REPOSITORY),
        CHILD_PYTHON=sys.executable,
        CHILD_SCRIPT=str(script),
    )
    result = subprocess.run(
        ["timeout", "60", "dbus-run-session", "--", "bash", "-c", SESSION_SCRIPT],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    assert result.returncode == 0, f"child failed:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"].startswith("Secret Service")
    assert report["read_back_matches"] is True
    assert report["after_delete"] is None
    assert report["secretstorage"] == "secretstorage"
    assert TEST_PRIVATE_KEY not in result.stdout
    assert TEST_PRIVATE_KEY not in result.stderr
    keyring_files = list((home / ".local" / "share" / "keyrings").glob("*.keyring"))
    assert keyring_files, "gnome-keyring-daemon wrote no keyring under the test HOME"
