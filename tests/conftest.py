"""Shared fixtures: offscreen Qt, a private workspace, and small real run files trained on Fashion-MNIST."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from support import train_run_file

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def garbage_collected_on_the_main_thread(request):
    """Python collects cycles in whichever thread happens to allocate. A Qt object's wrapper collected in a run's
    worker thread deletes the object there, which can deadlock with the GUI thread (a hang of the GUI suite, seen
    in test_gap_boosting_gui). As the application does (app.run_gui), GUI tests collect on the main thread only:
    after the test, with automatic collection off during it. (Other tests run no Qt worker threads.)"""
    if "qtbot" not in request.fixturenames:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        # What survives lives on (modules, session fixtures): the next test's collection need not walk it again.
        gc.freeze()
        gc.enable()


@pytest.fixture(autouse=True)
def unexpected_dialogs_fail(monkeypatch):
    """A message box nobody expected fails the test at once: offscreen, a modal dialog would hang the suite.

    Tests that expect a dialog patch QMessageBox themselves, which overrides this.
    """
    if "PySide6.QtWidgets" not in sys.modules:  # engine and storage tests never load Qt
        yield
        return
    from PySide6.QtWidgets import QMessageBox

    def fail(kind):
        def show(parent, title, text, *args, **kwargs):
            raise AssertionError(f"unexpected QMessageBox.{kind}: {title}: {text}")
        return show

    for kind in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(fail(kind)))
    yield


@pytest.fixture(scope="session")
def finished_runs(tmp_path_factory) -> dict[str, Path]:
    """A workspace with a finished deep ensemble (the DEE reference) and a finished bagging run."""
    folder = tmp_path_factory.mktemp("workspace")
    return {
        "deep_ensemble": train_run_file(folder, method="deep_ensemble", name="tiny-de"),
        "bagging": train_run_file(folder, method="bagging", name="tiny-bagging"),
    }


@pytest.fixture
def workspace_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("ENSGUI_WORKSPACE", str(folder))
    return folder


# ---------------------------------------------------------------- GUI tests (pytest-qt, offscreen)


@pytest.fixture(autouse=True)
def own_settings(tmp_path_factory):
    """Every test's window keeps its settings (geometry, last spec, recent runs) in a folder of the test session,
    never in the user's ~/.config; tests that check what is remembered make their own AppSettings."""
    if "PySide6.QtCore" not in sys.modules:
        yield
        return
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield


@pytest.fixture(autouse=True)
def plot_look():
    """The look app.create_window sets (white plots, antialiased), so that screenshots show what users see."""
    if "pyqtgraph" in sys.modules:
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True, background="w", foreground="k")
    yield


@pytest.fixture
def make_context(qtbot):
    """make_context(folder) gives a screen's shared objects on a workspace folder, with no window around it, once
    the workspace index has listed the folder; every context's workers are stopped when the test ends."""
    from ensgui.storage.workspace import Workspace
    from ensgui.views.screens import AppContext

    made = []

    def make(folder: Path):
        ctx = AppContext.create(Workspace(folder), threads=1)
        assert ctx.index.wait(10_000)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.index.stop()
        ctx.controller.shutdown()
        for queue in (ctx.document, ctx.loader):
            queue.wait(10_000)


@pytest.fixture
def context(make_context, tmp_path):
    """The shared objects of a screen on an empty workspace, tmp_path/runs."""
    return make_context(tmp_path / "runs")


@pytest.fixture
def make_screen(qtbot, make_context):
    """make_screen(cls, folder, size) builds a registered screen on its own over a context on folder."""

    def make(cls, folder: Path, size: tuple[int, int] = (1400, 900)):
        screen = cls(make_context(folder))
        qtbot.addWidget(screen)
        screen.resize(*size)
        return screen

    return make


@pytest.fixture
def make_results(make_screen):
    """make_results(folder) builds the Results screen on its own over the runs of folder."""
    from ensgui.views.results_view import ResultsView

    return lambda folder, size=(1400, 900): make_screen(ResultsView, folder, size)


@pytest.fixture
def screenshot(tmp_path):
    """screenshot(widget, name, colors=(...)) saves what a user sees as <name>.png (in tmp_path and in SHOTS) and
    checks its pixels: not one flat colour, and every colour given ("#1f77b4") drawn on at least a few pixels."""
    from support import save_screenshot

    def shoot(widget, name: str, colors: tuple[str, ...] = (), min_pixels: int = 12):
        image = save_screenshot(widget, tmp_path, name)
        pixels = image_array(image)
        assert pixels.reshape(-1, 3).std(axis=0).max() > 8, f"{name}: the screenshot is blank"
        for wanted in colors:
            assert color_pixels(pixels, wanted) >= min_pixels, f"{name}: no {wanted} pixels (a curve is missing)"
        return pixels

    return shoot


def image_array(image) -> np.ndarray:
    """A QImage as an (H, W, 3) uint8 RGB array."""
    from PySide6.QtGui import QImage

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    buffer = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=stride * height).reshape(height, stride)
    return buffer[:, :width * 3].reshape(height, width, 3).copy()


def color_pixels(pixels: np.ndarray, color: str, tolerance: int = 40) -> int:
    """How many pixels lie within tolerance (per channel) of a colour given as "#rrggbb"."""
    target = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    close = np.abs(pixels.astype(np.int16) - target).max(axis=-1) <= tolerance
    return int(close.sum())
