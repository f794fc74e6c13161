"""A plot of the planned learning rate of every iteration, with epoch boundaries and snapshot points."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QWidget

from ..engine.plan import Plan

LR_PEN = pg.mkPen("#1f77b4", width=2)
EPOCH_PEN = pg.mkPen((120, 120, 120, 70), width=1)
SNAPSHOT_BRUSH = pg.mkBrush("#ff7f0e")
MAX_EPOCH_LINES = 60
HEADROOM = 1.18
# Up to this many iterations the curve is drawn point for point, so getData() is the plan itself.
DOWNSAMPLE_ABOVE = 20000
ENVELOPE_BUCKETS = 4000


def envelope(lr: np.ndarray, buckets: int = ENVELOPE_BUCKETS) -> tuple[np.ndarray, np.ndarray]:
    """The curve to draw: every iteration for short plans, else the min and max of each of `buckets` spans.

    pyqtgraph's own peak downsampling would redo this work over millions of points on every repaint;
    doing it once per plan keeps a long budget as quick to preview as a short one.
    """
    total = len(lr)
    if total <= DOWNSAMPLE_ABOVE:
        return np.arange(total, dtype=np.float64), lr
    width = -(-total // buckets)
    padded = np.concatenate([lr, np.full(width * buckets - total, lr[-1])]).reshape(buckets, width)
    starts = np.arange(buckets, dtype=np.float64) * width
    x = np.repeat(starts, 2)
    x[1::2] += width - 1
    y = np.empty(2 * buckets)
    y[0::2] = padded.max(axis=1)
    y[1::2] = padded.min(axis=1)
    keep = x <= total - 1
    return x[keep], y[keep]


class SchedulePreviewPlot(pg.PlotWidget):
    """The learning rate the plan gives each 0-based iteration; snapshots are marked where they are taken."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan: Plan | None = None
        item = self.getPlotItem()
        item.setMenuEnabled(True)
        item.showGrid(x=False, y=True, alpha=0.15)
        item.setLabel("bottom", "iteration")
        item.setLabel("left", "learning rate")
        item.hideButtons()
        # Learning rates read best as plain decimals (0.05), not as 50 with a "x0.001" axis label.
        item.getAxis("left").enableAutoSIPrefix(False)
        self.legend = item.addLegend(offset=(-8, 4), labelTextSize="9pt", colCount=2)
        self.epoch_lines = pg.PlotDataItem(pen=EPOCH_PEN, connect="pairs")
        self.epoch_lines.setZValue(-10)
        item.addItem(self.epoch_lines)
        self.curve = item.plot(pen=LR_PEN, name="learning rate")
        self.snapshot_marks = item.plot(pen=None, symbol="o", symbolSize=8, symbolBrush=SNAPSHOT_BRUSH,
                                        symbolPen=pg.mkPen("#b35900"), name="snapshot")
        self.readout = pg.TextItem(color=(60, 60, 60), anchor=(0, 0))
        self.readout.setZValue(20)
        item.addItem(self.readout, ignoreBounds=True)
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.setMinimumHeight(220)
        self.show_problem("no experiment yet")

    def show_plan(self, plan: Plan) -> None:
        """Draw a plan: the lr curve, faint epoch boundaries and the snapshot points."""
        self.plan = plan
        self.legend.setVisible(True)
        total = plan.total_iters
        self.curve.setData(*envelope(plan.lr))
        snaps = np.asarray(plan.snapshots, dtype=np.int64)
        self.snapshot_marks.setData(snaps.astype(np.float64), plan.lr[snaps] if total else np.empty(0))
        top = float(np.max(plan.lr)) if total else 1.0
        top = top if top > 0 else 1.0
        self.epoch_lines.setData(*self._epoch_segments(plan, top * HEADROOM * 1.1))
        self.setTitle(f"{total:,} iterations · {plan.epochs} epochs × {plan.iters_per_epoch:,} per epoch",
                      size="10pt", color="#222")
        item = self.getPlotItem()
        # Headroom above the highest rate keeps the one-row legend off a flat curve.
        item.setRange(xRange=(0, max(total - 1, 1)), yRange=(0, top * HEADROOM), padding=0.02)
        self.readout.setText("")

    def show_problem(self, message: str) -> None:
        """Clear the plot and say why there is nothing to preview."""
        self.plan = None
        self.curve.setData([], [])
        self.snapshot_marks.setData([], [])
        self.epoch_lines.setData([], [])
        self.readout.setText("")
        self.legend.setVisible(False)
        self.setTitle(message, size="10pt", color="#c62828")

    @staticmethod
    def _epoch_segments(plan: Plan, height: float) -> tuple[np.ndarray, np.ndarray]:
        # Thousands of epochs would paint a grey block; every k-th boundary keeps the rhythm visible.
        step = max(1, int(np.ceil(plan.epochs / MAX_EPOCH_LINES)))
        starts = np.arange(step, plan.epochs, step, dtype=np.float64) * plan.iters_per_epoch
        x = np.repeat(starts, 2)
        y = np.tile(np.array([0.0, height]), len(starts))
        return x, y

    def _mouse_moved(self, position: QPointF) -> None:
        plan = self.plan
        item = self.getPlotItem()
        if plan is None or not plan.total_iters or not item.sceneBoundingRect().contains(position):
            self.readout.setText("")
            return
        point = item.vb.mapSceneToView(position)
        i = int(round(point.x()))
        if not 0 <= i < plan.total_iters:
            self.readout.setText("")
            return
        epoch = i // plan.iters_per_epoch if plan.iters_per_epoch else 0
        self.readout.setText(f"iteration {i:,} (epoch {epoch + 1})\nlr {plan.lr[i]:.4g}")
        (x0, _), (_, y1) = item.vb.viewRange()
        self.readout.setPos(x0, y1)
