"""The left column of the Compare and Sweep screens: a title, a Refresh button, a file list, a problem line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QPushButton, QSplitter, QVBoxLayout, QWidget

from .theme import ERROR_STYLE


@dataclass
class WorkspacePicker:
    widget: QWidget
    refresh_button: QPushButton
    files: QListWidget
    problem_label: QLabel


def picker_splitter(screen: QWidget) -> QSplitter:
    """The body of a screen with a picker column: a horizontal splitter filling it, with the usual margins."""
    outer = QHBoxLayout(screen)
    outer.setContentsMargins(8, 8, 8, 8)
    splitter = QSplitter(Qt.Orientation.Horizontal, screen)
    outer.addWidget(splitter)
    return splitter


def workspace_picker(parent: QWidget, title: str, list_tip: str, refresh: Callable[[], None]) -> WorkspacePicker:
    """Build the column; the Refresh button calls refresh, the problem line shows unreadable files in red."""
    widget = QWidget(parent)
    column = QVBoxLayout(widget)
    column.setContentsMargins(0, 0, 0, 0)
    top = QHBoxLayout()
    top.addWidget(QLabel(f"<b>{title}</b>", widget))
    top.addStretch(1)
    refresh_button = QPushButton("Refresh", widget)
    refresh_button.setToolTip("Rescan the workspace folder now (it is also rescanned when its files change)")
    refresh_button.clicked.connect(refresh)
    top.addWidget(refresh_button)
    column.addLayout(top)
    files = QListWidget(widget)
    files.setToolTip(list_tip)
    files.setWordWrap(True)
    files.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    files.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    column.addWidget(files, 1)
    problem_label = QLabel("", widget)
    problem_label.setWordWrap(True)
    problem_label.setStyleSheet(ERROR_STYLE)
    problem_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    column.addWidget(problem_label)
    return WorkspacePicker(widget, refresh_button, files, problem_label)
