"""Builds the QApplication and the main window."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from .engine.spec import Spec
from .resources import default_spec
from .storage.workspace import Workspace, default_workspace


def freeze_long_lived_objects() -> None:
    """Exempt every object alive now (modules, the window) from the garbage collector's full passes.

    A full pass walks every tracked object while holding the interpreter lock (50 ms with Qt, pyqtgraph, numpy
    and h5py loaded), a stall of the window whenever one happens to run. These objects live as long as the
    application, so scanning them again and again can only find nothing.
    """
    gc.freeze()


def collect_garbage_on_the_gui_thread() -> object:
    """Switch Python's automatic cycle collection off and collect on a GUI-thread timer instead.

    Automatic collection runs in whichever thread allocates: in a run's worker thread it would delete Qt objects
    whose Python wrappers sat in cycles there, which can deadlock with the GUI thread. Keep the returned object.
    """
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=1.0)


def create_window(workspace: Path | None = None, spec: Spec | None = None, threads: int | None = None,
                  backend: str = "process", settings=None):
    """The main window on a workspace folder, with a spec (the default experiment unless given); needs no torch.

    Runs train in an engine process of their own (backend "process"), or in a thread of this one ("thread").
    settings (views.app_settings.AppSettings) is where the window keeps what it remembers (QSettings by default)."""
    import pyqtgraph as pg

    from .views.main_window import MainWindow

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    return MainWindow(Workspace(workspace or default_workspace()), spec or default_spec(), threads=threads,
                      backend=backend, settings=settings)


def run_gui(workspace: Path | None = None, spec: Spec | None = None) -> int:
    """The application: the window as the user left it (size, splitters, last experiment unless spec is given)."""
    from .views.app_settings import APPLICATION, ORGANIZATION, AppSettings

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    settings = AppSettings()
    window = create_window(workspace, spec or settings.last_spec(), settings=settings)
    window.restore_state()
    window.show()
    freeze_long_lived_objects()
    collector = collect_garbage_on_the_gui_thread()  # noqa: F841 - lives as long as the event loop
    # torch loads in an engine process of its own, shortly after the window is shown: never in this one.
    window.controller.keep_engine_ready()
    return app.exec()
