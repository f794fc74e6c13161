"""A widget, or in its place one centred message: why there is nothing to show yet, or why not at all."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget

from .theme import MESSAGE_STYLE


class PlotOrMessage(QStackedWidget):
    """Shows its content, or a word-wrapped message on white in the content's place."""

    def __init__(self, content: QWidget, parent: QWidget | None = None, message: str = "") -> None:
        super().__init__(parent)
        self.content = content
        self.message_label = QLabel(message, self)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setStyleSheet(MESSAGE_STYLE)
        self.addWidget(content)
        self.addWidget(self.message_label)
        if message:
            self.show_message(message)

    def show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.setCurrentWidget(self.message_label)

    def show_content(self) -> None:
        self.setCurrentWidget(self.content)

    def showing_message(self) -> bool:
        return self.currentWidget() is self.message_label

    def message(self) -> str:
        return self.message_label.text() if self.showing_message() else ""


__all__ = ["PlotOrMessage"]
