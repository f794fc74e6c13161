"""A long task's progress bar (phase, percent, elapsed, ETA from the engine) and its Cancel button."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from ..engine.events import Progress
from ..engine.progress import describe, shown_eta, shown_fraction
from .theme import format_duration

RESOLUTION = 1000  # progress bar steps: a tenth of a percent


def progress_text(progress: Progress, epochs: int | None = None) -> str:
    """"37% — training · epoch 2 of 3 — 1:02 elapsed, ETA 1:45": a run's share of all its phases, the phase in
    words and the time to the run's very end; another task's phase names itself ("interpolating: a → b")."""
    fraction = shown_fraction(progress)
    text = f"{int(100 * fraction)}% — {describe(progress, epochs)} — {format_duration(progress.elapsed)} elapsed"
    if fraction >= 1.0 or (progress.run_fraction is None and progress.done >= progress.total):
        return text
    return f"{text}, ETA {format_duration(shown_eta(progress))}"


class TaskPanel(QWidget):
    """start() when a task begins, show_progress() for every Progress, finish() at its end; `cancel_requested` on
    Cancel.

    Extra widgets (an epoch label, say) can be put between the bar and the button with insert_widget.
    """

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None, cancel_text: str = "Cancel",
                 cancelling_text: str = "Cancelling…") -> None:
        super().__init__(parent)
        self.cancel_text, self.cancelling_text = cancel_text, cancelling_text
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, RESOLUTION)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        self.cancel_button = QPushButton(cancel_text, self)
        self.cancel_button.setMinimumWidth(100)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._cancel_clicked)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.progress_bar, 1)
        self._layout.addWidget(self.cancel_button)

    def insert_widget(self, widget: QWidget) -> None:
        """Put a widget between the bar and the Cancel button."""
        self._layout.insertWidget(self._layout.indexOf(self.cancel_button), widget)

    def add_widget(self, widget: QWidget) -> None:
        """Put a widget after the Cancel button."""
        self._layout.addWidget(widget)

    def start(self, text: str = "starting") -> None:
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(f"0% — {text}")
        self.cancel_button.setText(self.cancel_text)
        self.cancel_button.setEnabled(True)

    def show_progress(self, progress: Progress, suffix: str = "", epochs: int | None = None) -> None:
        self.progress_bar.setValue(int(round(RESOLUTION * shown_fraction(progress))))
        self.progress_bar.setFormat(progress_text(progress, epochs) + suffix)

    def set_text(self, text: str) -> None:
        self.progress_bar.setFormat(text)

    def finish(self, status: str, elapsed: float | None, fraction: float | None = None) -> None:
        """The task ended: a finished one fills the bar, fraction sets how far another one got; every one says
        how it ended and after how long."""
        if status == "finished":
            self.progress_bar.setValue(RESOLUTION)
        elif fraction is not None:
            self.progress_bar.setValue(int(round(RESOLUTION * fraction)))
        percent = self.progress_bar.value() * 100 // RESOLUTION
        self.progress_bar.setFormat(f"{percent}% — {status} after {format_duration(elapsed)}")
        self.cancel_button.setText(self.cancel_text)
        self.cancel_button.setEnabled(False)

    def reset(self) -> None:
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self.cancel_button.setText(self.cancel_text)
        self.cancel_button.setEnabled(False)

    def set_cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText(self.cancelling_text)

    def value(self) -> int:
        return self.progress_bar.value()

    def text(self) -> str:
        return self.progress_bar.text()

    def _cancel_clicked(self) -> None:
        self.set_cancelling()
        self.cancel_requested.emit()


__all__ = ["RESOLUTION", "TaskPanel", "progress_text"]
