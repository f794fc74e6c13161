"""The main window: a tab for every registered screen around one shared context (workspace, open run, runs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QTabWidget, QWidget

from ..engine.errors import EnsguiError
from ..engine.events import RunEnded
from ..engine.spec import Spec
from ..storage.workspace import Workspace, same_file
from . import all_screens  # noqa: F401 - importing it registers every screen and result panel
from .run_document import LoadedRun
from .screens import AppContext, registered_screens


class MainWindow(QMainWindow):
    """Builds every registered screen on one AppContext and carries out what screens ask of the window."""

    def __init__(self, workspace: Workspace, spec: Spec, threads: int | None = None, backend: str = "process") -> None:
        super().__init__()
        self.setWindowTitle("ensgui — ensembles lab")
        self.resize(1280, 820)
        self.workspace = workspace
        self.context = AppContext.create(workspace, self, actions=self, threads=threads, backend=backend)
        self.controller = self.context.controller
        self.document = self.context.document
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.screens: dict[str, QWidget] = {}
        for entry in registered_screens():
            screen = entry.factory(self.context, self.tabs)
            self.screens[entry.key] = screen
            self.tabs.addTab(screen, entry.title)
        self.setCentralWidget(self.tabs)
        self._show_stored_spec: Path | None = None  # a run opened from Runs shows its spec on Setup
        self._show_results_of: Path | None = None  # a run that just ended opens Results once it is read
        self.screen("setup").set_spec(spec)
        self.controller.run_finished.connect(self._run_finished)
        self.controller.sweep_finished.connect(self._sweep_finished)
        self.document.loaded.connect(self._run_loaded)
        self.document.failed.connect(self._run_failed)
        self._add_menu()
        self.statusBar().showMessage(f"workspace: {workspace.folder}")

    def screen(self, key: str) -> QWidget:
        return self.screens[key]

    # ------------------------------------------------------------ the window's actions (screens.WindowActions)

    def show_screen(self, key: str) -> None:
        self.tabs.setCurrentWidget(self.screens[key])

    def warn(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    def status(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def start_run(self, spec: Spec) -> None:
        if self._busy():
            return
        self.controller.start(spec, self.workspace.new_run_path(spec.name))
        self.show_screen("monitor")

    def start_sweep(self, spec: Spec, gaps: tuple, width_objects: int) -> None:
        """A gap sweep: every point a run file in the workspace, then its summary on the Sweep screen."""
        if self._busy():
            return
        self.controller.start_sweep(spec, gaps, self.workspace.folder, width_objects)
        self.show_screen("monitor")

    def resume_sweep(self, path: Path) -> None:
        """Go on with a stored sweep that did not finish, following it on Monitor as a new sweep would be."""
        if not self._busy() and self._attempt("Cannot resume the sweep", lambda: self.controller.resume_sweep(path)):
            self.show_screen("monitor")

    def resume_run(self, path: Path) -> None:
        """Continue a stopped run in its own file, followed on Monitor; a run that cannot resume says why there."""
        if not self._busy():
            self.controller.resume(path)
            self.show_screen("monitor")

    def open_run(self, path: Path) -> None:
        """Show a stored run: its spec read-only on Setup and its results, read in the background."""
        self._show_stored_spec = Path(path)
        self._show_results_of = None
        self.document.open(path)
        self.show_screen("results")

    def compare_runs(self, paths: list[Path]) -> None:
        if self._attempt("Cannot compare", lambda: self.screen("compare").set_runs(paths)):
            self.show_screen("compare")

    # ------------------------------------------------------------ runs ending and runs read

    def _busy(self) -> bool:
        """Whether a run or sweep is active; if so the user is told that only one runs at a time."""
        if not self.controller.is_running():
            return False
        QMessageBox.information(self, "A run is in progress",
                                "One run at a time: wait for it to finish or cancel it on the Monitor screen.")
        return True

    def _attempt(self, title: str, action: Callable[[], object]) -> bool:
        """Do what a user asked; a problem they can fix is one warning titled title, and False."""
        try:
            action()
        except EnsguiError as exc:
            self.warn(title, str(exc))
            return False
        return True

    def _sweep_finished(self, path: Path) -> None:
        if self._attempt("Cannot show the sweep", lambda: self.screen("sweep").show_sweep(path)):
            self.show_screen("sweep")

    def _run_finished(self, ended: RunEnded, path: Path) -> None:
        self.context.index.refresh()
        if self.controller.is_sweep():
            # Its points are in the Runs list; _sweep_finished has shown the summary (a failed sweep's is listed).
            if ended.error:
                self.warn(f"Gap sweep {ended.status}", ended.error)
            return
        if ended.status in ("failed", "diverged"):
            self.warn(f"Run {ended.status}", ended.error or f"the run {ended.status}")
        if path.exists():
            self._show_stored_spec = None
            self._show_results_of = path if ended.status in ("finished", "cancelled") else None
            self.document.open(path)

    def _run_loaded(self, loaded: LoadedRun) -> None:
        if self._show_stored_spec is not None and same_file(loaded.path, self._show_stored_spec):
            self._show_stored_spec = None
            if loaded.opened.run.spec is not None:
                self.screen("setup").show_stored(loaded.opened.run.spec, loaded.path)
        if self._show_results_of is not None and same_file(loaded.path, self._show_results_of):
            self._show_results_of = None
            if loaded.opened.run.eval:
                self.show_screen("results")

    def _run_failed(self, path: Path, message: str) -> None:
        self._show_stored_spec = self._show_results_of = None
        self.warn("Cannot open run", message)

    # ------------------------------------------------------------ menu and closing

    def _add_menu(self) -> None:
        run_menu = self.menuBar().addMenu("&Run")
        start = QAction("&Start", self)
        start.setShortcut(QKeySequence("Ctrl+R"))
        start.triggered.connect(self.screen("setup").request_start)
        cancel = QAction("&Cancel", self)
        cancel.triggered.connect(self.controller.cancel)
        run_menu.addAction(start)
        run_menu.addAction(cancel)
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.is_running():
            answer = QMessageBox.question(
                self, "Stop the run?", "A run is in progress. Cancel it and quit? Finished epochs stay in its file.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.controller.shutdown()  # stops the run (it checkpoints and evaluates) and lets the standby engine go
        for screen in self.screens.values():
            shutdown = getattr(screen, "shutdown", None)
            if callable(shutdown):
                shutdown()
        event.accept()


__all__ = ["MainWindow", "Qt"]
