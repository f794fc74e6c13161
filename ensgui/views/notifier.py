"""Tells the user that a run has ended while they looked elsewhere: a desktop notification and a taskbar alert."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QStyle, QSystemTrayIcon, QWidget

SHOWN_MS = 8000


class Notifier:
    """A tray message where the desktop has a tray, and always the taskbar's attention hint for the window."""

    def __init__(self, window: QWidget) -> None:
        self.window = window
        self._tray: QSystemTrayIcon | None = None
        self.sent: list[tuple[str, str]] = []  # every notification, newest last (tests, and a future history)

    def unseen(self) -> bool:
        """Whether the user is not looking at the window: another one is active, or it is minimised or hidden."""
        return self.window.isMinimized() or not self.window.isVisible() or not self.window.isActiveWindow()

    def notify(self, title: str, message: str) -> None:
        self.sent.append((title, message))
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self._tray is None:
                icon = self.window.windowIcon()
                if icon.isNull():
                    icon = self.window.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
                self._tray = QSystemTrayIcon(icon, self.window)
                self._tray.messageClicked.connect(self._bring_back)
                self._tray.activated.connect(lambda *_: self._bring_back())
            self._tray.show()
            self._tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Information, SHOWN_MS)
        QApplication.alert(self.window)  # the taskbar entry asks for attention until the window is activated

    def _bring_back(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
