"""The title and detail lines that head every per-run screen (Results, Interpolation, Weight space)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QWidget


def header_labels(parent: QWidget, title: str = "") -> tuple[QLabel, QLabel]:
    """A large bold rich-text title and a selectable, wrapping details line below it."""
    title_label = QLabel(title, parent)
    font = QFont(title_label.font())
    font.setPointSizeF(font.pointSizeF() * 1.35)
    font.setBold(True)
    title_label.setFont(font)
    title_label.setTextFormat(Qt.TextFormat.RichText)
    details_label = QLabel("", parent)
    details_label.setWordWrap(True)
    details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    # Room for the usual two lines (details and file) from the start: a header that grows when a run is shown
    # would move, resize and so repaint every plot below it.
    details_label.setMinimumHeight(2 * details_label.fontMetrics().lineSpacing() + 2)
    title_label.setMinimumHeight(title_label.fontMetrics().lineSpacing() + 2)
    return title_label, details_label
