"""The "gap = mean training margin of a run" option driven through Setup: Browse picks the run, the run uses its gap."""

from __future__ import annotations

import h5py
import pytest
from PySide6.QtCore import Qt

from ensgui.app import create_window
from ensgui.resources import default_spec
from ensgui.storage.reader import mean_train_margin, read_run
from ensgui.views.theme import PALETTE
from support import train_run_file, type_into
from test_cyclic_methods_gui import pick
from test_gap_boosting_gui import start_and_wait


@pytest.mark.gui
def test_gap_from_a_run_picked_with_browse(qtbot, tmp_path, monkeypatch, screenshot):
    source = train_run_file(tmp_path / "runs", method="single", epochs=2, name="plain-ce")
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.resize(1400, 950)
    window.show()
    qtbot.waitExposed(window)
    setup = window.screen("setup")

    pick(qtbot, setup.editors["loss"].combo, "gap")
    field = setup.editors["loss"].form().fields["gap_from_run"]
    offered = []

    def choose(parent, caption, start, filters):
        offered.append((caption, start, filters))
        return str(source), filters

    monkeypatch.setattr("ensgui.views.schema_form.QFileDialog.getOpenFileName", choose)
    qtbot.mouseClick(field.browse, Qt.MouseButton.LeftButton)
    assert offered and "*.h5" in offered[0][2]
    assert field.editor.text() == str(source)
    pick(qtbot, setup.editors["method"].combo, "single")
    pick(qtbot, setup.editors["model"].combo, "lenet300_100")
    for name, text in (("train_size", "600"), ("val_size", "200"), ("test_size", "500")):
        type_into(qtbot, setup, "data", name, text)
    type_into(qtbot, setup, "budget", "epochs", "1")
    type_into(qtbot, setup, "spec", "name", "gap-from-run")
    spec = setup.spec()
    assert spec.loss.name == "gap" and spec.loss["gap_from_run"] == str(source)
    screenshot(window, "issue4-gap-from-run-setup", colors=(PALETTE[0],))

    path = start_and_wait(qtbot, window)
    expected = mean_train_margin(source)
    run = read_run(path, with_probs=False)
    assert run.spec.loss["gap_from_run"] == str(source)  # the spec as the user gave it
    assert any(f"gap = {expected:.4g}" in line for line in run.log)
    with h5py.File(path, "r") as f:
        assert f.attrs["extra.resolved_gap"] == pytest.approx(expected)


@pytest.mark.gui
def test_gap_from_a_run_without_margins_is_one_clear_message(qtbot, tmp_path, monkeypatch):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    messages = []
    monkeypatch.setattr("ensgui.views.main_window.QMessageBox.warning",
                        lambda parent, title, text: messages.append((title, text)))
    setup = window.screen("setup")
    pick(qtbot, setup.editors["loss"].combo, "gap")
    missing = tmp_path / "nowhere.h5"
    type_into(qtbot, setup, "loss", "gap_from_run", str(missing))
    pick(qtbot, setup.editors["model"].combo, "lenet300_100")
    type_into(qtbot, setup, "data", "train_size", "300")
    finished = []
    window.controller.run_finished.connect(lambda ended, p: finished.append(ended))
    qtbot.mouseClick(setup.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=60000)
    assert finished[0].status == "failed"
    assert str(missing) in finished[0].error
    # One dialog, naming the run file that could not give a gap.
    qtbot.waitUntil(lambda: len(messages) == 1, timeout=5000)
    assert messages[0][0] == "Run failed" and str(missing) in messages[0][1]
