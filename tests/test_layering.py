"""The core and the sandbox never import Qt, so the command line and scripts run
without a display and the core stays testable on its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_and_sandbox_import_without_qt() -> None:
    modules = sorted(
        f"{path.parent.name}.{path.stem}"
        for folder in ("core", "sandbox")
        for path in (ROOT / folder).glob("*.py")
        if path.stem not in ("__init__", "__main__")
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "qt = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]\n"
        "print(','.join(qt))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert len(modules) > 10
    assert result.stdout.strip() == ""


def test_cli_runs_without_qt() -> None:
    script = (
        "import sys, runpy\n"
        "sys.argv = ['main.py', '--version']\n"
        "try:\n"
        "    runpy.run_path('main.py', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "qt = any(m.startswith('PySide6') for m in sys.modules)\n"
        "print('QT' if qt else 'NO-QT')\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert "Release Desk" in result.stdout
    assert result.stdout.strip().endswith("NO-QT")
