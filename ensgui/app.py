"""Builds the QApplication and the main window."""

from __future__ import annotations

import gc
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from .engine.spec import Spec
from .resources import default_spec
from .storage.workspace import Workspace, default_workspace


PRELOAD_DELAY_MS = 300  # after the first paint, so that the window never waits for torch


def _preload_engine() -> None:
    # The first vmap call imports torch._dynamo (~900 modules, seconds on two cores) and would hold the
    # interpreter lock in bursts during the first run; importing it while the user reads the Setup screen
    # keeps the Monitor smooth.
    import torch._dynamo  # noqa: F401

    freeze_long_lived_objects()


def freeze_long_lived_objects() -> None:
    """Exempt every object alive now (modules, the window) from the garbage collector's full passes.

    A full pass walks every tracked object while holding the interpreter lock: 50 ms with Qt, pyqtgraph, numpy
    and h5py loaded, 280 ms once torch._dynamo is, a stall of the window whenever one happens to run. These
    objects live as long as the application, so scanning them again and again can only find nothing.
    """
    gc.freeze()


def collect_garbage_on_the_gui_thread() -> object:
    """Switch Python's automatic cycle collection off and collect on a GUI-thread timer instead.

    Automatic collection runs in whichever thread allocates: in a run's worker thread it would delete Qt objects
    whose Python wrappers sat in cycles there, which can deadlock with the GUI thread. Keep the returned object.
    """
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=1.0)


def create_window(workspace: Path | None = None, spec: Spec | None = None, threads: int | None = None):
    """The main window on a workspace folder, with a spec (the default experiment unless given); needs no torch."""
    import pyqtgraph as pg

    from .views.main_window import MainWindow

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    return MainWindow(Workspace(workspace or default_workspace()), spec or default_spec(), threads=threads)


def run_gui(workspace: Path | None = None, spec: Spec | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("ensgui")
    window = create_window(workspace, spec)
    window.show()
    freeze_long_lived_objects()
    collector = collect_garbage_on_the_gui_thread()  # noqa: F841 - lives as long as the event loop
    preload = threading.Thread(target=_preload_engine, name="ensgui-preload", daemon=True)
    QTimer.singleShot(PRELOAD_DELAY_MS, preload.start)
    return app.exec()
