"""Margin histograms: live in Monitor from the run's events, final in Results from the run file's /analysis/margins."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QComboBox, QFileDialog

from ensgui.engine.events import MarginsMeasured, RunEnded
from ensgui.engine.spec import Spec
from ensgui.storage.reader import read_margins
from ensgui.views.margin_histogram_plot import NORMALIZED_LIMIT, MarginHistogramPlot, margin_bin_edges
from ensgui.views.monitor_view import MonitorView
from ensgui.views.results_view import ResultsView
from ensgui.views.run_margins_panel import ALL, RunMarginsPanel
from ensgui.views.theme import PALETTE
from support import open_and_wait, tiny_spec_dict, train_run_file


def open_run(view: ResultsView, path: Path) -> None:
    open_and_wait(view.context, path)


def choose(qtbot, combo: QComboBox, data) -> None:
    """Pick an entry with the arrow keys, as a user does on a focused combo box."""
    target = combo.findData(data)
    assert target >= 0, f"{data!r} is not offered"
    combo.setFocus()
    key = Qt.Key.Key_Down if target > combo.currentIndex() else Qt.Key.Key_Up
    for _ in range(combo.count()):
        if combo.currentIndex() == target:
            break
        qtbot.keyClick(combo, key)
    assert combo.currentData() == data


def drawn_counts(plot: MarginHistogramPlot) -> list[tuple[np.ndarray, np.ndarray]]:
    """(edges, counts) of every step curve as pyqtgraph holds them."""
    return [(np.asarray(c.xData), np.asarray(c.yData)) for c in plot.curves]


def assert_draws(plot: MarginHistogramPlot, values: list[np.ndarray]) -> None:
    drawn = drawn_counts(plot)
    assert len(drawn) == len(values)
    for (edges, counts), v in zip(drawn, values):
        assert edges[0] <= v.min() and v.max() <= edges[-1]  # no object falls outside the bins
        np.testing.assert_array_equal(counts, np.histogram(v, bins=edges)[0])
        assert counts.sum() == v.size


def test_bin_edges_are_fixed_and_only_widen() -> None:
    norm = margin_bin_edges("normalized", [np.array([0.1, 0.2])])
    assert norm[0] == -NORMALIZED_LIMIT and norm[-1] == NORMALIZED_LIMIT
    small = margin_bin_edges("raw", [np.array([-0.5, 1.5])])
    assert small[0] == -2 and small[-1] == 2
    wider = margin_bin_edges("raw", [np.array([-3.5, 9.0])])
    assert wider[0] == -4 and wider[-1] == 12
    assert np.array_equal(margin_bin_edges("raw", [np.array([0.0, 1.0])], at_least=wider), wider)


# ---------------------------------------------------------------- Monitor


@pytest.fixture
def controller(context):
    return context.controller


def test_live_run_fills_the_margin_histograms(qtbot, context, controller, tmp_path, screenshot):
    import torch._dynamo  # noqa: F401 - the first vmap's one-off import, outside the measured run

    monitor = MonitorView(context)
    qtbot.addWidget(monitor)
    monitor.resize(1500, 800)
    monitor.show()
    qtbot.waitExposed(monitor)
    panel = monitor.margins_panel
    received: list[MarginsMeasured] = []
    controller.margins_measured.connect(received.extend)
    finished: list[RunEnded] = []
    controller.run_finished.connect(lambda ended, path: finished.append(ended))
    values = tiny_spec_dict(members=2, epochs=3, train_size=600, val_size=300)
    values["evaluation"]["live_margins"] = 250
    controller.start(Spec.from_dict(values), tmp_path / "live.h5")

    # While it trains, the panel shows the margins of the epochs finished so far.
    qtbot.waitUntil(lambda: bool(panel.plot.curves) and sum(c.yData.sum() for c in panel.plot.curves) > 0,
                    timeout=60_000)
    assert not finished
    qtbot.waitUntil(lambda: bool(finished), timeout=120_000)
    assert finished[0].status == "finished", finished[0].error
    # One event per epoch, member and split, each batch of events relayed once per drain.
    assert sorted((e.epoch, e.member, e.split) for e in received) == sorted(
        (epoch, m, split) for epoch in (1, 2, 3) for m in (0, 1) for split in ("train", "val"))
    last = {(e.member, e.split): e for e in received if e.epoch == 3}

    # Default view: raw training margins of all members overlaid.
    assert panel.kind() == "raw" and panel.split() == "train" and panel.member() == ALL
    assert_draws(panel.plot, [last[(0, "train")].raw, last[(1, "train")].raw])
    assert "epoch 3" in panel.plot.getPlotItem().titleLabel.text
    assert "raw margin" in panel.plot.getPlotItem().getAxis("bottom").labelText
    screenshot(monitor, "monitor-margins-train-raw", colors=(PALETTE[0], PALETTE[1]))

    choose(qtbot, panel.kind_combo, "normalized")
    choose(qtbot, panel.split_combo, "val")
    choose(qtbot, panel.member_combo, 1)
    assert_draws(panel.plot, [last[(1, "val")].normalized])
    edges = drawn_counts(panel.plot)[0][0]
    assert edges[0] == -NORMALIZED_LIMIT and edges[-1] == NORMALIZED_LIMIT
    assert "normalised margin" in panel.plot.getPlotItem().getAxis("bottom").labelText
    assert [item.name() for item in panel.plot.curves] == ["member 1"]
    screenshot(monitor, "monitor-margins-val-normalised-member1", colors=(PALETTE[1],))


def test_drain_relays_margins_once_per_batch(qtbot, controller):
    batches: list[list[MarginsMeasured]] = []
    controller.margins_measured.connect(batches.append)
    events = [MarginsMeasured(m, 1, "train", np.zeros(3, np.float32), np.zeros(3, np.float32)) for m in range(4)]
    for event in events:
        controller._mailbox.put(event)
    controller._drain()
    assert batches == [events]


# ---------------------------------------------------------------- Results


@pytest.fixture(scope="module")
def margin_runs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("margins-workspace")
    runs = {
        "ensemble": train_run_file(folder, method="deep_ensemble", members=2, name="tiny-ensemble",
                                   train_size=500, val_size=200, test_size=400),
        "single": train_run_file(folder, method="single", epochs=2, name="tiny-single", train_size=500,
                                 val_size=200, test_size=400),
    }
    old = folder / "old-run.h5"
    shutil.copy(runs["single"], old)
    with h5py.File(old, "a") as f:
        del f["analysis/margins"]  # what a run file written before margins were stored looks like
    runs["old"] = old
    return runs


def results(make_results, path: Path) -> ResultsView:
    """The Results screen over the folder of path, shown, with path open."""
    view = make_results(path.parent, size=(1400, 1000))
    view.show()
    open_run(view, path)
    return view


def tab_texts(view: ResultsView) -> list[str]:
    return [view.tables.tabText(i) for i in range(view.tables.count())]


def open_margins_tab(qtbot, view: ResultsView) -> RunMarginsPanel:
    bar = view.tables.tabBar()
    index = tab_texts(view).index("Margins")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert view.tables.currentWidget() is view.panel_tab("margins")
    return view.panel("margins")  # built and drawn when its tab was shown


def test_results_margins_equal_the_run_file(qtbot, make_results, margin_runs, tmp_path, screenshot):
    path = margin_runs["ensemble"]
    stored = read_margins(path)
    view = results(make_results, path)
    panel = open_margins_tab(qtbot, view)
    assert not panel.stack.showing_message()
    assert [panel.split_combo.itemData(i) for i in range(panel.split_combo.count())] == ["train", "val", "test"]
    assert panel.split_combo.currentData() == "test"
    assert_draws(panel.plot, list(stored["test"].raw))  # both rows overlaid
    assert [c.name() for c in panel.plot.curves] == ["member 0", "member 1"]
    screenshot(view, "results-margins-tab", colors=(PALETTE[0], PALETTE[1]))

    for split in ("train", "val"):
        for kind in ("normalized", "raw"):
            choose(qtbot, panel.split_combo, split)
            choose(qtbot, panel.kind_combo, kind)
            assert_draws(panel.plot, list(getattr(stored[split], kind)))
    choose(qtbot, panel.row_combo, 1)
    assert_draws(panel.plot, [stored["val"].raw[1]])

    # The CSV export writes the drawn bins and counts.
    target = tmp_path / "margins.csv"
    from unittest import mock
    with mock.patch.object(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))):
        panel.export_actions[2].trigger()
    with target.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["bin_low", "bin_high", "member 1"]
    edges, counts = drawn_counts(panel.plot)[0]
    np.testing.assert_array_equal([float(r[0]) for r in rows[1:]], edges[:-1])
    np.testing.assert_array_equal([int(r[2]) for r in rows[1:]], counts)


def tick(qtbot, panel: RunMarginsPanel, path: Path) -> None:
    """A click on a listed run's check box, as a user ticks it; then wait until its margins are read."""
    row = [Path(panel.run_list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(panel.run_list.count())]
    item = panel.run_list.item(row.index(path))
    rect = panel.run_list.visualItemRect(item)
    qtbot.mouseClick(panel.run_list.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + rect.height() // 2, rect.center().y()))
    assert panel.wait(10_000)


def test_results_overlay_of_runs(qtbot, make_results, margin_runs, tmp_path, screenshot):
    path, other, old = margin_runs["ensemble"], margin_runs["single"], margin_runs["old"]
    view = results(make_results, path)
    panel = open_margins_tab(qtbot, view)
    listed = [Path(panel.run_list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(panel.run_list.count())]
    assert sorted(listed) == sorted([other, old])  # the workspace's other finished runs; not the shown run itself
    # The old run has no margins: it cannot be overlaid, and the panel says why.
    tick(qtbot, panel, old)
    assert panel.overlay_paths() == []
    assert "stores no margins" in panel.note_label.text()
    item = panel.run_list.item(listed.index(old))
    assert not item.flags() & Qt.ItemFlag.ItemIsEnabled and item.text().endswith("no margins")
    tick(qtbot, panel, other)
    assert panel.overlay_paths() == [other]
    mine, theirs = read_margins(path), read_margins(other)
    choose(qtbot, panel.split_combo, "test")
    choose(qtbot, panel.kind_combo, "normalized")
    # All rows: each run one histogram of its rows pooled, named after the run.
    assert_draws(panel.plot, [mine["test"].normalized.reshape(-1), theirs["test"].normalized.reshape(-1)])
    assert [c.name() for c in panel.plot.curves] == ["tiny-ensemble (2 rows pooled)", "tiny-single"]
    choose(qtbot, panel.split_combo, "train")
    choose(qtbot, panel.kind_combo, "raw")
    choose(qtbot, panel.row_combo, 0)
    assert_draws(panel.plot, [mine["train"].raw[0], theirs["train"].raw[0]])
    screenshot(view, "results-margins-overlay", colors=(PALETTE[0], PALETTE[1]))
    choose(qtbot, panel.row_combo, 1)  # the single net has no row 1: said, not drawn
    assert_draws(panel.plot, [mine["train"].raw[1]])
    assert "tiny-single has no row 1" in panel.note_label.text()
    # The check survives a new listing of the workspace.
    view.context.index.refresh()
    assert view.context.index.wait(10_000)
    assert panel.overlay_paths() == [other]


def test_run_without_margins_has_no_margins_tab(make_results, margin_runs, screenshot):
    view = results(make_results, margin_runs["old"])
    assert view.has_results()
    assert tab_texts(view) == ["Metrics vs ensemble size", "Per-member metrics"]
    screenshot(view, "results-margins-none", colors=(PALETTE[0],))
