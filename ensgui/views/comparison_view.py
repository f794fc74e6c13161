"""The Compare screen: several runs' metric curves overlaid, their DEE against a deep ensemble, a Pitfalls table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QListWidgetItem, QPushButton, QSplitter,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ..engine import comparison
from ..engine import dee as dee_mod
from ..engine.errors import RunFileError
from ..storage.opened_run import FileStamp, file_stamp
from ..storage.reader import RunData, RunSummary
from ..storage.workspace import same_file
from .dee_plot import DeePlot
from .export import export_button, plot_export_actions, save_text
from .message_stack import PlotOrMessage
from .metric_curves_plot import MetricCurvesPlot, metric_label, metric_short
from .panels import labeled_combo, number_item, results_table, select_data, text_item, titled_panel
from .reference_picker import ReferencePicker, references
from .screens import AppContext, FillWhenShown, register_screen
from .theme import ERROR_COLOR, HINT_STYLE, color
from .workspace_picker import picker_splitter, workspace_picker

SPLIT = "test"
COMPARED_METRICS: tuple[str, ...] = ("error", "nll", "cnll", "ece")
DEFAULT_METRIC = "cnll"
DEE_METRIC = "cnll"
TABLE_METRICS: tuple[str, ...] = ("error", "cnll")
# Statuses whose evaluation is final: a cancelled run keeps the members it finished and evaluated.
COMPARABLE_STATUSES = ("finished", "cancelled")
PATH_ROLE = Qt.ItemDataRole.UserRole + 2
SIZES_TIP = "Ensemble sizes to tabulate, e.g. 1, 5, 10, 100; empty for automatic"

# Table header groups, as in the Pitfalls tables: error in percent.
TABLE_GROUP_NAMES: dict[str, str] = {"error": "error (%)", "cnll": "CNLL"}


def parse_sizes(text: str) -> tuple[int, ...] | None:
    """Ensemble sizes typed as "1, 5, 10" (any separators); None for empty (automatic). ValueError if not sizes."""
    parts = text.replace(",", " ").replace(";", " ").split()
    if not parts:
        return None
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"sizes must be whole numbers such as 1, 5, 10; got {text!r}") from None
    if any(k < 1 for k in sizes):
        raise ValueError(f"sizes must be >= 1; got {text!r}")
    return tuple(sorted(set(sizes)))




@register_screen("compare", "Compare", order=60)
class ComparisonView(QWidget):
    """Compares runs of the workspace: tick them in the list (or set_runs(paths)) to overlay and tabulate them.

    The list comes from the workspace index; the ticked runs and the DEE reference are read by the shared run
    loader in its worker, and the screen redraws as each arrives.
    """

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.workspace = context.workspace
        # Not "metric": that would shadow QPaintDevice.metric, which Qt calls to size the widget.
        self.shown_metric = DEFAULT_METRIC
        self.summaries: list[RunSummary] = []
        self.runs: list[tuple[str, RunData]] = []  # (unique label, run) of the ticked runs, in tick order
        self.reference: RunData | None = None
        self.dee_values: dict[str, np.ndarray] = {}
        self.table: comparison.Table | None = None
        self.sizes: tuple[int, ...] | None = None  # None: comparison.default_sizes
        self.problems: list[str] = []
        self._checked: list[Path] = []
        self._comparable: list[RunSummary] | None = None  # the index's comparable runs, as last listed
        self._listed: set[Path] = set()  # their resolved paths
        self._asked: set[Path] = set()  # asked of the loader, not answered yet
        self._failures: dict[Path, tuple[FileStamp | None, str]] = {}  # why a file could not be read, as it was
        self._filling = False
        self._build()
        self._redraw = FillWhenShown(self, self._update)
        context.loader.ready.connect(self._run_ready)
        context.loader.failed.connect(self._run_failed)
        context.index.observe(self._listing_changed)

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        splitter = picker_splitter(self)

        picker = workspace_picker(splitter, "Runs to compare",
                                  "Finished and cancelled runs with a stored evaluation; tick the ones to compare",
                                  self.refresh)
        self.refresh_button, self.run_list, self.problems_label = (picker.refresh_button, picker.files,
                                                                   picker.problem_label)
        self.run_list.itemChanged.connect(self._item_changed)

        main = QWidget(splitter)
        right = QVBoxLayout(main)
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(6)
        controls = QHBoxLayout()
        self.metric_combo = labeled_combo(controls, main, "Metric:", ((m, metric_label(m)) for m in COMPARED_METRICS))
        self.metric_combo.setCurrentIndex(self.metric_combo.findData(DEFAULT_METRIC))
        self.metric_combo.currentIndexChanged.connect(self._metric_changed)
        controls.addSpacing(16)
        self.reference_picker = ReferencePicker(main)
        self.reference_picker.changed.connect(self._reference_changed)
        self.reference_combo = self.reference_picker.combo
        controls.addWidget(self.reference_picker)
        controls.addStretch(1)
        right.addLayout(controls)

        vertical = QSplitter(Qt.Orientation.Vertical, main)
        plots = QSplitter(Qt.Orientation.Horizontal, vertical)
        self.curves_plot = MetricCurvesPlot()
        self.curves_stack = PlotOrMessage(self.curves_plot, plots)
        self.curves_actions = plot_export_actions(self.curves_plot, lambda: f"compare-{self.shown_metric}")
        self.dee_plot = DeePlot(plots, "compare-dee")
        self.dee_actions = self.dee_plot.export_actions
        self.dee_plot.plot.setToolTip("Deep Ensemble Equivalent: how many members of the reference deep ensemble "
                                      "reach each run's calibrated NLL (test-time CV) at size k")
        plots.addWidget(titled_panel("Metric vs ensemble size (test)", self.curves_stack,
                                     export_button(self.curves_actions, plots), plots))
        plots.addWidget(titled_panel("Deep Ensemble Equivalent (test CNLL)", self.dee_plot,
                                     export_button(self.dee_actions, plots), plots))
        plots.setSizes([560, 440])

        vertical.addWidget(plots)
        vertical.addWidget(self._build_table(vertical))
        vertical.setSizes([480, 260])
        right.addWidget(vertical, 1)
        splitter.addWidget(picker.widget)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 1100])

    def _build_table(self, parent: QWidget) -> QWidget:
        box = QWidget(parent)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        row = QHBoxLayout()
        row.addWidget(QLabel("<b>Summary</b> (test; mean over member orders; best of each column in bold)", box))
        row.addStretch(1)
        row.addWidget(QLabel("Sizes:", box))
        self.sizes_edit = QLineEdit(box)
        self.sizes_edit.setPlaceholderText("auto (1, 5, 10, … and the largest)")
        self.sizes_edit.setToolTip(SIZES_TIP)
        self.sizes_edit.setMinimumWidth(220)
        self.sizes_edit.editingFinished.connect(self._sizes_edited)
        row.addWidget(self.sizes_edit)
        self.csv_button = QPushButton("Export CSV…", box)
        self.csv_button.clicked.connect(self.export_csv)
        self.latex_button = QPushButton("Export LaTeX…", box)
        self.latex_button.setToolTip("A booktabs tabular: error in %, calibrated NLL, best values in bold")
        self.latex_button.clicked.connect(self.export_latex)
        row.addWidget(self.csv_button)
        row.addWidget(self.latex_button)
        layout.addLayout(row)
        self.summary_table = results_table(box)
        layout.addWidget(self.summary_table, 1)
        self.note_label = QLabel("", box)
        self.note_label.setStyleSheet(HINT_STYLE)
        self.note_label.setWordWrap(True)
        layout.addWidget(self.note_label)
        return box

    # ------------------------------------------------------------ public API

    def refresh(self) -> None:
        """Rescan the workspace and try unreadable ticked runs again; ticks and choices are kept."""
        self._failures.clear()
        self.context.index.refresh()
        self._redraw.request()

    def set_runs(self, paths: list[Path | str]) -> None:
        """Compare exactly these run files, in this order; raises RunFileError for a path that is not a file.

        The files are read in the loader's worker; one that turns out unreadable is named below the table.
        """
        paths = [Path(p) for p in paths]
        for path in paths:
            if not path.is_file():
                raise RunFileError(f"{path} does not exist or is not a file")
        self._checked = paths
        self._fill_run_list()
        self._fill_reference_picker()
        self._redraw.request()

    def checked_paths(self) -> list[Path]:
        return list(self._checked)

    def list_paths(self) -> list[Path]:
        """The runs offered in the picker, in list order."""
        return [Path(self.run_list.item(i).data(PATH_ROLE)) for i in range(self.run_list.count())]

    def waiting(self) -> bool:
        """Whether a ticked run or the reference is still being read (tests)."""
        return bool(self._asked)

    def select_metric(self, name: str) -> None:
        select_data(self.metric_combo, name, f"unknown metric {name!r}; choose one of {list(COMPARED_METRICS)}")

    def select_reference(self, path: Path | str | None) -> None:
        """Choose the DEE reference by run file path (None for no reference)."""
        self.reference_picker.select(path)

    def reference_paths(self) -> list[Path | None]:
        return self.reference_picker.paths()

    def set_sizes(self, sizes: tuple[int, ...] | None) -> None:
        """Ensemble sizes of the summary table (None: automatic)."""
        self.sizes = None if sizes is None else tuple(sorted(set(int(k) for k in sizes)))
        self.sizes_edit.setText("" if self.sizes is None else ", ".join(str(k) for k in self.sizes))
        self._fill_table()

    def csv_text(self) -> str:
        return comparison.to_csv(self.table) if self.table is not None else ""

    def latex_text(self) -> str:
        return comparison.to_latex(self.table) if self.table is not None else ""

    def export_csv(self) -> Path | None:
        """Ask for a file name and write the summary table as CSV (comparison.to_csv)."""
        return save_text(self.csv_text(), self, "Export CSV", "comparison.csv", "CSV table (*.csv)", ".csv")

    def export_latex(self) -> Path | None:
        """Ask for a file name and write the summary table as a LaTeX tabular (comparison.to_latex)."""
        return save_text(self.latex_text(), self, "Export LaTeX", "comparison.tex", "LaTeX table (*.tex)", ".tex")

    def run_curves(self) -> list[tuple[str, dict[str, np.ndarray]]]:
        """(label, test curves) of every compared run, in table order."""
        return [(label, run.eval[SPLIT].curves) for label, run in self.runs]

    def dee_curve(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        """(k, DEE) as drawn for one run."""
        return self.dee_plot.curve(label)

    # ------------------------------------------------------------ reading runs (in the loader's worker)

    def _fetch(self, path: Path) -> RunData | None:
        """The run from the loader's cache, or None while it is read (or when it cannot be, see _failure)."""
        if path in self._asked:
            return None
        failure = self._failures.get(path)
        if failure is not None:
            if failure[0] == file_stamp(path):
                return None  # unchanged since it failed: not read again on every redraw
            del self._failures[path]
        run = self.context.loader.get(path)
        if run is None:
            error = self.context.loader.error(path)
            if error is None:
                self._asked.add(path)
            else:
                self._failures[path] = (file_stamp(path), error)
        return run

    def _failure(self, path: Path) -> str | None:
        failure = self._failures.get(path)
        return None if failure is None else failure[1]

    def _run_ready(self, path: Path) -> None:
        if path in self._asked:  # else another screen asked for it
            self._asked.discard(path)
            self._answered(path)

    def _run_failed(self, path: Path, message: str) -> None:
        if path in self._asked:
            self._asked.discard(path)
            self._failures[path] = (file_stamp(path), message)
            self._answered(path)

    def _answered(self, path: Path) -> None:
        if path in self._checked and self._outside(path):
            # Its list entry and, for a deep ensemble, its place among the references come from the file.
            self._fill_run_list()
            self._fill_reference_picker()
        self._redraw.request()

    def _outside(self, path: Path) -> bool:
        """Whether a ticked run is not among the workspace's comparable runs (another folder, say)."""
        return path.resolve() not in self._listed

    # ------------------------------------------------------------ picker and selectors

    def _listing_changed(self) -> None:
        listing = self.context.index.listing
        listed = [s for s in listing.summaries if s.status in COMPARABLE_STATUSES and s.headline]
        if listed == self._comparable and listing.problems == self.problems:
            return  # a rescan (a run elsewhere is training) that changed nothing here: keep the list as it is
        self._comparable = listed
        self.problems = list(listing.problems)
        self._listed = {s.path.resolve() for s in listed}
        self._fill_run_list()
        self._fill_reference_picker()
        self._redraw.request()

    def _fill_run_list(self) -> None:
        self.summaries = list(self._comparable or [])
        pending: list[Path] = []
        # A run ticked through set_runs stays listed even when it lives outside the workspace folder.
        for path in (p for p in self._checked if self._outside(p)):
            run = self._fetch(path)
            if run is not None:
                self.summaries.append(run.summary)
            else:
                pending.append(path)
        self._filling = True
        try:
            self.run_list.clear()
            checked = {p.resolve() for p in self._checked}
            for s in self.summaries:
                when = s.created[:16].replace("T", " ")
                headline = ", ".join(f"{metric_short(k)} {v:.4g}" for k, v in s.headline.items())
                self._add_item(s.path, f"{s.name}\n{s.method} · {s.rows} rows · {when}",
                               f"{s.dataset} · {s.model} · {s.status}\n{headline}\n{s.path}",
                               s.path.resolve() in checked)
            for path in pending:
                self._add_item(path, f"{path.name}\n{'cannot be read' if self._failure(path) else 'reading…'}",
                               self._failure(path) or str(path), True)
        finally:
            self._filling = False
        if self.problems:
            shown = self.problems[:3] + ([f"… and {len(self.problems) - 3} more"] if len(self.problems) > 3 else [])
            self.problems_label.setText("Unreadable: " + "\n".join(shown))
        else:
            self.problems_label.setText("" if self.summaries or pending else
                                        "No finished run with an evaluation in the workspace yet.")

    def _add_item(self, path: Path, text: str, tip: str, checked: bool) -> None:
        item = QListWidgetItem(text)
        item.setData(PATH_ROLE, str(path))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        item.setToolTip(tip)
        self.run_list.addItem(item)

    def _item_changed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        path = Path(item.data(PATH_ROLE))
        others = [p for p in self._checked if not same_file(p, path)]
        # Ticked runs go to the end, so the overlays and table rows follow the order of ticking.
        self._checked = others + [path] if item.checkState() == Qt.CheckState.Checked else others
        self._fill_reference_picker()
        self._redraw.request()

    def _fill_reference_picker(self) -> None:
        refs = references(self.summaries)
        self.reference_picker.set_runs(refs, self._default_reference(refs))

    def _default_reference(self, refs: list[RunSummary]) -> Path | None:
        """A ticked deep ensemble first (the table then reads as DEE of the rest against it), else the newest."""
        for path in self._checked:
            if any(same_file(r.path, path) for r in refs):
                return path
        return refs[0].path if refs else None

    def _metric_changed(self, index: int) -> None:
        name = self.metric_combo.itemData(index)
        if name is None:
            return
        self.shown_metric = name
        self._fill_curves()

    def _reference_changed(self, _path: Path | None) -> None:
        self._load_reference()
        self._fill_dee()

    def _sizes_edited(self) -> None:
        try:
            sizes = parse_sizes(self.sizes_edit.text())
        except ValueError as exc:
            self.sizes_edit.setStyleSheet(f"border: 1px solid {ERROR_COLOR};")
            self.sizes_edit.setToolTip(str(exc))
            return
        self.sizes_edit.setStyleSheet("")
        self.sizes_edit.setToolTip(SIZES_TIP)
        if sizes != self.sizes:
            self.sizes = sizes
            self._fill_table()

    # ------------------------------------------------------------ data

    def _load_runs(self) -> list[str]:
        """The ticked runs the loader holds; returns one line per run that is not (yet) compared."""
        runs: list[tuple[str, RunData]] = []
        notes: list[str] = []
        used: set[str] = set()
        for path in self._checked:
            run = self._fetch(path)
            if run is None:
                notes.append(self._failure(path) or f"{path.name}: reading…")
                continue
            if SPLIT not in run.eval or not run.eval[SPLIT].curves:
                notes.append(f"{run.summary.name}: no test evaluation stored")
                continue
            label = unique_label(run.summary, used)
            used.add(label)
            runs.append((label, run))
        self.runs = runs
        return notes

    def _load_reference(self) -> None:
        path = self.reference_picker.current_path()
        self.reference = None if path is None else self._fetch(path)

    # ------------------------------------------------------------ filling

    def _update(self) -> None:
        notes = self._load_runs()
        self._load_reference()
        self._fill_curves()
        self._fill_dee()
        self._fill_table()
        self.note_label.setText("\n".join(notes))

    def _no_runs_note(self, tick: str) -> str:
        """Why no run is compared: they are being read, none of them can be, or none is ticked."""
        if any(p in self._asked for p in self._checked):
            return "Reading the ticked runs…"
        return "No ticked run can be compared: the note below the table says why." if self._checked else tick

    def _fill_curves(self) -> None:
        curves = {label: c[self.shown_metric] for label, c in self.run_curves() if self.shown_metric in c}
        for action in self.curves_actions:
            action.setEnabled(bool(curves))
        if not curves:
            self.curves_plot.clear_curves()
            self.curves_stack.show_message(
                f"No compared run stores {metric_label(self.shown_metric)}." if self.runs else
                self._no_runs_note("Tick runs on the left to compare them."))
            return
        self.curves_stack.show_content()
        self.curves_plot.set_curves(self.shown_metric, curves)
        # Keep the legend for a single run too: here the run names are not in a header.
        self.curves_plot.legend.setVisible(True)

    def _reference_curves(self) -> dict[str, np.ndarray] | None:
        if self.reference is None or SPLIT not in self.reference.eval:
            return None
        return self.reference.eval[SPLIT].curves

    def _dee_note(self) -> str:
        """Why there is no DEE to draw, or "" when there may be."""
        path = self.reference_picker.current_path()
        ref = self._reference_curves()
        if not self.runs:
            return self._no_runs_note("Tick runs on the left to see their Deep Ensemble Equivalent.")
        if path is not None and self.reference is None:
            failure = self._failure(path)
            return f"The DEE reference cannot be read: {failure}" if failure else "Reading the DEE reference…"
        if self.reference is None:
            return ("Choose a finished deep ensemble as the DEE reference above." if self.reference_picker.candidates
                    else "No finished deep ensemble in the workspace. Train one with the same data and model to see "
                         "how many of its members each run is worth.")
        if ref is None or DEE_METRIC not in ref:
            return f"The reference has no {metric_label(DEE_METRIC)} on the test split."
        return ""

    def _fill_dee(self) -> None:
        self.dee_values = {}
        note = self._dee_note()
        if not note:
            try:
                self.dee_values = comparison.dee_of_runs(self.run_curves(), self._reference_curves(), DEE_METRIC)
            except ValueError as exc:
                note = f"DEE cannot be computed: {exc}"
        if not self.dee_values:
            self.dee_plot.show_message(note or "No compared run has a calibrated NLL curve.")
            return
        labels = [label for label, _ in self.runs]
        # The colour of the same run in the curves plot, which numbers runs in the same order.
        ref = np.asarray(self._reference_curves()[DEE_METRIC], dtype=np.float64)[:, 0]
        curves = dict(self.run_curves())
        limits = {label: dee_mod.dee_cnll_limits(ref, np.asarray(curves[label][DEE_METRIC])[:, 0])
                  for label in self.dee_values}
        self.dee_plot.draw([(label, values, color(labels.index(label))) for label, values in self.dee_values.items()],
                           self.reference.summary.name, limits=limits)

    def _fill_table(self) -> None:
        table = self.summary_table
        table.clear()
        self.table = comparison.summary_table(self.run_curves(), sizes=self.sizes, metrics=TABLE_METRICS) \
            if self.runs else None
        has_rows = self.table is not None and bool(self.table.rows)
        self.csv_button.setEnabled(has_rows)
        self.latex_button.setEnabled(has_rows)
        if not has_rows:
            table.setRowCount(0)
            table.setColumnCount(0)
            return
        t = self.table
        headers = ["run"] + [f"{TABLE_GROUP_NAMES.get(m, metric_short(m))}\nk = {k}" for m, k in t.columns]
        table.setColumnCount(len(headers))
        table.setRowCount(len(t.rows))
        table.setHorizontalHeaderLabels(headers)
        for c, (m, k) in enumerate(t.columns, start=1):
            table.horizontalHeaderItem(c).setToolTip(f"{metric_label(m)} of the ensemble of {k} members "
                                                     f"(mean ± std over member orders)")
        bold = [set(t.best_rows(j, comparison.latex_decimals(m))) for j, (m, _) in enumerate(t.columns)]
        for r, label in enumerate(t.labels):
            table.setItem(r, 0, text_item(label))
            for j, (m, k) in enumerate(t.columns):
                item = table_cell(m, k, t.rows[r][j], t.stds[r][j], label)
                if r in bold[j]:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(r, j + 1, item)


def unique_label(summary: RunSummary, used: set[str]) -> str:
    """A run's name, told apart from the labels already used: they key the plots and the table."""
    label = summary.name
    if label in used:
        label = f"{label} · {summary.created[:16].replace('T', ' ')}"
    n = 2
    base = label
    while label in used:
        label = f"{base} ({n})"
        n += 1
    return label


def table_cell(metric: str, k: int, value: float, std: float, label: str) -> QTableWidgetItem:
    """A summary-table cell: the value as the Pitfalls tables print it, mean ± std in its tooltip."""
    text = comparison.format_value(metric, value)
    item = number_item("–" if text == "--" else text, value)
    if math.isfinite(value):
        scale = 100.0 if metric in comparison.PERCENT_METRICS else 1.0
        item.setToolTip(f"{value * scale:.6g} ± {std * scale:.3g}")
    else:
        item.setToolTip(f"{label} has fewer than {k} members")
    return item


__all__ = ["COMPARED_METRICS", "ComparisonView", "parse_sizes"]
