"""pyqtgraph helpers shared by the pages: plot setup, colours, smoothing, PNG export."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt

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


class ClippedAxis(pg.AxisItem):
    """An axis that clips its painter to the part being repainted before drawing.

    pyqtgraph paints an axis by replaying a cached picture of its ticks, text and (with a
    grid) its grid lines across the whole plot, into a painter with no clip set. With
    the painter clipped to the exposed rectangle that replay took ~0.5 ms instead of
    2.5-4.5 ms on every plot repaint (offscreen raster, measured): the same pixels.
    """

    def __init__(self, orientation: str):
        super().__init__(orientation)
        # so that option.exposedRect is the repainted part, not the whole bounding rect
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def paint(self, p: Any, opt: Any, widget: Any) -> None:
        """Clip to the exposed rectangle, then let pyqtgraph draw (or replay) the axis."""
        p.setClipRect(opt.exposedRect, Qt.ClipOperation.IntersectClip)
        super().paint(p, opt, widget)


class IntegerAxis(ClippedAxis):
    """A :class:`ClippedAxis` whose ticks fall on whole numbers only (epochs, trials).

    pyqtgraph picks spacings such as 0.5 or 0.2 when a few units fill the axis, which
    labels epoch 1.5 or trial 0.2; here every spacing is rounded up to a whole number.
    """

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        """pyqtgraph's spacings rounded up to whole numbers (at least 1), duplicates dropped."""
        levels: list[tuple[float, float]] = []
        for spacing, _ in super().tickSpacing(minVal, maxVal, size):
            whole = float(max(1, math.ceil(spacing - 1e-9)))
            if not levels or whole < levels[-1][0]:
                levels.append((whole, 0.0))
        return levels


def plot_steps(
    name: str,
    title: str | None,
    x_label: str,
    y_label: str,
    *,
    legend: bool = True,
    integer_x: bool = False,
) -> Generator[None, None, pg.PlotWidget]:
    """A PlotWidget with an objectName, axis labels, a grid and a legend, in pieces.

    Used as ``plot = yield from plot_steps(...)`` inside a page's build generator.
    ``title`` None leaves no title row (small stacked plots); ``integer_x`` puts the
    bottom axis's ticks on whole numbers (:class:`IntegerAxis`).

    A PlotWidget costs 25-45 ms of GUI time (pyqtgraph builds the view box's and the
    plot's context menus, and four axes, up front): too long for one event-loop turn of
    a page built while the window is idle. Its view box and axes come first, each in
    its own piece, and the plot is assembled from them in the last.
    """
    if not _configured:  # pages are built lazily: whichever plot comes first sets it up
        configure_pyqtgraph()
    view = pg.ViewBox()
    yield
    axes = {
        "left": ClippedAxis("left"),
        "bottom": (IntegerAxis if integer_x else ClippedAxis)("bottom"),
    }
    yield
    widget = pg.PlotWidget(title=title, viewBox=view, axisItems=axes)
    yield
    widget.setObjectName(name)
    item = widget.getPlotItem()
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.25)
    for axis in ("left", "bottom"):  # "loss (x0.001)" confuses more than it helps
        item.getAxis(axis).enableAutoSIPrefix(False)
        # Two tick levels, not three: the third level's faint grid lines made replaying
        # an axis (grid included) ~2.7 ms instead of ~0.9 ms, and regenerating it 8 ms
        # instead of 4 ms, on every plot repaint (offscreen, measured).
        # The tick text space only grows: when it shrank and grew with the labels, a
        # range change laid the plot out anew and painted it twice.
        item.getAxis(axis).setStyle(maxTickLevel=1, autoReduceTextSpace=False)
    if legend:
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


def debiased_ema(
    values: Sequence[float], weight: float, state: tuple[float, int] = (0.0, 0)
) -> tuple[list[float], tuple[float, int]]:
    """TensorBoard's smoothing: an EMA started at 0, divided by ``1 - weight**t``.

    :func:`ema` started at the first value gives it the weight of every value not seen
    yet, and an EMA started at 0 is pulled toward 0 at the start; dividing by the
    weights seen so far (``1 - weight**t`` after ``t`` values) removes that bias, as
    TensorBoard does. ``state`` (the raw average and ``t``) continues a series:
    feeding new values with the returned state gives the same result as smoothing the
    whole series at once. ``weight`` 0 returns the values unchanged.
    """
    last, count = state
    out: list[float] = []
    for x in values:
        last = weight * last + (1.0 - weight) * x
        count += 1
        out.append(last / (1.0 - weight**count))
    return out, (last, count)


def export_png(widget: pg.PlotWidget, path: str | Path, width: int = 1200) -> Path:
    """Write the plot to a PNG with pyqtgraph's ImageExporter (SVG export is broken)."""
    from pyqtgraph.exporters import ImageExporter

    exporter = ImageExporter(widget.getPlotItem())
    exporter.parameters()["width"] = width
    exporter.export(str(path))
    return Path(path)


class HoverReadout:
    """A crosshair on ``plot`` and, in ``label``, every curve's value nearest the mouse's
    x, one line for all (the Train, Sweep and Runs pages).

    ``curves()`` gives (name, xs, ys) of what is drawn: by default each named curve of
    the plot (a page whose curves are unnamed passes its own); ``x_name`` and ``x_text``
    name and format the x axis (callables where the axis changes). ``hover_at(x)`` is
    what a mouse move calls, in data coordinates (log x undone).
    """

    def __init__(
        self,
        plot: pg.PlotWidget,
        label: Any,
        x_name: str | Callable[[], str] = "x",
        *,
        curves: Callable[[], list[tuple[str, Any, Any]]] | None = None,
        x_text: Callable[[float], str] = lambda x: f"{x:g}",
    ):
        self.plot, self.label = plot, label
        self._x_name = x_name
        self._x_text = x_text
        if curves is not None:
            self.curves = curves  # type: ignore[method-assign]
        self.crosshair = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
        self.crosshair.setVisible(False)
        plot.addItem(self.crosshair, ignoreBounds=True)
        plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def _log_x(self) -> bool:
        return bool(self.plot.getPlotItem().ctrl.logXCheck.isChecked())

    def _on_mouse_moved(self, pos: Any) -> None:
        vb = self.plot.getPlotItem().getViewBox()
        curves = self.curves() if vb.sceneBoundingRect().contains(pos) else []
        if not curves:  # off the data, or nothing drawn: the last readout stays
            self.crosshair.setVisible(False)
            return
        x = vb.mapSceneToView(pos).x()
        self._show(10**x if self._log_x() else x, curves)

    def curves(self) -> list[tuple[str, Any, Any]]:
        """(name, xs, ys) of each named curve with data, as drawn (before log axes)."""
        out = []
        for curve in self.plot.getPlotItem().listDataItems():
            name = curve.name() if hasattr(curve, "name") else None
            xs, ys = getattr(curve, "xData", None), getattr(curve, "yData", None)
            if name and xs is not None and ys is not None and len(xs):
                out.append((str(name), xs, ys))
        return out

    def hover_at(self, x: float) -> str:
        """Put the crosshair at the point nearest ``x`` and list each curve's value there;
        returns the text shown ("" when no curve has a point)."""
        return self._show(x, self.curves())

    def _show(self, x: float, curves: list[tuple[str, Any, Any]]) -> str:
        parts, near = [], None
        for name, xs, ys in curves:
            if not len(xs):
                continue
            i = min(range(len(xs)), key=lambda j: abs(float(xs[j]) - x))
            xi = float(xs[i])
            near = xi if near is None or abs(xi - x) < abs(near - x) else near
            parts.append(f"{name}: {float(ys[i]):.4f} at {self._x_text(xi)}")
        if near is None:
            self.crosshair.setVisible(False)
            self.label.setText("")
            return ""
        self.crosshair.setPos((math.log10(near) if near > 0 else 0.0) if self._log_x() else near)
        self.crosshair.setVisible(True)
        x_name = self._x_name() if callable(self._x_name) else self._x_name
        text = f"{x_name} {self._x_text(near)}:  " + ";  ".join(parts)
        self.label.setText(text)
        return text
