"""The Compare screen overlays exactly the files' curves, computes DEE, and tabulates and exports the file values."""

from __future__ import annotations

import csv
import math
import shutil
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ensgui.engine import comparison
from ensgui.engine.errors import RunFileError
from ensgui.storage.reader import read_summary
from ensgui.views import run_loader
from ensgui.views.comparison_view import PATH_ROLE, ComparisonView, parse_sizes
from ensgui.views.export import VALUE_ROLE
from ensgui.views.metric_curves_plot import metric_label
from ensgui.views.theme import PALETTE


@pytest.fixture
def runs(context, finished_runs) -> dict[str, Path]:
    """The two finished runs copied into the context's workspace folder and listed by its index."""
    folder = context.workspace.folder
    copies = {key: Path(shutil.copy(path, folder / path.name)) for key, path in finished_runs.items()}
    context.index.refresh()
    context.index.wait()
    return copies


@pytest.fixture
def view(qtbot, context, runs) -> ComparisonView:
    widget = ComparisonView(context)
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    return widget


def settle(qtbot, view: ComparisonView) -> None:
    """Wait until the loader has read every ticked run and the reference, and the screen has redrawn."""
    qtbot.waitUntil(lambda: not view.waiting(), timeout=20_000)


def compare(qtbot, view: ComparisonView, paths: list[Path]) -> None:
    view.set_runs(paths)
    settle(qtbot, view)


def _file_curves(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        group = f["eval/test/curves"]
        return {name: group[name][()] for name in group}


def _name(path: Path) -> str:
    return read_summary(path).name


def _both(runs) -> list[Path]:
    return [runs["deep_ensemble"], runs["bagging"]]


def _item(view: ComparisonView, path: Path):
    return next(view.run_list.item(i) for i in range(view.run_list.count())
                if Path(view.run_list.item(i).data(PATH_ROLE)) == path)


def test_picker_lists_the_workspace_runs_and_ticks_follow_set_runs(qtbot, view, runs, context):
    assert set(view.list_paths()) == set(_both(runs))
    assert view.checked_paths() == []
    assert "Tick runs" in view.dee_plot.message() and "Tick runs" in view.curves_stack.message()
    compare(qtbot, view, _both(runs))
    checked = [Path(view.run_list.item(i).data(PATH_ROLE)) for i in range(view.run_list.count())
               if view.run_list.item(i).checkState() == Qt.CheckState.Checked]
    assert set(checked) == set(_both(runs))
    assert [label for label, _ in view.runs] == [_name(p) for p in _both(runs)]
    # Unticking in the list removes the run from the plots and the table.
    _item(view, runs["bagging"]).setCheckState(Qt.CheckState.Unchecked)
    assert view.checked_paths() == [runs["deep_ensemble"]]
    assert view.curves_plot.run_names() == [_name(runs["deep_ensemble"])]
    assert view.summary_table.rowCount() == 1
    _item(view, runs["deep_ensemble"]).setCheckState(Qt.CheckState.Unchecked)
    assert view.curves_plot.run_names() == [] and "Tick runs" in view.curves_stack.message()
    assert view.summary_table.rowCount() == 0 and not view.csv_button.isEnabled()
    _item(view, runs["deep_ensemble"]).setCheckState(Qt.CheckState.Checked)
    assert not view.curves_stack.showing_message() and view.summary_table.rowCount() == 1
    # A run that appears in the folder is listed once the index has rescanned it; the ticks stay.
    extra = Path(shutil.copy(runs["bagging"], runs["bagging"].with_name("20990101-000000-extra.h5")))
    context.index.refresh()
    context.index.wait()
    assert extra in view.list_paths() and len(view.list_paths()) == 3
    assert view.checked_paths() == [runs["deep_ensemble"]]
    assert _item(view, runs["deep_ensemble"]).checkState() == Qt.CheckState.Checked


def test_set_runs_refuses_what_is_not_a_file_and_names_unreadable_files(qtbot, view, runs, tmp_path):
    with pytest.raises(RunFileError, match="does not exist"):
        view.set_runs([tmp_path / "missing.h5"])
    with pytest.raises(RunFileError):
        view.set_runs([tmp_path])
    assert view.checked_paths() == []
    # A file that is no run file is read in the worker; its reason is shown, the other run is compared.
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"not an hdf5 file" * 10)
    view.set_runs([bad])
    assert "Reading the ticked runs" in view.dee_plot.message() and "Reading" in view.curves_stack.message()
    settle(qtbot, view)
    assert "garbage.h5" in view.note_label.text() and "No ticked run can be compared" in view.dee_plot.message()
    compare(qtbot, view, [bad, runs["bagging"]])
    assert [label for label, _ in view.runs] == [_name(runs["bagging"])]
    assert "garbage.h5" in view.note_label.text() and "not a readable ensgui run file" in view.note_label.text()
    assert bad in view.list_paths() and "cannot be read" in _item(view, bad).text()
    assert view.summary_table.rowCount() == 1


def test_runs_are_read_in_the_loader_worker_and_outside_runs_stay_listed(qtbot, view, runs, finished_runs,
                                                                         monkeypatch):
    threads: list[threading.Thread] = []
    real = run_loader.read_run

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(run_loader, "read_run", recording)
    outside = finished_runs["bagging"]  # the session's file, not the copy in the workspace folder
    assert outside not in view.list_paths()
    view.set_runs([runs["deep_ensemble"], outside])
    # Nothing is read on the GUI thread: the outside run waits for the worker (the reference may be in already).
    assert view.waiting() and outside not in [run.path for _, run in view.runs]
    assert f"{outside.name}: reading…" in view.note_label.text()
    assert "reading…" in _item(view, outside).text()
    settle(qtbot, view)
    assert threads and threading.main_thread() not in threads
    assert outside in view.list_paths() and _item(view, outside).checkState() == Qt.CheckState.Checked
    assert _item(view, outside).text().startswith(_name(outside))
    assert [run.path for _, run in view.runs] == [runs["deep_ensemble"], outside]


def test_overlaid_curves_equal_the_files_curves(qtbot, view, runs):
    compare(qtbot, view, _both(runs))
    names = [view.metric_combo.itemData(i) for i in range(view.metric_combo.count())]
    assert names == ["error", "nll", "cnll", "ece"]
    assert view.shown_metric == "cnll"
    for metric in names:
        view.select_metric(metric)
        assert view.curves_plot.run_names() == [_name(p) for p in _both(runs)]
        for path in _both(runs):
            stored = _file_curves(path)[metric]
            k, mean, std = view.curves_plot.drawn(_name(path))
            np.testing.assert_array_equal(k, np.arange(1, stored.shape[0] + 1))
            scale = 100.0 if metric == "error" else 1.0  # drawn in percent, as the table shows it
            np.testing.assert_allclose(mean, stored[:, 0] * scale, rtol=1e-12)
            np.testing.assert_allclose(std, stored[:, 1] * scale, atol=1e-10)
        assert view.curves_plot.getPlotItem().getAxis("left").labelText == metric_label(metric)
        assert view.curves_plot.legend.isVisible()


def test_dee_of_the_deep_ensemble_against_itself_is_k(qtbot, view, runs):
    de, bagging = runs["deep_ensemble"], runs["bagging"]
    compare(qtbot, view, [bagging, de])
    # The ticked deep ensemble is the default reference.
    assert view.reference_paths() == [None, de]
    assert view.reference_picker.current_path() == de
    k_max = _file_curves(de)["cnll"].shape[0]
    k, dee = view.dee_curve(_name(de))
    np.testing.assert_array_equal(k, np.arange(1, k_max + 1))
    np.testing.assert_allclose(dee, np.arange(1, k_max + 1), rtol=0, atol=1e-9)
    # Bagging's DEE is the engine's on the two files' CNLL means.
    expected = comparison.dee_of_runs([("b", _file_curves(bagging))], _file_curves(de))["b"]
    np.testing.assert_array_equal(view.dee_curve(_name(bagging))[1], expected)
    assert np.all(expected >= 1.0) and np.all(expected <= k_max)
    assert view.dee_plot.labels() == [_name(bagging), _name(de)]
    view.select_reference(None)
    assert view.dee_values == {}
    assert view.dee_plot.showing_message()
    assert "Choose a finished deep ensemble" in view.dee_plot.message()
    with pytest.raises(ValueError):
        view.select_reference(bagging)
    # The choice is kept while runs are ticked and unticked.
    _item(view, bagging).setCheckState(Qt.CheckState.Unchecked)
    _item(view, bagging).setCheckState(Qt.CheckState.Checked)
    view.select_reference(de)
    _item(view, bagging).setCheckState(Qt.CheckState.Unchecked)
    assert view.reference_picker.current_path() == de and view.dee_plot.labels() == [_name(de)]


def test_summary_table_cells_equal_the_file_values(qtbot, view, runs):
    compare(qtbot, view, _both(runs))
    table = view.summary_table
    k_max = _file_curves(runs["deep_ensemble"])["error"].shape[0]
    assert view.table.sizes == comparison.default_sizes(k_max)
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[0] == "run"
    assert headers[1:] == [f"{'error (%)' if m == 'error' else 'CNLL'}\nk = {k}" for m, k in view.table.columns]
    for r, path in enumerate(_both(runs)):
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


def test_csv_and_latex_exports_write_the_expected_text(qtbot, view, runs, tmp_path, monkeypatch):
    compare(qtbot, view, _both(runs))
    target: dict[str, Path] = {}
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(target["path"]), "")))
    expected = comparison.summary_table([(_name(p), _file_curves(p)) for p in _both(runs)],
                                        metrics=("error", "cnll"))

    target["path"] = tmp_path / "table"  # no suffix: the button adds it
    path = view.export_csv()
    assert path == tmp_path / "table.csv"
    text = path.read_text(encoding="utf-8")
    assert text == comparison.to_csv(expected)
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "run" and len(rows) == 3
    de_cnll = _file_curves(runs["deep_ensemble"])["cnll"]
    assert float(rows[1][rows[0].index("cnll@1")]) == de_cnll[0, 0]

    target["path"] = tmp_path / "table.tex"
    view.latex_button.click()
    latex = target["path"].read_text(encoding="utf-8")
    assert latex == comparison.to_latex(expected)
    assert latex.startswith("\\begin{tabular}{l") and "\\toprule" in latex and "\\bottomrule" in latex
    assert "\\textbf{" in latex and "Error (\\%)" in latex
    assert f"{de_cnll[0, 0]:.3f}" in latex

    # A folder that cannot be written is a message, not a crash.
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda _parent, title, text, *a, **k: warnings.append(f"{title}: {text}")))
    target["path"] = tmp_path / "no-such-folder" / "table.tex"
    assert view.export_latex() is None
    assert len(warnings) == 1 and warnings[0].startswith("Export failed: cannot write")

    # A cancelled dialog writes nothing.
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args, **kwargs: ("", "")))
    assert view.export_latex() is None


def test_plot_exports(qtbot, view, runs, tmp_path, monkeypatch):
    view.show()
    qtbot.waitExposed(view)
    compare(qtbot, view, _both(runs))
    target = tmp_path / "curves.svg"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args, **kwargs: (str(target), "")))
    view.curves_actions[1].trigger()
    assert "<svg" in target.read_text(encoding="utf-8")
    target = tmp_path / "dee.png"
    view.dee_actions[0].trigger()
    assert target.stat().st_size > 0


def test_screenshots(qtbot, view, runs, screenshot):
    view.show()
    qtbot.waitExposed(view)
    screenshot(view, "comparison-empty")
    compare(qtbot, view, _both(runs))
    qtbot.wait(50)
    # Each run has its colour in both plots: the deep ensemble first, bagging second.
    both = (PALETTE[0], PALETTE[1])
    screenshot(view, "comparison-cnll", colors=both)
    screenshot(view.curves_plot, "comparison-cnll-curves", colors=both)
    screenshot(view.dee_plot, "comparison-cnll-dee", colors=both)
    view.select_metric("error")
    view.set_sizes((1, 2, 3, 5))
    qtbot.wait(50)
    screenshot(view.curves_plot, "comparison-error-curves", colors=both)
    screenshot(view, "comparison-error", colors=both)
