"""Results' Margins tab: a run's final margin histograms by split, kind and row, overlaid with other runs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSplitter, QVBoxLayout,
                               QWidget)

from ..storage.opened_run import FileStamp, OpenedRun, file_stamp
from ..storage.reader import MarginsData, RunSummary, read_margins
from ..storage.workspace import same_file
from .export import csv_export_action, export_button, plot_export_actions
from .margin_histogram_plot import KINDS, Histogram, MarginHistogramPlot, histograms_of, margin_bin_edges
from .message_stack import PlotOrMessage
from .result_panels import register_result_panel
from .run_document import LoadedRun, PrepareFailure
from .screens import AppContext
from .theme import HINT_STYLE, PALETTE, member_color
from .worker_queue import WorkerQueue

MARGIN_SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))
ALL = -1  # the row combo's "all rows" entry
PATH_ROLE = Qt.ItemDataRole.UserRole
NAME_ROLE = Qt.ItemDataRole.UserRole + 1  # the run's name, for the legend
NO_OTHERS = "no other finished run in the workspace"
NO_MARGINS = ("stores no margins: it was written by an ensgui from before margins were stored, or it ended before "
              "any ensemble row was evaluated")

# The run's own histograms by (split, kind, row): row ALL holds every row over common edges.
OwnHistograms = dict[tuple[str, str, int], list[Histogram]]


def row_name(row_names: list[str], k: int) -> str:
    return row_names[k] if k < len(row_names) else f"row {k}"


def prepare_margins(opened: OpenedRun) -> OwnHistograms:
    """Every histogram the panel shows of the run alone, counted in the worker that opens the run."""
    names = opened.run.row_names
    out: OwnHistograms = {}
    for split, margins in opened.margins.items():
        for kind, _ in KINDS:
            values = getattr(margins, kind)
            series = [(row_name(names, k), values[k]) for k in range(values.shape[0])]
            out[(split, kind, ALL)] = histograms_of(kind, series)
            for k, one in enumerate(series):
                out[(split, kind, k)] = histograms_of(kind, [one])
    return out


def _without_margins(item: QListWidgetItem) -> None:
    """A listed run found to store no margins: greyed out, and its tooltip says why."""
    item.setText(f"{item.text()} · no margins")
    item.setToolTip(f"{item.data(NAME_ROLE)} {NO_MARGINS}\n{item.toolTip()}")
    item.setFlags(Qt.ItemFlag.NoItemFlags)


@register_result_panel("margins", "Margins", order=10, prepare=prepare_margins)
class RunMarginsPanel(QWidget):
    """show_run(loaded, prepared) draws the run's stored margins (/analysis/margins).

    Alone, the run's rows are overlaid ("all rows") or one row is drawn. With other runs checked in
    the list, each run is one histogram named after it: the chosen row, or all its rows pooled. The
    margins of a checked run are read in a worker and drawn when they arrive.
    """

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.path: Path | None = None
        self.name = ""
        self.margins: dict[str, MarginsData] = {}
        self.row_names: list[str] = []
        self._own: OwnHistograms = {}
        self._others: dict[Path, tuple[FileStamp | None, dict[str, MarginsData]]] = {}
        self._filling = False
        self._queue = WorkerQueue("ensgui-overlay-margins", self, self._others_read, self._others_failed)
        self._build()
        context.index.changed.connect(self._fill_run_list)

    def _build(self) -> None:
        self.split_combo = QComboBox(self)
        self.kind_combo = QComboBox(self)
        for key, text in KINDS:
            self.kind_combo.addItem(text, key)
        self.row_combo = QComboBox(self)
        self.row_combo.setMinimumContentsLength(18)
        self.plot = MarginHistogramPlot(self, "margins")
        self.export_actions = [*plot_export_actions(self.plot, self._file_stem),
                               csv_export_action(self, self.plot.csv_contents, self._file_stem)]
        self.run_list = QListWidget(self)
        self.run_list.setToolTip("Check runs of the workspace to overlay their margin histograms on this run's")
        self.note_label = QLabel("", self)
        self.note_label.setStyleSheet(HINT_STYLE)
        self.note_label.setWordWrap(True)
        for combo in (self.split_combo, self.kind_combo, self.row_combo):
            combo.currentIndexChanged.connect(self._changed)
        self.run_list.itemChanged.connect(self._run_checked)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for text, combo in (("Split:", self.split_combo), ("Margin:", self.kind_combo), ("Row:", self.row_combo)):
            controls.addWidget(QLabel(text, self))
            controls.addWidget(combo)
            controls.addSpacing(10)
        controls.addStretch(1)
        controls.addWidget(export_button(self.export_actions, self))

        overlay = QWidget(self)
        overlay_layout = QVBoxLayout(overlay)
        overlay_layout.setContentsMargins(0, 0, 0, 0)
        overlay_layout.addWidget(QLabel("Overlay finished runs:", overlay))
        overlay_layout.addWidget(self.run_list, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.plot)
        splitter.addWidget(overlay)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([800, 240])

        self.content = QWidget(self)
        content = QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        content.addLayout(controls)
        content.addWidget(splitter, 1)
        content.addWidget(self.note_label)
        self.stack = PlotOrMessage(self.content, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    # ------------------------------------------------------------ public API

    def show_run(self, loaded: LoadedRun, prepared: OwnHistograms | PrepareFailure | None) -> None:
        """Show the run's margins, counted beforehand by prepare_margins, and list the workspace's other runs."""
        opened = loaded.opened
        self.path = opened.path
        self.name = opened.run.summary.name
        self.row_names = list(opened.run.row_names)
        self.margins = opened.margins
        self._own = prepared if isinstance(prepared, dict) else {}
        self._others.clear()
        self.note_label.setText("")
        self._filling = True
        try:
            self._fill_combos()
            self.run_list.clear()
        finally:
            self._filling = False
        self._fill_run_list()
        if isinstance(prepared, PrepareFailure):
            self.stack.show_message(f"The margins cannot be shown: {prepared.message}")
            return
        self.stack.show_content()
        self.redraw()

    def has_margins(self) -> bool:
        return bool(self.margins)

    def select(self, split: str | None = None, kind: str | None = None, row: int | None = None) -> None:
        """Pick split, kind and row as the combos would (row ALL for every row)."""
        for combo, value in ((self.split_combo, split), (self.kind_combo, kind), (self.row_combo, row)):
            if value is None:
                continue
            index = combo.findData(value)
            if index < 0:
                raise ValueError(f"{value!r} is not offered here")
            combo.setCurrentIndex(index)

    def overlay_paths(self) -> list[Path]:
        """The runs checked for the overlay, in list order."""
        return [Path(self.run_list.item(i).data(PATH_ROLE)) for i in range(self.run_list.count())
                if self.run_list.item(i).checkState() == Qt.CheckState.Checked]

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait until the margins of every checked run have been read and drawn (tests)."""
        return self._queue.wait(timeout_ms)

    # ------------------------------------------------------------ filling

    def _fill_combos(self) -> None:
        previous = self.split_combo.currentData()
        self.split_combo.clear()
        for key, text in MARGIN_SPLITS:
            if key in self.margins:
                self.split_combo.addItem(text, key)
        index = self.split_combo.findData(previous if previous is not None else "test")
        self.split_combo.setCurrentIndex(index if index >= 0 else self.split_combo.findData("test"))
        rows = next(iter(self.margins.values())).raw.shape[0] if self.margins else 0
        self.row_combo.clear()
        self.row_combo.addItem("all rows", ALL)
        for k in range(rows):
            self.row_combo.addItem(row_name(self.row_names, k), k)

    def _fill_run_list(self) -> None:
        """The workspace's other finished runs (from its index, so that no file is opened here); checks are kept."""
        if self.path is None:
            return
        checked = set(self.overlay_paths())
        runs = [s for s in self.context.index.listing.summaries
                if s.status == "finished" and not same_file(s.path, self.path)]
        self._filling = True
        try:
            self.run_list.clear()
            for summary in runs:
                self.run_list.addItem(self._run_item(summary, summary.path in checked))
            if self.run_list.count() == 0:
                placeholder = QListWidgetItem(NO_OTHERS)
                placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
                self.run_list.addItem(placeholder)
        finally:
            self._filling = False
        if checked != set(self.overlay_paths()):
            self.redraw()

    def _run_item(self, summary: RunSummary, checked: bool) -> QListWidgetItem:
        item = QListWidgetItem(f"{summary.name} · {summary.method} · {summary.created[:16].replace('T', ' ')}")
        item.setData(PATH_ROLE, str(summary.path))
        item.setData(NAME_ROLE, summary.name)
        item.setToolTip(f"{summary.dataset} · {summary.model} · {summary.rows} rows\n{summary.path}")
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        if self._other(summary.path) == {}:
            _without_margins(item)
        return item

    def _changed(self, _index: int) -> None:
        if not self._filling:
            self.redraw()

    def _run_checked(self, item: QListWidgetItem) -> None:
        if self._filling or item.data(PATH_ROLE) is None:
            return
        path = Path(item.data(PATH_ROLE))
        if item.checkState() == Qt.CheckState.Checked and self._other(path) is None:
            self.note_label.setText(f"reading the margins of {item.data(NAME_ROLE)}…")
            self._queue.submit(path, lambda stop: (file_stamp(path), read_margins(path)))
            return
        self.redraw()

    def _other(self, path: Path) -> dict[str, MarginsData] | None:
        """The margins of another run, when read since its file last changed."""
        cached = self._others.get(path)
        return cached[1] if cached is not None and cached[0] == file_stamp(path) else None

    def _others_read(self, path: Path, value: tuple[FileStamp | None, dict[str, MarginsData]]) -> None:
        self._others[path] = value
        item = self._item_of(path)
        if item is not None and not value[1]:
            self._uncheck(item, f"{item.data(NAME_ROLE)} {NO_MARGINS}")
            return
        self.redraw()

    def _others_failed(self, path: Path, message: str) -> None:
        item = self._item_of(path)
        if item is not None:
            self._uncheck(item, message)

    def _item_of(self, path: Path) -> QListWidgetItem | None:
        for i in range(self.run_list.count()):
            item = self.run_list.item(i)
            if item.data(PATH_ROLE) is not None and Path(item.data(PATH_ROLE)) == path:
                return item
        return None

    def _uncheck(self, item: QListWidgetItem, note: str) -> None:
        self._filling = True
        item.setCheckState(Qt.CheckState.Unchecked)
        if self._other(Path(item.data(PATH_ROLE))) == {}:
            _without_margins(item)
        self._filling = False
        self.redraw()
        self.note_label.setText(note)

    # ------------------------------------------------------------ drawing

    def redraw(self) -> None:
        split = self.split_combo.currentData()
        if not self.margins or split not in self.margins:
            self.plot.clear_histograms()
            return
        kind, row = str(self.kind_combo.currentData()), int(self.row_combo.currentData())
        others = [(self._name_of(p), margins) for p in self.overlay_paths()
                  if (margins := self._other(p)) is not None]
        if not others:
            self._draw_alone(split, kind, row)
            return
        series, colors, notes = [], [], []
        for i, (name, margins) in enumerate([(self.name, self.margins), *others]):
            if split not in margins:
                notes.append(f"{name} has no {split} margins")
                continue
            values = getattr(margins[split], kind)
            if row != ALL and row >= values.shape[0]:
                notes.append(f"{name} has no row {row}")
                continue
            chosen = values.reshape(-1) if row == ALL else values[row]
            pooled = f" ({values.shape[0]} rows pooled)" if row == ALL and values.shape[0] > 1 else ""
            series.append((f"{name}{pooled}", chosen))
            colors.append(PALETTE[i % len(PALETTE)])
        what = "all rows pooled" if row == ALL else row_name(self.row_names, row)
        edges = margin_bin_edges(kind, [v for _, v in series])
        self.plot.set_margins(kind, series, edges=edges, colors=colors, title=self._title(split, what))
        self.note_label.setText(" · ".join(notes))

    def _draw_alone(self, split: str, kind: str, row: int) -> None:
        """The run's own rows, from the histograms prepare_margins counted."""
        rows = self.margins[split].raw.shape[0]
        histograms = self._own.get((split, kind, row), [])
        colors = [member_color(k, rows) for k in (range(rows) if row == ALL else [row])]
        objects = self.margins[split].raw.shape[1]
        self.plot.set_histograms(kind, histograms, colors, self._title(split, f"{self.name} · {objects} objects"))
        self.note_label.setText("")

    def _name_of(self, path: Path) -> str:
        item = self._item_of(path)
        return str(item.data(NAME_ROLE)) if item is not None else path.stem

    def _title(self, split: str, what: str) -> str:
        return f"{dict(MARGIN_SPLITS)[split]} margins · {what}"

    def _file_stem(self) -> str:
        name = self.path.stem if self.path is not None else "run"
        return f"{name}-{self.split_combo.currentData()}-{self.kind_combo.currentData()}-margins"


__all__ = ["ALL", "MARGIN_SPLITS", "NO_MARGINS", "RunMarginsPanel", "prepare_margins"]
