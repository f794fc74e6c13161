"""Gap boosting through the real main window: configure by clicking, run both variants, read the Boosting tab and
compare the two runs."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from ensgui.app import create_window
from ensgui.resources import default_spec
from ensgui.storage.reader import read_boosting
from ensgui.views.export import VALUE_ROLE, export_png, export_svg, table_contents
from ensgui.views.margin_histogram_plot import margin_bin_edges
from ensgui.views.theme import PALETTE
from support import settle, train_run_file, type_into
from test_cyclic_methods_gui import pick

MODELS = 3


def start_and_wait(qtbot, window) -> Path:
    finished = []
    window.controller.run_finished.connect(lambda ended, path: finished.append((ended, path)))
    qtbot.mouseClick(window.screen("setup").start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=180000)
    ended, path = finished[0]
    assert ended.status == "finished", ended.error
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is window.screen("results"), timeout=30000)
    settle(window.context)  # Results draws the run a part per turn of the event loop
    return Path(path)


def open_run(window, path: Path) -> None:
    """Open a run as the Runs screen does and wait until it has been read and drawn."""
    window.open_run(path)
    settle(window.context)


def check_boosting_tab(qtbot, window, path: Path, variant: str, tmp_path: Path) -> None:
    results = window.screen("results")
    tabs = results.tables
    tab = results.panel_tab("boosting")
    index = tabs.indexOf(tab)
    assert index >= 0 and tabs.tabText(index) == "Boosting"
    qtbot.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton, pos=tabs.tabBar().tabRect(index).center())
    assert tabs.currentWidget() is tab
    panel = results.panel("boosting")
    stored = read_boosting(path)
    assert stored.variant == variant and list(stored.models) == list(range(1, MODELS))

    # One histogram per round, all over the same bins, counting exactly the file's gaps.
    drawn = panel.histograms()
    assert list(drawn) == [f"model {t + 1}" for t in stored.models]
    edges = margin_bin_edges("raw", list(stored.gaps))
    for row, (x, counts) in enumerate(drawn.values()):
        np.testing.assert_array_equal(x, edges)
        np.testing.assert_array_equal(counts, np.histogram(stored.gaps[row].astype(np.float64), bins=edges)[0])
        assert counts.sum() == stored.gaps.shape[1]
    # The CSV tables hold the same counts and the file's per-round statistics.
    header, rows = table_contents(panel.histogram_table)
    for label, (_, counts) in drawn.items():
        np.testing.assert_array_equal([r[header.index(label)] for r in rows], counts)
    header, rows = table_contents(panel.rounds_table)
    mean_gap = np.array([r[header.index("mean gap")] for r in rows])
    np.testing.assert_allclose(mean_gap, stored.gaps.astype(np.float64).mean(1))
    expected_mean = stored.margins.astype(np.float64).mean(1) if variant == "save_mean" else np.zeros(MODELS - 1)
    np.testing.assert_allclose(mean_gap, expected_mean, atol=1e-5)

    # Metrics against the number of models: the file's ordered curves (std 0), for every metric offered.
    with h5py.File(path, "r") as f:
        for metric in ("error", "nll", "cnll"):
            pick(qtbot, panel.metric_combo, metric)
            curve = f[f"eval/test/curves/{metric}"][()]
            assert curve.shape == (MODELS, 2) and np.all(curve[:, 1] == 0)
            shown, k, values = panel.metric_curve()
            assert shown == metric
            np.testing.assert_array_equal(k, np.arange(1, MODELS + 1))
            # Drawn in the unit the tables show: error in percent.
            np.testing.assert_allclose(values, curve[:, 0] * (100.0 if metric == "error" else 1.0), rtol=1e-12)
        table = panel.metrics_table
        headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
        nll = [table.item(r, headers.index("NLL")).data(VALUE_ROLE) for r in range(table.rowCount())]
        np.testing.assert_array_equal(nll, f["eval/test/curves/nll"][:, 0])
    assert export_png(panel.gaps_plot, tmp_path / f"{variant}-gaps.png").stat().st_size > 0
    assert export_svg(panel.metrics_plot, tmp_path / f"{variant}-metrics.svg").stat().st_size > 0


@pytest.mark.gui
def test_gap_boosting_from_setup_to_boosting_tab_and_compare(qtbot, tmp_path, screenshot):
    window = create_window(tmp_path / "runs", default_spec(), threads=1)
    qtbot.addWidget(window)
    window.resize(1400, 950)
    window.show()
    qtbot.waitExposed(window)
    setup = window.screen("setup")

    pick(qtbot, setup.editors["method"].combo, "gap_boosting")
    # The default spec trains its last layer: the method refuses it and the Setup screen names the field to fix.
    qtbot.waitUntil(lambda: setup.error_label.isVisible(), timeout=5000)
    assert "freeze last layer" in setup.error_label.text()
    assert not setup.start_button.isEnabled()
    freeze = setup.editors["loss"].form().fields["freeze_last_layer"].editor
    # A check box without text reacts to clicks on its indicator, at its left edge.
    qtbot.mouseClick(freeze, Qt.MouseButton.LeftButton, pos=QPoint(8, freeze.height() // 2))
    assert freeze.isChecked()
    type_into(qtbot, setup, "loss", "last_layer_norm", "10")
    pick(qtbot, setup.editors["model"].combo, "lenet300_100")
    for field, text in (("train_size", "800"), ("val_size", "200"), ("test_size", "600")):
        type_into(qtbot, setup, "data", field, text)
    type_into(qtbot, setup, "budget", "epochs", "2")
    type_into(qtbot, setup, "optimizer", "lr", "0.01")
    type_into(qtbot, setup, "method", "models", str(MODELS))
    pick(qtbot, setup.editors["method"].form().fields["variant"].editor, "save_mean")
    type_into(qtbot, setup, "spec", "name", "gui-boost-save")
    spec = setup.spec()
    assert (spec.method.name, spec.method["models"], spec.method["variant"]) == ("gap_boosting", MODELS, "save_mean")
    assert spec.loss["freeze_last_layer"] and spec.loss["last_layer_norm"] == 10.0
    qtbot.waitUntil(lambda: setup.summary_labels["rows"].text() == str(MODELS), timeout=5000)
    screenshot(window, "issue4-boosting-1-setup", colors=(PALETTE[0],))

    save_path = start_and_wait(qtbot, window)
    check_boosting_tab(qtbot, window, save_path, "save_mean", tmp_path)
    screenshot(window, "issue4-boosting-2-results-save-mean", colors=(PALETTE[0],))
    screenshot(window.screen("results").panel("boosting"), "issue4-boosting-3-tab-save-mean",
               colors=(PALETTE[0], PALETTE[1]))

    # The second variant: back to Setup, pick zero_mean, start again.
    window.tabs.setCurrentWidget(setup)
    if setup.is_read_only():
        qtbot.mouseClick(setup.edit_button, Qt.MouseButton.LeftButton)
    pick(qtbot, setup.editors["method"].form().fields["variant"].editor, "zero_mean")
    type_into(qtbot, setup, "spec", "name", "gui-boost-zero")
    assert setup.spec().method["variant"] == "zero_mean"
    zero_path = start_and_wait(qtbot, window)
    check_boosting_tab(qtbot, window, zero_path, "zero_mean", tmp_path)
    screenshot(window.screen("results").panel("boosting"), "issue4-boosting-4-tab-zero-mean",
               colors=(PALETTE[0], PALETTE[1]))

    # Compare both variants: select the two runs on the Runs screen (click, Ctrl-click) and press Compare.
    runs = window.screen("runs")
    window.tabs.setCurrentWidget(runs)
    window.context.index.refresh()
    window.context.index.wait()
    table = runs.table
    for n, path in enumerate((save_path, zero_path)):
        rect = table.visualRect(table.model().index(runs.row_of(path), 0))
        modifier = Qt.KeyboardModifier.ControlModifier if n else Qt.KeyboardModifier.NoModifier
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())
    assert set(runs.selected_paths()) == {save_path, zero_path}
    qtbot.mouseClick(runs.compare_button, Qt.MouseButton.LeftButton)
    compare = window.screen("compare")
    assert window.tabs.currentWidget() is compare
    assert set(compare.checked_paths()) == {save_path, zero_path}
    qtbot.waitUntil(lambda: not compare.waiting(), timeout=30000)
    compare.select_metric("error")
    curves = dict(compare.run_curves())
    assert len(curves) == 2
    for label, name in (("gui-boost-save", save_path), ("gui-boost-zero", zero_path)):
        match = [c for lab, c in curves.items() if label in lab]
        assert len(match) == 1
        with h5py.File(name, "r") as f:
            np.testing.assert_array_equal(match[0]["error"], f["eval/test/curves/error"][()])
    drawn = {n: compare.curves_plot.drawn(n)[1] for n in compare.curves_plot.run_names()}
    assert len(drawn) == 2 and all(len(v) == MODELS for v in drawn.values())
    screenshot(window, "issue4-boosting-5-compare", colors=(PALETTE[0], PALETTE[1]))

    # A run of another method has no Boosting tab; showing a boosting run again brings it back.
    other = train_run_file(tmp_path / "runs", members=2, train_size=300, val_size=100, test_size=200)
    results = window.screen("results")
    boosting = results.panel_tab("boosting")
    open_run(window, other)
    assert results.tables.indexOf(boosting) == -1
    assert [results.tables.tabText(i) for i in range(results.tables.count())].count("Boosting") == 0
    assert "random orders" in results.curves_title.text()
    open_run(window, zero_path)
    assert results.tables.indexOf(boosting) >= 0
    # Boosting curves are the first k models as trained, and the table says so.
    assert "training order" in results.curves_title.text()
    window.close()
