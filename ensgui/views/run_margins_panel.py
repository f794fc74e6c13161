"""Results' Margins tab: a run's final margin histograms by split, kind and row, overlaid with other runs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSplitter,
                               QStackedWidget, QVBoxLayout, QWidget)

from ..engine.errors import EnsguiError
from ..storage.reader import MarginsData, RunSummary, has_margins, read_margins
from ..storage.workspace import Workspace, same_file
from .export import csv_export_action, export_button, plot_export_actions
from .theme import PALETTE, member_color
from .margin_histogram_plot import KINDS, MarginHistogramPlot, margin_bin_edges

MARGIN_SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))
ALL = -1  # the row combo's "all rows" entry
NO_MARGINS = ("This run file stores no margins: it was written by an ensgui from before margins were stored, "
              "or it ended before any ensemble row was evaluated. Run its spec again to see its margin histograms.")
PATH_ROLE = Qt.ItemDataRole.UserRole
NAME_ROLE = Qt.ItemDataRole.UserRole + 1  # the run's name, for the legend


class RunMarginsPanel(QWidget):
    """show_run(path, summary, row_names) reads /analysis/margins of a run and draws it.

    Alone, the run's rows are overlaid ("all rows") or one row is drawn. With other runs checked in
    the list, each run is one histogram named after it: the chosen row, or all its rows pooled.
    """

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.path: Path | None = None
        self.name = ""
        self.margins: dict[str, MarginsData] = {}
        self.row_names: list[str] = []
        self._others: dict[Path, tuple[str, dict[str, MarginsData]]] = {}
        self._filling = False

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
        self.note_label.setStyleSheet("color: #555;")
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
        overlay_layout.addWidget(QLabel("Overlay runs with margins:", overlay))
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
        self.message_label = QLabel(NO_MARGINS, self)
        self.message_label.setWordWrap(True)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setStyleSheet("color: #555; font-size: 14px; padding: 24px;")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.content)
        self.stack.addWidget(self.message_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    # ------------------------------------------------------------ public API

    def show_run(self, path: Path | str, summary: RunSummary, row_names: list[str]) -> None:
        """Read the run's margins (a run without them shows NO_MARGINS) and list the workspace's others."""
        self.path = Path(path)
        self.name = summary.name
        try:
            self.margins = read_margins(self.path)
        except EnsguiError as exc:
            self.margins = {}
            self.message_label.setText(str(exc))
        else:
            self.message_label.setText(NO_MARGINS)
        self.row_names = list(row_names)
        self._others.clear()
        self._filling = True
        try:
            self._fill_combos()
            self._fill_run_list()
        finally:
            self._filling = False
        self.stack.setCurrentWidget(self.content if self.margins else self.message_label)
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
            self.row_combo.addItem(self._row_name(k), k)

    def _row_name(self, k: int) -> str:
        return self.row_names[k] if k < len(self.row_names) else f"row {k}"

    def _fill_run_list(self) -> None:
        self.run_list.clear()
        if not self.margins:
            return
        try:
            runs = self.workspace.runs()
        except EnsguiError:
            runs = []
        for summary in runs:
            if self.path is not None and same_file(summary.path, self.path):
                continue
            try:
                if not has_margins(summary.path):
                    continue
            except EnsguiError:
                continue
            item = QListWidgetItem(f"{summary.name} · {summary.method} · {summary.created[:16].replace('T', ' ')}")
            item.setData(PATH_ROLE, str(summary.path))
            item.setData(NAME_ROLE, summary.name)
            item.setToolTip(f"{summary.dataset} · {summary.model} · {summary.rows} rows\n{summary.path}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.run_list.addItem(item)
        if self.run_list.count() == 0:
            placeholder = QListWidgetItem("no other run of the workspace stores margins")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.run_list.addItem(placeholder)

    def _changed(self, _index: int) -> None:
        if not self._filling:
            self.redraw()

    def _run_checked(self, item: QListWidgetItem) -> None:
        if self._filling or item.data(PATH_ROLE) is None:
            return
        path = Path(item.data(PATH_ROLE))
        if item.checkState() == Qt.CheckState.Checked and path not in self._others:
            try:
                self._others[path] = (str(item.data(NAME_ROLE)), read_margins(path))
            except EnsguiError as exc:
                self._filling = True
                item.setCheckState(Qt.CheckState.Unchecked)
                self._filling = False
                self.note_label.setText(str(exc))
                return
        self.redraw()

    # ------------------------------------------------------------ drawing

    def redraw(self) -> None:
        split = self.split_combo.currentData()
        if not self.margins or split not in self.margins:
            self.plot.clear_histograms()
            return
        kind, row = str(self.kind_combo.currentData()), int(self.row_combo.currentData())
        others = [(self._others[p][0], self._others[p][1]) for p in self.overlay_paths() if p in self._others]
        notes: list[str] = []
        if not others:
            values = getattr(self.margins[split], kind)
            rows = range(values.shape[0]) if row == ALL else [row]
            series = [(self._row_name(k), values[k]) for k in rows]
            colors = [member_color(k, values.shape[0]) for k in rows]
            what = f"{self.name} · {values.shape[1]} objects"
        else:
            series, colors = [], []
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
            what = "all rows pooled" if row == ALL else self._row_name(row)
        edges = margin_bin_edges(kind, [v for _, v in series])
        title = f"{dict(MARGIN_SPLITS)[split]} margins · {what}"
        self.plot.set_margins(kind, series, edges=edges, colors=colors, title=title)
        self.note_label.setText(" · ".join(notes))

    def _file_stem(self) -> str:
        name = self.path.stem if self.path is not None else "run"
        return f"{name}-{self.split_combo.currentData()}-{self.kind_combo.currentData()}-margins"


__all__ = ["ALL", "MARGIN_SPLITS", "NO_MARGINS", "RunMarginsPanel"]
