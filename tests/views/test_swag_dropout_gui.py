"""SWAG and MC dropout through the real window: pick the method, type a small setup, Start, check Results."""

from __future__ import annotations


import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from ensgui.app import create_window
from ensgui.resources import default_spec
from ensgui.engine.methods import plan_for
from ensgui.views.export import VALUE_ROLE
from ensgui.views.theme import PALETTE
from support import compute_and_check_interpolation, type_into

SAMPLES = 3


def choose(setup, section: str, name: str) -> None:
    combo = setup.editors[section].combo
    index = combo.findData(name)
    assert index >= 0, f"{name} is not offered in the {section} combo"
    combo.setCurrentIndex(index)


def pick(setup, section: str, field: str, value) -> None:
    combo = setup.editors[section].form().fields[field].editor
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findData(value))


@pytest.mark.gui
@pytest.mark.parametrize("method", ["swag", "dropout"])
def test_sampling_method_from_setup_to_results(qtbot, tmp_path, method, screenshot):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.show()
    setup = window.screen("setup")

    choose(setup, "method", method)
    choose(setup, "model", "lenet300_100")
    type_into(qtbot, setup, "data", "train_size", "1000")
    type_into(qtbot, setup, "data", "val_size", "200")
    type_into(qtbot, setup, "data", "test_size", "1000")
    type_into(qtbot, setup, "budget", "epochs", "2")
    type_into(qtbot, setup, "method", "samples", str(SAMPLES))
    if method == "swag":
        pick(setup, "method", "variant", "swag")
        pick(setup, "method", "collect_per_epoch", 2)
        type_into(qtbot, setup, "method", "rank", "2")  # 2 epochs past the SWA start collect 2 vectors
        type_into(qtbot, setup, "method", "scale", "0.5")
    else:
        type_into(qtbot, setup, "model", "dropout", "0.5")
    type_into(qtbot, setup, "spec", "name", f"gui-{method}")
    spec = setup.spec()
    assert (spec.method.name, spec.method["samples"], spec.model.name, spec.budget["epochs"]) == (
        method, SAMPLES, "lenet300_100", 2)
    if method == "dropout":
        assert spec.model["dropout"] == 0.5
    setup.refresh()  # the preview and summary otherwise wait for the typing pause
    assert setup.summary_labels["rows"].text() == str(SAMPLES) and setup.summary_labels["members"].text() == "1"
    qtbot.wait(50)  # let the queued layout request size the new method form before the screenshot
    setup.scroll.ensureWidgetVisible(setup.group_boxes["method"])
    screenshot(window, f"issue3-{method}-1-setup", colors=(PALETTE[0],))

    finished = []
    window.controller.run_finished.connect(lambda ended, path: finished.append((ended, path)))
    qtbot.mouseClick(setup.start_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.screen("monitor")
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=120000)
    ended, path = finished[0]
    assert ended.status == "finished", ended.error
    window.tabs.setCurrentWidget(window.screen("monitor"))
    screenshot(window, f"issue3-{method}-2-monitor", colors=(PALETTE[0],))

    window.tabs.setCurrentWidget(window.screen("results"))
    qtbot.waitUntil(lambda: window.screen("results").curves_table.rowCount() == SAMPLES, timeout=30000)
    screenshot(window, f"issue3-{method}-3-results", colors=(PALETTE[0],))
    table = window.screen("results").curves_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "finished"
        assert f["eval/test/probs"].shape[0] == f["eval/val/probs"].shape[0] == SAMPLES
        assert table.rowCount() == SAMPLES
        for column, name in (("error (%)", "error"), ("NLL", "nll"), ("CNLL", "cnll"), ("ECE", "ece")):
            stored = f[f"eval/test/curves/{name}"][()]
            shown = np.array([table.item(r, headers.index(column)).data(VALUE_ROLE) for r in range(table.rowCount())])
            np.testing.assert_allclose(shown, stored, rtol=0, atol=1e-12)
        probs = f["eval/test/probs"][()]
    # Samples (SWAG) and passes (dropout) are different nets, not copies of one.
    assert not np.allclose(probs[0], probs[1])

    # Interpolation between SWAG's collected weights (final against each earlier); MC dropout trains one net
    # with one snapshot, so there is no pair to interpolate and Compute stays off.
    collected = len(plan_for(setup.spec()).snapshots)
    if method == "swag":
        compute_and_check_interpolation(qtbot, window, path, pairs=collected - 1)
        screenshot(window, f"issue3-{method}-4-interpolation", colors=(PALETTE[0],))
    else:
        window.tabs.setCurrentWidget(window.screen("interpolation"))
        assert collected == 1 and window.screen("interpolation").selected_pairs() == []
        assert not window.screen("interpolation").compute_button.isEnabled()
    window.close()
