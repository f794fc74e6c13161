"""SSE, FGE and cSGLD through the real main window: pick, type, preview the snapshots, Start, read the Results."""

from __future__ import annotations


import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from ensgui.app import create_window
from ensgui.engine.methods import plan_for
from ensgui.resources import default_spec
from ensgui.views.export import VALUE_ROLE
from ensgui.views.theme import PALETTE
from support import compute_and_check_interpolation, type_into

# Per method: what the user types into its form; each gives 4 ensemble rows on 1000 objects in 4 epochs.
FORMS = {
    "snapshot": {"cycles": "4", "alpha0": "0.1"},
    "fge": {"pretrain_fraction": "0.5", "cycle_epochs": "0.5"},
    "csgld": {"cycles": "2", "samples_per_cycle": "2", "beta": "0.8"},
}


def pick(qtbot, combo: QComboBox, name: str) -> None:
    """Open the combo's list and click the entry, as a user does."""
    index = combo.findData(name)
    assert index >= 0, f"{name} is not listed"
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=5000)
    view.scrollTo(combo.model().index(index, 0))
    rect = view.visualRect(combo.model().index(index, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: combo.currentData() == name, timeout=5000)
    combo.hidePopup()


@pytest.mark.gui
@pytest.mark.parametrize("method", list(FORMS))
def test_cyclic_method_from_setup_to_results(qtbot, tmp_path, method, screenshot):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    setup = window.screen("setup")

    pick(qtbot, setup.editors["method"].combo, method)
    pick(qtbot, setup.editors["model"].combo, "lenet300_100")
    for field, text in (("train_size", "1000"), ("val_size", "200"), ("test_size", "1000")):
        type_into(qtbot, setup, "data", field, text)
    type_into(qtbot, setup, "budget", "epochs", "4")
    if method == "csgld":
        type_into(qtbot, setup, "optimizer", "momentum", "0")  # plain SGLD
    for field, text in FORMS[method].items():
        type_into(qtbot, setup, "method", field, text)
    type_into(qtbot, setup, "spec", "name", f"gui-{method}")
    spec = setup.spec()
    assert spec.method.name == method and spec.budget["epochs"] == 4 and spec.data["train_size"] == 1000
    plan = plan_for(spec)
    assert plan.rows == len(plan.snapshots) == 4

    # The preview marks exactly the plan's snapshot (or sample) iterations, at the plan's rates.
    preview = setup.preview
    qtbot.waitUntil(lambda: preview.plan is not None and np.array_equal(preview.plan.lr, plan.lr), timeout=5000)
    x, y = preview.snapshot_marks.getData()
    np.testing.assert_array_equal(x, plan.snapshots)
    np.testing.assert_array_equal(y, plan.lr[plan.snapshots])
    assert setup.summary_labels["rows"].text() == "4"
    screenshot(window, f"issue3-{method}-1-setup", colors=(PALETTE[0],))

    finished = []
    window.controller.run_finished.connect(lambda ended, path: finished.append((ended, path)))
    qtbot.mouseClick(setup.start_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.screen("monitor")
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=120000)
    ended, path = finished[0]
    assert ended.status == "finished", ended.error

    # The Results table shows exactly the run file's curves, one line per ensemble size up to all snapshots.
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is window.screen("results"), timeout=30000)
    qtbot.waitUntil(lambda: window.screen("results").curves_table.rowCount() == len(plan.snapshots), timeout=30000)
    screenshot(window, f"issue3-{method}-2-results", colors=(PALETTE[0],))
    # One trained net gives the four rows; Results says so in the Monitor's words, not "members: 4".
    assert "1 member, 4 ensemble rows" in window.screen("results").details_label.text()
    table = window.screen("results").curves_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "finished"
        assert f["eval/test/probs"].shape[0] == table.rowCount() == len(plan.snapshots)
        for column, name in (("error (%)", "error"), ("NLL", "nll"), ("CNLL", "cnll"), ("ECE", "ece")):
            stored = f[f"eval/test/curves/{name}"][()]
            shown = np.array([table.item(r, headers.index(column)).data(VALUE_ROLE) for r in range(table.rowCount())])
            np.testing.assert_allclose(shown, stored, rtol=0, atol=1e-12)

    # Interpolation: the final snapshot against each earlier one, computed in the background and stored.
    compute_and_check_interpolation(qtbot, window, path, pairs=len(plan.snapshots) - 1)
    screenshot(window, f"issue3-{method}-3-interpolation", colors=(PALETTE[0],))
    window.close()
