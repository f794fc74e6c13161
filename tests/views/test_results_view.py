"""The Results screen shows exactly what the run file holds: curves, members, calibration, DEE, exports."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import h5py
import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from ensgui.engine import metrics
from ensgui.engine.errors import RunFileError
from ensgui.storage.workspace import Workspace
from ensgui.views.export import VALUE_ROLE
from ensgui.views.metric_curves_plot import metric_label, metric_short
from ensgui.views.results_view import ResultsView, fmt, fmt_mean_std

SHOTS = Path("/tmp/ensgui-shots")


@pytest.fixture(autouse=True)
def _app_look() -> None:
    # The look app.create_window sets, so that screenshots show what users see.
    pg.setConfigOptions(antialias=True, background="w", foreground="k")


def _view(qtbot, folder: Path) -> ResultsView:
    view = ResultsView(Workspace(folder))
    qtbot.addWidget(view)
    view.resize(1400, 900)
    return view


def _file_curves(path: Path, split: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        group = f[f"eval/{split}/curves"]
        return {name: group[name][()] for name in group}


def _column(table, header: str) -> int:
    for c in range(table.columnCount()):
        if table.horizontalHeaderItem(c).text() == header:
            return c
    raise AssertionError(f"no column {header!r}")


def _check_curves(view: ResultsView, path: Path, split: str) -> None:
    curves = _file_curves(path, split)
    table = view.curves_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[0] == "k"
    k_rows = next(iter(curves.values())).shape[0]
    assert table.rowCount() == k_rows
    assert [table.item(r, 0).data(VALUE_ROLE) for r in range(k_rows)] == list(range(1, k_rows + 1))
    names = [view.metric_combo.itemData(i) for i in range(view.metric_combo.count())]
    assert set(names) == set(curves)
    for name in names:
        c = headers.index(metric_short(name))
        for r in range(k_rows):
            mean, std = curves[name][r]
            item = table.item(r, c)
            assert item.data(VALUE_ROLE) == (mean, std) or (np.isnan(mean) and np.isnan(item.data(VALUE_ROLE)[0]))
            assert item.text() == fmt_mean_std(float(mean), float(std))
    for name in ("error", "nll", "cnll", "cnll_val", "brier", "ece", "auroc"):
        view.select_metric(name)
        label = view.run.summary.name
        assert view.curves_plot.run_names()[0] == label
        k, mean, std = view.curves_plot.drawn(label)
        np.testing.assert_array_equal(k, np.arange(1, k_rows + 1))
        np.testing.assert_array_equal(mean, curves[name][:, 0])
        np.testing.assert_allclose(std, curves[name][:, 1], atol=1e-12)
        assert view.curves_plot.getPlotItem().getAxis("left").labelText == metric_label(name)


def test_show_run_fills_table_and_plot_with_the_file_numbers(qtbot, finished_runs):
    path = finished_runs["deep_ensemble"]
    view = _view(qtbot, path.parent)
    assert not view.has_results()
    view.show_run(path)
    assert view.has_results()
    assert view.split == "test"
    _check_curves(view, path, "test")
    assert "tiny-de" in view.title_label.text()
    details = view.details_label.text()
    for word in ("deep_ensemble", "fashion-mnist", "lenet300_100", "cpu"):
        assert word in details


def test_validation_split_shows_eval_val(qtbot, finished_runs):
    path = finished_runs["bagging"]
    view = _view(qtbot, path.parent)
    view.show_run(path)
    view.select_split("val")
    assert view.split == "val"
    _check_curves(view, path, "val")
    # The numbers differ from the test split's, so the switch really changed the source.
    assert not np.array_equal(_file_curves(path, "val")["nll"], _file_curves(path, "test")["nll"])
    view.select_split("test")
    _check_curves(view, path, "test")


def test_member_table_matches_eval_members(qtbot, finished_runs):
    path = finished_runs["bagging"]
    view = _view(qtbot, path.parent)
    view.show_run(path)
    with h5py.File(path, "r") as f:
        members = {name: f["eval/test/members"][name][()] for name in f["eval/test/members"]}
        row_names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["row_names"]]
    table = view.members_table
    assert table.rowCount() == len(row_names) == 3
    assert [table.item(r, 0).text() for r in range(3)] == row_names
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    for name, values in members.items():
        c = headers.index(metric_short(name))
        for r in range(3):
            assert table.item(r, c).data(VALUE_ROLE) == values[r]
            assert table.item(r, c).text() == fmt(float(values[r]))


def test_dee_of_the_deep_ensemble_against_itself_is_k(qtbot, finished_runs):
    path = finished_runs["deep_ensemble"]
    view = _view(qtbot, path.parent)
    view.show_run(path)
    # The only deep ensemble is this run, and the default reference is another run: none here.
    assert view.reference_combo.currentData() is None
    assert path in view.reference_paths()
    view.select_reference(path)
    c = _column(view.curves_table, "DEE")
    dee = np.array([view.curves_table.item(r, c).data(VALUE_ROLE) for r in range(view.curves_table.rowCount())])
    np.testing.assert_allclose(dee, np.arange(1, len(dee) + 1), rtol=0, atol=1e-9)
    x, y = [i for i in view.dee_plot.getPlotItem().listDataItems() if i.name() == "this run"][0].getData()
    np.testing.assert_allclose(y, dee, atol=0)
    view.select_reference(None)
    with pytest.raises(AssertionError):
        _column(view.curves_table, "DEE")


def test_dee_of_bagging_against_the_deep_ensemble(qtbot, finished_runs):
    path = finished_runs["bagging"]
    view = _view(qtbot, path.parent)
    view.show_run(path)
    # The default reference is the most recent other finished deep ensemble.
    assert Path(view.reference_combo.currentData()) == finished_runs["deep_ensemble"]
    c = _column(view.curves_table, "DEE")
    dee = np.array([view.curves_table.item(r, c).data(VALUE_ROLE) for r in range(view.curves_table.rowCount())])
    assert dee.shape == (3,)
    assert np.all(dee >= 1.0) and np.all(dee <= 3.0)
    # The bagging curve and its DE reference are both drawn.
    assert len(view.curves_plot.run_names()) == 2


def test_exports_write_files_and_csv_reads_back(qtbot, finished_runs, tmp_path, monkeypatch):
    path = finished_runs["bagging"]
    view = _view(qtbot, path.parent)
    view.show()
    qtbot.waitExposed(view)
    view.show_run(path)
    target: dict[str, Path] = {}
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(target["path"]), "")))

    def export(action, name: str) -> Path:
        target["path"] = tmp_path / name
        action.trigger()
        assert target["path"].exists() and target["path"].stat().st_size > 0
        return target["path"]

    png = export(view.curves_actions[0], "curves.png")
    assert QImage(str(png)).width() == 1600
    svg = export(view.curves_actions[1], "curves.svg")
    assert "<svg" in svg.read_text(encoding="utf-8")
    export(view.calibration_actions[0], "calibration.png")
    export(view.dee_actions[1], "dee.svg")
    csv_path = export(view.curves_table_actions[0], "curves.csv")
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    table = view.curves_table
    assert len(body) == table.rowCount()
    assert header[0] == "k"
    curves = _file_curves(path, "test")
    assert header.count("NLL mean") == 1 and header.count("NLL std") == 1
    for r, row in enumerate(body):
        assert int(row[0]) == r + 1
        mean = float(row[header.index("NLL mean")])
        std = float(row[header.index("NLL std")])
        assert (mean, std) == tuple(curves["nll"][r])
        assert float(row[header.index("DEE")]) == table.item(r, _column(table, "DEE")).data(VALUE_ROLE)
    members_csv = export(view.members_table_actions[0], "members.csv")
    with members_csv.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "member" and len(rows) == 4


def test_calibration_bars_match_reliability_of_stored_probs(qtbot, finished_runs):
    path = finished_runs["deep_ensemble"]
    view = _view(qtbot, path.parent)
    view.show_run(path)
    with h5py.File(path, "r") as f:
        probs = f["eval/test/probs"][()]
        labels = f["eval/test/labels"][()]
        ece_curve = f["eval/test/curves/ece"][()]
    diagram = metrics.reliability(probs.astype(np.float64).mean(axis=0), labels, 15)
    np.testing.assert_allclose(view.calibration_plot.bar_heights(), np.nan_to_num(diagram.accuracy), atol=1e-12)
    np.testing.assert_array_equal(view.calibration_plot.diagram.count, diagram.count)
    # At full size every order holds all members, so the stored ECE is this diagram's.
    assert view.calibration_plot.diagram.ece == pytest.approx(ece_curve[-1, 0], abs=1e-9)
    assert f"{diagram.ece:.4g}" in view.calibration_plot.getPlotItem().titleLabel.text
    filled = int(np.argmax(diagram.count))
    assert f"{int(diagram.count[filled])} objects" in view.calibration_plot.bin_text(filled)


def test_run_without_evaluation_shows_a_message(qtbot, finished_runs, tmp_path):
    path = tmp_path / "cancelled.h5"
    shutil.copy(finished_runs["deep_ensemble"], path)
    with h5py.File(path, "a") as f:
        for split in list(f["eval"]):
            del f["eval"][split]
        f.attrs["status"] = "cancelled"
    view = _view(qtbot, tmp_path)
    view.show_run(path)
    assert not view.has_results()
    assert view.stack.currentWidget() is view.message_label
    assert "cancelled before any member finished" in view.message_label.text()
    assert not view.split_combo.isEnabled()
    view.show()
    qtbot.waitExposed(view)
    SHOTS.mkdir(parents=True, exist_ok=True)
    view.grab().save(str(SHOTS / "results-cancelled.png"))
    # Showing a run with results afterwards brings the panels back.
    view.show_run(finished_runs["deep_ensemble"])
    assert view.has_results() and view.stack.currentWidget() is view.content


def test_unreadable_file_raises_run_file_error(qtbot, tmp_path):
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"not an hdf5 file at all" * 10)
    view = _view(qtbot, tmp_path)
    with pytest.raises(RunFileError):
        view.show_run(bad)
    assert not view.has_results()


def test_screenshots(qtbot, finished_runs, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    view.show()
    qtbot.waitExposed(view)
    for name, path in (("bagging", finished_runs["bagging"]), ("deep-ensemble", finished_runs["deep_ensemble"])):
        view.show_run(path)
        qtbot.wait(100)
        image = view.grab()
        for folder in (tmp_path, SHOTS):
            assert image.save(str(folder / f"results-{name}.png"))
    view.select_split("val")
    view.select_metric("error")
    view.tables.setCurrentIndex(1)
    qtbot.wait(100)
    view.grab().save(str(SHOTS / "results-val-members.png"))
    assert (tmp_path / "results-bagging.png").stat().st_size > 0
