"""Check that Qt can start on this machine, and report what is missing in words.

`python -m gui.syscheck` imports PySide6 in a child process, so a missing system
library produces a message naming the Debian package and the one `apt-get` line to run,
not a crash. `--display` also checks that a real window can open (for `make run`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

# Shared libraries Qt's xcb and offscreen platforms load, and the Debian 12 packages
# that provide them.
LIBRARY_PACKAGES = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}
APT_LINE = "sudo apt-get install -y " + " ".join(sorted(set(LIBRARY_PACKAGES.values())))

_PROBE = (
    "import os; os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen');"
    "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
    "print(app.platformName())"
)


def check_qt(platform: str | None) -> str | None:
    """Start a QApplication in a child process; return a problem text or None."""
    env = dict(os.environ)
    env["QT_DEBUG_PLUGINS"] = "1"
    if platform:
        env["QT_QPA_PLATFORM"] = platform
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "Starting Qt took over 60 seconds; the display may not be answering."
    if result.returncode == 0:
        return None

    output = result.stdout + result.stderr
    missing = sorted(set(re.findall(r"(lib[\w.+-]+\.so[.\d]*): cannot open", output)))
    if missing:
        packages = sorted({LIBRARY_PACKAGES.get(lib, "?") for lib in missing})
        return (
            f"Qt cannot start: missing system libraries {', '.join(missing)} "
            f"(Debian packages: {', '.join(packages)}).\n"
            f"Install them with:\n  {APT_LINE}"
        )
    if "could not connect to display" in output or "no Qt platform plugin" in output:
        return (
            "Qt cannot open a window: no display was found. Run this from a desktop "
            "session, or set DISPLAY (for example under Xvfb). If the xcb plugin fails "
            f"to load, install Qt's X11 libraries:\n  {APT_LINE}"
        )
    tail = "\n".join(output.strip().splitlines()[-8:])
    return f"Qt failed to start (exit status {result.returncode}):\n{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--display",
        action="store_true",
        help="also check that a window can open on the current display",
    )
    args = parser.parse_args(argv)

    problem = check_qt("offscreen")
    if problem is None and args.display:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            problem = (
                "No display: DISPLAY and WAYLAND_DISPLAY are unset. Run `make run` "
                "from a desktop session, or start Xvfb and set DISPLAY."
            )
        else:
            problem = check_qt(os.environ.get("QT_QPA_PLATFORM"))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
