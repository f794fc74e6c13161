"""The Weight space screen draws the engine's distances and disagreement of exactly what the run file stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QFileDialog

from ensgui.engine import weight_space
from ensgui.engine.errors import RunFileError
from ensgui.storage.reader import list_snapshots, read_snapshot
from ensgui.storage.workspace import Workspace
from ensgui.views.weight_space_view import WeightSpaceView

SHOTS = Path("/tmp/ensgui-shots")


@pytest.fixture(autouse=True)
def _app_look() -> None:
    # The look app.create_window sets, so that screenshots show what users see.
    pg.setConfigOptions(antialias=True, background="w", foreground="k")


def _view(qtbot, folder: Path) -> WeightSpaceView:
    view = WeightSpaceView(Workspace(folder))
    qtbot.addWidget(view)
    view.resize(1300, 700)
    return view


def _stored_probs(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["eval/test/probs"][()]


@pytest.mark.parametrize("method", ["deep_ensemble", "bagging"])
def test_heatmap_is_the_disagreement_of_the_stored_probs(qtbot, finished_runs, method):
    path = finished_runs[method]
    view = _view(qtbot, path.parent)
    view.show_run(path)
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


def test_distances_plot_equals_distances_from_first_on_the_stored_states(qtbot, finished_runs):
    path = finished_runs["bagging"]
    view = _view(qtbot, path.parent)
    view.show_run(path)
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
    assert "parameters" in view.details_label.text()


def test_run_without_snapshots_or_predictions_shows_messages(qtbot, finished_runs, tmp_path):
    path = tmp_path / "bare.h5"
    shutil.copy(finished_runs["deep_ensemble"], path)
    with h5py.File(path, "a") as f:
        del f["members"]
        del f["eval"]
    view = _view(qtbot, tmp_path)
    view.show_run(path)
    assert view.distance_stack.currentWidget() is view.distance_message
    assert view.heatmap_stack.currentWidget() is view.heatmap_message
    assert view.disagreement_matrix is None
    assert not view.heatmap_actions[0].isEnabled()
    # A run with data afterwards brings the plots back.
    view.show_run(finished_runs["deep_ensemble"])
    assert view.distance_stack.currentWidget() is view.distance_plot
    assert view.heatmap_stack.currentWidget() is view.heatmap_plot


def test_unreadable_file_raises_run_file_error(qtbot, tmp_path):
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"not an hdf5 file at all" * 10)
    view = _view(qtbot, tmp_path)
    with pytest.raises(RunFileError):
        view.show_run(bad)


def test_exports_and_screenshots(qtbot, finished_runs, tmp_path, monkeypatch):
    SHOTS.mkdir(parents=True, exist_ok=True)
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    view.show()
    qtbot.waitExposed(view)
    target: dict[str, Path] = {}
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(target["path"]), "")))
    for name in ("deep_ensemble", "bagging"):
        view.show_run(finished_runs[name])
        qtbot.wait(100)
        image = view.grab()
        for folder in (tmp_path, SHOTS):
            assert image.save(str(folder / f"weightspace-{name}.png"))
    for action, file in ((view.heatmap_actions[0], "heat.png"), (view.heatmap_actions[1], "heat.svg"),
                         (view.distance_actions[0], "dist.png"), (view.distance_actions[1], "dist.svg")):
        target["path"] = tmp_path / file
        action.trigger()
        assert target["path"].stat().st_size > 0
    assert "<svg" in (tmp_path / "heat.svg").read_text(encoding="utf-8")
    shutil.copy(tmp_path / "heat.png", SHOTS / "weightspace-heatmap-export.png")
