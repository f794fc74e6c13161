"""The Sweep screen: its four plots, error bars, mean marker, table and exports hold the sweep summary's numbers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtWidgets import QFileDialog

from ensgui.engine.spec import Spec
from ensgui.storage.sweep_store import SweepData, read_sweep
from ensgui.tasks.sweep import run_gap_sweep
from ensgui.storage.workspace import Workspace
from ensgui.views.export import VALUE_ROLE
from ensgui.views.sweep_view import COLUMNS, PLOTS, SweepView
from support import save_screenshot, sweep_state, tiny_spec_dict


def constructed(folder: Path) -> SweepData:
    """Five points in training order (gap 0 first, 'mean' among the numbers), one diverged with no numbers."""
    gaps = np.array([0.0, 4.0, 0.5, 2.3125, 1.0])
    rng = np.random.default_rng(0)
    traces = {name: np.column_stack([rng.uniform(5, 50, 5), rng.uniform(0.1, 2, 5)])
              for name in ("hessian", "fisher_true", "fisher_empirical")}
    traces["hessian"][1] = np.nan  # the diverged point
    return SweepData(
        path=folder / "20250101-000000-made.sweep.h5", spec_toml='name = "made"\n[method]\nname = "single"\n',
        created="2025-01-01T00:00:00+00:00", status="finished", requested="0, 0.5, 1, 4, mean", error="",
        width_objects=2000, gaps=gaps, labels=["0", "4", "0.5", "mean = 2.31", "1"],
        runs=[f"run-{i}.h5" for i in range(5)], statuses=["finished", "diverged", "finished", "finished", "finished"],
        mean_margin=rng.uniform(0, 3, 5), train_acc=np.array([0.9, np.nan, 0.91, 0.95, 0.93]),
        test_acc=np.array([0.85, np.nan, 0.86, 0.87, 0.88]), auroc_prob=rng.uniform(0.7, 0.9, 5),
        auroc_margin=rng.uniform(0.7, 0.9, 5), **traces, extra={"planned": 5})


@pytest.fixture
def view(qtbot, tmp_path) -> SweepView:
    pg.setConfigOptions(antialias=True, background="w", foreground="k")  # as app.create_window does
    widget = SweepView(Workspace(tmp_path / "runs"))
    qtbot.addWidget(widget)
    widget.resize(1280, 790)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def check_drawn(view: SweepView, data: SweepData) -> None:
    """Every curve and error bar of the four plots is read_sweep's array, sorted by gap."""
    order = np.argsort(data.gaps, kind="stable")
    gaps = data.gaps[order]
    assert np.all(np.diff(gaps) >= 0)
    fields_drawn = set()
    for key, _title, _label, series in PLOTS:
        drawn, errors = view.drawn(key), view.drawn_errors(key)
        assert set(drawn) == {s.name for s in series}
        for s in series:
            stored = np.asarray(getattr(data, s.field))[order]
            x, y = drawn[s.name]
            np.testing.assert_array_equal(x, gaps)
            np.testing.assert_array_equal(y, stored[:, 0] if stored.ndim == 2 else stored)
            if stored.ndim == 2:
                good = np.isfinite(stored).all(axis=1)
                ex, half = errors[s.name]
                np.testing.assert_array_equal(ex, gaps[good])
                np.testing.assert_allclose(half, stored[good, 1], rtol=1e-12)
            fields_drawn.add(s.field)
    assert fields_drawn == {"train_acc", "test_acc", "auroc_prob", "auroc_margin", "hessian", "fisher_true",
                            "fisher_empirical"}


def test_constructed_sweep_is_drawn_sorted_with_error_bars_and_mean_marker(view, tmp_path):
    data = constructed(tmp_path)
    view.set_data(data, "made")
    check_drawn(view, data)
    # The diverged point has no error bar; the others have theirs.
    assert len(view.drawn_errors("hessian")["Hutchinson"][0]) == 4
    for key in view.plots:
        assert view.marker_labels(key) == ["mean = 2.31"]
        assert view.markers[key][0].value() == pytest.approx(2.3125)
    # The table: one row per point in gap order, exact numbers under VALUE_ROLE, the diverged one marked.
    table = view.table
    order = np.argsort(data.gaps, kind="stable")
    assert table.rowCount() == 5
    assert [table.item(r, 0).text() for r in range(5)] == ["0", "0.5", "1", "mean = 2.31", "4"]
    assert table.item(4, 2).text() == "diverged" and table.item(4, 3).text() == "–"
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    for header, field, part in COLUMNS:
        values = np.asarray(getattr(data, field))[order]
        shown = np.array([table.item(r, headers.index(header)).data(VALUE_ROLE) for r in range(5)])
        np.testing.assert_array_equal(shown, values if part is None else values[:, part])
    assert "5 of 5 points" in view.details_label.text() and "made: single" in view.details_label.text()
    save_screenshot(view, tmp_path, "sweep-view-constructed")


def test_exports_write_the_plots_and_the_numbers(view, tmp_path, monkeypatch):
    data = constructed(tmp_path)
    view.set_data(data, "made")
    targets = iter([tmp_path / "acc.png", tmp_path / "fisher.svg", tmp_path / "table.csv"])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(next(targets)), ""))
    view.export_actions["accuracy"][0].trigger()
    view.export_actions["fisher"][1].trigger()
    view.table_actions[0].trigger()
    assert (tmp_path / "acc.png").stat().st_size > 5000
    assert "<svg" in (tmp_path / "fisher.svg").read_text()
    with (tmp_path / "table.csv").open() as f:
        rows = list(csv.reader(f))
    header = rows[0]
    assert header[:3] == ["gap", "gap value", "status"]
    order = np.argsort(data.gaps, kind="stable")
    np.testing.assert_array_equal([float(r[header.index("tr F emp s.e.")]) for r in rows[1:]],
                                  data.fisher_empirical[order, 1])
    np.testing.assert_array_equal([float(r[header.index("gap value")]) for r in rows[1:]], data.gaps[order])


def test_a_real_sweep_file_is_listed_picked_and_drawn(view, tmp_path, qtbot):
    spec = Spec.from_dict(tiny_spec_dict(method="single", train_size=300, val_size=100, test_size=300, epochs=5,
                                         name="view-sweep"))
    folder = tmp_path / "runs"
    points = []
    path = run_gap_sweep(spec, (0.0, "mean"), folder, sweep_state(on_point=lambda i, n, label: points.append(label)),
                         threads=1, width_objects=60)
    assert points[0] == "0" and points[1].startswith("mean = ")
    assert view.sweep_list.count() == 0  # listed once Refresh rereads the folder
    view.refresh_button.click()
    assert view.sweep_list.count() == 1 and view.sweep_list.item(0).toolTip() == str(path)
    view.sweep_list.setCurrentRow(0)
    assert view.path == path
    data = read_sweep(path)
    check_drawn(view, data)
    assert len(data.gaps) == 2 and np.isfinite(data.hessian).all()
    assert view.marker_labels("accuracy") == [data.labels[1]]
    save_screenshot(view, tmp_path, "sweep-view-real")


def test_a_damaged_file_is_a_message_not_a_crash(view, tmp_path):
    bad = tmp_path / "runs" / "20250101-000000-bad.sweep.h5"
    bad.write_bytes(b"not hdf5")
    view.refresh()
    assert view.sweep_list.count() == 1
    view.sweep_list.setCurrentRow(0)
    assert "bad.sweep.h5" in view.problem_label.text() and view.data is None
