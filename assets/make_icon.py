"""Draw the wdgui icon with QPainter and write it to assets/ and wdgui/resources/.

Run: ``QT_QPA_PLATFORM=offscreen python assets/make_icon.py``
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QLinearGradient, QPainter, QPen

ROOT = Path(__file__).resolve().parent.parent
SIZE = 256


def draw_icon(size: int = SIZE) -> QImage:
    """A rounded tile: a wide bar on the left, a small deep network on the right."""
    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 256.0
    grad = QLinearGradient(0, 0, 0, size)
    grad.setColorAt(0.0, QColor("#2b5797"))
    grad.setColorAt(1.0, QColor("#16325c"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(grad)
    p.drawRoundedRect(QRectF(8 * s, 8 * s, 240 * s, 240 * s), 44 * s, 44 * s)

    # the "wide" part: one broad linear layer
    p.setBrush(QColor("#f2a541"))
    p.drawRoundedRect(QRectF(36 * s, 60 * s, 40 * s, 136 * s), 10 * s, 10 * s)

    # the "deep" part: three layers of nodes, narrowing to the output
    layers = [[60, 100, 140, 180, 220], [90, 140, 190], [140]]
    xs = [120, 168, 212]
    nodes = [[QPointF(x * s, y * s) for y in ys] for x, ys in zip(xs, layers, strict=True)]
    p.setPen(QPen(QColor(255, 255, 255, 110), 3 * s))
    for left, right in itertools.pairwise(nodes):
        for a in left:
            for b in right:
                p.drawLine(a, b)
    p.drawLine(QPointF(76 * s, 128 * s), nodes[-1][0])  # the wide part joins the output
    p.setPen(Qt.PenStyle.NoPen)
    for layer in nodes:
        for c in layer:
            p.setBrush(QColor("#8fd3ff"))
            p.drawEllipse(c, 12 * s, 12 * s)
    p.setBrush(QColor("#f2a541"))
    p.drawEllipse(nodes[-1][0], 16 * s, 16 * s)
    p.end()
    return img


def main(argv: list[str] | None = None) -> int:
    """Write assets/icon.png and the packaged copy wdgui/resources/icon.png."""
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    img = draw_icon()
    for target in (ROOT / "assets" / "icon.png", ROOT / "wdgui" / "resources" / "icon.png"):
        target.parent.mkdir(parents=True, exist_ok=True)
        if not img.save(str(target)):
            raise SystemExit(f"could not write {target}")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
