"""The main window: a tab for every registered screen around one shared context (workspace, open run, runs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QTabWidget, QWidget

from ..engine.errors import EnsguiError, SpecError
from ..engine.events import RunEnded
from ..engine.spec import Spec
from ..resources import default_spec
from ..storage.workspace import Workspace, same_file
from ..text import format_duration
from . import all_screens  # noqa: F401 - importing it registers every screen and result panel
from .app_settings import AppSettings
from .help_dialogs import HelpDialog, about_box
from .notifier import Notifier
from .run_document import LoadedRun
from .screens import AppContext, registered_screens
from .status_line import RunStatusLine
from .window_menus import build_menus, current_export_button

DEFAULT_SIZE = (1280, 820)
MINIMUM_SIZE = (1280, 720)


class MainWindow(QMainWindow):
    """Builds every registered screen on one AppContext and carries out what screens ask of the window."""

    def __init__(self, workspace: Workspace, spec: Spec, threads: int | None = None, backend: str = "process",
                 settings: AppSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("ensgui — ensembles lab")
        self.resize(*DEFAULT_SIZE)
        self.settings = settings if settings is not None else AppSettings()
        self.workspace = workspace
        self.context = AppContext.create(workspace, self, actions=self, threads=threads, backend=backend)
        self.controller = self.context.controller
        self.document = self.context.document
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.screens: dict[str, QWidget] = {}
        self._titles: dict[str, str] = {}
        for entry in registered_screens():
            screen = entry.factory(self.context, self.tabs)
            self.screens[entry.key] = screen
            self._titles[entry.key] = entry.title
            self.tabs.addTab(screen, entry.title)
        self.setCentralWidget(self.tabs)
        self._show_stored_spec: Path | None = None  # a run opened from Runs shows its spec on Setup
        self._show_results_of: Path | None = None  # a run that just ended opens Results once it is read
        self.screen("setup").set_spec(spec)
        self.controller.run_finished.connect(self._run_finished)
        self.controller.sweep_finished.connect(self._sweep_finished)
        self.document.loaded.connect(self._run_loaded)
        self.document.failed.connect(self._run_failed)
        self.recent_menu = None  # File › Open recent, built with the menus
        self.actions_by_key = build_menus(self)
        self._fill_recent(self.settings.recent_runs())
        self.notifier = Notifier(self)
        self.status_line = RunStatusLine(self.statusBar(), self.controller)
        self.statusBar().showMessage(f"workspace: {workspace.folder}")
        self.help_dialog: HelpDialog | None = None
        self.about: QMessageBox | None = None
        self.screen("monitor").set_smoothing(self.settings.smoothing(self.screen("monitor").smoothing()))
        self.setMinimumSize(*MINIMUM_SIZE)

    def restore_state(self) -> bool:
        """Geometry and splitters as the user left them (False on a first launch); call before show()."""
        return self.settings.restore_window(self, self.screens)

    def tab_title(self, key: str) -> str:
        return self._titles[key]

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
        """Show a stored run: its spec read-only on Setup and its results, read in the background. Unsaved edits on
        Setup are saved or given up first, or the run is not opened."""
        if not self.screen("setup").confirm_replace(f"opening {Path(path).name}"):
            return
        self._remember_run(Path(path))
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
        if path.exists() and not self.controller.is_sweep():
            self._remember_run(path)
        if self.notifier.unseen():
            what = "gap sweep" if self.controller.is_sweep() else "run"
            self.notifier.notify(f"ensgui: {what} {ended.status}",
                                 f"{path.stem}: {ended.status} after {format_duration(ended.elapsed)}"
                                 + (f" — {ended.error}" if ended.error else ""))
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

    # ------------------------------------------------------------ menu actions (views.window_menus)

    def open_file_dialog(self) -> None:
        """File › Open: a run file opens on Results, a spec file fills Setup."""
        name, _ = QFileDialog.getOpenFileName(self, "Open a run or a spec", str(self.workspace.folder),
                                              "Run files and specs (*.h5 *.toml);;Run files (*.h5);;Specs (*.toml);;"
                                              "All files (*)")
        if not name:
            return
        path = Path(name)
        if path.suffix == ".toml":
            if self.screen("setup").load_path(path):
                self.show_screen("setup")
        else:
            self.open_run(path)

    def export_current(self) -> None:
        button = current_export_button(self.tabs.currentWidget())
        if button is None:
            self.status("nothing to export on this screen")
            return
        button.showMenu()

    def copy_spec(self) -> None:
        setup = self.screen("setup")
        try:
            text = setup.spec().to_toml()
        except SpecError as exc:
            self.warn("Cannot copy the experiment", f"It has an invalid value; fix it first.\n\n{exc}")
            return
        QGuiApplication.clipboard().setText(text)
        self.status("experiment copied as TOML")

    def paste_spec(self) -> None:
        try:
            spec = Spec.from_toml(QGuiApplication.clipboard().text())
        except SpecError as exc:
            self.warn("Cannot paste an experiment", f"The clipboard holds no valid experiment: {exc}")
            return
        if self.screen("setup").replace_spec(spec, "pasting another experiment"):
            self.show_screen("setup")

    def reset_spec(self) -> None:
        if self.screen("setup").replace_spec(default_spec(), "resetting to the default experiment"):
            self.show_screen("setup")

    def step_screen(self, step: int) -> None:
        self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % self.tabs.count())

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.actions_by_key["full_screen"].setChecked(self.isFullScreen())

    def stop_run(self) -> None:
        if self.controller.is_running():
            self.screen("monitor").cancel_button.click()

    def resume_last(self) -> None:
        """Run › Resume: the run Monitor shows if it stopped, else the one selected on Runs."""
        monitor, runs = self.screen("monitor"), self.screen("runs")
        if monitor.resume_button.isVisible() and monitor.resume_button.isEnabled():
            monitor.resume_button.click()
        elif runs.resume_button.isEnabled():
            runs.resume_selected()
        else:
            self.status("no stopped run to resume: select one on Runs")

    def show_help(self) -> None:
        if self.help_dialog is None:
            self.help_dialog = HelpDialog(self)
        self.help_dialog.show()
        self.help_dialog.raise_()

    def show_about(self) -> None:
        self.about = about_box(self, self.controller.engine_info)
        self.about.open()

    def _fill_recent(self, paths: list[Path]) -> None:
        menu = self.recent_menu
        menu.clear()
        for path in paths:
            action = menu.addAction(path.name)
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_run(p))
        menu.setEnabled(bool(paths))

    def _remember_run(self, path: Path) -> None:
        self._fill_recent(self.settings.add_recent_run(path))

    # ------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.is_running():
            answer = QMessageBox.question(
                self, "Stop the run?", "A run is in progress. Stop it and quit? It keeps a checkpoint and its "
                "evaluated members; Resume continues it later.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.controller.shutdown()  # stops the run (it checkpoints and evaluates) and lets the standby engine go
        for screen in self.screens.values():
            shutdown = getattr(screen, "shutdown", None)
            if callable(shutdown):
                shutdown()
        self._save_state()
        event.accept()

    def _save_state(self) -> None:
        self.settings.save_window(self, self.screens)
        self.settings.set_smoothing(self.screen("monitor").smoothing())
        setup = self.screen("setup")
        if not setup.is_read_only():
            spec = setup.refresh()
            if spec is not None:
                self.settings.set_last_spec(spec)
        self.settings.sync()


__all__ = ["MainWindow", "Qt"]
