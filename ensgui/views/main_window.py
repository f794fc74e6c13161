"""The main window: Setup, Monitor, Results and Runs screens around one run controller."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QTabWidget

from ..engine.events import RunEnded
from ..engine.spec import Spec
from ..storage.workspace import Workspace
from .comparison_view import ComparisonView
from .interpolation_view import InterpolationView
from .monitor_view import MonitorView
from .results_view import ResultsView
from .run_controller import RunController
from .runs_view import RunsView
from .setup_view import SetupView
from .sweep_view import SweepView
from .weight_space_view import WeightSpaceView


class MainWindow(QMainWindow):
    """Tabs for the four screens; the controller runs one experiment at a time in a worker thread."""

    def __init__(self, workspace: Workspace, spec: Spec, threads: int | None = None) -> None:
        super().__init__()
        self.setWindowTitle("ensgui — ensembles lab")
        self.resize(1280, 820)
        self.workspace = workspace
        self.controller = RunController(self, threads=threads)
        self.setup = SetupView(self)
        self.monitor = MonitorView(self.controller, self)
        self.results = ResultsView(workspace, self)
        self.runs = RunsView(workspace, self)
        self.compare = ComparisonView(workspace, self)
        self.weight_space = WeightSpaceView(workspace, self)
        self.interpolation = InterpolationView(workspace, self)
        self.sweep = SweepView(workspace, self)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        for widget, title in ((self.setup, "Setup"), (self.monitor, "Monitor"), (self.results, "Results"),
                              (self.interpolation, "Interpolation"), (self.weight_space, "Weight space"), (self.compare, "Compare"), (self.sweep, "Sweep"), (self.runs, "Runs")):
            self.tabs.addTab(widget, title)
        self.setCentralWidget(self.tabs)
        self.setup.set_spec(spec)
        self.setup.start_requested.connect(self.start_run)
        self.setup.sweep_requested.connect(self.start_sweep)
        self.sweep.resume_requested.connect(self.resume_sweep)
        self.controller.run_finished.connect(self._run_finished)
        self.controller.sweep_finished.connect(self._sweep_finished)
        self.runs.run_opened.connect(self.open_run)
        self.runs.compare_requested.connect(self.compare_runs)
        self._add_menu()
        self.statusBar().showMessage(f"workspace: {workspace.folder}")

    def _add_menu(self) -> None:
        run_menu = self.menuBar().addMenu("&Run")
        start = QAction("&Start", self)
        start.setShortcut(QKeySequence("Ctrl+R"))
        start.triggered.connect(self.setup.request_start)
        cancel = QAction("&Cancel", self)
        cancel.triggered.connect(self.controller.cancel)
        run_menu.addAction(start)
        run_menu.addAction(cancel)
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

    def _busy(self) -> bool:
        """Whether a run or sweep is active; if so the user is told that only one runs at a time."""
        if not self.controller.is_running():
            return False
        QMessageBox.information(self, "A run is in progress",
                                "One run at a time: wait for it to finish or cancel it on the Monitor screen.")
        return True

    def start_run(self, spec: Spec) -> None:
        if self._busy():
            return
        path = self.workspace.new_run_path(spec.name)
        self.controller.start(spec, path)
        self.tabs.setCurrentWidget(self.monitor)

    def start_sweep(self, spec: Spec, gaps: tuple, width_objects: int) -> None:
        """A gap sweep: every point a run file in the workspace, then its summary on the Sweep screen."""
        if self._busy():
            return
        self.controller.start_sweep(spec, gaps, self.workspace.folder, width_objects)
        self.tabs.setCurrentWidget(self.monitor)

    def resume_sweep(self, path: Path) -> None:
        """Go on with a stored sweep that did not finish, following it on Monitor as a new sweep would be."""
        from ..engine.errors import EnsguiError

        if self._busy():
            return
        try:
            self.controller.resume_sweep(path)
        except EnsguiError as exc:
            QMessageBox.warning(self, "Cannot resume the sweep", str(exc))
            return
        self.tabs.setCurrentWidget(self.monitor)

    def _sweep_finished(self, path: Path) -> None:
        from ..engine.errors import EnsguiError

        try:
            self.sweep.show_sweep(path)
        except EnsguiError as exc:
            QMessageBox.warning(self, "Cannot show the sweep", str(exc))
            return
        self.tabs.setCurrentWidget(self.sweep)

    def _run_finished(self, ended: RunEnded, path: Path) -> None:
        self.runs.refresh()
        if self.controller.is_sweep():
            # Its points are in the Runs list; _sweep_finished has shown the summary (a failed sweep's is listed).
            self.sweep.refresh()
            if ended.error:
                QMessageBox.warning(self, f"Gap sweep {ended.status}", ended.error)
            return
        if ended.status in ("failed", "diverged"):
            QMessageBox.warning(self, f"Run {ended.status}", ended.error or f"the run {ended.status}")
        if path.exists():
            self.results.refresh_references()
            try:
                self.results.show_run(path)
            except Exception as exc:  # noqa: BLE001 - an unreadable file must become a message, not a crash
                QMessageBox.warning(self, "Cannot show results", str(exc))
                return
            self._show_analyses(path)
            if ended.status in ("finished", "cancelled") and self.results.has_results():
                self.tabs.setCurrentWidget(self.results)

    def open_run(self, path: Path) -> None:
        """Show a stored run: its spec read-only in Setup and its metrics in Results."""
        from ..storage.reader import read_run
        from ..engine.errors import EnsguiError

        try:
            run = read_run(path, with_probs=False)
        except EnsguiError as exc:
            QMessageBox.warning(self, "Cannot open run", str(exc))
            return
        if run.spec is not None:
            self.setup.show_stored(run.spec, path)
        self.results.show_run(path)
        self._show_analyses(path)
        self.tabs.setCurrentWidget(self.results)

    def _show_analyses(self, path: Path) -> None:
        """The per-run analysis screens follow the run shown in Results."""
        for title, view in (("interpolation", self.interpolation), ("weight space", self.weight_space)):
            try:
                view.show_run(path)
            except Exception as exc:  # noqa: BLE001 - an analysis that cannot show must not block the results
                self.statusBar().showMessage(f"{title}: {exc}", 10000)

    def compare_runs(self, paths: list[Path]) -> None:
        from ..engine.errors import EnsguiError

        try:
            self.compare.set_runs(paths)
        except EnsguiError as exc:
            QMessageBox.warning(self, "Cannot compare", str(exc))
            return
        self.tabs.setCurrentWidget(self.compare)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.is_running():
            answer = QMessageBox.question(
                self, "Stop the run?", "A run is in progress. Cancel it and quit? Finished epochs stay in its file.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.controller.cancel()
            self.controller.wait()
        self.interpolation.shutdown()
        event.accept()


__all__ = ["MainWindow", "Qt"]
