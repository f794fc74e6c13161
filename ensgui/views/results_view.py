"""The Results screen: the open run's metrics against ensemble size, calibration, members, DEE and result panels."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QSplitter, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from ..engine import dee as dee_mod
from ..engine.methods import curve_order_note
from ..storage.opened_run import FileStamp, OpenedRun, file_stamp
from ..storage.reader import EvalData, RunData, RunSummary
from ..storage.workspace import same_file
from .calibration_plot import N_BINS, CalibrationPlot
from .dee_plot import DeePlot
from .export import export_button, plot_export_actions, table_export_actions
from .message_stack import PlotOrMessage
from .metric_curves_plot import MetricCurvesPlot, metric_label, metric_short, ordered_metrics
from .panels import labeled_combo, number_item, results_table, select_data, text_item, titled_panel
from .reference_picker import ReferencePicker, references
from .result_panels import RESULT_PANELS, PanelTab, panels_for
from .run_document import LoadedRun, PrepareFailure
from .screens import AppContext, RevealInTurns, RunScreen, Veiled, register_screen
from ..text import fmt_metric, fmt_metric_mean_std, local_time, size_text
from .theme import ERROR_COLOR, HINT_STYLE, PALETTE, PATH_COLOR, fmt, status_html

if TYPE_CHECKING:
    from ..engine.metrics import ReliabilityDiagram

SPLITS: tuple[tuple[str, str], ...] = (("test", "test"), ("val", "validation"))
DEFAULT_METRIC = "cnll"
DEE_METRIC = "cnll"
CURVES_TITLE = "Ensemble of the first k members: {order}"
PREPARED = "results"  # the key of prepare_results in the open-run document
OWN_TABS = 2  # the curves and members tabs come before the result panels' tabs
# Room for the tables and for a result panel (a plot of 150 px with its controls): a panel opened later then
# fits without moving the splitter, which would resize and repaint every plot above it.
PANEL_HEIGHT = 220
WELCOME = "Open a run on the Runs screen, or start one on Setup: its results appear here."
DEE_SERIES = "this run"


@dataclass(frozen=True)
class SplitCalibration:
    """What the reliability diagram of one split shows, computed in the worker that opens the run."""

    diagram: ReliabilityDiagram | None  # None without stored predictions
    members: int  # k, the size of the ensemble the diagram is of
    ensemble_probs: np.ndarray | None  # (N, C) float64: the mean of all members' probabilities


def split_calibration(data: EvalData) -> SplitCalibration:
    """The reliability diagram of the ensemble of all members of one split (Qt-free)."""
    probs = data.probs
    if probs is None or probs.ndim != 3 or probs.shape[0] == 0:
        return SplitCalibration(None, 0, None)
    mean = np.mean(np.asarray(probs, dtype=np.float64), axis=0)
    if data.labels.shape[0] != mean.shape[0]:
        return SplitCalibration(None, probs.shape[0], mean)
    from ..engine.metrics import reliability  # here, in the worker: the module brings scipy (0.8 s at start-up)

    return SplitCalibration(reliability(mean, data.labels, N_BINS), probs.shape[0], mean)


def prepare_results(opened: OpenedRun) -> dict[str, SplitCalibration]:
    """The preparer of the Results screen: the calibration of every evaluated split."""
    return {split: split_calibration(data) for split, data in opened.run.eval.items()}


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


@register_screen("results", "Results", order=30)
class ResultsView(RunScreen):
    """Shows the open run of the document: curves, calibration, DEE, tables, and a tab per result panel it has."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.split = "test"
        # Not "metric": that would shadow QPaintDevice.metric, which Qt calls to size the widget.
        self.shown_metric = DEFAULT_METRIC
        self.reference: RunData | None = None
        self.dee_values: np.ndarray | None = None
        self.dee_limits: np.ndarray | None = None  # dee.dee_limits: which values are only bounds ("< 1", "≥ K")
        self._dee_band: tuple[np.ndarray, np.ndarray] | None = None
        self._chosen: tuple[Path, Path | None] | None = None  # (shown run, reference) the user picked
        self._reference_failure: tuple[Path, FileStamp | None, str] | None = None
        self._panels: dict[str, PanelTab] = {}
        self._reference_only = False  # the next drawing redraws only what the reference changes
        self._drawn: LoadedRun | None = None
        self._filling = False
        self._build()
        document = context.document
        document.register(PREPARED, prepare_results)
        for entry in RESULT_PANELS.values():
            if entry.prepare is not None:
                document.register(entry.key, entry.prepare)
        context.index.changed.connect(self._listing_changed)
        context.loader.ready.connect(self._reference_read)
        context.loader.failed.connect(self._reference_failed)
        self._show_message(WELCOME)

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        outer = self.body

        controls = QHBoxLayout()
        self.split_combo = labeled_combo(controls, self, "Split:", SPLITS, self._split_changed)
        controls.addSpacing(16)
        self.metric_combo = labeled_combo(controls, self, "Metric:", (), self._metric_changed)
        self.metric_combo.setMinimumContentsLength(28)
        controls.addSpacing(16)
        self.reference_picker = ReferencePicker(self)
        self.reference_picker.changed.connect(self._reference_chosen)
        controls.addWidget(self.reference_picker)
        self.overlay_check = QCheckBox("overlay reference", self)
        self.overlay_check.setChecked(True)
        self.overlay_check.setToolTip("Draw the reference deep ensemble's curve next to this run's")
        self.overlay_check.toggled.connect(lambda _: self._fill_curves())
        controls.addWidget(self.overlay_check)
        controls.addStretch(1)
        outer.addLayout(controls)

        self.content = QWidget(self)
        self.stack = PlotOrMessage(self.content, self)
        outer.addWidget(self.stack, 1)

        content = QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        vertical = QSplitter(Qt.Orientation.Vertical, self.content)
        plots = QSplitter(Qt.Orientation.Horizontal, vertical)

        self.curves_plot = MetricCurvesPlot(plots)
        self.curves_actions = plot_export_actions(self.curves_plot, lambda: self._file_stem(self.shown_metric))
        self.calibration_plot = CalibrationPlot(plots)
        self.calibration_actions = plot_export_actions(self.calibration_plot, lambda: self._file_stem("reliability"))
        self.dee_plot = DeePlot(plots, lambda: self._file_stem("dee"))
        self.dee_plot.plot.setToolTip("Deep Ensemble Equivalent: how many members of the reference deep ensemble "
                                      "reach this run's calibrated NLL at each size k.\nThe band uses the "
                                      "reference's mean ± std over member orders.")
        veils = []
        for title, plot, actions in (("Metric vs ensemble size", self.curves_plot, self.curves_actions),
                                     ("Calibration", self.calibration_plot, self.calibration_actions),
                                     ("Deep Ensemble Equivalent", self.dee_plot, self.dee_plot.export_actions)):
            veils.append(Veiled(plot))
            plots.addWidget(titled_panel(title, veils[-1], export_button(actions, self), plots))
        plots.setSizes([480, 380, 380])

        self.tables = QTabWidget(vertical)
        self.tables.setMinimumHeight(PANEL_HEIGHT)
        self.curves_table = results_table(self.tables)
        self.curves_table_actions = table_export_actions(self.curves_table, lambda: self._file_stem("metrics-vs-k"))
        self.members_table = results_table(self.tables)
        self.members_table_actions = table_export_actions(self.members_table, lambda: self._file_stem("members"))
        curves_box = titled_panel(CURVES_TITLE.format(order="mean ± std: k = 1 over every row, k ≥ 2 over random orders"),
                                  self.curves_table, export_button(self.curves_table_actions, self), self.tables)
        self.curves_title = curves_box.findChild(QLabel)
        self.tables.addTab(curves_box, "Metrics vs ensemble size")
        self.tables.addTab(titled_panel("Each member alone (CNLL with its own oracle temperature)",
                                        self.members_table, export_button(self.members_table_actions, self),
                                        self.tables),
                           "Per-member metrics")
        self.temperature_label = QLabel("", self)
        self.temperature_label.setStyleSheet(HINT_STYLE)
        # One line of room from the start, so that its text appearing does not shrink and repaint the plots.
        self.temperature_label.setMinimumHeight(self.temperature_label.fontMetrics().lineSpacing() + 2)
        vertical.addWidget(plots)
        veils.append(Veiled(self.tables))
        vertical.addWidget(veils[-1])
        RevealInTurns(self, veils)
        vertical.setSizes([430, 300])
        content.addWidget(vertical, 1)
        content.addWidget(self.temperature_label)

    # ------------------------------------------------------------ public API

    @property
    def run(self) -> RunData | None:
        return self.loaded.opened.run if self.loaded is not None else None

    @property
    def path(self) -> Path | None:
        return self.loaded.path if self.loaded is not None else None

    def has_results(self) -> bool:
        """Whether the shown run has an evaluation to look at."""
        return self.run is not None and bool(self.run.eval)

    def eval_data(self) -> EvalData | None:
        """The evaluation of the selected split of the shown run."""
        if self.run is None:
            return None
        return self.run.eval.get(self.split)

    def panel_tab(self, kind: str) -> PanelTab | None:
        """The tab of a kind of artefact's panel, once a run that has it was shown."""
        return self._panels.get(kind)

    def panel(self, kind: str) -> QWidget | None:
        """The result panel of a kind of artefact, built and drawn now if its tab was never seen."""
        tab = self._panels.get(kind)
        return None if tab is None else tab.built()

    # The select_* methods are for scripts and tests: unlike a click, they return once everything is drawn.

    def select_split(self, split: str) -> None:
        select_data(self.split_combo, split, f"unknown split {split!r}")
        self.filler.flush()

    def select_metric(self, metric: str) -> None:
        select_data(self.metric_combo, metric, f"the run has no curve of {metric!r}")
        self.filler.flush()

    def select_reference(self, path: Path | str | None) -> None:
        """Choose the DEE reference by run file path (None for no reference)."""
        self.reference_picker.select(path)
        self.filler.flush()

    def reference_paths(self) -> list[Path | None]:
        return self.reference_picker.paths()

    def ensemble_probs(self) -> np.ndarray | None:
        """The selected split's ensemble-averaged probabilities of all K members (N, C), float64."""
        calibration = self._calibration()
        return calibration.ensemble_probs if calibration is not None else None

    # ------------------------------------------------------------ the document

    def run_loading(self, path: Path) -> None:
        self._drawn = None  # whatever comes next, even the run shown before, is drawn whole again
        if self.stack.showing_message():
            self._show_file_message(path, f"Reading {path.name}…")
        else:
            # The last run's plots (and controls) stay until the new run replaces them part by part: hiding or
            # disabling them would cost a repaint of every plot at once.
            self.title_label.setText(html.escape(f"{path.stem}  (reading…)"))

    def run_failed(self, path: Path, message: str) -> None:
        self.loaded = self._drawn = None
        self._show_file_message(path, f"This run cannot be shown: {message}")

    def draw_run(self, loaded: LoadedRun) -> Iterator[None]:
        """Draw a new run whole, or the shown one again after a choice changed: a plot per turn of the loop."""
        reference_only, self._reference_only = self._reference_only, False
        if loaded is not self._drawn:
            # Marked drawn only once every part is: a request that cuts this drawing short (the DEE reference read
            # meanwhile) must draw the run whole again, not only its reference.
            yield from self._draw_run()
            self._drawn = self.loaded
        elif reference_only:
            yield from self._fill_reference()
        else:
            yield from self._fill_all()

    def _draw_run(self) -> Iterator[None]:
        run = self.run
        self._fill_header(run)
        self.curves_title.setText(f"<b>{html.escape(CURVES_TITLE.format(order=curve_order_note(run.spec)))}</b>")
        self._fill_references()
        yield
        self._show_panels(self.loaded)
        if not run.eval:
            self._show_message(no_results_message(run.summary, run.error))
            return
        self._filling = True
        try:
            self._fill_split_combo(run)
            self._fill_metric_combo()
        finally:
            self._filling = False
        self.stack.show_content()
        self._enable_controls(True)
        yield
        yield from self._fill_all()

    # ------------------------------------------------------------ result panels

    def _show_panels(self, loaded: LoadedRun) -> None:
        """A tab for every registered panel of the kinds this run stores, after Results' own; none for the rest."""
        entries = panels_for(loaded.opened)
        wanted = {entry.kind for entry in entries}
        for kind, tab in self._panels.items():
            if kind not in wanted and (index := self.tables.indexOf(tab)) >= 0:
                self.tables.removeTab(index)
        for position, entry in enumerate(entries, start=OWN_TABS):
            tab = self._panels.get(entry.kind)
            if tab is None:
                tab = self._panels[entry.kind] = PanelTab(entry, self.context, self.tables)
            if self.tables.indexOf(tab) != position:
                if (index := self.tables.indexOf(tab)) >= 0:
                    self.tables.removeTab(index)
                self.tables.insertTab(position, tab, entry.title)
            tab.show_run(loaded)

    # ------------------------------------------------------------ header and message

    def _fill_header(self, run: RunData) -> None:
        s = run.summary
        status = status_html(html.escape(s.status))
        self.title_label.setText(f"{html.escape(s.name)} &nbsp;<span style='font-weight:normal'>[{status}]</span>")
        rows = s.rows or (len(run.row_names) if run.row_names else run.members)
        parts = [("method", s.method), ("dataset", s.dataset), ("model", s.model),
                 ("size", size_text(run.members, rows)), ("created", local_time(s.created)), ("device", s.device)]
        if run.elapsed is not None:
            parts.append(("took", f"{run.elapsed:.1f} s"))
        text = " &nbsp;·&nbsp; ".join(f"{k}: <b>{html.escape(v or '–')}</b>" for k, v in parts)
        text += f"<br><span style='color:{PATH_COLOR}'>{html.escape(str(run.path))}</span>"
        if run.error:
            text += f"<br><span style='color:{ERROR_COLOR}'>{html.escape(run.error)}</span>"
        self.details_label.setText(text)

    def _show_file_message(self, path: Path, text: str) -> None:
        """A run that is being read, or cannot be: its file in the header, the reason in the message."""
        self.title_label.setText(html.escape(path.stem))
        self.details_label.setText(f"<span style='color:{PATH_COLOR}'>{html.escape(str(path))}</span>")
        self._show_message(text)

    def _show_message(self, text: str) -> None:
        self.stack.show_message(text)
        self.dee_values = self.dee_limits = None
        self._enable_controls(False)

    def _enable_controls(self, on: bool) -> None:
        for widget in (self.split_combo, self.metric_combo, self.reference_picker, self.overlay_check):
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
        self.filler.request()

    def _metric_changed(self, index: int) -> None:
        name = self.metric_combo.itemData(index)
        if name is None or self._filling:
            return
        self.shown_metric = name
        self._fill_curves()

    # ------------------------------------------------------------ DEE references

    def _fill_references(self) -> None:
        """The workspace's finished deep ensembles, the shown run's data set and model first; the user's choice is
        kept while the same run is shown, else the most recent other one is the default."""
        here = self.run.summary if self.run is not None else None
        candidates = references(self.context.index.listing.summaries)
        if here is not None:
            # The listing is newest first; a stable sort keeps that order within each group.
            candidates.sort(key=lambda r: (r.dataset != here.dataset, r.model != here.model))
        chosen = self._chosen
        if chosen is not None and not self._is_shown(chosen[0]):
            chosen = self._chosen = None  # another run is shown: the choice made for the last one is over
        keep = chosen is not None and (chosen[1] is None or any(same_file(r.path, chosen[1]) for r in candidates))
        default = chosen[1] if keep else next((r.path for r in candidates if not self._is_shown(r.path)), None)
        self.reference_picker.set_runs(candidates, default, this_run=self.path, keep_choice=keep)

    def _is_shown(self, path: Path) -> bool:
        return self.path is not None and same_file(path, self.path)

    def _reference_state(self) -> tuple[Path | None, bool]:
        """What the DEE depends on in the picker: the chosen run and whether there is another to choose."""
        others = any(not self._is_shown(r.path) for r in self.reference_picker.candidates)
        return self.reference_picker.current_path(), others

    def _listing_changed(self) -> None:
        before = self._reference_state()
        self._fill_references()
        if self.has_results() and self._reference_state() != before:
            self.filler.request()

    def _reference_chosen(self, path: Path | None) -> None:
        if self.path is not None:
            self._chosen = (self.path, path)
        if self.has_results():
            self._redraw_reference()

    def _reference_read(self, path: Path) -> None:
        if self.has_results() and self._is_reference(path):
            self._redraw_reference()

    def _redraw_reference(self) -> None:
        """Only what the reference changes: the overlaid curve, the DEE column and the DEE plot."""
        self._reference_only = self._drawn is self.loaded
        self.filler.request()

    def _reference_failed(self, path: Path, message: str) -> None:
        if self._is_reference(path):
            # Kept with the file's stamp so that the same broken file is not read again and again.
            self._reference_failure = (path, file_stamp(path), message)
            if self.has_results():
                self._redraw_reference()

    def _is_reference(self, path: Path) -> bool:
        current = self.reference_picker.current_path()
        return current is not None and same_file(current, path)

    def _load_reference(self) -> tuple[RunData | None, str]:
        """The chosen reference run, or None and why: none chosen, none to choose, still being read, unreadable."""
        path = self.reference_picker.current_path()
        if path is None:
            if not self._reference_state()[1]:
                return None, ("No other finished deep ensemble in the workspace. Train one with the same data "
                              "and model to see how many of its members this run is worth.")
            return None, "Choose a finished deep ensemble as the DEE reference above."
        if self._is_shown(path):
            return self.run, ""
        failure = self._reference_failure
        if failure is not None and same_file(failure[0], path) and failure[1] == file_stamp(path):
            return None, f"The reference cannot be read: {failure[2]}"
        run = self.context.loader.get(path)
        if run is None:
            error = self.context.loader.error(path)
            return None, f"The reference cannot be read: {error}" if error else f"Reading the reference {path.name}…"
        return run, ""

    def _reference_curve(self) -> np.ndarray | None:
        if self.reference is None:
            return None
        data = self.reference.eval.get(self.split)
        if data is None:
            return None
        return data.curves.get(DEE_METRIC)

    def _reference_size(self) -> int:
        ref_curve = self._reference_curve()
        return 0 if ref_curve is None else int(ref_curve.shape[0])

    def _compute_dee(self, note: str) -> str:
        """DEE of this run's CNLL curve against the reference's on the selected split, with its band; the note
        says why there is none."""
        self.dee_values = self._dee_band = self.dee_limits = None
        if self.reference is None:
            return note
        data = self.eval_data()
        ref_curve = self._reference_curve()
        if data is None or DEE_METRIC not in data.curves:
            return "This run has no calibrated NLL curve to compare."
        if ref_curve is None:
            return f"The reference has no {metric_label(DEE_METRIC)} on the {self.split} split."
        mine = data.curves[DEE_METRIC][:, 0]
        try:
            values = dee_mod.dee_from_cnll(ref_curve[:, 0], mine)
            self.dee_limits = dee_mod.dee_cnll_limits(ref_curve[:, 0], mine)
            self._dee_band = dee_mod.dee_band(-ref_curve[:, 0], ref_curve[:, 1], -mine)
        except ValueError as exc:
            return f"DEE cannot be computed: {exc}"
        self.dee_values = values
        return ""

    # ------------------------------------------------------------ filling

    def _fill_all(self) -> Iterator[None]:
        """Curves and tables, then the calibration diagram, then the DEE: each painted in a turn of its own."""
        if not self.has_results():
            return
        dee_note = self._reread_reference()
        yield
        self._fill_curves()
        yield
        self._fill_curves_table()
        self._fill_members_table()
        self._fill_notes()
        yield
        self._fill_calibration()
        yield
        self._fill_dee_plot(dee_note)

    def _fill_reference(self) -> Iterator[None]:
        dee_note = self._reread_reference()
        self._fill_curves()
        self._fill_curves_table()
        yield
        self._fill_dee_plot(dee_note)

    def _reread_reference(self) -> str:
        """Take the chosen reference as the loader has it now and compute the DEE; returns why there is none."""
        self.reference, note = self._load_reference()
        return self._compute_dee(note)

    def _fill_notes(self) -> None:
        data = self.eval_data()
        notes = []
        if data is not None and data.temperature is not None:
            notes.append(f"temperature fitted on the validation ensemble of all members: τ = {data.temperature:.4g}")
        if data is not None and data.probs is not None:
            notes.append(f"{data.probs.shape[1]} objects, {data.probs.shape[2]} classes on the "
                         f"{dict(SPLITS).get(self.split, self.split)} split")
        if data is not None and data.partial:
            notes.insert(0, f"{len(data.partial)} partial row(s): the run was stopped in flight and its members "
                            f"evaluated as they stood; resume it from Runs or Monitor")
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
        if self.overlay_check.isChecked() and ref is not None and not self._is_shown(ref.path):
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
                    table.setItem(r, c, number_item(fmt_metric_mean_std(name, mean, std), (mean, std)))
            if has_dee and r < self.dee_values.shape[0]:
                value = float(self.dee_values[r])
                limit = int(self.dee_limits[r]) if self.dee_limits is not None else 0
                item = number_item(dee_mod.dee_text(value, limit, self._reference_size()), value)
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
            partial = data.partial.get(r)
            label = row_names[r] if partial is None else f"{row_names[r]} (partial: epoch {partial:.2f})"
            table.setItem(r, 0, text_item(label))
            for c, name in enumerate(names, start=1):
                values = data.member_metrics[name]
                if r < values.shape[0]:
                    value = float(values[r])
                    table.setItem(r, c, number_item(fmt_metric(name, value), value))

    def _calibration(self) -> SplitCalibration | None:
        prepared = self.loaded.get(PREPARED) if self.loaded is not None else None
        return prepared.get(self.split) if isinstance(prepared, dict) else None

    def _fill_calibration(self) -> None:
        prepared = self.loaded.get(PREPARED) if self.loaded is not None else None
        if isinstance(prepared, PrepareFailure):
            self.calibration_plot.clear_diagram(f"reliability diagram: {prepared.message}")
            return
        calibration = self._calibration()
        if calibration is None or calibration.diagram is None:
            self.calibration_plot.clear_diagram("reliability diagram: no stored predictions")
            return
        what = f"{dict(SPLITS)[self.split]}, k = {calibration.members}"
        self.calibration_plot.set_diagram(calibration.diagram, what)

    def _fill_dee_plot(self, note: str) -> None:
        if self.dee_values is None:
            self.dee_plot.show_message(note)
            return
        name = self.reference.summary.name if self.reference is not None else ""
        limits = {} if self.dee_limits is None else {DEE_SERIES: self.dee_limits}
        self.dee_plot.draw([(DEE_SERIES, self.dee_values, QColor(PALETTE[0]))], name, band=self._dee_band,
                           limits=limits)

    def _file_stem(self, what: str) -> str:
        name = self.path.stem if self.path is not None else "results"
        return f"{name}-{self.split}-{what}"


__all__ = ["DEE_METRIC", "DEE_SERIES", "PREPARED", "ResultsView", "SPLITS", "SplitCalibration", "no_results_message",
           "prepare_results", "split_calibration"]
