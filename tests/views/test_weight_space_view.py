"""The Weight space screen draws the engine's distances and disagreement of exactly what the run file stores."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QFileDialog

from ensgui.engine import weight_space
from ensgui.storage.reader import list_snapshots, read_snapshot
from ensgui.views import weight_space_view
from ensgui.views.screens import AppContext
from ensgui.views.theme import PALETTE
from ensgui.views.weight_space_view import WeightSpaceView
from support import SHOTS, open_and_wait

VIRIDIS_DARK = "#440154"  # the heatmap's zero diagonal


def _view(qtbot, context: AppContext, path: Path | None = None) -> WeightSpaceView:
    view = WeightSpaceView(context)
    qtbot.addWidget(view)
    view.resize(1300, 700)
    if path is not None:
        _open(context, path)
    return view


def _open(context: AppContext, path: Path) -> None:
    open_and_wait(context, path)


def _stored_probs(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["eval/test/probs"][()]


@pytest.mark.parametrize("method", ["deep_ensemble", "bagging"])
def test_heatmap_is_the_disagreement_of_the_stored_probs(qtbot, context, finished_runs, method):
    path = finished_runs[method]
    view = _view(qtbot, context, path)
    expected = weight_space.disagreement(_stored_probs(path))
    np.testing.assert_array_equal(view.disagreement_matrix, expected)
    np.testing.assert_array_equal(view.heatmap_image.image, expected)
    assert view.heatmap_image.axisOrder == "row-major"
    top = float(expected.max())
    assert tuple(view.heatmap_image.levels) == (0.0, top)
    assert tuple(view.color_bar.levels()) == (0.0, top)
    k = expected.shape[0]
    ticks = view.heatmap_plot.getPlotItem().getAxis("bottom")._tickLevels[0]
    assert [v for v, _ in ticks] == list(range(k))
    # The value of a cell is shown on hover: in the label and as the image's tooltip.
    vb = view.heatmap_plot.getPlotItem().getViewBox()
    view.show()
    qtbot.waitExposed(view)
    view._mouse_moved(vb.mapViewToScene(QPointF(2.1, 0.9)))
    assert view.hover_label.text() == view.hover_text(1, 2)
    assert f"{expected[1, 2]:.4f}" in view.heatmap_image.toolTip()
    assert f"of {_stored_probs(path).shape[1]} test objects" in view.hover_text(1, 2)


def test_distances_plot_equals_distances_from_first_on_the_stored_states(qtbot, context, finished_runs,
                                                                         monkeypatch):
    path = finished_runs["bagging"]
    gui_thread = threading.current_thread()
    real_read = weight_space_view.read_snapshot

    def read_off_the_gui_thread(*args):
        assert threading.current_thread() is not gui_thread, "a snapshot was read on the GUI thread"
        return real_read(*args)

    monkeypatch.setattr(weight_space_view, "read_snapshot", read_off_the_gui_thread)
    view = _view(qtbot, context, path)
    infos = sorted(list_snapshots(path), key=lambda s: s.row)
    states = [read_snapshot(path, s.member, s.index) for s in infos]
    expected = weight_space.distances_from_first(states)
    assert expected[0] == 0.0 and np.all(expected[1:] > 0)
    x, y = view.drawn_distances()
    np.testing.assert_array_equal(y, expected)
    # Members trained side by side share their steps, so the rows tell them apart by default.
    assert len({s.step for s in infos}) < len(infos)
    assert view.x_axis == "row"
    np.testing.assert_array_equal(x, np.arange(len(infos)))
    view.select_x_axis("step")
    x, y = view.drawn_distances()
    np.testing.assert_array_equal(x, [s.step for s in infos])
    np.testing.assert_array_equal(y, expected)
    view.select_x_axis("epoch")
    np.testing.assert_array_equal(view.drawn_distances()[0], [s.epoch for s in infos])
    parameters = sum(np.asarray(states[0][n]).size for n in weight_space.parameter_names(states[0]))
    assert f"parameters: <b>{parameters:,}</b>" in view.details_label.text()


def test_run_without_snapshots_or_predictions_shows_messages(qtbot, context, finished_runs, tmp_path, screenshot):
    path = tmp_path / "bare.h5"
    shutil.copy(finished_runs["deep_ensemble"], path)
    with h5py.File(path, "a") as f:
        del f["members"]
        del f["eval"]
    view = _view(qtbot, context, path)
    assert view.distance_stack.message() == weight_space_view.NO_SNAPSHOTS
    assert view.heatmap_stack.message() == weight_space_view.NO_PREDICTIONS
    assert view.disagreement_matrix is None
    assert not view.heatmap_actions[0].isEnabled()
    screenshot(view, "weightspace-no-data")
    # A run with data afterwards brings the plots back.
    _open(context, finished_runs["deep_ensemble"])
    assert not view.distance_stack.showing_message()
    assert not view.heatmap_stack.showing_message()


def test_snapshots_of_different_models_say_why_in_both_panels(qtbot, context, finished_runs, tmp_path):
    path = tmp_path / "mixed.h5"
    shutil.copy(finished_runs["deep_ensemble"], path)
    with h5py.File(path, "a") as f:
        weights = f["members/1/snapshots/0"]
        del weights[next(iter(weights))]  # member 1 lacks a parameter the first snapshot has
    view = _view(qtbot, context, path)
    for stack in (view.distance_stack, view.heatmap_stack):
        assert "snapshots of different models cannot be compared" in stack.message()
    assert not view.distance_actions[0].isEnabled() and not view.heatmap_actions[0].isEnabled()


def test_unreadable_file_is_reported_and_the_screen_keeps_its_run(qtbot, context, finished_runs, tmp_path):
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"not an hdf5 file at all" * 10)
    view = _view(qtbot, context, finished_runs["bagging"])
    shown = view.disagreement_matrix
    with qtbot.waitSignal(context.document.failed, timeout=10_000) as blocker:
        context.document.open(bad)
    assert blocker.args[0] == bad and "is not a readable ensgui run file" in blocker.args[1]
    assert view.path == finished_runs["bagging"] and view.disagreement_matrix is shown


def test_exports_and_screenshots(qtbot, context, finished_runs, tmp_path, monkeypatch, screenshot):
    view = _view(qtbot, context)
    view.show()
    qtbot.waitExposed(view)
    target: dict[str, Path] = {}
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(target["path"]), "")))
    for name in ("deep_ensemble", "bagging"):
        _open(context, finished_runs[name])
        qtbot.wait(100)
        # One colour per member in the distances, viridis in the heatmap.
        screenshot(view, f"weightspace-{name}", colors=(*PALETTE[:3], VIRIDIS_DARK))
    for action, file in ((view.heatmap_actions[0], "heat.png"), (view.heatmap_actions[1], "heat.svg"),
                         (view.distance_actions[0], "dist.png"), (view.distance_actions[1], "dist.svg")):
        target["path"] = tmp_path / file
        action.trigger()
        assert target["path"].stat().st_size > 0
    assert "<svg" in (tmp_path / "heat.svg").read_text(encoding="utf-8")
    shutil.copy(tmp_path / "heat.png", SHOTS / "weightspace-heatmap-export.png")
