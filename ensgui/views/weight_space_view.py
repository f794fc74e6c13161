"""The Weight space screen: how far snapshots move from the first one, and how often ensemble rows disagree."""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from ..engine import weight_space
from ..storage.opened_run import OpenedRun
from ..storage.reader import RunData, SnapshotInfo, read_snapshot
from .export import export_button, plot_export_actions
from .message_stack import PlotOrMessage
from .panels import titled_panel
from .run_document import LoadedRun, PrepareFailure
from .screens import AppContext, RevealInTurns, RunScreen, Veiled, register_screen
from .theme import HINT_STYLE, PALETTE, PATH_COLOR, add_grid, color

KEY = "weight_space"  # the screen's key and that of its preparation on the document
X_AXES: tuple[tuple[str, str], ...] = (("step", "training step"), ("epoch", "epoch"), ("row", "ensemble row"))
SPLIT = "test"
COLOR_MAP = "viridis"
# Up to this many rows every heatmap cell carries its value as text; beyond it the cells get too small.
MAX_ANNOTATED_ROWS = 12
# At most this many member-index ticks per heatmap axis, so that the labels do not overlap.
MAX_TICKS = 25
NO_SNAPSHOTS = "This run stores no snapshots, so there are no weights to compare."
NO_PREDICTIONS = "No test predictions are stored in this run, so there is nothing to compare."


@dataclass(frozen=True)
class WeightSpaceData:
    """What the screen draws of a run, computed in the document's worker."""

    snapshots: list[SnapshotInfo]  # in ensemble-row order
    distances: np.ndarray  # (S,) L2 distance of every snapshot's parameters from the first's
    parameters: int  # trained parameters of one snapshot, 0 without snapshots
    disagreement: np.ndarray | None  # (K, K) over the test predictions, None when the run stores none
    test_objects: int


def _snapshot_states(path: Path, snapshots: list[SnapshotInfo]) -> Iterator[dict[str, np.ndarray]]:
    # One snapshot read at a time: distances_from_first keeps only the first besides the current one.
    for info in snapshots:
        yield read_snapshot(path, info.member, info.index)


def prepare_weight_space(opened: OpenedRun) -> WeightSpaceData:
    """The snapshots in row order, their distances from the first, the parameter count and the disagreement
    matrix of the test predictions (the document's worker runs it: it reads every snapshot's weights)."""
    # Rows in ensemble order: the row the writer recorded, else member-then-index order.
    snapshots = sorted(opened.snapshots, key=lambda s: (s.row < 0, s.row, s.member, s.index))
    states = _snapshot_states(opened.path, snapshots)
    first = next(states, None)
    if first is None:
        distances, parameters = np.zeros(0), 0
    else:
        parameters = int(sum(np.asarray(first[n]).size for n in weight_space.parameter_names(first)))
        distances = weight_space.distances_from_first(itertools.chain([first], states))
    data = opened.run.eval.get(SPLIT)
    probs = data.probs if data is not None else None
    if probs is None or probs.ndim != 3 or probs.shape[0] == 0:
        return WeightSpaceData(snapshots, distances, parameters, None, 0)
    return WeightSpaceData(snapshots, distances, parameters, weight_space.disagreement(probs), int(probs.shape[1]))


def _index_ticks(n: int) -> list[list[tuple[float, str]]]:
    step = max(1, int(np.ceil(n / MAX_TICKS)))
    return [[(float(i), str(i)) for i in range(0, n, step)], []]


@register_screen(KEY, "Weight space", order=50)
class WeightSpaceView(RunScreen):
    """The open run's snapshot distances and row disagreement, prepared in the document's worker and only drawn
    here."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.path: Path | None = None
        self.run: RunData | None = None
        self.snapshots: list[SnapshotInfo] = []  # in ensemble-row order
        self.distances: np.ndarray = np.zeros(0)
        self.parameters = 0
        self.disagreement_matrix: np.ndarray | None = None
        self.test_objects = 0
        self.failure = ""  # why the run's preparation failed, shown in both panels
        self.row_names: list[str] = []
        self.x_axis = "step"
        self._points = pg.ScatterPlotItem()
        self._build()
        self._show_distance_message("Open a run to see how far its snapshots lie from the first one.")
        self._show_heatmap_message("Open a run to see how often its members disagree.")
        document = context.document
        document.register(KEY, prepare_weight_space)
        if document.current is not None:
            document.reload()  # the run open before this screen existed was read without its preparation

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        outer = self.body

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Distance plot x axis:", self))
        self.x_combo = QComboBox(self)
        for key, text in X_AXES:
            self.x_combo.addItem(text, key)
        self.x_combo.currentIndexChanged.connect(self._x_changed)
        controls.addWidget(self.x_combo)
        controls.addStretch(1)
        outer.addLayout(controls)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.distance_plot = pg.PlotWidget()
        self.distance_plot.setMinimumHeight(260)
        self.distance_stack = PlotOrMessage(self.distance_plot, splitter)
        item = self.distance_plot.getPlotItem()
        add_grid(item)
        item.setLabel("left", "distance from the initial weights (L2)")
        item.getAxis("left").enableAutoSIPrefix(False)
        item.getAxis("bottom").enableAutoSIPrefix(False)
        self.distance_legend = item.addLegend(offset=(-10, -10))
        self.distance_actions = plot_export_actions(self.distance_plot, lambda: self._file_stem("distances"))

        heat_box = QWidget(splitter)
        heat_layout = QVBoxLayout(heat_box)
        heat_layout.setContentsMargins(0, 0, 0, 0)
        heat_layout.setSpacing(2)
        self.heatmap_plot = pg.PlotWidget()
        self.heatmap_plot.setMinimumHeight(260)
        self.heatmap_stack = PlotOrMessage(self.heatmap_plot, heat_box)
        heat_item = self.heatmap_plot.getPlotItem()
        heat_item.setLabel("bottom", "ensemble row j")
        heat_item.setLabel("left", "ensemble row i")
        heat_item.setAspectLocked(True)
        # Row 0 on top, as the matrix is written.
        heat_item.invertY(True)
        heat_item.hideButtons()
        self.heatmap_image = pg.ImageItem(axisOrder="row-major")
        heat_item.addItem(self.heatmap_image)
        self.color_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=COLOR_MAP, interactive=False,
                                         label="fraction of test objects with different arg-max",
                                         pen=pg.getConfigOption("foreground"))
        self.color_bar.setImageItem(self.heatmap_image, insert_in=heat_item)
        self._cell_texts: list[pg.TextItem] = []
        self.heatmap_plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.heatmap_actions = plot_export_actions(self.heatmap_plot, lambda: self._file_stem("disagreement"))
        heat_layout.addWidget(self.heatmap_stack, 1)
        self.hover_label = QLabel("Hover over a cell to read its value.", heat_box)
        self.hover_label.setStyleSheet(HINT_STYLE)
        heat_layout.addWidget(self.hover_label)

        veils = [Veiled(self.distance_stack), Veiled(heat_box)]
        splitter.addWidget(titled_panel("Distance of every snapshot from the first", veils[0],
                                        export_button(self.distance_actions, splitter), splitter))
        splitter.addWidget(titled_panel("Prediction disagreement between ensemble rows (test)", veils[1],
                                        export_button(self.heatmap_actions, splitter), splitter))
        RevealInTurns(self, veils)
        splitter.setSizes([600, 560])
        outer.addWidget(splitter, 1)

    # ------------------------------------------------------------ public API

    def select_x_axis(self, key: str) -> None:
        index = self.x_combo.findData(key)
        if index < 0:
            raise ValueError(f"unknown x axis {key!r}; choose one of {[k for k, _ in X_AXES]}")
        self.x_combo.setCurrentIndex(index)

    def distance_x(self) -> np.ndarray:
        """The x value of every snapshot on the chosen axis, in row order."""
        if self.x_axis == "step":
            return np.array([s.step for s in self.snapshots], dtype=np.float64)
        if self.x_axis == "epoch":
            return np.array([s.epoch for s in self.snapshots], dtype=np.float64)
        return np.arange(len(self.snapshots), dtype=np.float64)

    def drawn_distances(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, distance) of the points as drawn, in row order."""
        x, y = self._points.getData()
        return np.asarray(x), np.asarray(y)

    def hover_text(self, i: int, j: int) -> str:
        """What hovering over cell (i, j) of the heatmap says."""
        d = self.disagreement_matrix
        if d is None or not (0 <= i < d.shape[0] and 0 <= j < d.shape[1]):
            return ""
        n = self.test_objects
        return (f"row {i} ({self._row_name(i)}) vs row {j} ({self._row_name(j)}): {d[i, j]:.4f} "
                f"— {int(round(d[i, j] * n))} of {n} test objects get a different class")

    # ------------------------------------------------------------ the open run

    def draw_run(self, loaded: LoadedRun) -> Iterator[None]:
        """Draw the document's run from what the worker prepared: the header, then a plot per turn."""
        prepared = loaded.get(KEY)
        if isinstance(prepared, WeightSpaceData):
            self.failure = ""
        else:
            # The preparation failed (or the run was read before this screen registered it: it is read again).
            self.failure = prepared.message if isinstance(prepared, PrepareFailure) else "Reading the run…"
            prepared = WeightSpaceData([], np.zeros(0), 0, None, 0)
        self.path, self.run = loaded.path, loaded.opened.run
        self.snapshots, self.distances, self.parameters = prepared.snapshots, prepared.distances, prepared.parameters
        self.disagreement_matrix, self.test_objects = prepared.disagreement, prepared.test_objects
        self.row_names = list(self.run.row_names)
        self._fill_header()
        self._default_x_axis()
        yield
        self._fill_distances()
        yield
        self._fill_heatmap()

    # ------------------------------------------------------------ header

    def _fill_header(self) -> None:
        run = self.run
        s = run.summary
        self.title_label.setText(html.escape(f"{s.name}  [{s.status}]"))
        members = len({info.member for info in self.snapshots})
        parts = [("method", s.method), ("model", s.model), ("snapshots", str(len(self.snapshots))),
                 ("members", str(members)), ("parameters", f"{self.parameters:,}" if self.parameters else "–")]
        text = " &nbsp;·&nbsp; ".join(f"{k}: <b>{html.escape(v or '–')}</b>" for k, v in parts)
        text += (f"<br><span style='color:{PATH_COLOR}'>Distances count trained parameters only; BatchNorm running "
                 "statistics and integer buffers are left out.</span>")
        self.details_label.setText(text)

    def _row_name(self, row: int) -> str:
        return self.row_names[row] if 0 <= row < len(self.row_names) else f"row {row}"

    # ------------------------------------------------------------ distances

    def _default_x_axis(self) -> None:
        steps = [s.step for s in self.snapshots]
        # Members trained side by side share their steps; then only the row tells their snapshots apart.
        key = "step" if len(set(steps)) == len(steps) else "row"
        self.x_combo.blockSignals(True)
        self.x_combo.setCurrentIndex(self.x_combo.findData(key))
        self.x_combo.blockSignals(False)
        self.x_axis = key

    def _x_changed(self, index: int) -> None:
        key = self.x_combo.itemData(index)
        if key is None:
            return
        self.x_axis = key
        if self.run is not None:
            self._fill_distances()

    def _show_distance_message(self, text: str) -> None:
        self.distance_stack.show_message(text)
        for action in self.distance_actions:
            action.setEnabled(False)

    def _fill_distances(self) -> None:
        item = self.distance_plot.getPlotItem()
        item.clear()
        self.distance_legend.clear()
        self._points = pg.ScatterPlotItem()
        if not self.snapshots:
            self._show_distance_message(self.failure or NO_SNAPSHOTS)
            return
        self.distance_stack.show_content()
        for action in self.distance_actions:
            action.setEnabled(True)
        x, y = self.distance_x(), self.distances
        members = sorted({s.member for s in self.snapshots})
        member_of = np.array([s.member for s in self.snapshots])
        # One line per member's trajectory; one colour per member, as in the other screens' overlays.
        for n, m in enumerate(members):
            mask = member_of == m
            if mask.sum() > 1:
                item.addItem(pg.PlotCurveItem(x[mask], y[mask], pen=pg.mkPen(color(n), width=2)))
        brushes = [pg.mkBrush(color(members.index(m))) for m in member_of]
        tips = [self._point_tip(r) for r in range(len(self.snapshots))]
        self._points = pg.ScatterPlotItem(x, y, size=9, brush=brushes, pen=pg.mkPen("w", width=1), data=tips,
                                          hoverable=True, hoverSize=12, tip=lambda x, y, data: data)
        item.addItem(self._points)
        if 1 < len(members) <= len(PALETTE):
            for n, m in enumerate(members):
                sample = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(color(n)), pen=pg.mkPen("w", width=1))
                self.distance_legend.addItem(sample, f"member {m}")
        item.setLabel("bottom", dict(X_AXES)[self.x_axis])
        item.setTitle("Snapshots' distance from the first snapshot (row 0)")
        item.getAxis("bottom").setTickSpacing()
        if self.x_axis == "row":
            item.getAxis("bottom").setTickSpacing(major=max(1, int(np.ceil(len(x) / 12))), minor=1)
        pad = max(0.5, 0.05 * float(np.ptp(x)))
        item.setXRange(float(x.min()) - pad, float(x.max()) + pad, padding=0)
        top = max(float(np.nanmax(y)), 1e-12)
        # A little room below 0, so that the first snapshot's marker is not cut by the axis.
        item.setYRange(-0.04 * top, 1.08 * top, padding=0)

    def _point_tip(self, r: int) -> str:
        s = self.snapshots[r]
        return (f"row {s.row if s.row >= 0 else r} ({self._row_name(s.row if s.row >= 0 else r)})\n"
                f"member {s.member}, snapshot {s.index}\nepoch {s.epoch}, step {s.step}, lr {s.lr:.3g}\n"
                f"distance {self.distances[r]:.4g}")

    # ------------------------------------------------------------ disagreement

    def _show_heatmap_message(self, text: str) -> None:
        self.heatmap_stack.show_message(text)
        self.disagreement_matrix = None
        for action in self.heatmap_actions:
            action.setEnabled(False)

    def _fill_heatmap(self) -> None:
        item = self.heatmap_plot.getPlotItem()
        for text in self._cell_texts:
            item.removeItem(text)
        self._cell_texts = []
        d = self.disagreement_matrix
        if d is None:
            self._show_heatmap_message(self.failure or NO_PREDICTIONS)
            return
        self.heatmap_stack.show_content()
        for action in self.heatmap_actions:
            action.setEnabled(True)
        k = d.shape[0]
        # Fixed levels from 0 to the largest value: colours compare within this run, and equal values look equal.
        top = float(d.max()) if d.max() > 0 else 1.0
        self.heatmap_image.setImage(d, autoLevels=False, levels=(0.0, top))
        self.color_bar.setLevels((0.0, top))
        # Pixel (i, j) covers [j - 0.5, j + 0.5] x [i - 0.5, i + 0.5], so ticks at integers sit on the cells.
        self.heatmap_image.setRect(QRectF(-0.5, -0.5, k, k))
        for axis in ("bottom", "left"):
            item.getAxis(axis).setTicks(_index_ticks(k))
        item.setRange(xRange=(-0.5, k - 0.5), yRange=(-0.5, k - 0.5), padding=0.02)
        item.setTitle(f"{k} rows × {self.test_objects} test objects")
        if k <= MAX_ANNOTATED_ROWS:
            font = QFont()
            font.setPointSizeF(9.0 if k <= 6 else 7.5)
            for i in range(k):
                for j in range(k):
                    # Dark text on the light end of viridis, light text on the dark end.
                    ink = "#000000" if d[i, j] / top > 0.6 else "#ffffff"
                    text = pg.TextItem(f"{d[i, j]:.3f}", color=ink, anchor=(0.5, 0.5))
                    text.setFont(font)
                    text.setPos(j, i)
                    item.addItem(text)
                    self._cell_texts.append(text)
        self.hover_label.setText("Hover over a cell to read its value.")
        self.heatmap_image.setToolTip("")

    def _mouse_moved(self, pos: QPointF) -> None:
        d = self.disagreement_matrix
        if d is None:
            return
        point = self.heatmap_plot.getPlotItem().getViewBox().mapSceneToView(pos)
        i, j = int(round(point.y())), int(round(point.x()))
        text = self.hover_text(i, j)
        if text:
            self.hover_label.setText(text)
            self.heatmap_image.setToolTip(text)

    def _file_stem(self, what: str) -> str:
        name = self.path.stem if self.path is not None else "weight-space"
        return f"{name}-{what}"


__all__ = ["WeightSpaceData", "WeightSpaceView", "X_AXES", "prepare_weight_space"]
