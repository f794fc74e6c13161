"""A method with an artefact of its own and a result panel of its own, both defined in this file, trained from the
GUI and shown on Results, with no edit of any ensgui module: the extension points of issue 10.

docs/architecture.md walks through this example.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from ensgui.app import create_window
from ensgui.engine.events import Artefact
from ensgui.engine.methods.base import METHODS, MEMBERS, Method
from ensgui.engine.spec import Spec
from ensgui.storage.opened_run import OpenedRun
from ensgui.storage.reader import read_artefact, read_snapshot
from ensgui.views.result_panels import register_result_panel, unregister_result_panel
from support import tiny_spec_dict

TOY = "toy_norms"  # the method
KIND = "toy"  # its artefacts: /analysis/toy/norms
BAR_COLOR = "#d62728"


class ToyNorms(Method):
    """Independent members, like a deep ensemble, that also report the L2 norm of every member's weights."""

    def train(self, ctx) -> None:
        from ensgui.engine.training import train_on_all_data

        train_on_all_data(ctx, self.members(), vectorize=False)
        norms = [np.sqrt(sum(float(np.sum(np.square(w, dtype=np.float64))) for w in ctx.rows[row].values()))
                 for row in sorted(ctx.rows)]
        ctx.emit(Artefact(f"{KIND}/norms", {"norms": np.asarray(norms)}, {"unit": "L2 norm of all weights"}))


def prepare_norms(opened: OpenedRun) -> np.ndarray:
    """Runs in the open-run worker: whatever is slow happens here, never on the GUI thread."""
    return np.asarray(opened.artefacts[f"{KIND}/norms"].arrays["norms"], dtype=np.float64)


class ToyPanel(QWidget):
    """A bar per ensemble row: its weight norm."""

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(self)
        self.plot.getPlotItem().setLabel("bottom", "ensemble row")
        self.plot.getPlotItem().setLabel("left", "weight norm")
        self.label = QLabel(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.plot, 1)
        self.norms: np.ndarray | None = None

    def show_run(self, loaded, prepared: Any) -> None:
        self.norms = prepared
        self.plot.getPlotItem().clear()
        self.plot.getPlotItem().addItem(pg.BarGraphItem(x=np.arange(len(prepared)), height=prepared, width=0.6,
                                                        brush=BAR_COLOR))
        self.label.setText(f"{loaded.opened.run.summary.name}: weight norms of {len(prepared)} rows")


@pytest.fixture
def toy_extension():
    METHODS.register(TOY, (MEMBERS,), title="Toy: members with their weight norms",
                     help="A test's method with an artefact of its own.")(ToyNorms)
    register_result_panel(KIND, "Toy norms", order=50, prepare=prepare_norms)(ToyPanel)
    yield
    METHODS.unregister(TOY)
    unregister_result_panel(KIND)


def test_a_toy_method_and_panel_defined_outside_ensgui_run_from_the_gui(qtbot, tmp_path, toy_extension,
                                                                       screenshot):
    values = tiny_spec_dict(method=TOY, members=2, name="toy")
    spec = Spec.from_dict(values)
    # The toy method is registered in this process only (by the fixture), so its runs train in a thread here: an
    # engine process knows what importing ensgui registers.
    window = create_window(tmp_path / "runs", spec, threads=1, backend="thread")
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    setup = window.screen("setup")
    assert setup.spec().method.name == TOY  # the Setup form lists the new method and holds its parameters

    finished: list = []
    window.controller.run_finished.connect(lambda ended, path: finished.append((ended, path)))
    with qtbot.waitSignal(window.document.loaded, timeout=120_000):
        qtbot.mouseClick(setup.start_button, Qt.MouseButton.LeftButton)
    ended, path = finished[0]
    assert ended.status == "finished", ended.error

    # The run file holds the artefact where the generic writer puts every artefact.
    stored = read_artefact(path, f"{KIND}/norms")
    assert stored is not None and stored.attrs["unit"] == "L2 norm of all weights"
    expected = [np.sqrt(sum(float(np.sum(np.square(w, dtype=np.float64)))
                            for w in read_snapshot(path, m, 0).values())) for m in range(2)]
    np.testing.assert_allclose(stored.arrays["norms"], expected, rtol=1e-12)

    # Results shows the panel registered for the artefact's kind, fed by its preparer.
    results = window.screen("results")
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is results, timeout=10_000)
    qtbot.waitUntil(lambda: any(_tab(t, "Toy norms") >= 0 for t in results.findChildren(QTabWidget)), timeout=10_000)
    tabs = next(t for t in results.findChildren(QTabWidget) if _tab(t, "Toy norms") >= 0)
    tabs.setCurrentIndex(_tab(tabs, "Toy norms"))  # the panel is built and draws the run when its tab is shown
    panel = results.panel(KIND)
    assert isinstance(panel, ToyPanel)
    qtbot.waitUntil(panel.isVisible, timeout=5000)
    np.testing.assert_array_equal(panel.norms, stored.arrays["norms"])
    screenshot(window, "toy-method-results-panel", colors=(BAR_COLOR,))


def _tab(tabs: QTabWidget, title: str) -> int:
    return next((i for i in range(tabs.count()) if tabs.tabText(i) == title), -1)
