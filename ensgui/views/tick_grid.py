"""Grid lines at a plot's own axis ticks, drawn as plain lines behind the data."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QColor, QPainter, QPen

MINOR_SHARE = 0.4  # minor lines at this share of the major lines' opacity


class TickGrid(pg.GraphicsObject):
    """Lines across the view at the bottom and left axes' major and minor ticks.

    pyqtgraph's own grid (PlotItem.showGrid) is drawn by the axes into a picture as large as the plot and replayed
    on every repaint, about 10 ms a plot on the CPU; these few cosmetic lines cost well under a millisecond and
    follow the same ticks (an axis given a tick spacing, like ensemble sizes, gets lines only there).
    """

    def __init__(self, plot: pg.PlotItem, alpha: float) -> None:
        super().__init__()
        self.plot = plot
        self.alpha = alpha
        self.setZValue(-100)

    def boundingRect(self) -> QRectF:
        view = self.getViewBox()
        return QRectF(view.viewRect()) if view is not None else QRectF()

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()
        self.update()

    def paint(self, painter: QPainter, *args: object) -> None:
        view = self.getViewBox()
        if view is None:
            return
        rect = view.viewRect()
        if not all(math.isfinite(v) for v in (rect.left(), rect.right(), rect.top(), rect.bottom())):
            return  # a view without a range yet; Qt's raster engine must never see a non-finite line
        for name, across in (("bottom", False), ("left", True)):
            low, high = sorted((rect.top(), rect.bottom()) if across else (rect.left(), rect.right()))
            size = view.height() if across else view.width()
            if size <= 0 or high <= low:
                continue
            for level, (_spacing, values) in enumerate(self.plot.getAxis(name).tickValues(low, high, size)[:2]):
                pen = QPen(QColor(0, 0, 0, int(255 * self.alpha * (1.0 if level == 0 else MINOR_SHARE))))
                pen.setCosmetic(True)
                pen.setWidth(0)
                painter.setPen(pen)
                for value in values:
                    if not math.isfinite(value):
                        continue
                    if across:
                        painter.drawLine(QLineF(rect.left(), value, rect.right(), value))
                    else:
                        painter.drawLine(QLineF(value, rect.top(), value, rect.bottom()))


__all__ = ["TickGrid"]
