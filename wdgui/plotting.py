"""pyqtgraph helpers shared by the pages: plot setup, colours, smoothing, PNG export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyqtgraph as pg

# Okabe-Ito colours: distinguishable for colour-blind readers, in a fixed order.
PALETTE = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
)  # fmt: skip


def configure_pyqtgraph() -> None:
    """Light plots; called once before the first plot is built.

    Antialiasing stays off by default: on a noisy loss curve it made one repaint of the
    loss plot 80 ms (500 points) to 500 ms (5,000 points) instead of ~16 ms (offscreen
    raster, measured). Curves with a few points per epoch turn it on themselves.
    """
    global _configured
    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    _configured = True


_configured = False


def color(i: int) -> str:
    """The i-th colour of the palette (cycling)."""
    return PALETTE[i % len(PALETTE)]


def make_plot(name: str, title: str, x_label: str, y_label: str) -> pg.PlotWidget:
    """A PlotWidget with an objectName, axis labels, a grid and a legend."""
    if not _configured:  # pages are built lazily: whichever plot comes first sets it up
        configure_pyqtgraph()
    widget = pg.PlotWidget(title=title)
    widget.setObjectName(name)
    item = widget.getPlotItem()
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.25)
    for axis in ("left", "bottom"):  # "loss (x0.001)" confuses more than it helps
        item.getAxis(axis).enableAutoSIPrefix(False)
    item.addLegend(offset=(-10, 10))
    return widget


def ema(values: Sequence[float], weight: float, last: float | None = None) -> list[float]:
    """Exponential moving average ``s = weight * s + (1 - weight) * x``, continuing ``last``.

    ``weight`` 0 returns the values unchanged; the first value starts the average
    when ``last`` is None. Feeding new values with the previous last output gives
    the same result as smoothing the whole series at once.
    """
    out: list[float] = []
    s = last
    for x in values:
        s = x if s is None else weight * s + (1.0 - weight) * x
        out.append(s)
    return out


def export_png(widget: pg.PlotWidget, path: str | Path, width: int = 1200) -> Path:
    """Write the plot to a PNG with pyqtgraph's ImageExporter (SVG export is broken)."""
    from pyqtgraph.exporters import ImageExporter

    exporter = ImageExporter(widget.getPlotItem())
    exporter.parameters()["width"] = width
    exporter.export(str(path))
    return Path(path)
