"""Small building blocks shared by the result screens: titled panels, read-only tables and their cells."""

from __future__ import annotations

import html

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from .export import VALUE_ROLE
from .theme import fmt


def titled_panel(title: str, widget: QWidget, button: QWidget, parent: QWidget) -> QWidget:
    """A panel with a bold title and a button (usually Export) above the widget."""
    box = QWidget(parent)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    row = QHBoxLayout()
    row.addWidget(QLabel(f"<b>{html.escape(title)}</b>", box))
    row.addStretch(1)
    row.addWidget(button)
    layout.addLayout(row)
    layout.addWidget(widget, 1)
    return box


def labeled_combo(row: QHBoxLayout, parent: QWidget, label: str, items: Iterable[tuple[Any, str]] = (),
                  on_change: Callable[[int], None] | None = None) -> QComboBox:
    """Append "label" and a combo of (data, text) items to a row of controls; on_change gets the new index."""
    row.addWidget(QLabel(label, parent))
    combo = QComboBox(parent)
    for data, text in items:
        combo.addItem(text, data)
    if on_change is not None:
        combo.currentIndexChanged.connect(on_change)
    row.addWidget(combo)
    return combo


def select_data(combo: QComboBox, data: Any, problem: str) -> None:
    """Select the combo item that holds data; ValueError(problem) when none does."""
    index = combo.findData(data)
    if index < 0:
        raise ValueError(problem)
    combo.setCurrentIndex(index)


def results_table(parent: QWidget) -> QTableWidget:
    """A read-only table of numbers: alternating rows, no row header, columns sized to their contents."""
    table = QTableWidget(parent)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(False)
    return table


def number_item(text: str, value: object) -> QTableWidgetItem:
    """A right-aligned read-only cell showing text and keeping the exact value under VALUE_ROLE for export."""
    item = QTableWidgetItem(text)
    item.setData(VALUE_ROLE, value)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return item


def text_item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return item


__all__ = ["fmt", "labeled_combo", "number_item", "results_table", "select_data", "text_item", "titled_panel"]
