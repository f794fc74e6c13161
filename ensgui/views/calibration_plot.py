"""Reliability diagram: accuracy against confidence per bin, the diagonal, the share of objects per bin, ECE."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from .theme import PALETTE, add_grid

if TYPE_CHECKING:
    from ..engine.metrics import ReliabilityDiagram

N_BINS = 15  # the ECE of the stored curves uses 15 equal-width bins (methods.md section 0)

ACCURACY_COLOR = PALETTE[0]
GAP_COLOR = PALETTE[3]
COUNT_COLOR = "#9a9a9a"


# The legend's footprint in data units at the panel's usual size: three entries in 8 pt text.
LEGEND_WIDTH, LEGEND_HEIGHT = 0.45, 0.35


def legend_corner(diagram: ReliabilityDiagram) -> str:
    """The corner where the legend hides the least bar area: "top_left" or "bottom_right" (ties: top left).

    The bars reach max(accuracy, confidence) in every filled bin: an overconfident net leaves the top left
    free, an underconfident one with little mass at high confidence leaves the bottom right free.
    """
    lo, hi = diagram.edges[:-1], diagram.edges[1:]
    filled = diagram.count > 0
    top = np.where(filled, np.fmax(np.nan_to_num(diagram.accuracy), np.nan_to_num(diagram.confidence)), 0.0)

    def hidden(x0: float, x1: float, y0: float, y1: float) -> float:
        widths = np.clip(np.minimum(hi, x1) - np.maximum(lo, x0), 0.0, None)
        heights = np.clip(np.minimum(top, y1) - y0, 0.0, None)
        return float(np.sum(widths * heights))

    top_left = hidden(0.0, LEGEND_WIDTH, 1.0 - LEGEND_HEIGHT, 1.0)
    bottom_right = hidden(1.0 - LEGEND_WIDTH, 1.0, 0.0, LEGEND_HEIGHT)
    return "bottom_right" if bottom_right < top_left else "top_left"


class CalibrationPlot(pg.GraphicsLayoutWidget):
    """set_diagram(diagram) draws a reliability diagram computed beforehand (metrics.reliability, in a worker).

    The diagram is on top; below it, sharing the confidence axis, the number of objects in each bin.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.diagram: ReliabilityDiagram | None = None
        self.plot_item: pg.PlotItem = self.addPlot(row=0, col=0)
        self.count_item: pg.PlotItem = self.addPlot(row=1, col=0)
        # The diagram gets three quarters of the height; the counts only need to show their shape.
        self.ci.layout.setRowStretchFactor(0, 3)
        self.ci.layout.setRowStretchFactor(1, 1)
        item, counts = self.plot_item, self.count_item
        item.setLabel("left", "accuracy")
        counts.setLabel("left", "objects")
        counts.setLabel("bottom", "confidence (max probability)")
        for part in (item, counts):
            add_grid(part, 0.2)
            # Panning a [0, 1] diagram only loses it; the axes stay fixed.
            part.setMouseEnabled(x=False, y=False)
            part.hideButtons()
            # Equal axis widths keep the two plots' confidence axes aligned.
            part.getAxis("left").setWidth(52)
        counts.setXLink(item)
        # The counts plot below carries the confidence axis' numbers.
        item.getAxis("bottom").setStyle(showValues=False)
        item.setXRange(0, 1, padding=0.02)
        item.setYRange(0, 1, padding=0.02)
        self.legend = item.addLegend(offset=(6, 6), labelTextSize="8pt", verSpacing=-4,
                                     brush=pg.mkBrush(255, 255, 255, 210))
        self.count_bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=pg.mkBrush(_alpha(COUNT_COLOR, 150)),
                                          pen=pg.mkPen("w", width=1))
        self.accuracy_bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=pg.mkBrush(_alpha(ACCURACY_COLOR, 190)),
                                             pen=pg.mkPen("w", width=1), name="accuracy")
        # Hatching keeps the accuracy bar readable where the gap lies over it (underconfidence).
        gap_brush = pg.mkBrush(_alpha(GAP_COLOR, 230))
        gap_brush.setStyle(Qt.BrushStyle.BDiagPattern)
        self.gap_bars = pg.BarGraphItem(x0=[], x1=[], y0=[], height=[], brush=gap_brush,
                                        pen=pg.mkPen(_alpha(GAP_COLOR, 220), width=1),
                                        name="gap to mean confidence")
        self.diagonal = pg.PlotDataItem([0, 1], [0, 1], pen=pg.mkPen("#555555", width=1.5,
                                                                       style=Qt.PenStyle.DashLine),
                                        name="perfect calibration")
        for z, part in enumerate((self.accuracy_bars, self.gap_bars, self.diagonal)):
            part.setZValue(z)
            item.addItem(part)
        counts.addItem(self.count_bars)
        self.setMinimumHeight(260)
        self.scene().sigMouseMoved.connect(self._hover)
        self._set_title("")

    def getPlotItem(self) -> pg.PlotItem:  # noqa: N802 - the name PlotWidget uses, so exports treat both alike
        """The reliability diagram's plot (the counts plot is below it)."""
        return self.plot_item

    def set_diagram(self, diagram: ReliabilityDiagram, what: str = "") -> None:
        """Draw a diagram already computed; what names its predictions in the title (e.g. "test, k = 5")."""
        self.diagram = diagram
        lo, hi = diagram.edges[:-1], diagram.edges[1:]
        accuracy = np.nan_to_num(diagram.accuracy, nan=0.0)
        confidence = np.where(diagram.count > 0, diagram.confidence, accuracy)
        self.count_bars.setOpts(x0=lo, x1=hi, height=diagram.count.astype(np.float64))
        self.count_item.setYRange(0, max(float(diagram.count.max(initial=0)), 1.0), padding=0.05)
        self.accuracy_bars.setOpts(x0=lo, x1=hi, height=accuracy)
        # The gap spans from the accuracy to the bin's mean confidence: red above a bar is overconfidence.
        width = hi - lo
        filled = diagram.count > 0
        # Empty bins get no gap bar: a zero-height bar would still draw its outline along the axis.
        self.gap_bars.setOpts(x0=(lo + 0.15 * width)[filled], x1=(hi - 0.15 * width)[filled],
                              y0=np.minimum(accuracy, confidence)[filled],
                              height=np.abs(confidence - accuracy)[filled])
        self._place_legend(diagram)
        self._set_title(what)

    def _place_legend(self, diagram: ReliabilityDiagram) -> None:
        if legend_corner(diagram) == "bottom_right":
            self.legend.anchor(itemPos=(1, 1), parentPos=(1, 1), offset=(-6, -6))
        else:
            self.legend.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(6, 6))

    def clear_diagram(self, message: str = "") -> None:
        self.diagram = None
        for bars in (self.count_bars, self.accuracy_bars):
            bars.setOpts(x0=[], x1=[], height=[])
        self.gap_bars.setOpts(x0=[], x1=[], y0=[], height=[])
        self.plot_item.setTitle(message or "reliability diagram")

    def _set_title(self, what: str) -> None:
        if self.diagram is None:
            self.plot_item.setTitle("reliability diagram")
            return
        # Short, because a title wider than the panel widens the whole layout and cuts off the plot.
        where = f" · {what}" if what else ""
        self.plot_item.setTitle(f"ECE = {self.diagram.ece:.4g}{where}")

    def bar_heights(self) -> np.ndarray:
        """The accuracy bars' heights as drawn (0 for empty bins)."""
        return np.asarray(self.accuracy_bars.opts["height"], dtype=np.float64)

    def bin_text(self, b: int) -> str:
        """What the tooltip says about bin b."""
        d = self.diagram
        if d is None:
            return ""
        span = f"confidence ({d.edges[b]:.3g}, {d.edges[b + 1]:.3g}]"
        if d.count[b] == 0:
            return f"{span}: no objects"
        return (f"{span}: {int(d.count[b])} objects, accuracy {d.accuracy[b]:.4g}, "
                f"mean confidence {d.confidence[b]:.4g}")

    def _hover(self, pos: QPointF) -> None:
        if self.diagram is None:
            return
        over = [part for part in (self.plot_item, self.count_item) if part.sceneBoundingRect().contains(pos)]
        x = over[0].getViewBox().mapSceneToView(pos).x() if over else -1.0
        edges = self.diagram.edges
        inside = edges[0] <= x <= edges[-1]
        b = int(np.clip(np.searchsorted(edges, x, side="left") - 1, 0, len(edges) - 2))
        self.setToolTip(self.bin_text(b) if inside else "")


def _alpha(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


__all__ = ["CalibrationPlot", "N_BINS", "legend_corner"]
