"""What the window remembers between sessions: geometry, splitters, the last experiment, recent runs, smoothing."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter, QWidget

from ..engine.errors import SpecError
from ..engine.spec import Spec

RECENT_RUNS = 10  # entries in File › Open recent
ORGANIZATION = APPLICATION = "ensgui"


class AppSettings:
    """QSettings under one name, in an INI file (~/.config/ensgui/ensgui.ini on Linux); tests point
    QSettings.setPath at a folder of their own, so a test run never touches the user's settings."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.q = settings if settings is not None else QSettings(QSettings.Format.IniFormat,
                                                                 QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)

    def sync(self) -> None:
        self.q.sync()

    # ------------------------------------------------------------ window and splitters

    def save_window(self, window: QMainWindow, screens: dict[str, QWidget]) -> None:
        self.q.setValue("window/geometry", window.saveGeometry())
        self.q.setValue("window/state", window.saveState())
        for key, screen in screens.items():
            for i, splitter in enumerate(screen.findChildren(QSplitter)):
                self.q.setValue(f"splitters/{key}/{i}", splitter.saveState())

    def restore_window(self, window: QMainWindow, screens: dict[str, QWidget]) -> bool:
        """Put the window and its splitters back as they were; False when nothing was stored (first launch)."""
        geometry = self.q.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            window.restoreGeometry(geometry)
        state = self.q.value("window/state")
        if isinstance(state, QByteArray):
            window.restoreState(state)
        for key, screen in screens.items():
            for i, splitter in enumerate(screen.findChildren(QSplitter)):
                stored = self.q.value(f"splitters/{key}/{i}")
                if isinstance(stored, QByteArray):
                    splitter.restoreState(stored)  # refuses, harmlessly, a state of another layout
        return isinstance(geometry, QByteArray)

    # ------------------------------------------------------------ the experiment, recent runs, smoothing

    def last_spec(self) -> Spec | None:
        """The experiment Setup held when the window last closed, if it still validates."""
        text = self.q.value("setup/last_spec")
        if not isinstance(text, str) or not text:
            return None
        try:
            return Spec.from_toml(text)
        except SpecError:
            return None  # written by another version, or edited by hand: start from the default instead

    def set_last_spec(self, spec: Spec) -> None:
        self.q.setValue("setup/last_spec", spec.to_toml())

    def recent_runs(self) -> list[Path]:
        """Run files opened or trained lately, newest first, those that still exist."""
        value = self.q.value("runs/recent")
        names = [value] if isinstance(value, str) else list(value or [])
        return [Path(n) for n in names if isinstance(n, str) and Path(n).exists()]

    def add_recent_run(self, path: Path) -> list[Path]:
        path = Path(path).resolve()
        runs = [path] + [p for p in self.recent_runs() if p.resolve() != path]
        self.q.setValue("runs/recent", [str(p) for p in runs[:RECENT_RUNS]])
        return runs[:RECENT_RUNS]

    def smoothing(self, default: float) -> float:
        try:
            value = float(self.q.value("monitor/smoothing", default))
        except (TypeError, ValueError):
            return default
        return min(max(value, 0.0), 0.99)

    def set_smoothing(self, value: float) -> None:
        self.q.setValue("monitor/smoothing", float(value))
