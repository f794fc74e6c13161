"""The whole product path through the real main window: set up by typing, Start, watch, Cancel, inspect."""

from __future__ import annotations


import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt

from ensgui.app import create_window
from ensgui.resources import default_spec
from ensgui.views.export import VALUE_ROLE
from ensgui.views.theme import PALETTE, STATUS_COLORS
from support import settle, type_into


def choose(setup, section: str, name: str) -> None:
    editor = setup.editors[section]
    editor.combo.setCurrentIndex(editor.combo.findData(name) if editor.combo.findData(name) >= 0
                                 else [editor.combo.itemText(i) for i in range(editor.combo.count())].index(name))


@pytest.mark.gui
def test_setup_start_monitor_cancel_and_results(qtbot, tmp_path, screenshot):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.show()
    setup = window.screen("setup")
    assert setup.spec() == default_spec()
    screenshot(window, "e2e-1-setup-default", colors=(PALETTE[0],))  # the planned learning rate

    # Fill the setup: a small deep ensemble of MLPs, by typing into the generated forms.
    choose(setup, "model", "lenet300_100")
    type_into(qtbot, setup, "data", "train_size", "1000")
    type_into(qtbot, setup, "data", "val_size", "200")
    type_into(qtbot, setup, "data", "test_size", "1000")
    type_into(qtbot, setup, "method", "members", "3")
    type_into(qtbot, setup, "budget", "epochs", "2")
    type_into(qtbot, setup, "spec", "name", "gui-finished")
    spec = setup.spec()
    assert (spec.model.name, spec.data["train_size"], spec.method["members"], spec.budget["epochs"]) == (
        "lenet300_100", 1000, 3, 2)

    finished = []
    window.controller.run_finished.connect(lambda ended, path: finished.append((ended, path)))
    qtbot.mouseClick(setup.start_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.screen("monitor")
    qtbot.waitUntil(lambda: window.screen("monitor").loss_plot.point_count() > 0, timeout=60000)
    screenshot(window, "e2e-2-monitor-training", colors=(PALETTE[0],))  # member 0's curves
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=120000)
    ended, path = finished[0]
    assert ended.status == "finished" and window.screen("monitor").status() == "finished"

    # Results opened by themselves once the run was read; the table holds exactly the run file's curves.
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is window.screen("results"), timeout=30000)
    qtbot.waitUntil(lambda: window.screen("results").curves_table.rowCount() == 3, timeout=30000)
    screenshot(window, "e2e-3-results", colors=(PALETTE[0],))
    table = window.screen("results").curves_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "finished"
        for column, name in (("error (%)", "error"), ("NLL", "nll"), ("CNLL", "cnll"), ("ECE", "ece")):
            stored = f[f"eval/test/curves/{name}"][()]
            shown = np.array([table.item(r, headers.index(column)).data(VALUE_ROLE) for r in range(table.rowCount())])
            np.testing.assert_allclose(shown, stored, rtol=0, atol=1e-12)
        assert table.rowCount() == f["eval/test/probs"].shape[0] == 3

    # A second run, cancelled from the Monitor while it trains.
    window.tabs.setCurrentWidget(setup)
    type_into(qtbot, setup, "budget", "epochs", "200")
    type_into(qtbot, setup, "spec", "name", "gui-cancelled")
    qtbot.mouseClick(setup.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.screen("monitor").loss_plot.point_count() > 0, timeout=60000)
    qtbot.waitUntil(window.screen("monitor").cancel_button.isEnabled, timeout=5000)
    qtbot.mouseClick(window.screen("monitor").cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=30000)
    cancelled_end, cancelled_path = finished[1]
    assert cancelled_end.status == "cancelled"
    monitor = window.screen("monitor")
    assert monitor.resume_button.isVisible()
    screenshot(monitor, "e2e-4-monitor-cancelled", colors=(STATUS_COLORS["cancelled"][0],))
    with h5py.File(cancelled_path, "r") as f:
        assert f.attrs["status"] == "cancelled"
        assert len(f["metrics/0/train_loss"]) > 0
        assert f["eval/test/probs"].shape[0] == 3  # Stop & evaluate kept every member, as it stood
    # ... and Results opens on them, marked partial.
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is window.screen("results")
                    and window.screen("results").path == cancelled_path, timeout=30000)
    settle(window.context)
    assert sorted(window.screen("results").eval_data().partial) == [0, 1, 2]
    assert "partial row" in window.screen("results").temperature_label.text()

    # The Runs list shows both; opening the finished one shows its setup read-only and its results.
    runs = window.screen("runs")
    window.tabs.setCurrentWidget(runs)
    qtbot.waitUntil(lambda: runs.table.rowCount() == 2, timeout=10000)
    screenshot(window, "e2e-5-runs", colors=(STATUS_COLORS["cancelled"][0],))
    statuses = {runs.path_at(r).name: runs.table.item(r, 1).text() for r in range(runs.table.rowCount())}
    assert statuses == {path.name: "finished", cancelled_path.name: "cancelled"}
    runs.table.selectRow(runs.row_of(path))
    qtbot.mouseClick(runs.open_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.screen("results")
    window.document.wait()
    window.tabs.setCurrentWidget(setup)  # Setup fills with the stored spec when it is looked at
    assert setup.is_read_only() and setup.spec().name == "gui-finished"
    screenshot(window, "e2e-6-setup-stored")
    window.tabs.setCurrentWidget(window.screen("weight_space"))  # a screen draws the open run when shown
    settle()  # part by part
    assert window.screen("weight_space").disagreement_matrix.shape == (3, 3)

    # Select the finished run in the Runs list and compare it: its curve is overlaid on the Compare screen.
    window.tabs.setCurrentWidget(window.screen("runs"))
    window.screen("runs").table.selectRow(window.screen("runs").row_of(path))
    qtbot.mouseClick(window.screen("runs").compare_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.screen("compare")
    assert window.screen("compare").checked_paths() == [path]
    qtbot.waitUntil(lambda: window.screen("compare").run_curves() != [], timeout=10000)
    screenshot(window, "e2e-7-compare", colors=(PALETTE[0],))
    window.close()
