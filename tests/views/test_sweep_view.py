"""The Sweep screen: its four plots, error bars, mean marker, table and exports hold the sweep summary's numbers."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from ensgui.engine.errors import RunFileError
from ensgui.engine.spec import Spec
from ensgui.engine.width import TraceEstimate, WidthResult
from ensgui.storage.sweep_store import PointRecord, SummaryFile, SweepData, read_sweep
from ensgui.tasks.sweep import run_gap_sweep
from ensgui.views import sweep_view
from ensgui.views.export import VALUE_ROLE
from ensgui.views.sweep_view import COLUMNS, PLOTS, SweepView
from ensgui.views.theme import PALETTE
from support import sweep_state, tiny_spec_dict

SERIES_COLORS = (PALETTE[0], PALETTE[1])  # the first and second curve of every plot


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


def cancelled_sweep(folder: Path) -> Path:
    """A summary file with one finished point, written as a cancelled sweep leaves it (nothing trained)."""
    spec = Spec.from_dict(tiny_spec_dict(method="single", name="stopped"))
    path = folder / "20250101-000000-stopped.sweep.h5"
    summary = SummaryFile(path, spec, "0, 1", width_objects=100, probes=2, tol=0.1, planned=2, added_zero=False)
    point = PointRecord("0", 0.0, folder / "run-0.h5", "finished",
                        values={"mean_margin": 1.5, "train_acc": 0.91, "test_acc": 0.84, "auroc_prob": 0.8,
                                "auroc_margin": 0.82},
                        width=WidthResult(TraceEstimate(30.0, 2.0, 8), TraceEstimate(12.0, 1.0, 8),
                                          TraceEstimate(15.0, 1.5, 8), objects=100))
    summary.write([point], "cancelled")
    return path


@pytest.fixture
def view(qtbot, context) -> SweepView:
    widget = SweepView(context)
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


def test_constructed_sweep_is_drawn_sorted_with_error_bars_and_mean_marker(view, tmp_path, screenshot):
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
    assert not view.resume_button.isVisible()
    screenshot(view, "sweep-view-constructed", colors=SERIES_COLORS)
    for key, _title, _label, series in PLOTS:
        screenshot(view.plots[key], f"sweep-view-constructed-{key}", colors=SERIES_COLORS[:len(series)])


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


def test_a_real_sweep_file_is_listed_picked_and_drawn(view, tmp_path, qtbot, context, screenshot, monkeypatch):
    spec = Spec.from_dict(tiny_spec_dict(method="single", train_size=300, val_size=100, test_size=300, epochs=5,
                                         name="view-sweep"))
    folder = tmp_path / "runs"
    points = []
    path = run_gap_sweep(spec, (0.0, "mean"), folder, sweep_state(on_point=lambda i, n, label: points.append(label)),
                         threads=1, width_objects=60)
    assert points[0] == "0" and points[1].startswith("mean = ")
    assert view.sweep_list.count() == 0  # listed once Refresh has the index reread the folder
    view.refresh_button.click()
    context.index.wait()
    assert view.sweep_list.count() == 1 and view.sweep_list.item(0).toolTip() == str(path)
    threads: list[threading.Thread] = []
    real = sweep_view.read_sweep
    monkeypatch.setattr(sweep_view, "read_sweep",
                        lambda p: threads.append(threading.current_thread()) or real(p))
    view.sweep_list.setCurrentRow(0)
    assert view.path is None  # read in the worker, drawn when it arrives
    view.wait()
    assert view.path == path and threads and threading.main_thread() not in threads
    data = read_sweep(path)
    check_drawn(view, data)
    assert len(data.gaps) == 2 and np.isfinite(data.hessian).all()
    assert view.marker_labels("accuracy") == [data.labels[1]]
    screenshot(view, "sweep-view-real", colors=SERIES_COLORS)


def test_a_damaged_file_is_a_message_not_a_crash(view, tmp_path, context):
    bad = tmp_path / "runs" / "20250101-000000-bad.sweep.h5"
    bad.write_bytes(b"not hdf5")
    view.refresh()
    context.index.wait()
    assert view.sweep_list.count() == 1
    view.sweep_list.setCurrentRow(0)
    view.wait()
    assert "bad.sweep.h5" in view.problem_label.text() and view.data is None
    assert view.stack.showing_message()


def test_show_sweep_selects_and_draws_it_and_resume_asks_the_window(view, tmp_path, context, qtbot, screenshot):
    with pytest.raises(RunFileError, match="does not exist"):
        view.show_sweep(tmp_path / "runs" / "missing.sweep.h5")
    path = cancelled_sweep(tmp_path / "runs")
    context.index.refresh()
    context.index.wait()
    view.show_sweep(path)
    assert view.sweep_list.currentItem().toolTip() == str(path)
    view.wait()
    assert view.path == path and view.title_label.text() == f"Gap sweep: {path.name}"
    assert "cancelled · 1 of 2 points" in view.details_label.text()
    assert view.resume_button.isVisible()
    qtbot.mouseClick(view.resume_button, Qt.MouseButton.LeftButton)
    assert context.actions.calls == [("resume_sweep", (path,))]
    check_drawn(view, read_sweep(path))
    assert view.table.rowCount() == 1 and view.table.item(0, 3).data(VALUE_ROLE) == 0.91
    screenshot(view, "sweep-view-cancelled", colors=SERIES_COLORS)
