"""The Results screen: one run's metrics against ensemble size, calibration, members and DEE."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QSplitter, QStackedWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from .run_header import header_labels
from ..engine import dee as dee_mod
from ..engine.errors import EnsguiError
from ..engine.methods import curve_order_note
from ..storage.reader import EvalData, RunData, RunSummary, read_boosting, read_run
from ..storage.workspace import Workspace, same_file
from .calibration_plot import CalibrationPlot
from .export import export_button, plot_export_actions, table_export_actions
from .metric_curves_plot import MetricCurvesPlot, metric_label, metric_short, ordered_metrics
from .run_margins_panel import RunMarginsPanel
from .boosting_panel import BoostingPanel
from .panels import fmt, number_item, results_table, text_item, titled_panel
from .runs_view import STATUS_COLORS

SPLITS: tuple[tuple[str, str], ...] = (("test", "test"), ("val", "validation"))
DEFAULT_METRIC = "cnll"
REFERENCE_METHOD = "deep_ensemble"
DEE_METRIC = "cnll"
CURVES_TITLE = "Ensemble of the first k members: {order}"


def fmt_mean_std(mean: float, std: float) -> str:
    if not math.isfinite(std):
        return fmt(mean)
    # At k = K every order holds all members; a std of 1e-17 there is rounding, not spread.
    if math.isfinite(mean) and abs(std) <= 1e-12 * max(1.0, abs(mean)):
        std = 0.0
    return f"{fmt(mean)} ± {fmt(std)}"


def no_results_message(summary: RunSummary, error: str) -> str:
    """Why a run has nothing to show, in the user's terms."""
    status = summary.status
    if status == "cancelled":
        return "No results: the run was cancelled before any member finished, so nothing was evaluated."
    if status in ("failed", "diverged"):
        reason = f": {error}" if error else "."
        return f"No results: the run {status} before any member was evaluated{reason}"
    if status == "running":
        return "No results yet: the run is still training. Results appear when its evaluation is stored."
    if status == "incomplete":
        return ("No results: the process writing this run stopped before any evaluation was stored. "
                "Its training curves are kept in the file.")
    return "No evaluation is stored in this run file."




class ResultsView(QWidget):
    """Shows one run file: show_run(path) reads it (raising EnsguiError when it cannot) and fills every panel."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.run: RunData | None = None
        self.path: Path | None = None
        self.split = "test"
        # Not "metric": that would shadow QPaintDevice.metric, which Qt calls to size the widget.
        self.shown_metric = DEFAULT_METRIC
        self.reference: RunData | None = None
        self.dee_values: np.ndarray | None = None
        self._references: list[RunSummary] = []
        self._reference_cache: dict[Path, tuple[float, RunData]] = {}
        self._reference_for: Path | None = None  # the run the reference choice was made for
        self._filling = False
        self._build()
        self._show_message("Open a run on the Runs screen, or start one on Setup: its results appear here.")

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        outer.setSpacing(6)

        self.title_label, self.details_label = header_labels(self)
        outer.addWidget(self.title_label)
        outer.addWidget(self.details_label)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Split:", self))
        self.split_combo = QComboBox(self)
        for key, text in SPLITS:
            self.split_combo.addItem(text, key)
        self.split_combo.currentIndexChanged.connect(self._split_changed)
        controls.addWidget(self.split_combo)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Metric:", self))
        self.metric_combo = QComboBox(self)
        self.metric_combo.setMinimumContentsLength(28)
        self.metric_combo.currentIndexChanged.connect(self._metric_changed)
        controls.addWidget(self.metric_combo)
        controls.addSpacing(16)
        controls.addWidget(QLabel("DEE reference (deep ensemble):", self))
        self.reference_combo = QComboBox(self)
        self.reference_combo.setMinimumContentsLength(30)
        self.reference_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.reference_combo.currentIndexChanged.connect(self._reference_changed)
        controls.addWidget(self.reference_combo)
        self.overlay_check = QCheckBox("overlay reference", self)
        self.overlay_check.setChecked(True)
        self.overlay_check.setToolTip("Draw the reference deep ensemble's curve next to this run's")
        self.overlay_check.toggled.connect(lambda _: self._fill_curves())
        controls.addWidget(self.overlay_check)
        controls.addStretch(1)
        outer.addLayout(controls)

        self.stack = QStackedWidget(self)
        self.message_label = QLabel("", self.stack)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #555; font-size: 15px; padding: 40px;")
        self.content = QWidget(self.stack)
        self.stack.addWidget(self.content)
        self.stack.addWidget(self.message_label)
        outer.addWidget(self.stack, 1)

        content = QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        vertical = QSplitter(Qt.Orientation.Vertical, self.content)
        plots = QSplitter(Qt.Orientation.Horizontal, vertical)

        self.curves_plot = MetricCurvesPlot(plots)
        self.curves_actions = plot_export_actions(self.curves_plot, lambda: self._file_stem(self.shown_metric))
        self.calibration_plot = CalibrationPlot(plots)
        self.calibration_actions = plot_export_actions(self.calibration_plot, lambda: self._file_stem("reliability"))
        self.dee_stack = QStackedWidget(plots)
        self.dee_plot = pg.PlotWidget(self.dee_stack)
        self.dee_plot.setMinimumHeight(220)
        self.dee_message = QLabel("", self.dee_stack)
        self.dee_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.dee_message.setWordWrap(True)
        self.dee_message.setStyleSheet("color: #555; padding: 16px; background: white;")
        self.dee_stack.addWidget(self.dee_plot)
        self.dee_stack.addWidget(self.dee_message)
        self.dee_actions = plot_export_actions(self.dee_plot, lambda: self._file_stem("dee"))
        dee_item = self.dee_plot.getPlotItem()
        dee_item.setLabel("bottom", "ensemble size k")
        dee_item.setLabel("left", "DEE (equivalent deep-ensemble size)")
        dee_item.getAxis("left").enableAutoSIPrefix(False)
        dee_item.showGrid(x=True, y=True, alpha=0.25)
        dee_item.addLegend(offset=(10, 10))
        self.dee_plot.setToolTip("Deep Ensemble Equivalent: how many members of the reference deep ensemble reach "
                                 "this run's calibrated NLL at each size k.\nThe band uses the reference's "
                                 "mean ± std over member orders.")
        for title, plot, actions in (("Metric vs ensemble size", self.curves_plot, self.curves_actions),
                                     ("Calibration", self.calibration_plot, self.calibration_actions),
                                     ("Deep Ensemble Equivalent", self.dee_stack, self.dee_actions)):
            plots.addWidget(titled_panel(title, plot, export_button(actions, self), plots))
        plots.setSizes([480, 380, 380])

        self.tables = QTabWidget(vertical)
        self.curves_table = results_table(self.tables)
        self.curves_table_actions = table_export_actions(self.curves_table, lambda: self._file_stem("metrics-vs-k"))
        self.members_table = results_table(self.tables)
        self.members_table_actions = table_export_actions(self.members_table, lambda: self._file_stem("members"))
        curves_box = titled_panel(CURVES_TITLE.format(order="mean ± std over random member orders"),
                                  self.curves_table, export_button(self.curves_table_actions, self), self.tables)
        self.curves_title = curves_box.findChild(QLabel)
        self.tables.addTab(curves_box, "Metrics vs ensemble size")
        self.tables.addTab(titled_panel("Each member alone (CNLL with its own oracle temperature)",
                                        self.members_table, export_button(self.members_table_actions, self),
                                        self.tables),
                           "Per-member metrics")
        self.margins_panel = RunMarginsPanel(self.workspace, self.tables)
        self.tables.addTab(self.margins_panel, "Margins")
        # Added as a tab only while a run with /analysis/boosting is shown.
        self.boosting_panel = BoostingPanel(self.tables)
        self.boosting_panel.hide()
        self.temperature_label = QLabel("", self)
        self.temperature_label.setStyleSheet("color: #555;")
        vertical.addWidget(plots)
        vertical.addWidget(self.tables)
        vertical.setSizes([430, 300])
        content.addWidget(vertical, 1)
        content.addWidget(self.temperature_label)

    # ------------------------------------------------------------ public API

    def show_run(self, path: Path | str) -> None:
        """Read a run file and show it; raises EnsguiError (RunFileError) when the file cannot be read."""
        path = Path(path)
        run = read_run(path, with_probs=True)
        self.run = run
        self.path = path
        self._fill_header(run)
        self.curves_title.setText(f"<b>{html.escape(CURVES_TITLE.format(order=curve_order_note(run.spec)))}</b>")
        self._rebuild_references()
        self.margins_panel.show_run(path, run.summary, run.row_names)
        self._show_boosting(run)
        if not run.eval:
            self._show_message(no_results_message(run.summary, run.error))
            return
        self._filling = True
        try:
            self._fill_split_combo(run)
            self._fill_metric_combo()
        finally:
            self._filling = False
        self.stack.setCurrentWidget(self.content)
        self._enable_controls(True)
        self._fill_all()

    def _show_boosting(self, run: RunData) -> None:
        """The Boosting tab for runs that stored gap-boosting rounds; no tab for any other run."""
        try:
            boosting = read_boosting(run.path)
        except EnsguiError:
            boosting = None
        index = self.tables.indexOf(self.boosting_panel)
        if boosting is None or len(boosting.models) == 0:
            if index >= 0:
                self.tables.removeTab(index)
            return
        self.boosting_panel.set_run(run, boosting)
        if index < 0:
            self.tables.addTab(self.boosting_panel, "Boosting")

    def has_results(self) -> bool:
        """Whether the shown run has an evaluation to look at."""
        return self.run is not None and bool(self.run.eval)

    def refresh_references(self) -> None:
        """Reread the workspace's finished deep ensembles for the DEE reference list (keeps the choice)."""
        self._rebuild_references()
        if self.has_results():
            self._fill_all()

    def eval_data(self) -> EvalData | None:
        """The evaluation of the selected split of the shown run."""
        if self.run is None:
            return None
        return self.run.eval.get(self.split)

    def select_split(self, split: str) -> None:
        index = self.split_combo.findData(split)
        if index < 0:
            raise ValueError(f"unknown split {split!r}")
        self.split_combo.setCurrentIndex(index)

    def select_metric(self, metric: str) -> None:
        index = self.metric_combo.findData(metric)
        if index < 0:
            raise ValueError(f"the run has no curve of {metric!r}")
        self.metric_combo.setCurrentIndex(index)

    def select_reference(self, path: Path | str | None) -> None:
        """Choose the DEE reference by run file path (None for no reference)."""
        index = self.reference_combo.findData(None if path is None else str(Path(path)))
        if index < 0:
            raise ValueError(f"{path} is not a finished deep ensemble in the workspace")
        self.reference_combo.setCurrentIndex(index)

    def reference_paths(self) -> list[Path | None]:
        return [None if self.reference_combo.itemData(i) is None else Path(self.reference_combo.itemData(i))
                for i in range(self.reference_combo.count())]

    # ------------------------------------------------------------ header and message

    def _fill_header(self, run: RunData) -> None:
        s = run.summary
        color = STATUS_COLORS.get(s.status)
        status = html.escape(s.status)
        if color is not None:
            status = f"<span style='color:{color.name()}'>{status}</span>"
        self.title_label.setText(f"{html.escape(s.name)} &nbsp;<span style='font-weight:normal'>[{status}]</span>")
        members = s.rows or (len(run.row_names) if run.row_names else run.members)
        parts = [("method", s.method), ("dataset", s.dataset), ("model", s.model), ("members", str(members)),
                 ("created", s.created.replace("T", " ")), ("device", s.device)]
        if run.elapsed is not None:
            parts.append(("took", f"{run.elapsed:.1f} s"))
        text = " &nbsp;·&nbsp; ".join(f"{k}: <b>{html.escape(v or '–')}</b>" for k, v in parts)
        text += f"<br><span style='color:#666'>{html.escape(str(run.path))}</span>"
        if run.error:
            text += f"<br><span style='color:#c62828'>{html.escape(run.error)}</span>"
        self.details_label.setText(text)

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.stack.setCurrentWidget(self.message_label)
        self.dee_values = None
        self._enable_controls(False)

    def _enable_controls(self, on: bool) -> None:
        for widget in (self.split_combo, self.metric_combo, self.reference_combo, self.overlay_check):
            widget.setEnabled(on)

    # ------------------------------------------------------------ selectors

    def _fill_split_combo(self, run: RunData) -> None:
        model = self.split_combo.model()
        for i in range(self.split_combo.count()):
            key = self.split_combo.itemData(i)
            model.item(i).setEnabled(key in run.eval)
        if self.split not in run.eval:
            self.split = "test" if "test" in run.eval else next(iter(run.eval))
        self.split_combo.setCurrentIndex(max(0, self.split_combo.findData(self.split)))

    def _fill_metric_combo(self) -> None:
        data = self.eval_data()
        names = ordered_metrics(data.curves) if data is not None else []
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        for name in names:
            self.metric_combo.addItem(metric_label(name), name)
        if self.shown_metric not in names and names:
            self.shown_metric = DEFAULT_METRIC if DEFAULT_METRIC in names else names[0]
        self.metric_combo.setCurrentIndex(max(0, self.metric_combo.findData(self.shown_metric)))
        self.metric_combo.blockSignals(False)

    def _split_changed(self, index: int) -> None:
        key = self.split_combo.itemData(index)
        if key is None or self._filling or self.run is None or key not in self.run.eval:
            return
        self.split = key
        self._fill_metric_combo()
        self._fill_all()

    def _metric_changed(self, index: int) -> None:
        name = self.metric_combo.itemData(index)
        if name is None or self._filling:
            return
        self.shown_metric = name
        self._fill_curves()

    def _reference_changed(self, _index: int) -> None:
        if self._filling:
            return
        self._load_reference()
        if self.has_results():
            self._fill_all()

    # ------------------------------------------------------------ DEE references

    def _rebuild_references(self) -> None:
        """Finished deep ensembles of the workspace; the shown run's data set and model first."""
        try:
            runs = self.workspace.runs()
        except EnsguiError:
            runs = []
        here = self.run.summary if self.run is not None else None
        refs = [r for r in runs if r.method == REFERENCE_METHOD and r.status == "finished"]
        if here is not None:
            # runs() is newest first; a stable sort keeps that order within each group.
            refs.sort(key=lambda r: (r.dataset != here.dataset, r.model != here.model))
        self._references = refs
        previous = self.reference_combo.currentData()
        previous_run = self._reference_for
        self._filling = True
        try:
            self.reference_combo.clear()
            self.reference_combo.addItem("none", None)
            for r in refs:
                mine = self.path is not None and same_file(r.path, self.path)
                label = f"{r.name} · {r.created[:16].replace('T', ' ')}" + (" (this run)" if mine else "")
                self.reference_combo.addItem(label, str(r.path))
                self.reference_combo.setItemData(self.reference_combo.count() - 1,
                                                 f"{r.dataset} · {r.model} · {r.rows} members\n{r.path}",
                                                 Qt.ItemDataRole.ToolTipRole)
            # Keep the user's choice while the same run is shown; a new run gets the default again.
            keep = previous_run is not None and self.path is not None and same_file(previous_run, self.path)
            index = self.reference_combo.findData(previous) if keep else -1
            if index < 0:
                index = self._default_reference_index()
            self.reference_combo.setCurrentIndex(index)
        finally:
            self._filling = False
        self._reference_for = self.path
        self._load_reference()

    def _default_reference_index(self) -> int:
        """The most recent other deep ensemble (same data set and model preferred), else none."""
        for i, r in enumerate(self._references):
            if self.path is None or not same_file(r.path, self.path):
                return i + 1
        return 0

    def _load_reference(self) -> None:
        data = self.reference_combo.currentData()
        self.reference = None
        if data is None:
            return
        path = Path(data)
        if self.path is not None and self.run is not None and same_file(path, self.path):
            self.reference = self.run
            return
        try:
            mtime = path.stat().st_mtime
            cached = self._reference_cache.get(path)
            if cached is None or cached[0] != mtime:
                cached = (mtime, read_run(path, with_probs=False))
                self._reference_cache[path] = cached
            self.reference = cached[1]
        except (EnsguiError, OSError):
            self.reference = None

    def _reference_curve(self) -> np.ndarray | None:
        if self.reference is None:
            return None
        data = self.reference.eval.get(self.split)
        if data is None:
            return None
        return data.curves.get(DEE_METRIC)

    def _compute_dee(self) -> tuple[np.ndarray | None, str]:
        """DEE of this run's CNLL curve against the reference's on the selected split, and a note."""
        data = self.eval_data()
        if self.reference is None:
            if not any(self.path is None or not same_file(r.path, self.path) for r in self._references):
                return None, ("No other finished deep ensemble in the workspace. Train one with the same data "
                              "and model to see how many of its members this run is worth.")
            return None, "Choose a finished deep ensemble as the DEE reference above."
        ref_curve = self._reference_curve()
        if data is None or DEE_METRIC not in data.curves:
            return None, "This run has no calibrated NLL curve to compare."
        if ref_curve is None:
            return None, f"The reference has no {metric_label(DEE_METRIC)} on the {self.split} split."
        try:
            values = dee_mod.dee_from_cnll(ref_curve[:, 0], data.curves[DEE_METRIC][:, 0])
        except ValueError as exc:
            return None, f"DEE cannot be computed: {exc}"
        return values, ""

    # ------------------------------------------------------------ filling

    def _fill_all(self) -> None:
        if not self.has_results():
            return
        self.dee_values, dee_note = self._compute_dee()
        self._fill_curves()
        self._fill_curves_table()
        self._fill_members_table()
        self._fill_calibration()
        self._fill_dee_plot(dee_note)
        data = self.eval_data()
        notes = []
        if data is not None and data.temperature is not None:
            notes.append(f"temperature fitted on the validation ensemble of all members: τ = {data.temperature:.4g}")
        if data is not None and data.probs is not None:
            notes.append(f"{data.probs.shape[1]} objects, {data.probs.shape[2]} classes on the "
                         f"{dict(SPLITS).get(self.split, self.split)} split")
        self.temperature_label.setText(" · ".join(notes))

    def _run_label(self) -> str:
        return self.run.summary.name if self.run is not None else ""

    def _fill_curves(self) -> None:
        data = self.eval_data()
        if data is None or self.shown_metric not in data.curves:
            self.curves_plot.clear_curves()
            return
        runs = {self._run_label(): data.curves[self.shown_metric]}
        ref = self.reference
        if (self.overlay_check.isChecked() and ref is not None and self.path is not None
                and not same_file(ref.path, self.path)):
            ref_data = ref.eval.get(self.split)
            if ref_data is not None and self.shown_metric in ref_data.curves:
                runs[f"{ref.summary.name} (reference)"] = ref_data.curves[self.shown_metric]
        self.curves_plot.set_curves(self.shown_metric, runs)

    def _fill_curves_table(self) -> None:
        data = self.eval_data()
        table = self.curves_table
        table.clear()
        if data is None:
            table.setRowCount(0)
            table.setColumnCount(0)
            return
        names = ordered_metrics(data.curves)
        n_rows = max((data.curves[n].shape[0] for n in names), default=0)
        has_dee = self.dee_values is not None
        # DEE comes right after k: it is the column this screen adds to what the file stores.
        first = 2 if has_dee else 1
        headers = ["k"] + (["DEE"] if has_dee else []) + [metric_short(n) for n in names]
        table.setColumnCount(len(headers))
        table.setRowCount(n_rows)
        for c, text in enumerate(headers):
            item = QTableWidgetItem(text)
            if c >= first:
                item.setToolTip(f"{metric_label(names[c - first])}: {curve_order_note(self.run.spec)}")
            elif has_dee and c == 1:
                item.setToolTip("Deep Ensemble Equivalent: the size of the reference deep ensemble with the same "
                                "calibrated NLL (test-time CV)")
            table.setHorizontalHeaderItem(c, item)
        for r in range(n_rows):
            table.setItem(r, 0, number_item(str(r + 1), r + 1))
            for c, name in enumerate(names, start=first):
                curve = data.curves[name]
                if r < curve.shape[0]:
                    mean, std = float(curve[r, 0]), float(curve[r, 1])
                    table.setItem(r, c, number_item(fmt_mean_std(mean, std), (mean, std)))
            if has_dee and r < self.dee_values.shape[0]:
                value = float(self.dee_values[r])
                item = number_item(fmt(value), value)
                item.setBackground(QColor(232, 240, 254))
                table.setItem(r, 1, item)

    def _fill_members_table(self) -> None:
        data = self.eval_data()
        table = self.members_table
        table.clear()
        if data is None or not data.member_metrics:
            table.setRowCount(0)
            table.setColumnCount(0)
            return
        names = ordered_metrics(data.member_metrics)
        n_rows = max(v.shape[0] for v in data.member_metrics.values())
        row_names = list(self.run.row_names) if self.run is not None else []
        if len(row_names) != n_rows:
            row_names = [f"member {i}" for i in range(n_rows)]
        headers = ["member"] + [metric_short(n) for n in names]
        table.setColumnCount(len(headers))
        table.setRowCount(n_rows)
        for c, text in enumerate(headers):
            item = QTableWidgetItem(text)
            if c:
                label = "calibrated NLL (oracle temperature of this member)" if names[c - 1] == "cnll" \
                    else metric_label(names[c - 1])
                item.setToolTip(label)
            table.setHorizontalHeaderItem(c, item)
        for r in range(n_rows):
            table.setItem(r, 0, text_item(row_names[r]))
            for c, name in enumerate(names, start=1):
                values = data.member_metrics[name]
                if r < values.shape[0]:
                    value = float(values[r])
                    table.setItem(r, c, number_item(fmt(value), value))

    def ensemble_probs(self) -> np.ndarray | None:
        """The selected split's ensemble-averaged probabilities of all K members (N, C), float64."""
        data = self.eval_data()
        if data is None or data.probs is None or data.probs.ndim != 3 or data.probs.shape[0] == 0:
            return None
        return np.mean(np.asarray(data.probs, dtype=np.float64), axis=0)

    def _fill_calibration(self) -> None:
        data = self.eval_data()
        probs = self.ensemble_probs()
        if data is None or probs is None or data.labels.shape[0] != probs.shape[0]:
            self.calibration_plot.clear_diagram("reliability diagram: no stored predictions")
            return
        k = data.probs.shape[0]
        self.calibration_plot.set_probs(probs, data.labels, what=f"{dict(SPLITS)[self.split]}, k = {k}")

    def _fill_dee_plot(self, note: str) -> None:
        item = self.dee_plot.getPlotItem()
        item.clear()
        if item.legend is not None:
            item.legend.clear()
        values = self.dee_values
        for action in self.dee_actions:
            action.setEnabled(values is not None)
        if values is None:
            self.dee_message.setText(note)
            self.dee_stack.setCurrentWidget(self.dee_message)
            return
        self.dee_stack.setCurrentWidget(self.dee_plot)
        k = np.arange(1, values.shape[0] + 1, dtype=np.float64)
        ref_curve = self._reference_curve()
        top = max(float(k[-1]), float(np.nanmax(values)) if np.any(np.isfinite(values)) else 1.0)
        if ref_curve is not None and self.run is not None:
            data = self.eval_data()
            low, high = dee_mod.dee_band(-ref_curve[:, 0], ref_curve[:, 1], -data.curves[DEE_METRIC][:, 0])
            lower = pg.PlotCurveItem(k, low, pen=pg.mkPen(None))
            upper = pg.PlotCurveItem(k, high, pen=pg.mkPen(None))
            item.addItem(pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(31, 119, 180, 45)))
        identity = pg.PlotDataItem([1, top], [1, top], pen=pg.mkPen("#777777", width=1.2,
                                                                     style=Qt.PenStyle.DashLine),
                                   name="DEE = k")
        item.addItem(identity)
        item.addItem(pg.PlotDataItem(k, values, pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=7,
                                     symbolBrush=pg.mkBrush("#1f77b4"), name="this run"))
        ref_name = self.reference.summary.name if self.reference is not None else ""
        item.setTitle(f"CNLL against {html.escape(ref_name)}")
        item.setXRange(0.7, k[-1] + 0.3, padding=0)
        item.enableAutoRange(axis="y")
        item.getAxis("bottom").setTickSpacing(major=max(1, int(np.ceil(k[-1] / 12))), minor=1)

    def _file_stem(self, what: str) -> str:
        name = self.path.stem if self.path is not None else "results"
        return f"{name}-{self.split}-{what}"


__all__ = ["DEE_METRIC", "ResultsView", "SPLITS", "fmt", "fmt_mean_std", "no_results_message"]
