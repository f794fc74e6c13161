"""A metric against ensemble size k = 1..K: mean line with markers and a ± std band, one or several runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from ..text import metric_scale
from .theme import add_grid, color, settle_range

# Full names for axis labels, tables and selectors; unknown metrics are shown by their stored name.
METRIC_LABELS: dict[str, str] = {
    "error": "error (%)",
    "nll": "NLL",
    "cnll": "calibrated NLL (test-time CV)",
    "cnll_val": "calibrated NLL (val temperature)",
    "brier": "Brier",
    "ece": "ECE",
    "auroc": "misclassification AUROC",
    "brier_t": "Brier (val temperature)",
    "ece_t": "ECE (val temperature)",
    "auroc_t": "misclassification AUROC (val temperature)",
    "tau_val": "temperature τ (fitted on val)",
}

# Short names for table headers, where the full names would make columns too wide.
METRIC_SHORT: dict[str, str] = {
    "error": "error (%)", "nll": "NLL", "cnll": "CNLL", "cnll_val": "CNLL (val τ)", "brier": "Brier", "ece": "ECE",
    "auroc": "AUROC", "brier_t": "Brier (val τ)", "ece_t": "ECE (val τ)", "auroc_t": "AUROC (val τ)",
    "tau_val": "τ (val)",
}

# The order metrics are offered in; metrics a method adds come after these, alphabetically.
METRIC_ORDER: tuple[str, ...] = tuple(METRIC_LABELS)

HIGHER_IS_BETTER = frozenset({"auroc", "auroc_t"})


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def metric_short(metric: str) -> str:
    return METRIC_SHORT.get(metric, metric)


def ordered_metrics(names: object) -> list[str]:
    """Known metrics in METRIC_ORDER, then any others sorted by name."""
    names = list(names)  # type: ignore[call-overload]
    known = [m for m in METRIC_ORDER if m in names]
    return known + sorted(n for n in names if n not in METRIC_ORDER)


@dataclass
class _Series:
    mean: pg.PlotDataItem
    upper: pg.PlotCurveItem
    lower: pg.PlotCurveItem
    band: pg.FillBetweenItem


def _set_series(series: _Series, curve: np.ndarray) -> None:
    """Give a run's line and band the mean and ± std of a (K, 2) curve."""
    k = np.arange(1, curve.shape[0] + 1, dtype=np.float64)
    mean, std = curve[:, 0], np.nan_to_num(curve[:, 1])
    series.upper.setData(k, mean + std)
    series.lower.setData(k, mean - std)
    series.mean.setData(k, mean)


class MetricCurvesPlot(pg.PlotWidget):
    """set_curves(metric, {run name: (K, 2) [mean, std]}) draws each run's mean and ± std over member orders."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Not "metric": that would shadow QPaintDevice.metric, which Qt calls to size the widget.
        self.shown_metric = ""
        self._title = ""
        self._series: dict[str, _Series] = {}
        self._data: dict[str, np.ndarray] = {}
        item = self.getPlotItem()
        add_grid(item)
        item.setLabel("bottom", "ensemble size k")
        item.getAxis("bottom").setTickSpacing(major=1, minor=1)
        # Metrics are shown in their own units; an SI prefix turns an error of 0.41 into "410 (x0.001)".
        item.getAxis("left").enableAutoSIPrefix(False)
        self.legend = item.addLegend(offset=(-10, 10))
        self.setMinimumHeight(220)
        self._message = pg.TextItem("", color="#666666", anchor=(0.5, 0.5))
        self._message.setZValue(10)

    # ------------------------------------------------------------ data

    def set_curves(self, metric: str, runs: Mapping[str, np.ndarray]) -> None:
        """Replace what is drawn: one mean line (markers at every k) and one ± std band per run.

        The items of a run drawn before, in the same place, are given the new numbers rather than made anew:
        building pyqtgraph items costs several milliseconds a run, which the GUI thread pays on every redraw.
        """
        curves = {name: np.asarray(curve, dtype=np.float64) for name, curve in runs.items()}
        for name, curve in curves.items():
            if curve.ndim != 2 or curve.shape[1] != 2:
                raise ValueError(f"curve of {name!r} must have shape (K, 2), got {curve.shape}")
        scale = metric_scale(metric)  # drawn in the unit the tables show (error in percent)
        if list(curves) != list(self._series):
            self.clear_curves()
        self.show_message("")
        self.shown_metric = metric
        item = self.getPlotItem()
        label = metric_label(metric)
        hint = " (higher is better)" if metric in HIGHER_IS_BETTER else ""
        title = f"{label} vs ensemble size{hint}"
        if title != self._title:  # a title set again still re-lays the plot out and repaints it
            self._title = title
            item.setLabel("left", label)
            item.setTitle(title)
        for i, (name, curve) in enumerate(curves.items()):
            self._data[name] = curve
            if name in self._series:
                _set_series(self._series[name], curve * scale)
            else:
                self._series[name] = self._add_series(name, curve * scale, color(i))
        k_max = max((c.shape[0] for c in curves.values()), default=1)
        # One run needs no legend; its name is in the screen's header.
        self.legend.setVisible(len(curves) > 1)
        item.setXRange(0.7, k_max + 0.3, padding=0)
        item.getAxis("bottom").setTickSpacing(major=max(1, int(np.ceil(k_max / 12))), minor=1)
        item.enableAutoRange(axis="y")
        settle_range(item)

    def _add_series(self, name: str, curve: np.ndarray, color: QColor) -> _Series:
        item = self.getPlotItem()
        fill = QColor(color)
        fill.setAlpha(50)
        # The band edges are drawn invisible; only their fill shows.
        upper = pg.PlotCurveItem(pen=pg.mkPen(None))
        lower = pg.PlotCurveItem(pen=pg.mkPen(None))
        band = pg.FillBetweenItem(upper, lower, brush=pg.mkBrush(fill))
        item.addItem(band)
        line = pg.PlotDataItem(pen=pg.mkPen(color, width=2), symbol="o", symbolSize=7, symbolBrush=pg.mkBrush(color),
                               symbolPen=pg.mkPen(color), name=name)
        item.addItem(line)
        series = _Series(line, upper, lower, band)
        _set_series(series, curve)
        return series

    def clear_curves(self) -> None:
        item = self.getPlotItem()
        for series in self._series.values():
            for part in (series.band, series.upper, series.lower, series.mean):
                item.removeItem(part)
        self._series.clear()
        self._data.clear()
        self.legend.clear()
        self.show_message("")

    def show_message(self, text: str) -> None:
        """A grey note in the middle of the plot (for "no evaluation stored"), or none for ""."""
        item = self.getPlotItem()
        if not text:
            if self._message.scene() is not None:
                item.removeItem(self._message)
            return
        self.clear_curves()
        self._message.setText(text)
        if self._message.scene() is None:
            item.addItem(self._message, ignoreBounds=True)
        item.setXRange(0, 1, padding=0)
        item.setYRange(0, 1, padding=0)
        self._message.setPos(0.5, 0.5)

    # ------------------------------------------------------------ what is drawn (for tests and exports)

    def run_names(self) -> list[str]:
        return list(self._series)

    def drawn(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(k, mean, std) as drawn for one run (in the shown unit: error in percent), read back from the plot items."""
        series = self._series[name]
        k, mean = series.mean.getData()
        _, upper = series.upper.getData()
        return np.asarray(k), np.asarray(mean), np.asarray(upper) - np.asarray(mean)

    def curve(self, name: str) -> np.ndarray:
        """The (K, 2) curve given for one run."""
        return self._data[name]


__all__ = ["HIGHER_IS_BETTER", "METRIC_LABELS", "METRIC_ORDER", "METRIC_SHORT", "MetricCurvesPlot",
           "metric_label", "metric_short", "ordered_metrics"]
