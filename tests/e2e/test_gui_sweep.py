"""A gap sweep through the real main window: configured by typing in Setup, run, followed on Monitor, drawn on Sweep."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from ensgui.app import create_window
from ensgui.resources import default_spec
from ensgui.storage.sweep_store import read_sweep
from ensgui.views.export import VALUE_ROLE
from ensgui.views.sweep_view import PLOTS
from ensgui.views.theme import PALETTE
from support import type_into


@pytest.fixture(autouse=True)
def boxes(monkeypatch) -> list[str]:
    """Message boxes are recorded instead of shown: a modal box would block an offscreen test for ever."""
    shown: list[str] = []

    def record(_parent, title, text, *args, **kwargs):
        shown.append(f"{title}: {text}")
        return QMessageBox.StandardButton.Yes

    for name in ("warning", "information", "question", "critical"):
        monkeypatch.setattr(QMessageBox, name, record)
    return shown


def choose(setup, section: str, name: str) -> None:
    editor = setup.editors[section]
    editor.combo.setCurrentIndex(editor.combo.findData(name))
    assert editor.combo.currentData() == name


def retype(qtbot, line, text: str) -> None:
    """Select what a line edit holds and type over it, as a user does."""
    qtbot.mouseClick(line, Qt.MouseButton.LeftButton)
    qtbot.keyClick(line, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(line, text)


def small_sweep_setup(qtbot, window, gaps: str, epochs: int = 1) -> None:
    """A single LeNet-300-100 on 300 training objects as a gap sweep, all typed into Setup's forms."""
    setup = window.screen("setup")
    choose(setup, "model", "lenet300_100")
    choose(setup, "method", "single")
    type_into(qtbot, setup, "data", "train_size", "300")
    type_into(qtbot, setup, "data", "val_size", "100")
    type_into(qtbot, setup, "data", "test_size", "300")
    type_into(qtbot, setup, "budget", "epochs", str(epochs))
    type_into(qtbot, setup, "budget", "batch_size", "64")
    type_into(qtbot, setup, "spec", "name", "gui-sweep")
    experiment = setup.experiment
    combo = experiment.kind_combo
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton)
    combo.setCurrentIndex(combo.findData("gap_sweep"))
    combo.hidePopup()
    assert experiment.is_sweep() and experiment.gaps_edit.isVisible() and experiment.width_spin.isVisible()
    retype(qtbot, experiment.gaps_edit, gaps)
    retype(qtbot, experiment.width_spin.lineEdit(), "100")
    qtbot.keyClick(experiment.width_spin.lineEdit(), Qt.Key.Key_Tab)
    assert experiment.width_objects() == 100
    spec = setup.spec()
    assert (spec.data["train_size"], spec.method.name, spec.budget["epochs"]) == (300, "single", epochs)


def check_sweep_view_against_file(view, path) -> None:
    """Every curve, error bar and table cell of the Sweep screen is the summary file's number."""
    view.wait()  # the screen reads the summary in its worker
    data = read_sweep(path)
    assert view.path == path and len(data.gaps) > 0
    order = data.order()
    gaps = np.asarray(data.gaps)[order]
    for key, _title, _label, series in PLOTS:
        drawn = view.drawn(key)
        errors = view.drawn_errors(key)
        for s in series:
            stored = np.asarray(getattr(data, s.field))[order]
            x, y = drawn[s.name]
            np.testing.assert_array_equal(x, gaps)
            np.testing.assert_array_equal(y, stored[:, 0] if stored.ndim == 2 else stored)
            if stored.ndim == 2:
                ex, half = errors[s.name]
                good = np.isfinite(stored).all(axis=1)
                np.testing.assert_array_equal(ex, gaps[good])
                np.testing.assert_allclose(half, stored[good, 1], rtol=1e-12)
    table = view.table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert table.rowCount() == len(data.gaps)
    shown_test = np.array([table.item(r, headers.index("test acc")).data(VALUE_ROLE) for r in range(len(order))])
    np.testing.assert_array_equal(shown_test, np.asarray(data.test_acc)[order])
    assert [table.item(r, 0).text() for r in range(len(order))] == [str(data.labels[i]) for i in order]


@pytest.mark.gui
def test_gap_sweep_configured_in_setup_runs_and_is_drawn(qtbot, tmp_path, boxes, screenshot):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.show()
    small_sweep_setup(qtbot, window, "0, 1")
    setup = window.screen("setup")
    assert setup.start_button.isEnabled() and setup.start_button.text() == "Start gap sweep"
    assert setup.experiment.gaps_hint.text().startswith("2 runs of the spec")
    qtbot.waitUntil(lambda: setup.summary_labels["train"].text() == "300", timeout=5000)  # the debounced preview
    screenshot(window, "sweep-1-setup", colors=(PALETTE[0],))

    points, finished, summaries = [], [], []
    window.controller.sweep_progress.connect(lambda i, n, label: points.append((i, n, label)))
    window.controller.run_finished.connect(lambda ended, path: finished.append((ended, path)))
    window.controller.sweep_finished.connect(summaries.append)
    qtbot.mouseClick(setup.start_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.screen("monitor")
    qtbot.waitUntil(lambda: len(points) == 2, timeout=120000)
    assert window.screen("monitor").sweep_label.text() == "gap sweep: point 2 of 2 (gap 1)"
    qtbot.waitUntil(lambda: window.screen("monitor").loss_plot.point_count() > 0 or bool(finished), timeout=60000)
    screenshot(window, "sweep-2-monitor")
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=180000)
    ended, path = finished[0]
    assert ended.status == "finished", ended.error
    assert boxes == []
    assert points == [(0, 2, "0"), (1, 2, "1")]
    assert summaries == [path] and path.name.endswith(".sweep.h5")

    # The window switched to the Sweep screen, which draws exactly the summary file's numbers.
    sweep = window.screen("sweep")
    assert window.tabs.currentWidget() is sweep
    sweep.refresh()
    window.context.index.wait()
    assert [sweep.sweep_list.item(r).toolTip() for r in range(sweep.sweep_list.count())] == [str(path)]
    check_sweep_view_against_file(sweep, path)
    data = read_sweep(path)
    np.testing.assert_array_equal(data.gaps, [0.0, 1.0])
    assert np.isfinite(data.test_acc).all() and np.isfinite(np.asarray(data.hessian)[:, 0]).all()
    # Each point is an ordinary, finished run file in the workspace, listed on the Runs screen.
    for run in data.runs:
        with h5py.File(tmp_path / "runs" / run, "r") as f:
            assert f.attrs["status"] == "finished"
    window.context.index.refresh()
    window.context.index.wait()
    assert window.screen("runs").table.rowCount() == 2
    screenshot(window, "sweep-3-view", colors=(PALETTE[0],))
    window.close()


@pytest.mark.gui
def test_bad_gap_text_is_marked_at_the_field_and_disables_start(qtbot, tmp_path, screenshot):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.show()
    setup = window.screen("setup")
    experiment = setup.experiment
    assert not experiment.gaps_edit.isVisible() and setup.start_button.text() == "Start"
    experiment.kind_combo.setCurrentIndex(experiment.kind_combo.findData("gap_sweep"))
    assert experiment.gaps_edit.text() == "0, 0.5, 1, 2, 4, mean" and setup.start_button.isEnabled()
    retype(qtbot, experiment.gaps_edit, "0, 1, big")
    assert experiment.gaps_message.isVisible() and "'big'" in experiment.gaps_message.text()
    assert "mean" in experiment.gaps_message.text()  # the message says how to write the list
    assert not setup.start_button.isEnabled()
    screenshot(window, "sweep-0-setup-bad-gaps", colors=("#c62828",))
    requested = []
    setup.sweep_requested.connect(lambda *args: requested.append(args))
    setup.request_start()  # Ctrl+R while the text is bad starts nothing
    assert requested == [] and not window.controller.is_running()
    retype(qtbot, experiment.gaps_edit, "0, 1, 1")
    assert "twice" in experiment.gaps_message.text() and not setup.start_button.isEnabled()
    retype(qtbot, experiment.gaps_edit, "2, mean")
    assert not experiment.gaps_message.isVisible() and setup.start_button.isEnabled()
    assert experiment.gaps_hint.text().startswith("3 runs") and "added if missing" in experiment.gaps_hint.text()
    # Back to a single run: the gap list no longer matters.
    retype(qtbot, experiment.gaps_edit, "nonsense")
    experiment.kind_combo.setCurrentIndex(experiment.kind_combo.findData("single"))
    assert not experiment.gaps_message.isVisible() and setup.start_button.isEnabled()
    window.close()


@pytest.mark.gui
def test_cancel_during_a_sweep_keeps_the_finished_points(qtbot, tmp_path, screenshot):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.show()
    small_sweep_setup(qtbot, window, "0, 1, 2", epochs=30)
    points, finished = [], []
    window.controller.sweep_progress.connect(lambda i, n, label: points.append((i, n, label)))
    window.controller.run_finished.connect(lambda ended, path: finished.append((ended, path)))
    qtbot.mouseClick(window.screen("setup").start_button, Qt.MouseButton.LeftButton)
    # Cancel while the second point trains: the first is finished and stays in the summary.
    qtbot.waitUntil(lambda: len(points) == 2, timeout=300000)
    qtbot.waitUntil(lambda: window.screen("monitor").loss_plot.point_count() > 0, timeout=60000)
    assert window.screen("monitor").sweep_label.text() == "gap sweep: point 2 of 3 (gap 1)"
    qtbot.mouseClick(window.screen("monitor").cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=60000)
    ended, path = finished[0]
    assert ended.status == "cancelled" and window.screen("monitor").status() == "cancelled"
    assert len(points) == 2  # the third point never started
    data = read_sweep(path)
    np.testing.assert_array_equal(data.gaps, [0.0])
    assert window.tabs.currentWidget() is window.screen("sweep")
    check_sweep_view_against_file(window.screen("sweep"), path)
    # Resume on the Sweep screen trains the two missing points and keeps the first.
    view = window.screen("sweep")
    assert view.resume_button.isVisible()
    screenshot(window, "sweep-4-cancelled-resumable", colors=(PALETTE[0],))
    qtbot.mouseClick(view.resume_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.screen("monitor")
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=300000)
    assert finished[1][0].status == "finished" and finished[1][1] == path
    assert points[2:] == [(1, 3, "1"), (2, 3, "2")]
    resumed = read_sweep(path)
    assert resumed.labels == ["0", "1", "2"] and resumed.runs[0] == data.runs[0]
    view.wait()
    assert window.tabs.currentWidget() is view and not view.resume_button.isVisible()
    check_sweep_view_against_file(view, path)
    window.close()


@pytest.mark.gui
def test_a_sweep_that_fails_says_why_and_keeps_its_summary(qtbot, tmp_path, boxes):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.show()
    # One epoch of five steps leaves most training objects misclassified: the mean margin, the gap
    # 'mean', is negative and cannot be a gap.
    small_sweep_setup(qtbot, window, "mean")
    finished = []
    window.controller.run_finished.connect(lambda ended, path: finished.append((ended, path)))
    qtbot.mouseClick(window.screen("setup").start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=120000)
    ended, _path = finished[0]
    assert ended.status == "failed" and window.screen("monitor").status() == "failed"
    assert len(boxes) == 1 and boxes[0].startswith("Gap sweep failed:") and "drop 'mean'" in boxes[0]
    # The summary, marked failed, is listed on the Sweep screen with the gap-0 point it finished.
    view = window.screen("sweep")
    window.context.index.wait()
    assert view.sweep_list.count() == 1
    view.sweep_list.setCurrentRow(0)
    view.wait()
    data = read_sweep(view.path)
    assert data.status == "failed" and list(data.labels) == ["0"]
    check_sweep_view_against_file(view, view.path)
    window.close()
