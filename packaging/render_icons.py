"""Render resources/release-desk.svg to the PNG sizes used by menus and bundles.

Run `python packaging/render_icons.py` after changing the SVG; the PNGs are committed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

SIZES = (16, 32, 48, 64, 128, 256, 512)
RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def main() -> int:
    app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(RESOURCES / "release-desk.svg"))
    if not renderer.isValid():
        print("resources/release-desk.svg is not a valid SVG file", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        target = RESOURCES / "icons" / f"release-desk-{size}.png"
        target.parent.mkdir(exist_ok=True)
        image.save(str(target))
        print(target.relative_to(RESOURCES.parent))
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
