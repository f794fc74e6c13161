"""The Sweep screen: a gap sweep's accuracy, ROC-AUC, Hessian and Fisher traces against the gap, and its table."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QListWidgetItem, QPushButton, QSplitter, QVBoxLayout, QWidget

from ..engine.errors import RunFileError
from ..storage.sweep_store import SweepData, read_sweep
from .export import export_button, plot_export_actions, table_export_actions
from .message_stack import PlotOrMessage
from .panels import number_item, results_table, text_item, titled_panel
from .run_header import header_labels
from .screens import AppContext, register_screen
from .theme import add_grid, color, fmt
from .worker_queue import WorkerQueue
from .workspace_picker import picker_splitter, workspace_picker

PATH_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class Series:
    """One curve of a plot: its legend name, the SweepData field, and the column of a (n, 2) mean/stderr field."""

    name: str
    field: str
    symbol: str


# The figures of seeds 000 and 002: (key, title, y label, curves). Fields of shape (n, 2) hold mean and
# standard error and get error bars.
PLOTS: tuple[tuple[str, str, str, tuple[Series, ...]], ...] = (
    ("accuracy", "Accuracy", "accuracy", (Series("train", "train_acc", "o"), Series("test", "test_acc", "s"))),
    ("auroc", "Misclassification ROC-AUC (test)", "ROC-AUC",
     (Series("max probability", "auroc_prob", "o"), Series("margin", "auroc_margin", "s"))),
    ("hessian", "Hessian trace (± s.e.)", "tr H", (Series("Hutchinson", "hessian", "o"),)),
    ("fisher", "Fisher trace (± s.e.)", "tr F",
     (Series("true Fisher", "fisher_true", "o"), Series("empirical Fisher", "fisher_empirical", "s"))),
)

TRACE_FIELDS = frozenset({"hessian", "fisher_true", "fisher_empirical"})  # (n, 2): mean and standard error

# Table columns: (header, SweepData field, column of a (n, 2) field or None).
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("train acc", "train_acc", None), ("test acc", "test_acc", None),
    ("AUROC (max prob)", "auroc_prob", None), ("AUROC (margin)", "auroc_margin", None),
    ("tr H", "hessian", 0), ("tr H s.e.", "hessian", 1),
    ("tr F true", "fisher_true", 0), ("tr F true s.e.", "fisher_true", 1),
    ("tr F emp", "fisher_empirical", 0), ("tr F emp s.e.", "fisher_empirical", 1),
)


def is_named_gap(label: str) -> bool:
    """Whether a gap label names a rule ("mean") rather than a number: such points get a marker line."""
    try:
        float(label)
    except ValueError:
        return True
    return False


def series_values(data: SweepData, field: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A field's values in gap order (lines run left to right; "mean" falls among the numbers), with standard
    errors when the field stores them."""
    values = np.asarray(getattr(data, field), dtype=np.float64)[data.order()]
    if values.ndim == 2:
        return values[:, 0], values[:, 1]
    return values, None


def sweep_details(data: SweepData) -> str:
    """One line: status, points done of planned, the gaps asked for, the spec, where the width was measured."""
    try:
        spec = tomllib.loads(data.spec_toml)
    except tomllib.TOMLDecodeError:
        spec = {}
    planned = data.extra.get("planned", len(data.gaps))
    method, model = spec.get("method", {}).get("name", "?"), spec.get("model", {}).get("name", "?")
    what = f"{spec.get('name', '?')}: {method}, {model}"
    parts = [data.status, f"{len(data.gaps)} of {planned} points", f"gaps asked: {data.requested}", what,
             f"metrics of member 0; traces on {data.width_objects} training objects"]
    if data.error:
        parts.append(f"error: {data.error}")
    return " · ".join(parts)


RESUMABLE = ("cancelled", "failed", "incomplete")  # a running sweep goes on by itself; a finished one is done
EMPTY_MESSAGE = "Run a gap sweep from Setup (Experiment: gap sweep), or pick a stored sweep on the left."


@register_screen("sweep", "Sweep", order=70)
class SweepView(QWidget):
    """Pick a sweep of the workspace (or show_sweep(path)) to draw its four plots and its table.

    The list is the workspace index's sweeps; a picked summary is read in a worker and drawn when it arrives.
    """

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.path: Path | None = None  # the sweep shown
        self.data: SweepData | None = None
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        self.error_bars: dict[str, dict[str, pg.ErrorBarItem]] = {}
        self.markers: dict[str, list[pg.InfiniteLine]] = {}
        self._requested: Path | None = None  # the sweep asked for last (shown once read)
        self._filling = False
        self._reader = WorkerQueue("ensgui-sweep-reader", self, self._read_done, self._read_failed)
        self._build()
        context.index.observe(self._fill_list)

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        splitter = picker_splitter(self)
        splitter.setChildrenCollapsible(False)

        picker = workspace_picker(splitter, "Gap sweeps", "The gap sweeps stored in the workspace, newest first",
                                  self.refresh)
        self.refresh_button, self.sweep_list, self.problem_label = (picker.refresh_button, picker.files,
                                                                    picker.problem_label)
        self.sweep_list.currentItemChanged.connect(self._picked)

        main = QWidget(splitter)
        right = QVBoxLayout(main)
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(4)
        self.title_label, self.details_label = header_labels(main, "Gap sweep")
        right.addWidget(self.title_label)
        details_row = QHBoxLayout()
        details_row.addWidget(self.details_label, 1)
        self.resume_button = QPushButton("Resume sweep", main)
        self.resume_button.setToolTip("Train the points this sweep is missing, with its own spec and gaps; "
                                      "its finished points are kept")
        self.resume_button.clicked.connect(self._resume_clicked)
        self.resume_button.setVisible(False)
        details_row.addWidget(self.resume_button)
        right.addLayout(details_row)
        self.content = QSplitter(Qt.Orientation.Vertical)
        self.content.setChildrenCollapsible(False)
        self.stack = PlotOrMessage(self.content, main, EMPTY_MESSAGE)
        right.addWidget(self.stack, 1)

        plots = QWidget(self.content)
        grid = QVBoxLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        rows = (QHBoxLayout(), QHBoxLayout())
        self.plots: dict[str, pg.PlotWidget] = {}
        self.export_actions: dict[str, list] = {}
        for index, (key, title, y_label, series) in enumerate(PLOTS):
            plot = self._make_plot(plots, y_label, len(series))
            self.plots[key] = plot
            self.curves[key] = {}
            self.error_bars[key] = {}
            self.markers[key] = []
            if index:
                plot.setXLink(self.plots[PLOTS[0][0]])  # one gap axis for all four figures
            for number, s in enumerate(series):
                pen_color = color(number)
                curve = plot.plot([], [], name=s.name, pen=pg.mkPen(pen_color, width=2), symbol=s.symbol,
                                  symbolSize=7, symbolBrush=pg.mkBrush(pen_color), symbolPen=pg.mkPen(pen_color),
                                  connect="finite")
                self.curves[key][s.name] = curve
                if s.field in TRACE_FIELDS:
                    # Added only where there are errors: an empty ErrorBarItem still pulls the auto range to 0.
                    bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), beam=0.06,
                                           pen=pg.mkPen(pen_color, width=1.5))
                    plot.addItem(bars)
                    self.error_bars[key][s.name] = bars
            actions = plot_export_actions(plot, lambda key=key: self._file_stem(key))
            self.export_actions[key] = actions
            rows[index // 2].addWidget(titled_panel(title, plot, export_button(actions, plots), plots), 1)
        for row in rows:
            grid.addLayout(row, 1)
        self.content.addWidget(plots)

        self.table = results_table(self.content)
        self.table_actions = table_export_actions(self.table, lambda: self._file_stem("table"))
        self.content.addWidget(titled_panel("Numbers per gap", self.table,
                                            export_button(self.table_actions, self.content, "Export CSV ▾"),
                                            self.content))
        self.content.setStretchFactor(0, 4)
        self.content.setStretchFactor(1, 1)
        self.content.setSizes([560, 170])

        splitter.addWidget(picker.widget)
        splitter.addWidget(main)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([230, 1030])

    def _make_plot(self, parent: QWidget, y_label: str, series: int) -> pg.PlotWidget:
        plot = pg.PlotWidget(parent)
        item = plot.getPlotItem()
        item.setLabel("bottom", "gap m")
        item.setLabel("left", y_label)
        item.getAxis("left").enableAutoSIPrefix(False)
        item.getAxis("bottom").enableAutoSIPrefix(False)
        # Wide enough for "0.8425" beside the axis title: pyqtgraph sizes it before the ticks are known.
        item.getAxis("left").setWidth(62)
        add_grid(item)
        item.getViewBox().setDefaultPadding(0.06)  # a point at the top or bottom keeps its whole marker
        plot.setMinimumSize(260, 180)
        if series > 1:
            # Below the axis, in one row: inside the view box a legend would cover points wherever it sat.
            legend = pg.LegendItem(labelTextSize="8pt", colCount=series, horSpacing=24, verSpacing=-6)
            legend.setParentItem(None)
            item.layout.addItem(legend, 4, 1)
            item.legend = legend  # plot(name=...) registers its curve here
        return plot

    # ------------------------------------------------------------ the workspace's sweeps

    def refresh(self) -> None:
        """Rescan the workspace; the list follows when the index has the new listing."""
        self.context.index.refresh()

    def _fill_list(self) -> None:
        """The index's sweeps in the picker, the shown (or asked-for) sweep selected."""
        selected = self._requested or self.path
        self._filling = True
        try:
            self.sweep_list.clear()
            for path in self.context.index.listing.sweeps:
                item = QListWidgetItem(path.name.removesuffix(".h5").removesuffix(".sweep"), self.sweep_list)
                item.setToolTip(str(path))
                item.setData(PATH_ROLE, str(path))
                if selected is not None and path.name == selected.name:
                    self.sweep_list.setCurrentItem(item)
        finally:
            self._filling = False

    def _picked(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        if self._filling or item is None:
            return
        self._read(Path(item.data(PATH_ROLE)))

    def _resume_clicked(self) -> None:
        if self.path is not None:
            self.context.actions.resume_sweep(self.path)

    # ------------------------------------------------------------ reading (in a worker)

    def show_sweep(self, path: Path | str) -> None:
        """Select a sweep summary and draw it once read; RunFileError at once when path is not a file (an unreadable
        file is said on the problem line when its read fails)."""
        path = Path(path)
        if not path.is_file():
            raise RunFileError(f"{path} does not exist or is not a file")
        self._read(path)
        self._fill_list()

    def _read(self, path: Path) -> None:
        self._requested = path
        self._reader.submit(path, lambda _stop: read_sweep(path))

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait until the asked-for sweep is read and drawn (tests)."""
        return self._reader.wait(timeout_ms)

    def shutdown(self) -> None:
        """Stop the reader (the window closes)."""
        self._reader.shutdown()

    def _read_done(self, path: Path, data: SweepData) -> None:
        if path != self._requested:
            return  # an earlier pick, answered after a later one was asked for
        self._requested = None
        self.path = path
        self.problem_label.setText("")
        self.set_data(data, path.name)

    def _read_failed(self, path: Path, message: str) -> None:
        if path != self._requested:
            return
        self._requested = None
        self.problem_label.setText(message)
        self._fill_list()  # back to the sweep still shown

    # ------------------------------------------------------------ drawing

    def set_data(self, data: SweepData, name: str = "") -> None:
        """Draw a sweep's numbers: four plots against the gap and the table."""
        self.data = data
        n = len(data.gaps)
        self.title_label.setText(f"Gap sweep: {name or data.path.name}")
        self.details_label.setText(sweep_details(data))
        self.resume_button.setVisible(data.status in RESUMABLE)
        if not n:
            self.stack.show_message(f"This sweep holds no finished point (status: {data.status}).")
            return
        self.stack.show_content()
        gaps = np.asarray(data.gaps, dtype=np.float64)[data.order()]
        span = float(np.nanmax(gaps) - np.nanmin(gaps)) if np.isfinite(gaps).any() else 0.0
        for key, _title, _y_label, series in PLOTS:
            for s in series:
                values, errors = series_values(data, s.field)
                self.curves[key][s.name].setData(gaps, values)
                if errors is not None:
                    # Points without a finite error get none drawn, not a bar of nan.
                    good = np.isfinite(values) & np.isfinite(errors)
                    self.error_bars[key][s.name].setData(x=gaps[good], y=values[good], height=2 * errors[good],
                                                         beam=max(span, 1.0) * 0.015)
            self._mark_named_gaps(key, data)
            self.plots[key].getPlotItem().enableAutoRange()
        self._fill_table(data)

    def _mark_named_gaps(self, key: str, data: SweepData) -> None:
        """A dashed vertical line at each named gap ("mean = 2.31"), so that point reads as what it is."""
        plot = self.plots[key].getPlotItem()
        for line in self.markers[key]:
            plot.removeItem(line)
        self.markers[key] = []
        gaps = np.asarray(data.gaps, dtype=np.float64)
        middle = float(np.nanmin(gaps) + np.nanmax(gaps)) / 2 if np.isfinite(gaps).any() else 0.0
        for label, gap in zip(data.labels, gaps):
            if not is_named_gap(str(label)) or not math.isfinite(gap):
                continue
            # The text lies on the side of the line with more room, so it is never cut at the plot's edge.
            side = (0, 0) if gap <= middle else (1, 0)
            line = pg.InfiniteLine(pos=float(gap), angle=90, movable=False,
                                   pen=pg.mkPen(120, 120, 120, width=1, style=Qt.PenStyle.DashLine),
                                   label=str(label) if "=" in str(label) else f"{label} = {gap:.3g}",
                                   labelOpts={"position": 0.96, "color": (60, 60, 60), "anchors": [side, side],
                                              "fill": (255, 255, 255, 200)})
            plot.addItem(line, ignoreBounds=True)
            self.markers[key].append(line)

    def _fill_table(self, data: SweepData) -> None:
        order = data.order()
        headers = ["gap", "gap value", "status"] + [c[0] for c in COLUMNS] + ["run file"]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(order))
        gaps = np.asarray(data.gaps, dtype=np.float64)
        for row, i in enumerate(order):
            self.table.setItem(row, 0, text_item(str(data.labels[i])))
            self.table.setItem(row, 1, number_item(fmt(float(gaps[i])), float(gaps[i])))
            self.table.setItem(row, 2, text_item(str(data.statuses[i])))
            for column, (_header, field, part) in enumerate(COLUMNS, start=3):
                values = np.asarray(getattr(data, field), dtype=np.float64)
                value = float(values[i] if part is None else values[i, part])
                self.table.setItem(row, column, number_item(fmt(value), value))
            self.table.setItem(row, len(headers) - 1, text_item(Path(str(data.runs[i])).name))

    def _file_stem(self, what: str) -> str:
        stem = self.path.name.removesuffix(".h5").removesuffix(".sweep") if self.path is not None else "sweep"
        return f"{stem}-{what}"

    # ------------------------------------------------------------ what is drawn (for tests and export checks)

    def drawn(self, key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each curve of a plot as (x, y) exactly as handed to pyqtgraph."""
        result = {}
        for name, curve in self.curves[key].items():
            x, y = curve.getData()
            result[name] = (np.asarray(x if x is not None else []), np.asarray(y if y is not None else []))
        return result

    def drawn_errors(self, key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each error-bar set of a plot as (x, half height)."""
        result = {}
        for name, bars in self.error_bars[key].items():
            opts = bars.opts
            x = np.asarray(opts["x"] if opts["x"] is not None else [], dtype=np.float64)
            height = np.asarray(opts["height"] if opts["height"] is not None else [], dtype=np.float64)
            result[name] = (x, height / 2)
        return result

    def marker_labels(self, key: str) -> list[str]:
        return [line.label.toPlainText() for line in self.markers[key]]
