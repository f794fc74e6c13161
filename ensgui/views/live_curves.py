"""A live training-curve plot: one curve per ensemble member, smoothed for display, fed as it trains."""

from __future__ import annotations

import math
from itertools import accumulate
from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer

from .theme import add_grid, member_color

INITIAL_CAPACITY = 256
LEGEND_ROWS = 5  # more members than this wrap the legend into further columns


def debiased_ema(values: np.ndarray, weight: float, last: float = 0.0, count: int = 0
                 ) -> tuple[np.ndarray, float, int]:
    """TensorBoard's smoothing: s_t = w s_{t-1} + (1 - w) x_t, divided by 1 - w^t.

    Non-finite values pass through unchanged and do not enter the average, so one NaN shows as
    a gap instead of erasing the rest of the curve. `last` and `count` carry the state over
    from an earlier call, so points can be smoothed as they arrive; the new state is returned.
    """
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    finite = np.isfinite(values)
    k = int(finite.sum())
    if weight <= 0.0 or k == 0:
        if k:
            last, count = float(values[finite][-1]), count + k
        return out, last, count
    # A plain recurrence: scipy.signal's lfilter computes the same sums but costs 0.75 s of imports at start-up.
    ema = np.fromiter(accumulate(values[finite].tolist(), lambda s, x: (1.0 - weight) * x + weight * s,
                                 initial=last), dtype=np.float64, count=k + 1)[1:]
    debias = 1.0 - weight ** (count + np.arange(1, k + 1, dtype=np.float64))
    out[finite] = ema / debias
    return out, float(ema[-1]), count + k


class _MemberSeries:
    """Preallocated, geometrically grown arrays of one member's raw and displayed points."""

    def __init__(self) -> None:
        self.x = np.empty(INITIAL_CAPACITY)
        self.raw = np.empty(INITIAL_CAPACITY)
        self.shown = np.empty(INITIAL_CAPACITY)
        self.n = 0
        self.ema_last = 0.0
        self.ema_count = 0

    def reserve(self, extra: int) -> None:
        need = self.n + extra
        if need <= len(self.x):
            return
        size = max(need, 2 * len(self.x))
        for name in ("x", "raw", "shown"):
            grown = np.empty(size)
            grown[:self.n] = getattr(self, name)[:self.n]
            setattr(self, name, grown)


def replace_legend(item: pg.PlotItem, columns: int, offset: tuple[int, int]) -> pg.LegendItem:
    """A fresh legend in place of the plot's old one: pyqtgraph's grid keeps stale rows when an existing legend
    changes its number of columns. Translucent in the background colour, so curves behind it stay visible."""
    old = item.legend
    if old is not None:
        old.clear()
        if old.scene() is not None:
            old.scene().removeItem(old)
        item.legend = None  # addLegend returns the existing legend while there is one
    backdrop = pg.mkColor(pg.getConfigOption("background"))
    backdrop.setAlpha(195)
    return item.addLegend(offset=offset, labelTextSize="8pt", verSpacing=-6, colCount=columns,
                          brush=pg.mkBrush(backdrop), pen=pg.mkPen(160, 160, 160))


class LiveCurvesPlot(pg.PlotWidget):
    """One quantity (say, training loss) against epochs, with one curve per member.

    Points are appended as they arrive and drawn at most once per event-loop turn, so a burst of
    points costs one redraw. Smoothing changes only what is drawn; `raw_data` keeps the values.
    Clicking a legend entry hides or shows that member's curve (and its snapshot marks).
    """

    def __init__(self, title: str, y_label: str, parent=None, smoothable: bool = True,
                 symbol: str | None = None, legend_offset: tuple[int, int] = (-8, 8)) -> None:
        super().__init__(parent)
        self.smoothable = smoothable
        self._symbol = symbol
        self._smoothing = 0.0
        self._series: list[_MemberSeries] = []
        self._curves: list[pg.PlotDataItem] = []
        self._marks: dict[int, pg.PlotDataItem] = {}  # snapshot stars, made on a member's first mark
        self._dirty: set[int] = set()
        self._names: list[str] = []
        self._reference: pg.PlotDataItem | None = None
        item = self.getPlotItem()
        item.setTitle(title, size="10pt")
        item.setLabel("bottom", "epoch")
        item.setLabel("left", y_label)
        # Losses, accuracies and learning rates are plain numbers: "accuracy (x0.001)" over 650 misleads.
        item.getAxis("left").enableAutoSIPrefix(False)
        add_grid(item)
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        item.setMenuEnabled(True)
        self.setMinimumSize(220, 180)
        self._legend_offset = legend_offset
        self.legend = self._new_legend(1)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self.redraw)

    # ------------------------------------------------------------ content

    @property
    def members(self) -> int:
        return len(self._curves)

    @property
    def curves(self) -> list[pg.PlotDataItem]:
        return list(self._curves)

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def reset(self, members: int, names: Sequence[str] | None = None) -> None:
        """Forget all points and make one empty curve (and legend entry) per member."""
        names = list(names) if names is not None else [f"member {m}" for m in range(members)]
        if len(names) != members:
            raise ValueError(f"{members} members but {len(names)} names")
        self._series = [_MemberSeries() for _ in range(members)]
        self._dirty.clear()
        if names == self._names:
            # Same members as the last run: reuse the items, since building them costs the GUI
            # thread tens of milliseconds just as the engine starts competing for the GIL.
            self.clear_data()
            for curve in self._curves:
                curve.setVisible(True)
            return
        item = self.getPlotItem()
        for curve in self._curves:
            item.removeItem(curve)
        for marks in self._marks.values():
            item.removeItem(marks)
        self.legend = self._new_legend(max(1, math.ceil(members / LEGEND_ROWS)))
        self._names = names
        self._curves, self._marks = [], {}
        for m in range(members):
            color = member_color(m, members)
            kwargs = {}
            if self._symbol:
                kwargs = dict(symbol=self._symbol, symbolSize=5, symbolPen=None, symbolBrush=color)
            # skipFiniteCheck stays False: a diverging member's NaN must break the line, not crash it.
            curve = pg.PlotDataItem(pen=pg.mkPen(color, width=1.5), name=self._names[m], **kwargs)
            item.addItem(curve)  # a named item: the plot adds it to the legend
            self._curves.append(curve)

    def _new_legend(self, columns: int) -> pg.LegendItem:
        return replace_legend(self.getPlotItem(), columns, self._legend_offset)

    def clear_data(self) -> None:
        """Drop every point and mark but keep the curves and the legend."""
        self._series = [_MemberSeries() for _ in self._curves]
        self._dirty.clear()
        for curve in self._curves:
            curve.setData([], [])
        for marks in self._marks.values():
            marks.setData([], [])

    def clear_member(self, member: int) -> None:
        """Drop one member's points (its marks stay)."""
        self._series[member] = _MemberSeries()
        self._curves[member].setData([], [])

    def set_reference(self, x: np.ndarray, y: np.ndarray) -> None:
        """A grey dashed curve behind the members (the planned learning rate), not in the legend."""
        item = self.getPlotItem()
        if self._reference is not None:
            item.removeItem(self._reference)
        self._reference = pg.PlotDataItem(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                          pen=pg.mkPen(150, 150, 150, width=1, style=pg.QtCore.Qt.PenStyle.DashLine))
        self._reference.setZValue(-5)
        item.addItem(self._reference)

    def has_reference(self) -> bool:
        return self._reference is not None

    def clear_reference(self) -> None:
        if self._reference is not None:
            self.getPlotItem().removeItem(self._reference)
            self._reference = None

    def append(self, member: int, x: float, y: float) -> None:
        self.extend(member, np.array([x], dtype=np.float64), np.array([y], dtype=np.float64))

    def extend(self, member: int, xs: np.ndarray, ys: np.ndarray) -> None:
        """Append several points of one member; the curve is redrawn once the event loop turns."""
        xs = np.asarray(xs, dtype=np.float64).ravel()
        ys = np.asarray(ys, dtype=np.float64).ravel()
        if len(xs) != len(ys):
            raise ValueError(f"{len(xs)} x values but {len(ys)} y values")
        if not len(xs):
            return
        s = self._series[member]
        s.reserve(len(xs))
        end = s.n + len(xs)
        s.x[s.n:end] = xs
        s.raw[s.n:end] = ys
        s.shown[s.n:end], s.ema_last, s.ema_count = debiased_ema(ys, self._effective_smoothing(), s.ema_last,
                                                                 s.ema_count)
        s.n = end
        self._dirty.add(member)
        self._redraw_timer.start()

    def mark(self, member: int, x: float, y: float) -> None:
        """Mark a point of a member's trajectory (a snapshot) with a star in its colour."""
        marks = self._marks.get(member)
        if marks is None:
            # A PlotDataItem without a line, not a bare scatter, so the stars follow a log y axis.
            curve = self._curves[member]
            marks = pg.PlotDataItem([], [], pen=None, symbol="star", symbolSize=12,
                                    symbolPen=pg.mkPen(40, 40, 40, width=0.8),
                                    symbolBrush=member_color(member, len(self._curves)))
            marks.setZValue(10)
            marks.setVisible(curve.isVisible())
            self.getPlotItem().addItem(marks)
            # Marks follow their curve, so hiding a member from the legend hides its snapshots too.
            curve.visibleChanged.connect(lambda: marks.setVisible(curve.isVisible()))
            self._marks[member] = marks
        xs = np.append(marks.xData if marks.xData is not None else [], float(x))
        ys = np.append(marks.yData if marks.yData is not None else [], float(y))
        marks.setData(xs, ys)

    def mark_item(self, member: int) -> pg.PlotDataItem | None:
        """The item drawing a member's marks, once it has any."""
        return self._marks.get(member)

    def marked_points(self, member: int) -> np.ndarray:
        marks = self._marks.get(member)
        if marks is None:
            return np.empty((0, 2))
        xs, ys = marks.xData, marks.yData
        return np.column_stack([xs, ys]) if xs is not None else np.empty((0, 2))

    def set_smoothing(self, weight: float) -> None:
        """Display smoothing weight in [0, 1): recomputes what is drawn, never the stored values."""
        weight = float(min(max(weight, 0.0), 0.999))
        if weight == self._smoothing:
            return
        self._smoothing = weight
        if not self.smoothable:
            return
        for m, s in enumerate(self._series):
            s.shown[:s.n], s.ema_last, s.ema_count = debiased_ema(s.raw[:s.n], weight)
            self._dirty.add(m)
        self.redraw()  # a user's slider moves at human speed: show the result at once

    def raw_data(self, member: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the values received for a member, unsmoothed."""
        s = self._series[member]
        return s.x[:s.n].copy(), s.raw[:s.n].copy()

    def displayed_data(self, member: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of what the member's curve was last given to draw (before clipping and downsampling)."""
        curve = self._curves[member]
        if curve.xData is None:
            return np.empty(0), np.empty(0)
        return np.array(curve.xData, dtype=np.float64), np.array(curve.yData, dtype=np.float64)

    def point_count(self) -> int:
        return sum(s.n for s in self._series)

    # ------------------------------------------------------------ drawing

    def redraw(self) -> None:
        """Hand every changed curve its arrays as slices (no copy); pyqtgraph clips and downsamples."""
        self._redraw_timer.stop()
        for m in sorted(self._dirty):
            s = self._series[m]
            self._curves[m].setData(s.x[:s.n], s.shown[:s.n])
        self._dirty.clear()

    def _effective_smoothing(self) -> float:
        return self._smoothing if self.smoothable else 0.0
