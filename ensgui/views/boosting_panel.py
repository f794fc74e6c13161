"""The Results "Boosting" tab: gap histograms per boosting round and metrics against the number of models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QSplitter, QTableWidget, QTabWidget,
                               QVBoxLayout, QWidget)

from ..storage import layout as L
from ..storage.opened_run import OpenedRun
from ..storage.reader import BoostingData, RunData
from .export import export_button, plot_export_actions, table_export_actions
from .margin_histogram_plot import Histogram, MarginHistogramPlot, histograms_of
from .message_stack import PlotOrMessage
from .metric_curves_plot import MetricCurvesPlot, metric_label, metric_short
from .panels import labeled_combo, number_item, results_table, text_item
from .result_panels import register_result_panel
from .run_document import LoadedRun, PrepareFailure
from .screens import AppContext
from ..text import fmt_metric
from .theme import HINT_STYLE, fmt

SPLITS: tuple[tuple[str, str], ...] = (("test", "test"), ("val", "validation"))
METRICS: tuple[str, ...] = ("error", "nll", "cnll")
VARIANT_LABELS = {"save_mean": "save mean: g = 2 mean(m) − m", "zero_mean": "zero mean: g = mean(m) − m"}
MARGINS_OF_LABELS = {"previous": "margins of the previous model", "ensemble": "margins of the running ensemble"}
GAP_AXIS = "per-object gap g_i"
ROUND_COLUMNS = ["model", "mean margin", "margin > 0", "mean gap", "std gap", "min gap", "max gap", "gap < 0"]


@dataclass(frozen=True)
class BoostingRounds:
    """The stored rounds and what the tab shows of them, computed in the worker that opens the run."""

    data: BoostingData
    gaps: list[Histogram]  # one per round, all over the same bins
    rounds: list[list[object]]  # a row of ROUND_COLUMNS per round


def round_label(model: int) -> str:
    return f"model {int(model) + 1}"


def prepare_boosting(opened: OpenedRun) -> BoostingRounds:
    """Every round's gap histogram and statistics (Qt-free)."""
    b = BoostingData.from_artefact(opened.artefacts[L.BOOSTING_ARTEFACT])
    # One set of bins for every round, so the overlaid histograms compare bin by bin.
    gaps = histograms_of("raw", [(round_label(m), g) for m, g in zip(b.models, b.gaps)])
    rounds = []
    for model, g, m in zip(b.models, b.gaps.astype(np.float64), b.margins.astype(np.float64)):
        rounds.append([round_label(model), float(m.mean()), float((m > 0).mean()), float(g.mean()), float(g.std()),
                       float(g.min()), float(g.max()), float((g < 0).mean())])
    return BoostingRounds(b, gaps, rounds)


def _fill_table(table: QTableWidget, header: list[str], rows: list[list[object]],
                metrics: list[str | None] | None = None) -> None:
    """Numbers are shown with 4 significant digits (a column named in metrics in that metric's unit: error in
    percent) and kept exactly under VALUE_ROLE for the CSV export."""
    table.clear()
    table.setColumnCount(len(header))
    table.setRowCount(len(rows))
    table.setHorizontalHeaderLabels(header)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            metric = metrics[c] if metrics is not None else None
            text = (fmt_metric(metric, value) if metric else fmt(value)) if isinstance(value, float) else str(value)
            table.setItem(r, c, number_item(text, value) if isinstance(value, (int, float)) else text_item(text))


@register_result_panel("boosting", "Boosting", order=20, prepare=prepare_boosting)
class BoostingPanel(QWidget):
    """show_run(loaded, prepared) shows one gap-boosting run: the gaps of every round over common bins, and the
    split's error / NLL / CNLL of the first k models (the run's eval curves, in training order)."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.run: RunData | None = None
        self.boosting: BoostingData | None = None
        self._build()

    def _build(self) -> None:
        box = self.content = QWidget(self)
        self.stack = PlotOrMessage(box, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        outer = QVBoxLayout(box)
        outer.setContentsMargins(0, 4, 0, 0)
        outer.setSpacing(4)
        controls = QHBoxLayout()
        self.split_combo = labeled_combo(controls, box, "Split:", SPLITS, lambda _: self._fill_metrics())
        controls.addSpacing(12)
        self.metric_combo = labeled_combo(controls, box, "Metric:", ((m, metric_label(m)) for m in METRICS),
                                          lambda _: self._fill_metrics())
        controls.addSpacing(12)
        self.about_label = QLabel("", box)
        self.about_label.setStyleSheet(HINT_STYLE)
        controls.addWidget(self.about_label, 1)
        outer.addLayout(controls)

        splitter = QSplitter(Qt.Orientation.Horizontal, box)
        self.gaps_plot = MarginHistogramPlot(splitter, title="gaps per round")
        self.metrics_plot = MetricCurvesPlot(splitter)
        self.metrics_plot.setMinimumHeight(150)  # fits results_view.PANEL_HEIGHT with its controls
        self.tables = QTabWidget(splitter)
        self.metrics_table = results_table(self.tables)
        self.rounds_table = results_table(self.tables)
        self.histogram_table = results_table(self.tables)
        self.tables.addTab(self.metrics_table, "Metrics vs models")
        self.tables.addTab(self.rounds_table, "Rounds")
        self.tables.addTab(self.histogram_table, "Gap histogram")
        splitter.addWidget(self.gaps_plot)
        splitter.addWidget(self.metrics_plot)
        splitter.addWidget(self.tables)
        splitter.setSizes([440, 440, 360])
        outer.addWidget(splitter, 1)

        stem = self._file_stem
        self.gaps_actions = plot_export_actions(self.gaps_plot, lambda: stem("gaps"))
        self.metrics_actions = plot_export_actions(self.metrics_plot, lambda: stem(f"{self._metric()}-vs-models"))
        self.metrics_table_actions = table_export_actions(self.metrics_table, lambda: stem("metrics-vs-models"))
        self.rounds_table_actions = table_export_actions(self.rounds_table, lambda: stem("rounds"))
        self.histogram_table_actions = table_export_actions(self.histogram_table, lambda: stem("gap-histogram"))
        gap_actions = self.gaps_actions + self.histogram_table_actions + self.rounds_table_actions
        for text, actions in (("Export gaps", gap_actions),
                              ("Export metrics", self.metrics_actions + self.metrics_table_actions)):
            controls.addWidget(export_button(actions, self, text))

    # ------------------------------------------------------------ public API

    def show_run(self, loaded: LoadedRun, prepared: BoostingRounds | PrepareFailure | None) -> Iterator[None]:
        """Show a run and its stored boosting rounds, as prepare_boosting found them: a plot per turn."""
        if not isinstance(prepared, BoostingRounds):
            reason = prepared.message if isinstance(prepared, PrepareFailure) else "they were not read"
            self.stack.show_message(f"The boosting rounds cannot be shown: {reason}")
            return
        run, boosting = loaded.opened.run, prepared.data
        self.run, self.boosting = run, boosting
        self.stack.show_content()
        model = self.split_combo.model()
        for i in range(self.split_combo.count()):
            model.item(i).setEnabled(self.split_combo.itemData(i) in run.eval)
        if self._split() not in run.eval and run.eval:
            self.split_combo.setCurrentIndex(max(0, self.split_combo.findData(next(iter(run.eval)))))
        variant = VARIANT_LABELS.get(boosting.variant, boosting.variant)
        source = MARGINS_OF_LABELS.get(boosting.margins_of, boosting.margins_of)
        self.about_label.setText(f"{variant} · {source} · "
                                 f"{len(boosting.models)} round(s) on {boosting.gaps.shape[1]} training objects")
        self._fill_gaps(prepared)
        yield
        self._fill_metrics()

    def histograms(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """What the gap plot draws: round label -> (bin edges, counts), read back from the plot items."""
        out = {}
        for curve in self.gaps_plot.getPlotItem().listDataItems():
            x, y = curve.getData()
            out[curve.name()] = (np.asarray(x), np.asarray(y))
        return out

    def metric_curve(self) -> tuple[str, np.ndarray, np.ndarray]:
        """(metric, k, value) as the metric plot draws it."""
        names = self.metrics_plot.run_names()
        if not names:
            return self._metric(), np.zeros(0), np.zeros(0)
        k, mean, _ = self.metrics_plot.drawn(names[0])
        return self.metrics_plot.shown_metric, k, mean

    # ------------------------------------------------------------ filling

    def _split(self) -> str:
        return str(self.split_combo.currentData())

    def _metric(self) -> str:
        return str(self.metric_combo.currentData())

    def _fill_gaps(self, prepared: BoostingRounds) -> None:
        self.gaps_plot.set_histograms("raw", prepared.gaps, title="gaps per round (same bins)")
        self.gaps_plot.getPlotItem().setLabel("bottom", GAP_AXIS)
        header, rows = self.gaps_plot.csv_contents()
        _fill_table(self.histogram_table, header, rows)
        _fill_table(self.rounds_table, ROUND_COLUMNS, prepared.rounds)

    def _fill_metrics(self) -> None:
        if self.run is None:
            return
        data = self.run.eval.get(self._split())
        metric = self._metric()
        if data is None or metric not in data.curves:
            self.metrics_plot.show_message("no stored metrics for this split")
            _fill_table(self.metrics_table, [], [])
            return
        self.metrics_plot.set_curves(metric, {self.run.summary.name: data.curves[metric]})
        item = self.metrics_plot.getPlotItem()
        item.setLabel("bottom", "number of models k (the first k, in training order)")
        item.setTitle(f"{metric_label(metric)} vs number of models")
        # The full name is in the title; the short one fits the axis of this lower, narrower plot.
        item.setLabel("left", metric_short(metric))
        names = [n for n in METRICS if n in data.curves]
        k_max = max(data.curves[n].shape[0] for n in names)
        rows = [[k] + [float(data.curves[n][k - 1, 0]) for n in names] for k in range(1, k_max + 1)]
        _fill_table(self.metrics_table, ["models k"] + [metric_short(n) for n in names], rows, [None, *names])

    def _file_stem(self, what: str) -> str:
        name = self.run.path.stem if self.run is not None else "boosting"
        return f"{name}-{what}" if what.startswith("gap") or what == "rounds" else f"{name}-{self._split()}-{what}"


__all__ = ["BoostingPanel", "BoostingRounds", "prepare_boosting"]
