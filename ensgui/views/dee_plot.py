"""The Deep Ensemble Equivalent plot: DEE against ensemble size for one run or several, beside the line DEE = k."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from .export import plot_export_actions
from .message_stack import PlotOrMessage
from .theme import add_grid, settle_range

IDENTITY_NAME = "DEE = k"
BAND_BRUSH = (31, 119, 180, 45)
TIP = ("Deep Ensemble Equivalent: how many members of the reference deep ensemble reach the calibrated NLL "
       "(test-time CV) of ensemble size k. A triangle up on the reference's size means at least that many "
       "(better than the whole reference); a triangle down on 1 means less than one member.")


class DeePlot(PlotOrMessage):
    """draw(series, reference_name) plots (label, DEE values, colour) series; show_message says why there are none.

    An optional band (low, high) shades the DEE the reference's own spread over member orders allows.
    """

    def __init__(self, parent: QWidget | None = None, file_stem: str | Callable[[], str] = "dee") -> None:
        self.plot = pg.PlotWidget()
        super().__init__(self.plot, parent)
        self.plot.setMinimumHeight(220)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "ensemble size k")
        item.setLabel("left", "DEE (equivalent deep-ensemble size)")
        item.getAxis("left").enableAutoSIPrefix(False)
        add_grid(item)
        self.legend = item.addLegend(offset=(10, 10))
        self.plot.setToolTip(TIP)
        self.export_actions = plot_export_actions(self.plot, file_stem)

    def show_message(self, text: str) -> None:
        super().show_message(text)
        for action in self.export_actions:
            action.setEnabled(False)

    def draw(self, series: Sequence[tuple[str, np.ndarray, QColor]], reference_name: str,
             band: tuple[np.ndarray, np.ndarray] | None = None,
             limits: Mapping[str, np.ndarray] | None = None) -> None:
        """limits[label] (dee.dee_limits) marks the points that are only bounds: a triangle up on the reference's
        size for "≥ K", down on 1 for "< 1"."""
        item = self.plot.getPlotItem()
        item.clear()
        self.legend.clear()
        self.show_content()
        for action in self.export_actions:
            action.setEnabled(True)
        k_max = max(len(values) for _, values, _ in series)
        finite = [float(np.nanmax(v)) for _, v, _ in series if np.any(np.isfinite(v))]
        top = max([float(k_max)] + finite)
        if band is not None:
            k = np.arange(1, len(band[0]) + 1, dtype=np.float64)
            lower = pg.PlotCurveItem(k, band[0], pen=pg.mkPen(None))
            upper = pg.PlotCurveItem(k, band[1], pen=pg.mkPen(None))
            item.addItem(pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(*BAND_BRUSH)))
        item.addItem(pg.PlotDataItem([1, top], [1, top], name=IDENTITY_NAME,
                                     pen=pg.mkPen("#777777", width=1.2, style=Qt.PenStyle.DashLine)))
        for label, values, color in series:
            k = np.arange(1, len(values) + 1, dtype=np.float64)
            item.addItem(pg.PlotDataItem(k, values, pen=pg.mkPen(color, width=2), symbol="o", symbolSize=7,
                                         symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen(color), name=label))
            bound = np.asarray((limits or {}).get(label, np.zeros(len(values))))
            for sign, symbol in ((1, "t1"), (-1, "t")):  # t1 points up (at least), t down (less than)
                at = bound == sign
                if at.any():
                    item.addItem(pg.ScatterPlotItem(k[at], np.asarray(values)[at], symbol=symbol, size=14,
                                                    brush=pg.mkBrush("w"), pen=pg.mkPen(color, width=2)))
        item.setTitle(f"CNLL against {html.escape(reference_name)}")
        item.setXRange(0.7, k_max + 0.3, padding=0)
        item.enableAutoRange(axis="y")
        item.getAxis("bottom").setTickSpacing(major=max(1, int(np.ceil(k_max / 12))), minor=1)
        settle_range(item)

    def curve(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        """(k, DEE) as drawn for one series; KeyError if there is none of that label."""
        for data in self.plot.getPlotItem().listDataItems():
            if data.name() == label:
                x, y = data.getData()
                return np.asarray(x), np.asarray(y)
        raise KeyError(label)

    def labels(self) -> list[str]:
        return [d.name() for d in self.plot.getPlotItem().listDataItems() if d.name() not in (None, IDENTITY_NAME)]


__all__ = ["DeePlot", "IDENTITY_NAME"]
