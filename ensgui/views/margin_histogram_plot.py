"""Margin histograms: step-mode histograms of raw or normalised logit margins, one per member, row or run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from .live_curves import LEGEND_ROWS, replace_legend
from .theme import add_grid, member_color

KINDS = (("raw", "raw"), ("normalized", "normalised"))
AXIS_LABELS = {
    "raw": "raw margin (true-class logit − largest other logit)",
    "normalized": "normalised margin (of the logits scaled to unit length)",
}
NORMALIZED_LIMIT = math.sqrt(2.0)  # a unit vector's entries differ by at most √2
BINS = 60
RAW_MIN_HALF_RANGE = 2.0  # raw edges never narrower than [-2, 2], so a fresh net's tiny margins stay readable


def margin_bin_edges(kind: str, values: Sequence[np.ndarray], at_least: np.ndarray | None = None) -> np.ndarray:
    """Fixed, readable bin edges for one view: [-√2, √2] for normalised margins; for raw ones each side
    rounded up to the next of 2, 3, 4, 6, 8, 12, ... that holds every value (and never narrower than
    at_least's range), so the edges stay put from epoch to epoch and change only when margins outgrow them."""
    if kind == "normalized":
        return np.linspace(-NORMALIZED_LIMIT, NORMALIZED_LIMIT, BINS + 1)
    if kind != "raw":
        raise ValueError(f"margin kind must be 'raw' or 'normalized', got {kind!r}")
    finite = [v[np.isfinite(v)] for v in (np.asarray(v, dtype=np.float64) for v in values) if v.size]
    low = max([-float(v.min()) for v in finite if v.size] + [RAW_MIN_HALF_RANGE])
    high = max([float(v.max()) for v in finite if v.size] + [RAW_MIN_HALF_RANGE])
    if at_least is not None and len(at_least) > 1:
        low, high = max(low, -float(at_least[0])), max(high, float(at_least[-1]))
    return np.linspace(-_nice_limit(low), _nice_limit(high), BINS + 1)


def _nice_limit(value: float) -> float:
    """The smallest of 2, 3, 4, 6, 8, 12, 16, ... (2^k and 1.5 * 2^k) that is >= value."""
    power = 2.0 ** math.floor(math.log2(value))
    return next(limit for limit in (power, 1.5 * power, 2.0 * power) if limit >= value)


@dataclass(frozen=True)
class Histogram:
    """What one drawn histogram shows: its name, the bin edges and the number of objects in each bin."""

    name: str
    edges: np.ndarray  # (B + 1,)
    counts: np.ndarray  # int64 (B,)


def histograms_of(kind: str, series: Sequence[tuple[str, np.ndarray]],
                  edges: np.ndarray | None = None) -> list[Histogram]:
    """One histogram per (name, margins) pair over common edges (margin_bin_edges by default); Qt-free, so that
    a worker can count them before they are drawn."""
    values = [np.asarray(v, dtype=np.float64).ravel() for _, v in series]
    edges = margin_bin_edges(kind, values) if edges is None else np.asarray(edges, dtype=np.float64)
    return [Histogram(name, edges, np.histogram(v, bins=edges)[0].astype(np.int64))
            for (name, _), v in zip(series, values)]


class MarginHistogramPlot(pg.PlotWidget):
    """set_margins(kind, series) draws one step histogram per (name, margins) pair over common bin edges,
    filled translucently so overlaid histograms stay visible, with a dashed line at margin 0."""

    def __init__(self, parent: QWidget | None = None, title: str = "margins") -> None:
        super().__init__(parent)
        self._histograms: list[Histogram] = []
        self._items: list[pg.PlotDataItem] = []
        self.kind = "raw"
        item = self.getPlotItem()
        item.setTitle(title, size="10pt")
        item.setLabel("left", "objects")
        item.setLabel("bottom", AXIS_LABELS["raw"])
        item.getAxis("left").enableAutoSIPrefix(False)
        item.getAxis("bottom").enableAutoSIPrefix(False)
        add_grid(item)
        self.zero_line = pg.InfiniteLine(0.0, angle=90, movable=False,
                                         pen=pg.mkPen("#444444", width=1.2, style=Qt.PenStyle.DashLine))
        self.zero_line.setZValue(10)
        item.addItem(self.zero_line)
        self.setMinimumSize(260, 200)
        self.setToolTip("margin = logit of the true class minus the largest other logit: > 0 exactly on the "
                        "correctly classified objects (dashed line at 0)")
        self.legend = self._new_legend(1)

    # ------------------------------------------------------------ content

    @property
    def histograms(self) -> list[Histogram]:
        """The histograms drawn now, in legend order."""
        return list(self._histograms)

    @property
    def curves(self) -> list[pg.PlotDataItem]:
        """The drawn step curves, one per histogram (their data is what is on screen)."""
        return list(self._items)

    def edges(self) -> np.ndarray | None:
        return self._histograms[0].edges if self._histograms else None

    def set_margins(self, kind: str, series: Sequence[tuple[str, np.ndarray]], edges: np.ndarray | None = None,
                    colors: Sequence[pg.QtGui.QColor] | None = None, title: str | None = None) -> None:
        """Replace what is drawn: one histogram per (name, margins) over edges (margin_bin_edges by default)."""
        if kind not in AXIS_LABELS:
            raise ValueError(f"margin kind must be 'raw' or 'normalized', got {kind!r}")
        self.set_histograms(kind, histograms_of(kind, series, edges), colors, title)

    def set_histograms(self, kind: str, histograms: Sequence[Histogram],
                       colors: Sequence[pg.QtGui.QColor] | None = None, title: str | None = None) -> None:
        """Replace what is drawn by histograms already counted (histograms_of), all over the same edges."""
        if kind not in AXIS_LABELS:
            raise ValueError(f"margin kind must be 'raw' or 'normalized', got {kind!r}")
        self.kind = kind
        self._histograms = list(histograms)
        edges = self._histograms[0].edges if self._histograms else margin_bin_edges(kind, [])
        item = self.getPlotItem()
        item.setLabel("bottom", AXIS_LABELS[kind])
        if title is not None:
            item.setTitle(title, size="10pt")
        for old in self._items:
            item.removeItem(old)
        self.legend = self._new_legend(max(1, math.ceil(len(self._histograms) / LEGEND_ROWS)))
        self._items = []
        n = len(self._histograms)
        # One histogram is filled more strongly; many overlaid ones need a light fill to stay readable.
        alpha = 90 if n == 1 else max(25, 60 - 4 * n)
        for i, histogram in enumerate(self._histograms):
            color = pg.mkColor(colors[i]) if colors is not None else member_color(i, n)
            fill = pg.mkColor(color)
            fill.setAlpha(alpha)
            curve = pg.PlotDataItem(histogram.edges, histogram.counts, stepMode="center", fillLevel=0,
                                    brush=pg.mkBrush(fill), pen=pg.mkPen(color, width=1.6), name=histogram.name)
            item.addItem(curve)
            self._items.append(curve)
        item.setXRange(float(edges[0]), float(edges[-1]), padding=0.01)
        item.enableAutoRange(axis="y")

    def clear_histograms(self) -> None:
        self.set_histograms(self.kind, [])

    def csv_contents(self) -> tuple[list[str], list[list[float | int]]]:
        """Header and rows for a CSV export: bin low and high edge, then each histogram's count."""
        header = ["bin_low", "bin_high"] + [h.name for h in self._histograms]
        if not self._histograms:
            return header, []
        edges = self._histograms[0].edges
        rows = [[float(edges[b]), float(edges[b + 1])] + [int(h.counts[b]) for h in self._histograms]
                for b in range(len(edges) - 1)]
        return header, rows

    def _new_legend(self, columns: int) -> pg.LegendItem:
        # Top left: trained nets' margins lie mostly right of 0, so that corner is usually empty.
        return replace_legend(self.getPlotItem(), columns, (8, 8))

__all__ = ["AXIS_LABELS", "Histogram", "KINDS", "MarginHistogramPlot", "histograms_of", "margin_bin_edges"]
