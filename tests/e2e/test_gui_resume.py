"""Stop & evaluate in the Monitor, then Resume (from the Monitor and from Runs): the run ends as if never stopped."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt

from ensgui.app import create_window
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState
from ensgui.storage.checkpoint import has_checkpoint
from ensgui.storage.workspace import Workspace
from ensgui.tasks.run import run_to_file
from ensgui.views.theme import STATUS_COLORS
from support import settle, tiny_spec_dict


def small_spec() -> Spec:
    values = tiny_spec_dict(members=2, epochs=25, train_size=256, val_size=64, test_size=200, name="gui-resume")
    return Spec.from_dict(values)


def uninterrupted(spec: Spec, folder: Path) -> np.ndarray:
    path = Workspace(folder).new_run_path(spec.name)
    assert run_to_file(spec, path, TaskState(), threads=1).status == "finished"
    with h5py.File(path, "r", locking=False) as f:
        return f["eval/test/probs"][()]


def stop_and_evaluate(qtbot, window, finished: list) -> Path:
    monitor = window.screen("monitor")
    qtbot.waitUntil(lambda: monitor.loss_plot.point_count() > 0, timeout=60000)
    qtbot.mouseClick(monitor.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=60000)
    ended, path = finished.pop()
    assert ended.status == "cancelled"
    with h5py.File(path, "r", locking=False) as f:
        assert f.attrs["status"] == "cancelled"
        assert sorted(f["eval/test"].attrs["partial_rows"]) == [0, 1]  # both members, as they stood
        assert 0 < max(f["eval/test"].attrs["partial_epochs"]) < 25
    assert has_checkpoint(path)
    return path


@pytest.mark.gui
def test_stop_and_evaluate_then_resume_from_the_monitor_and_from_runs(qtbot, tmp_path, screenshot):
    spec = small_spec()
    expected = uninterrupted(spec, tmp_path / "reference")
    window = create_window(tmp_path / "runs", spec, threads=1)
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    finished: list = []
    window.controller.run_finished.connect(lambda ended, path: finished.append((ended, path)))
    monitor = window.screen("monitor")
    assert monitor.cancel_button.text() == "Stop && evaluate"

    # Stop & evaluate, then Resume on the Monitor; stop the resumed run again, then Resume from Runs.
    window.start_run(spec)
    path = stop_and_evaluate(qtbot, window, finished)
    window.show_screen("monitor")
    assert monitor.resume_button.isVisible()
    qtbot.mouseClick(monitor.resume_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is monitor and window.controller.is_running()
    assert stop_and_evaluate(qtbot, window, finished) == path
    screenshot(monitor, "resume-1-monitor-stopped-twice", colors=(STATUS_COLORS["cancelled"][0],))

    runs = window.screen("runs")
    window.show_screen("runs")
    window.context.index.refresh()
    qtbot.waitUntil(lambda: runs.row_of(path) >= 0, timeout=10000)
    runs.table.selectRow(runs.row_of(path))
    assert runs.resume_button.isEnabled()
    qtbot.mouseClick(runs.resume_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is monitor
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=120000)
    ended, resumed = finished.pop()
    assert ended.status == "finished" and resumed == path
    settle(window.context)
    # The live curves of the last session follow the stored ones of the two before it.
    epochs, _ = monitor.loss_plot.raw_data(0)
    assert epochs[0] < 1 and epochs[-1] == 25 and np.all(np.diff(epochs) > 0)
    screenshot(window, "resume-2-finished", colors=(STATUS_COLORS["finished"][0],))

    with h5py.File(path, "r", locking=False) as f:
        assert f.attrs["status"] == "finished"
        np.testing.assert_array_equal(f["eval/test/probs"][()], expected)  # bitwise, as if never stopped
        log = [line.decode() for line in f["log"][()]]
    assert sum("resumed in epoch" in line for line in log) == 2
    assert not has_checkpoint(path)
    window.context.index.refresh()
    qtbot.waitUntil(lambda: runs.row_of(path) >= 0 and not runs.resume_button.isEnabled(), timeout=10000)
