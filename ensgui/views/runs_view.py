"""The Runs screen: every run file of the workspace in a sortable table, kept up to date by the workspace index."""

from __future__ import annotations

import html
import math
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QUrl, Qt
from PySide6.QtGui import QAction, QDesktopServices, QFont
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ..storage.checkpoint import RESUMABLE, has_checkpoint
from ..storage.reader import RunSummary
from ..storage.workspace import UnreadableRun
from .export import VALUE_ROLE, export_button, table_export_actions
from .screens import AppContext, register_screen
from ..text import fmt_metric
from .theme import ERROR_STYLE, status_color

COLUMNS: tuple[str, ...] = ("name", "status", "method", "dataset", "model", "created", "members", "test error (%)",
                            "NLL", "CNLL", "ECE")
HEADLINE_COLUMNS: dict[str, str] = {"test error (%)": "error", "NLL": "nll", "CNLL": "cnll", "ECE": "ece"}
COLUMN_TIPS: dict[str, str] = {
    "test error (%)": "test error of the full ensemble, in percent",
    "NLL": "test NLL of the full ensemble",
    "CNLL": "test calibrated NLL (test-time CV) of the full ensemble",
    "ECE": "test ECE of the full ensemble",
}
PATH_ROLE = Qt.ItemDataRole.UserRole + 2
SORT_ROLE = Qt.ItemDataRole.UserRole + 3  # a number to sort by where the shown text would sort wrongly
MAX_PROBLEM_LINES = 5

class _SortItem(QTableWidgetItem):
    """A cell that sorts by its SORT_ROLE or VALUE_ROLE number (missing values last), else by its text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = _sort_value(self), _sort_value(other)
        if isinstance(a, (int, float)) or isinstance(b, (int, float)):
            return _number_key(a) < _number_key(b)
        return self.text().lower() < other.text().lower()


def _sort_value(item: QTableWidgetItem) -> object:
    value = item.data(SORT_ROLE)
    return item.data(VALUE_ROLE) if value is None else value


def _created_timestamp(created: str) -> float | None:
    # Sort on the instant: the text carries the writer's UTC offset, which may differ between runs.
    try:
        return datetime.fromisoformat(created).timestamp()
    except ValueError:
        return None


def _number_key(value: object) -> tuple[int, float]:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return 0, float(value)
    return 1, 0.0


@register_screen("runs", "Runs", order=80)
class RunsView(QWidget):
    """Lists the workspace; double click (or Open) opens a run, Compare the selected ones. An unreadable file has a
    row of its own (status "unreadable", why in its tooltip) and a line under the table."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.workspace = context.workspace
        self.summaries: list[RunSummary] = []
        self.unreadable: list[UnreadableRun] = []
        self.problems: list[str] = []
        self._build()
        context.index.observe(self._listing_changed)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        top = QHBoxLayout()
        self.folder_label = QLabel(self)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setText(f"Workspace: <b>{html.escape(str(self.workspace.folder))}</b>")
        top.addWidget(self.folder_label)
        self.show_folder_button = QPushButton("Show in folder", self)
        self.show_folder_button.clicked.connect(self.show_in_folder)
        top.addWidget(self.show_folder_button)
        top.addStretch(1)
        self.count_label = QLabel(self)
        top.addWidget(self.count_label)
        self.open_button = QPushButton("Open", self)
        self.open_button.setToolTip("Show the selected run's results (or double-click a row)")
        self.open_button.clicked.connect(self.open_selected)
        self.open_button.setEnabled(False)
        top.addWidget(self.open_button)
        self.compare_button = QPushButton("Compare", self)
        self.compare_button.setToolTip("Overlay the selected runs (Ctrl- or Shift-click rows) on the Compare screen")
        self.compare_button.clicked.connect(self.compare_selected)
        self.compare_button.setEnabled(False)
        top.addWidget(self.compare_button)
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.setToolTip("Continue the selected stopped run (cancelled, failed or killed) in its own "
                                      "file from its last checkpoint")
        self.resume_button.clicked.connect(self.resume_selected)
        self.resume_button.setEnabled(False)
        top.addWidget(self.resume_button)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.context.index.refresh)
        top.addWidget(self.refresh_button)
        layout.addLayout(top)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setSortingEnabled(True)
        for c, name in enumerate(COLUMNS):
            item = QTableWidgetItem(name)
            if name in COLUMN_TIPS:
                item.setToolTip(COLUMN_TIPS[name])
            self.table.setHorizontalHeaderItem(c, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.sortByColumn(COLUMNS.index("created"), Qt.SortOrder.DescendingOrder)
        self.table.itemDoubleClicked.connect(self._double_clicked)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        open_action = QAction("Open", self.table)
        open_action.triggered.connect(self.open_selected)
        self.table.addAction(open_action)
        self.export_actions = table_export_actions(self.table, "runs")
        top.insertWidget(top.count() - 2, export_button(self.export_actions, self))
        layout.addWidget(self.table, 1)

        self.problems_label = QLabel(self)
        self.problems_label.setWordWrap(True)
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label.setStyleSheet(ERROR_STYLE)
        self.problems_label.hide()
        layout.addWidget(self.problems_label)

    # ------------------------------------------------------------ public API

    def _listing_changed(self) -> None:
        listing = self.context.index.listing
        self.summaries = listing.summaries
        self.unreadable = listing.unreadable
        self.problems = listing.problems
        self._fill(self.summaries, self.unreadable)
        self._show_problems(self.problems)

    def selected_path(self) -> Path | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.path_at(rows[0].row())

    def selected_paths(self) -> list[Path]:
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [p for p in (self.path_at(r) for r in rows) if p is not None]

    def compare_selected(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.context.actions.compare_runs(paths)

    def resume_selected(self) -> None:
        path = self.selected_path()
        if path is not None and self.can_resume(path):
            self.context.actions.resume_run(path)

    def can_resume(self, path: Path) -> bool:
        """A stopped run (cancelled, failed, or killed: "incomplete") that left a checkpoint."""
        row = self.row_of(path)
        status = self.table.item(row, COLUMNS.index("status")).text() if row >= 0 else ""
        return status in RESUMABLE and has_checkpoint(path)

    def _selection_changed(self) -> None:
        path = self.selected_path()
        self.open_button.setEnabled(path is not None)
        self.compare_button.setEnabled(len(self.selected_paths()) >= 1)
        self.resume_button.setEnabled(len(self.selected_paths()) == 1 and path is not None and self.can_resume(path))

    def path_at(self, row: int) -> Path | None:
        item = self.table.item(row, 0)
        value = None if item is None else item.data(PATH_ROLE)
        return None if value is None else Path(value)

    def row_of(self, path: Path | str) -> int:
        """The table row that shows a run file, or -1."""
        for r in range(self.table.rowCount()):
            if self.path_at(r) == Path(path):
                return r
        return -1

    def open_selected(self) -> None:
        path = self.selected_path()
        if path is not None:
            self.context.actions.open_run(path)

    def show_in_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.workspace.folder)))

    # ------------------------------------------------------------ filling

    def _fill(self, summaries: list[RunSummary], unreadable: list[UnreadableRun]) -> None:
        selected = self.selected_path()
        table = self.table
        sort_column = table.horizontalHeader().sortIndicatorSection()
        sort_order = table.horizontalHeader().sortIndicatorOrder()
        # Sorting while rows are inserted would move them under the loop's feet.
        table.setSortingEnabled(False)
        rows = [self._row_items(s) for s in summaries] + [self._unreadable_items(u) for u in unreadable]
        table.setRowCount(len(rows))
        for r, items in enumerate(rows):
            for c, item in enumerate(items):
                table.setItem(r, c, item)
        table.setSortingEnabled(True)
        table.sortByColumn(sort_column, sort_order)
        self.count_label.setText(f"{len(summaries)} run{'s' if len(summaries) != 1 else ''}"
                                 + (f", {len(unreadable)} unreadable" if unreadable else ""))
        if selected is not None:
            row = self.row_of(selected)
            if row >= 0:
                table.selectRow(row)
        self._selection_changed()  # a status may have changed under the selection (a run resumed, say)

    def _row_items(self, s: RunSummary) -> list[QTableWidgetItem]:
        """A row for a readable run: its summary and headline metrics."""
        items: list[QTableWidgetItem] = []
        texts = {"name": s.name, "status": s.status, "method": s.method, "dataset": s.dataset, "model": s.model,
                 "created": s.created.replace("T", " ")}
        for column in COLUMNS:
            if column in texts:
                item = _SortItem(texts[column])
                if column == "created":
                    item.setData(SORT_ROLE, _created_timestamp(s.created))
            elif column == "members":
                item = _SortItem(str(s.rows))
                item.setData(VALUE_ROLE, int(s.rows))
            else:
                value = s.headline.get(HEADLINE_COLUMNS[column])
                item = _SortItem(fmt_metric(HEADLINE_COLUMNS[column], value))
                item.setData(VALUE_ROLE, None if value is None else float(value))
            if column in ("members",) or column in HEADLINE_COLUMNS:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            items.append(item)
        _finish_row(items, s.path, s.status)
        items[0].setToolTip(str(s.path))
        return items

    def _unreadable_items(self, unreadable: UnreadableRun) -> list[QTableWidgetItem]:
        """A row for a file that cannot be read: its name, "unreadable", and why when hovered. Opening it shows the
        reason on the Results screen as well."""
        items = [_SortItem({"name": unreadable.path.name, "status": "unreadable"}.get(column, ""))
                 for column in COLUMNS]
        _finish_row(items, unreadable.path, "unreadable")
        for item in items:
            item.setToolTip(unreadable.line)
        return items

    def _show_problems(self, problems: list[str]) -> None:
        """The unreadable files' lines under the table (the first few; all of them when hovered)."""
        if not problems:
            self.problems_label.hide()
            self.problems_label.setText("")
            return
        n = len(problems)
        head = f"{n} file{'s' if n != 1 else ''} in the workspace cannot be read:"
        lines = [html.escape(p) for p in problems[:MAX_PROBLEM_LINES]]
        if n > MAX_PROBLEM_LINES:
            lines.append(f"… and {n - MAX_PROBLEM_LINES} more (hover for the full list)")
        self.problems_label.setText(head + "<br>" + "<br>".join(lines))
        self.problems_label.setToolTip("\n".join(problems))
        self.problems_label.show()

    def _double_clicked(self, item: QTableWidgetItem) -> None:
        path = self.path_at(item.row())
        if path is not None:
            self.context.actions.open_run(path)


def _finish_row(items: list[QTableWidgetItem], path: Path, status: str) -> None:
    """What every row has: read-only cells, its file in the name cell, and its status in the status colour."""
    for item in items:
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    items[0].setData(PATH_ROLE, str(path))
    status_item = items[COLUMNS.index("status")]
    color = status_color(status)
    if color is not None:
        status_item.setForeground(color)
        font = QFont(status_item.font())
        font.setBold(True)
        status_item.setFont(font)


__all__ = ["COLUMNS", "RunsView"]
