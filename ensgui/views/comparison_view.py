"""The Compare screen: several runs' metric curves overlaid, their DEE against a deep ensemble, a Pitfalls table."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QShowEvent
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QListWidgetItem, QMessageBox, QPushButton, QSplitter, QStackedWidget,
                               QVBoxLayout, QWidget)

from ..engine import comparison
from ..engine.errors import EnsguiError
from ..storage.reader import RunData, RunSummary, read_run, read_summary
from ..storage.workspace import Workspace, same_file
from .export import export_button, plot_export_actions
from .metric_curves_plot import MetricCurvesPlot, metric_label, metric_short
from .theme import PALETTE
from .panels import number_item, results_table, text_item, titled_panel
from .workspace_picker import workspace_picker

SPLIT = "test"
COMPARED_METRICS: tuple[str, ...] = ("error", "nll", "cnll", "ece")
DEFAULT_METRIC = "cnll"
REFERENCE_METHOD = "deep_ensemble"
DEE_METRIC = "cnll"
TABLE_METRICS: tuple[str, ...] = ("error", "cnll")
# Statuses whose evaluation is final: a cancelled run keeps the members it finished and evaluated.
COMPARABLE_STATUSES = ("finished", "cancelled")
PATH_ROLE = Qt.ItemDataRole.UserRole + 2

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


class ComparisonView(QWidget):
    """Compares runs of the workspace: tick them in the list (or set_runs(paths)) to overlay and tabulate them."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
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
        self._cache: dict[Path, tuple[float, RunData]] = {}
        self._filling = False
        self._build()
        self.refresh()

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(splitter)

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
        controls.addWidget(QLabel("Metric:", main))
        self.metric_combo = QComboBox(main)
        for name in COMPARED_METRICS:
            self.metric_combo.addItem(metric_label(name), name)
        self.metric_combo.setCurrentIndex(self.metric_combo.findData(DEFAULT_METRIC))
        self.metric_combo.currentIndexChanged.connect(self._metric_changed)
        controls.addWidget(self.metric_combo)
        controls.addSpacing(16)
        controls.addWidget(QLabel("DEE reference (deep ensemble):", main))
        self.reference_combo = QComboBox(main)
        self.reference_combo.setMinimumContentsLength(30)
        self.reference_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.reference_combo.currentIndexChanged.connect(self._reference_changed)
        controls.addWidget(self.reference_combo)
        controls.addStretch(1)
        right.addLayout(controls)

        vertical = QSplitter(Qt.Orientation.Vertical, main)
        plots = QSplitter(Qt.Orientation.Horizontal, vertical)
        self.curves_plot = MetricCurvesPlot(plots)
        self.curves_actions = plot_export_actions(self.curves_plot, lambda: f"compare-{self.shown_metric}")
        self.dee_stack = QStackedWidget(plots)
        self.dee_plot = pg.PlotWidget(self.dee_stack)
        self.dee_plot.setMinimumHeight(220)
        self.dee_message = QLabel("", self.dee_stack)
        self.dee_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.dee_message.setWordWrap(True)
        self.dee_message.setStyleSheet("color: #555; padding: 16px; background: white;")
        self.dee_stack.addWidget(self.dee_plot)
        self.dee_stack.addWidget(self.dee_message)
        self.dee_actions = plot_export_actions(self.dee_plot, "compare-dee")
        dee_item = self.dee_plot.getPlotItem()
        dee_item.setLabel("bottom", "ensemble size k")
        dee_item.setLabel("left", "DEE (equivalent deep-ensemble size)")
        dee_item.getAxis("left").enableAutoSIPrefix(False)
        dee_item.showGrid(x=True, y=True, alpha=0.25)
        self.dee_legend = dee_item.addLegend(offset=(10, 10))
        self.dee_plot.setToolTip("Deep Ensemble Equivalent: how many members of the reference deep ensemble reach "
                                 "each run's calibrated NLL (test-time CV) at size k")
        plots.addWidget(titled_panel("Metric vs ensemble size (test)", self.curves_plot,
                                     export_button(self.curves_actions, plots), plots))
        plots.addWidget(titled_panel("Deep Ensemble Equivalent (test CNLL)", self.dee_stack,
                                     export_button(self.dee_actions, plots), plots))
        plots.setSizes([560, 440])

        table_box = QWidget(vertical)
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(2)
        row = QHBoxLayout()
        row.addWidget(QLabel("<b>Summary</b> (test; mean over member orders; best of each column in bold)",
                             table_box))
        row.addStretch(1)
        row.addWidget(QLabel("Sizes:", table_box))
        self.sizes_edit = QLineEdit(table_box)
        self.sizes_edit.setPlaceholderText("auto (1, 5, 10, … and the largest)")
        self.sizes_edit.setToolTip("Ensemble sizes to tabulate, e.g. 1, 5, 10, 100; empty for automatic")
        self.sizes_edit.setMinimumWidth(220)
        self.sizes_edit.editingFinished.connect(self._sizes_edited)
        row.addWidget(self.sizes_edit)
        self.csv_button = QPushButton("Export CSV…", table_box)
        self.csv_button.clicked.connect(self.export_csv)
        self.latex_button = QPushButton("Export LaTeX…", table_box)
        self.latex_button.setToolTip("A booktabs tabular: error in %, calibrated NLL, best values in bold")
        self.latex_button.clicked.connect(self.export_latex)
        row.addWidget(self.csv_button)
        row.addWidget(self.latex_button)
        table_layout.addLayout(row)
        self.summary_table = results_table(table_box)
        table_layout.addWidget(self.summary_table, 1)
        self.note_label = QLabel("", table_box)
        self.note_label.setStyleSheet("color: #555;")
        self.note_label.setWordWrap(True)
        table_layout.addWidget(self.note_label)

        vertical.addWidget(plots)
        vertical.addWidget(table_box)
        vertical.setSizes([480, 260])
        right.addWidget(vertical, 1)
        splitter.addWidget(picker.widget)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 1100])

    # ------------------------------------------------------------ public API

    def refresh(self) -> None:
        """Reread the workspace's comparable runs and deep-ensemble references; ticks and choices are kept."""
        try:
            summaries = self.workspace.runs()
            self.problems = list(self.workspace.problems)
        except EnsguiError as exc:
            summaries, self.problems = [], [str(exc)]
        self.summaries = [s for s in summaries if s.status in COMPARABLE_STATUSES and s.headline]
        # A run ticked through set_runs stays listed even when it lives outside the workspace folder.
        listed = {s.path.resolve() for s in self.summaries}
        for path in self._checked:
            if path.resolve() not in listed:
                try:
                    self.summaries.append(read_summary(path))
                except EnsguiError as exc:
                    self.problems.append(str(exc))
        self._fill_run_list()
        self._fill_reference_combo()
        self._update()

    def set_runs(self, paths: list[Path | str]) -> None:
        """Compare exactly these run files, in this order (raises EnsguiError when one cannot be read)."""
        paths = [Path(p) for p in paths]
        for path in paths:
            read_summary(path)  # a clear RunFileError now, rather than a silently missing run
        self._checked = paths
        self.refresh()

    def checked_paths(self) -> list[Path]:
        return list(self._checked)

    def list_paths(self) -> list[Path]:
        """The runs offered in the picker, in list order."""
        return [Path(self.run_list.item(i).data(PATH_ROLE)) for i in range(self.run_list.count())]

    def select_metric(self, name: str) -> None:
        index = self.metric_combo.findData(name)
        if index < 0:
            raise ValueError(f"unknown metric {name!r}; choose one of {list(COMPARED_METRICS)}")
        self.metric_combo.setCurrentIndex(index)

    def select_reference(self, path: Path | str | None) -> None:
        """Choose the DEE reference by run file path (None for no reference)."""
        index = self._reference_index(None if path is None else Path(path))
        if index < 0:
            raise ValueError(f"{path} is not a finished deep ensemble in the workspace")
        self.reference_combo.setCurrentIndex(index)

    def reference_paths(self) -> list[Path | None]:
        return [None if self.reference_combo.itemData(i) is None else Path(self.reference_combo.itemData(i))
                for i in range(self.reference_combo.count())]

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
        return self._save_text("Export CSV", "comparison.csv", "CSV table (*.csv)", ".csv", self.csv_text())

    def export_latex(self) -> Path | None:
        """Ask for a file name and write the summary table as a LaTeX tabular (comparison.to_latex)."""
        return self._save_text("Export LaTeX", "comparison.tex", "LaTeX table (*.tex)", ".tex", self.latex_text())

    # ------------------------------------------------------------ picker and selectors

    def _fill_run_list(self) -> None:
        self._filling = True
        try:
            self.run_list.clear()
            checked = {p.resolve() for p in self._checked}
            for s in self.summaries:
                when = s.created[:16].replace("T", " ")
                item = QListWidgetItem(f"{s.name}\n{s.method} · {s.rows} rows · {when}")
                item.setData(PATH_ROLE, str(s.path))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if s.path.resolve() in checked else Qt.CheckState.Unchecked)
                headline = ", ".join(f"{metric_short(k)} {v:.4g}" for k, v in s.headline.items())
                item.setToolTip(f"{s.dataset} · {s.model} · {s.status}\n{headline}\n{s.path}")
                self.run_list.addItem(item)
        finally:
            self._filling = False
        if self.problems:
            shown = self.problems[:3] + ([f"… and {len(self.problems) - 3} more"] if len(self.problems) > 3 else [])
            self.problems_label.setText("Unreadable: " + "\n".join(shown))
        else:
            self.problems_label.setText("" if self.summaries else
                                        "No finished run with an evaluation in the workspace yet.")

    def _item_changed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        path = Path(item.data(PATH_ROLE))
        others = [p for p in self._checked if not same_file(p, path)]
        # Ticked runs go to the end, so the overlays and table rows follow the order of ticking.
        self._checked = others + [path] if item.checkState() == Qt.CheckState.Checked else others
        self._fill_reference_combo()
        self._update()

    def _references(self) -> list[RunSummary]:
        return [s for s in self.summaries if s.method == REFERENCE_METHOD and s.status == "finished"]

    def _reference_index(self, path: Path | None) -> int:
        if path is None:
            return self.reference_combo.findData(None)
        for i in range(self.reference_combo.count()):
            data = self.reference_combo.itemData(i)
            if data is not None and same_file(Path(data), path):
                return i
        return -1

    def _fill_reference_combo(self) -> None:
        previous = self.reference_combo.currentData()
        refs = self._references()
        self._filling = True
        try:
            self.reference_combo.clear()
            self.reference_combo.addItem("none", None)
            for r in refs:
                self.reference_combo.addItem(f"{r.name} · {r.created[:16].replace('T', ' ')}", str(r.path))
                self.reference_combo.setItemData(self.reference_combo.count() - 1,
                                                 f"{r.dataset} · {r.model} · {r.rows} members\n{r.path}",
                                                 Qt.ItemDataRole.ToolTipRole)
            index = self._reference_index(Path(previous)) if previous is not None else -1
            if index < 0:
                index = self._default_reference_index(refs)
            self.reference_combo.setCurrentIndex(index)
        finally:
            self._filling = False

    def _default_reference_index(self, refs: list[RunSummary]) -> int:
        """A ticked deep ensemble first (the table then reads as DEE of the rest against it), else the newest."""
        for path in self._checked:
            index = self._reference_index(path)
            if index > 0:
                return index
        return 1 if refs else 0

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
        self._fill_dee()

    def _sizes_edited(self) -> None:
        try:
            sizes = parse_sizes(self.sizes_edit.text())
        except ValueError as exc:
            self.sizes_edit.setStyleSheet("border: 1px solid #c62828;")
            self.sizes_edit.setToolTip(str(exc))
            return
        self.sizes_edit.setStyleSheet("")
        self.sizes_edit.setToolTip("Ensemble sizes to tabulate, e.g. 1, 5, 10, 100; empty for automatic")
        if sizes != self.sizes:
            self.sizes = sizes
            self._fill_table()

    # ------------------------------------------------------------ data

    def _read(self, path: Path) -> RunData:
        mtime = path.stat().st_mtime
        cached = self._cache.get(path)
        if cached is None or cached[0] != mtime:
            cached = (mtime, read_run(path, with_probs=False))
            self._cache[path] = cached
        return cached[1]

    def _load_runs(self) -> list[str]:
        """Read the ticked runs (cached); returns one line per run that could not be compared."""
        runs: list[tuple[str, RunData]] = []
        notes: list[str] = []
        used: set[str] = set()
        for path in self._checked:
            try:
                run = self._read(path)
            except (EnsguiError, OSError) as exc:
                notes.append(str(exc))
                continue
            if SPLIT not in run.eval or not run.eval[SPLIT].curves:
                notes.append(f"{run.summary.name}: no test evaluation stored")
                continue
            # Labels key the plots and the table, so two runs of the same name need telling apart.
            label = run.summary.name
            if label in used:
                label = f"{label} · {run.summary.created[:16].replace('T', ' ')}"
            n = 2
            base = label
            while label in used:
                label = f"{base} ({n})"
                n += 1
            used.add(label)
            runs.append((label, run))
        self.runs = runs
        return notes

    def _load_reference(self) -> None:
        data = self.reference_combo.currentData()
        self.reference = None
        if data is None:
            return
        try:
            self.reference = self._read(Path(data))
        except (EnsguiError, OSError):
            self.reference = None

    def run_curves(self) -> list[tuple[str, dict[str, np.ndarray]]]:
        """(label, test curves) of every compared run, in table order."""
        return [(label, run.eval[SPLIT].curves) for label, run in self.runs]

    # ------------------------------------------------------------ filling

    def _update(self) -> None:
        notes = self._load_runs()
        self._load_reference()
        self._fill_curves()
        self._fill_dee()
        self._fill_table()
        self.note_label.setText("\n".join(notes))

    def _fill_curves(self) -> None:
        for action in self.curves_actions:
            action.setEnabled(bool(self.runs))
        if not self.runs:
            self.curves_plot.show_message("Tick runs on the left to compare them")
            return
        curves = {label: c[self.shown_metric] for label, c in self.run_curves() if self.shown_metric in c}
        if not curves:
            self.curves_plot.show_message(f"No compared run stores {metric_label(self.shown_metric)}")
            return
        self.curves_plot.set_curves(self.shown_metric, curves)
        # Keep the legend for a single run too: here the run names are not in a header.
        self.curves_plot.legend.setVisible(True)

    def _reference_curves(self) -> dict[str, np.ndarray] | None:
        if self.reference is None or SPLIT not in self.reference.eval:
            return None
        return self.reference.eval[SPLIT].curves

    def _fill_dee(self) -> None:
        item = self.dee_plot.getPlotItem()
        item.clear()
        self.dee_legend.clear()
        self.dee_values = {}
        ref = self._reference_curves()
        if not self.runs:
            note = "Tick runs on the left to see their Deep Ensemble Equivalent."
        elif self.reference is None:
            note = ("Choose a finished deep ensemble as the DEE reference above." if self._references() else
                    "No finished deep ensemble in the workspace. Train one with the same data and model to see "
                    "how many of its members each run is worth.")
        elif ref is None or DEE_METRIC not in ref:
            note = f"The reference has no {metric_label(DEE_METRIC)} on the test split."
        else:
            note = ""
            try:
                self.dee_values = comparison.dee_of_runs(self.run_curves(), ref, DEE_METRIC)
            except ValueError as exc:
                note = f"DEE cannot be computed: {exc}"
        for action in self.dee_actions:
            action.setEnabled(bool(self.dee_values))
        if not self.dee_values:
            self.dee_message.setText(note or "No compared run has a calibrated NLL curve.")
            self.dee_stack.setCurrentWidget(self.dee_message)
            return
        self.dee_stack.setCurrentWidget(self.dee_plot)
        k_max = max(v.shape[0] for v in self.dee_values.values())
        top = max([float(k_max)] + [float(np.nanmax(v)) for v in self.dee_values.values() if np.any(np.isfinite(v))])
        item.addItem(pg.PlotDataItem([1, top], [1, top], name="DEE = k",
                                     pen=pg.mkPen("#777777", width=1.2, style=Qt.PenStyle.DashLine)))
        labels = [label for label, _ in self.runs]
        for label, values in self.dee_values.items():
            # The colour of the same run in the curves plot, which numbers runs in the same order.
            color = QColor(PALETTE[labels.index(label) % len(PALETTE)])
            k = np.arange(1, values.shape[0] + 1, dtype=np.float64)
            item.addItem(pg.PlotDataItem(k, values, pen=pg.mkPen(color, width=2), symbol="o", symbolSize=7,
                                         symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen(color), name=label))
        item.setTitle(f"CNLL against {html.escape(self.reference.summary.name)}")
        item.setXRange(0.7, k_max + 0.3, padding=0)
        item.enableAutoRange(axis="y")
        item.getAxis("bottom").setTickSpacing(major=max(1, int(np.ceil(k_max / 12))), minor=1)

    def dee_curve(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        """(k, DEE) as drawn for one run."""
        for data in self.dee_plot.getPlotItem().listDataItems():
            if data.name() == label:
                x, y = data.getData()
                return np.asarray(x), np.asarray(y)
        raise KeyError(label)

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
                value, std = t.rows[r][j], t.stds[r][j]
                text = comparison.format_value(m, value)
                item = number_item("–" if text == "--" else text, value)
                if math.isfinite(value):
                    scale = 100.0 if m in comparison.PERCENT_METRICS else 1.0
                    item.setToolTip(f"{value * scale:.6g} ± {std * scale:.3g}")
                else:
                    item.setToolTip(f"{label} has fewer than {k} members")
                if r in bold[j]:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(r, j + 1, item)

    def _save_text(self, title: str, suggested: str, file_filter: str, suffix: str, text: str) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self, title, suggested, file_filter)
        if not name:
            return None
        path = Path(name)
        if not path.suffix:
            path = path.with_suffix(suffix)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            # A full disk or a read-only folder is a message, not a crash.
            QMessageBox.warning(self, "Export failed", f"cannot write {path}: {exc.strerror or exc}")
            return None
        return path

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        # Runs finish while another screen is shown; the list should include them when this one opens.
        self.refresh()
        super().showEvent(event)


__all__ = ["COMPARED_METRICS", "ComparisonView", "parse_sizes"]
