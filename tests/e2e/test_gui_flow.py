"""The whole product path through the real main window: set up by typing, Start, watch, Cancel, inspect."""

from __future__ import annotations


import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt

from ensgui.app import create_window
from ensgui.resources import default_spec
from ensgui.views.export import VALUE_ROLE
from support import save_screenshot, type_into



def choose(setup, section: str, name: str) -> None:
    editor = setup.editors[section]
    editor.combo.setCurrentIndex(editor.combo.findData(name) if editor.combo.findData(name) >= 0
                                 else [editor.combo.itemText(i) for i in range(editor.combo.count())].index(name))


@pytest.mark.gui
def test_setup_start_monitor_cancel_and_results(qtbot, tmp_path):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.show()
    setup = window.setup
    assert setup.spec() == default_spec()
    save_screenshot(window, tmp_path, "e2e-1-setup-default")

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
    assert window.tabs.currentWidget() is window.monitor
    qtbot.waitUntil(lambda: window.monitor.loss_plot.point_count() > 0, timeout=60000)
    save_screenshot(window, tmp_path, "e2e-2-monitor-training")
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=120000)
    ended, path = finished[0]
    assert ended.status == "finished" and window.monitor.status() == "finished"

    # Results opened by themselves; the table holds exactly the run file's curves.
    assert window.tabs.currentWidget() is window.results
    save_screenshot(window, tmp_path, "e2e-3-results")
    table = window.results.curves_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "finished"
        for column, name in (("error", "error"), ("NLL", "nll"), ("CNLL", "cnll"), ("ECE", "ece")):
            stored = f[f"eval/test/curves/{name}"][()]
            shown = np.array([table.item(r, headers.index(column)).data(VALUE_ROLE) for r in range(table.rowCount())])
            np.testing.assert_allclose(shown, stored, rtol=0, atol=1e-12)
        assert table.rowCount() == f["eval/test/probs"].shape[0] == 3

    # A second run, cancelled from the Monitor while it trains.
    window.tabs.setCurrentWidget(setup)
    type_into(qtbot, setup, "budget", "epochs", "200")
    type_into(qtbot, setup, "spec", "name", "gui-cancelled")
    qtbot.mouseClick(setup.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.monitor.loss_plot.point_count() > 0, timeout=60000)
    qtbot.waitUntil(window.monitor.cancel_button.isEnabled, timeout=5000)
    qtbot.mouseClick(window.monitor.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=30000)
    cancelled_end, cancelled_path = finished[1]
    assert cancelled_end.status == "cancelled"
    save_screenshot(window, tmp_path, "e2e-4-monitor-cancelled")
    with h5py.File(cancelled_path, "r") as f:
        assert f.attrs["status"] == "cancelled"
        assert len(f["metrics/0/train_loss"]) > 0

    # The Runs list shows both; opening the finished one shows its setup read-only and its results.
    window.tabs.setCurrentWidget(window.runs)
    window.runs.refresh(force=True)
    save_screenshot(window, tmp_path, "e2e-5-runs")
    statuses = {window.runs.path_at(r).name: window.runs.table.item(r, 1).text()
                for r in range(window.runs.table.rowCount())}
    assert statuses == {path.name: "finished", cancelled_path.name: "cancelled"}
    window.runs.run_opened.emit(path)
    assert window.tabs.currentWidget() is window.results
    assert setup.is_read_only() and setup.spec().name == "gui-finished"
    window.tabs.setCurrentWidget(setup)
    save_screenshot(window, tmp_path, "e2e-6-setup-stored")
    assert window.weight_space.disagreement_matrix.shape == (3, 3)

    # Select the finished run in the Runs list and compare it: its curve is overlaid on the Compare screen.
    window.tabs.setCurrentWidget(window.runs)
    window.runs.table.selectRow(window.runs.row_of(path))
    qtbot.mouseClick(window.runs.compare_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.compare
    assert window.compare.checked_paths() == [path]
    save_screenshot(window, tmp_path, "e2e-7-compare")
    window.close()
