"""The Compare screen overlays exactly the files' curves, computes DEE, and tabulates and exports the file values."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import h5py
import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from ensgui.engine import comparison
from ensgui.engine.errors import RunFileError
from ensgui.storage.reader import read_summary
from ensgui.storage.workspace import Workspace
from ensgui.views.comparison_view import ComparisonView, parse_sizes
from ensgui.views.export import VALUE_ROLE
from ensgui.views.metric_curves_plot import metric_label

SHOTS = Path("/tmp/ensgui-shots")


@pytest.fixture(autouse=True)
def _app_look() -> None:
    # The look app.create_window sets, so that screenshots show what users see.
    pg.setConfigOptions(antialias=True, background="w", foreground="k")


def _view(qtbot, folder: Path) -> ComparisonView:
    view = ComparisonView(Workspace(folder))
    qtbot.addWidget(view)
    view.resize(1400, 900)
    return view


def _file_curves(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        group = f["eval/test/curves"]
        return {name: group[name][()] for name in group}


def _name(path: Path) -> str:
    return read_summary(path).name


def _both(finished_runs) -> list[Path]:
    return [finished_runs["deep_ensemble"], finished_runs["bagging"]]


def test_picker_lists_the_workspace_runs_and_ticks_follow_set_runs(qtbot, finished_runs):
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    assert set(view.list_paths()) == set(_both(finished_runs))
    assert view.checked_paths() == []
    assert "Tick runs" in view.dee_message.text()
    view.set_runs(_both(finished_runs))
    checked = [Path(view.run_list.item(i).data(Qt.ItemDataRole.UserRole + 2)) for i in range(view.run_list.count())
               if view.run_list.item(i).checkState() == Qt.CheckState.Checked]
    assert set(checked) == set(_both(finished_runs))
    assert [label for label, _ in view.runs] == [_name(p) for p in _both(finished_runs)]
    # Unticking in the list removes the run from the plots and the table.
    for i in range(view.run_list.count()):
        item = view.run_list.item(i)
        if Path(item.data(Qt.ItemDataRole.UserRole + 2)) == finished_runs["bagging"]:
            item.setCheckState(Qt.CheckState.Unchecked)
    assert view.checked_paths() == [finished_runs["deep_ensemble"]]
    assert view.curves_plot.run_names() == [_name(finished_runs["deep_ensemble"])]
    assert view.summary_table.rowCount() == 1


def test_set_runs_refuses_unreadable_files(qtbot, finished_runs, tmp_path):
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"not an hdf5 file" * 10)
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    with pytest.raises(RunFileError):
        view.set_runs([bad])


def test_overlaid_curves_equal_the_files_curves(qtbot, finished_runs):
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    view.set_runs(_both(finished_runs))
    names = [view.metric_combo.itemData(i) for i in range(view.metric_combo.count())]
    assert names == ["error", "nll", "cnll", "ece"]
    assert view.shown_metric == "cnll"
    for metric in names:
        view.select_metric(metric)
        assert view.curves_plot.run_names() == [_name(p) for p in _both(finished_runs)]
        for path in _both(finished_runs):
            stored = _file_curves(path)[metric]
            k, mean, std = view.curves_plot.drawn(_name(path))
            np.testing.assert_array_equal(k, np.arange(1, stored.shape[0] + 1))
            np.testing.assert_array_equal(mean, stored[:, 0])
            np.testing.assert_allclose(std, stored[:, 1], atol=1e-12)
        assert view.curves_plot.getPlotItem().getAxis("left").labelText == metric_label(metric)
        assert view.curves_plot.legend.isVisible()


def test_dee_of_the_deep_ensemble_against_itself_is_k(qtbot, finished_runs):
    de, bagging = finished_runs["deep_ensemble"], finished_runs["bagging"]
    view = _view(qtbot, de.parent)
    view.set_runs([bagging, de])
    # The ticked deep ensemble is the default reference.
    assert view.reference_paths() == [None, de]
    assert Path(view.reference_combo.currentData()) == de
    k_max = _file_curves(de)["cnll"].shape[0]
    k, dee = view.dee_curve(_name(de))
    np.testing.assert_array_equal(k, np.arange(1, k_max + 1))
    np.testing.assert_allclose(dee, np.arange(1, k_max + 1), rtol=0, atol=1e-9)
    # Bagging's DEE is the engine's on the two files' CNLL means.
    expected = comparison.dee_of_runs([("b", _file_curves(bagging))], _file_curves(de))["b"]
    np.testing.assert_array_equal(view.dee_curve(_name(bagging))[1], expected)
    assert np.all(expected >= 1.0) and np.all(expected <= k_max)
    view.select_reference(None)
    assert view.dee_values == {}
    assert view.dee_stack.currentWidget() is view.dee_message
    assert "Choose a finished deep ensemble" in view.dee_message.text()
    with pytest.raises(ValueError):
        view.select_reference(bagging)


def test_summary_table_cells_equal_the_file_values(qtbot, finished_runs):
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    view.set_runs(_both(finished_runs))
    table = view.summary_table
    k_max = _file_curves(finished_runs["deep_ensemble"])["error"].shape[0]
    assert view.table.sizes == comparison.default_sizes(k_max)
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[0] == "run"
    assert headers[1:] == [f"{'error (%)' if m == 'error' else 'CNLL'}\nk = {k}" for m, k in view.table.columns]
    for r, path in enumerate(_both(finished_runs)):
        curves = _file_curves(path)
        assert table.item(r, 0).text() == _name(path)
        for c, (metric, k) in enumerate(view.table.columns, start=1):
            item = table.item(r, c)
            assert item.data(VALUE_ROLE) == curves[metric][k - 1, 0]
            assert item.text() == comparison.format_value(metric, curves[metric][k - 1, 0])
    # Bold marks the best run of every column.
    for c, (metric, k) in enumerate(view.table.columns, start=1):
        values = [table.item(r, c).data(VALUE_ROLE) for r in range(2)]
        shown = [round(v * (100 if metric == "error" else 1), 2 if metric == "error" else 3) for v in values]
        for r in range(2):
            assert table.item(r, c).font().bold() == (shown[r] == min(shown))
    # Sizes beyond a run's members are missing, not made up.
    view.set_sizes((1, 2, 50))
    assert view.table.sizes == (1, 2, 50)
    c = 1 + view.table.column("cnll", 50)
    assert math.isnan(table.item(0, c).data(VALUE_ROLE)) and table.item(0, c).text() == "–"
    view.sizes_edit.setText("1; 2")
    view.sizes_edit.editingFinished.emit()
    assert view.table.sizes == (1, 2)
    view.sizes_edit.setText("one")
    view.sizes_edit.editingFinished.emit()
    assert view.table.sizes == (1, 2) and "whole numbers" in view.sizes_edit.toolTip()


def test_parse_sizes() -> None:
    assert parse_sizes("") is None
    assert parse_sizes("10, 1 5,5") == (1, 5, 10)
    with pytest.raises(ValueError):
        parse_sizes("0, 1")


def test_csv_and_latex_exports_write_the_expected_text(qtbot, finished_runs, tmp_path, monkeypatch):
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    view.set_runs(_both(finished_runs))
    target: dict[str, Path] = {}
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(target["path"]), "")))
    runs = [(_name(p), _file_curves(p)) for p in _both(finished_runs)]
    expected = comparison.summary_table(runs, metrics=("error", "cnll"))

    target["path"] = tmp_path / "table"  # no suffix: the button adds it
    path = view.export_csv()
    assert path == tmp_path / "table.csv"
    text = path.read_text(encoding="utf-8")
    assert text == comparison.to_csv(expected)
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "run" and len(rows) == 3
    de_cnll = _file_curves(finished_runs["deep_ensemble"])["cnll"]
    assert float(rows[1][rows[0].index("cnll@1")]) == de_cnll[0, 0]

    target["path"] = tmp_path / "table.tex"
    view.latex_button.click()
    latex = target["path"].read_text(encoding="utf-8")
    assert latex == comparison.to_latex(expected)
    assert latex.startswith("\\begin{tabular}{l") and "\\toprule" in latex and "\\bottomrule" in latex
    assert "\\textbf{" in latex and "Error (\\%)" in latex
    assert f"{de_cnll[0, 0]:.3f}" in latex

    # A cancelled dialog writes nothing.
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args, **kwargs: ("", "")))
    assert view.export_latex() is None


def test_plot_exports(qtbot, finished_runs, tmp_path, monkeypatch):
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    view.show()
    qtbot.waitExposed(view)
    view.set_runs(_both(finished_runs))
    target = tmp_path / "curves.svg"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args, **kwargs: (str(target), "")))
    view.curves_actions[1].trigger()
    assert "<svg" in target.read_text(encoding="utf-8")
    target = tmp_path / "dee.png"
    view.dee_actions[0].trigger()
    assert target.stat().st_size > 0


def test_screenshots(qtbot, finished_runs, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(50)
    view.grab().save(str(SHOTS / "comparison-empty.png"))
    view.set_runs(_both(finished_runs))
    qtbot.wait(100)
    image = view.grab()
    for folder in (tmp_path, SHOTS):
        assert image.save(str(folder / "comparison-cnll.png"))
    view.select_metric("error")
    view.set_sizes((1, 2, 3, 5))
    qtbot.wait(100)
    view.grab().save(str(SHOTS / "comparison-error.png"))
    assert (tmp_path / "comparison-cnll.png").stat().st_size > 0
