"""The Results screen shows exactly what the run file holds: curves, members, calibration, DEE, panels, exports."""

from __future__ import annotations

import csv
import shutil
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from ensgui.engine import metrics
from ensgui.engine.events import Artefact
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState
from ensgui.storage.reader import read_boosting
from ensgui.storage.workspace import Workspace
from ensgui.storage.writer import store_artefact
from ensgui.tasks.run import run_to_file
from ensgui.views import boosting_panel, results_view, run_margins_panel  # noqa: F401 - registers the panels
from ensgui.views.calibration_plot import ACCURACY_COLOR
from ensgui.views.export import VALUE_ROLE, table_contents
from ensgui.views.margin_histogram_plot import margin_bin_edges
from ensgui.views.metric_curves_plot import metric_label, metric_short
from ensgui.views.result_panels import register_result_panel, unregister_result_panel
from ensgui.text import local_time
from ensgui.views.results_view import DEE_SERIES, ResultsView
from ensgui.text import fmt_metric, fmt_metric_mean_std
from ensgui.views.theme import PALETTE
from support import open_and_wait, tiny_spec_dict

BOOSTING_MODELS = 3


def open_run(view: ResultsView, path: Path) -> None:
    open_and_wait(view.context, path)


@pytest.fixture(scope="module")
def boosting_run(tmp_path_factory) -> Path:
    """A finished gap-boosting run of three models (two boosting rounds)."""
    values = tiny_spec_dict(train_size=400, val_size=100, test_size=300, name="tiny-boost")
    values["method"] = {"name": "gap_boosting", "models": BOOSTING_MODELS}
    values["loss"] = {"name": "cross_entropy", "freeze_last_layer": True, "last_layer_norm": 10.0}
    values["optimizer"]["lr"] = 0.01
    spec = Spec.from_dict(values)
    path = Workspace(tmp_path_factory.mktemp("boosting")).new_run_path(spec.name)
    result = run_to_file(spec, path, TaskState(), threads=1)
    assert result.status == "finished", result.error
    return path


def _file_curves(path: Path, split: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        group = f[f"eval/{split}/curves"]
        return {name: group[name][()] for name in group}


def _column(table, header: str) -> int:
    for c in range(table.columnCount()):
        if table.horizontalHeaderItem(c).text() == header:
            return c
    raise AssertionError(f"no column {header!r}")


def _tab_texts(view: ResultsView) -> list[str]:
    return [view.tables.tabText(i) for i in range(view.tables.count())]


def _blend(color: str, alpha: int) -> str:
    """A colour drawn with alpha on white, as "#rrggbb"."""
    c = QColor(color)
    mix = [round(v * alpha / 255 + 255 * (1 - alpha / 255)) for v in (c.red(), c.green(), c.blue())]
    return QColor(*mix).name()


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
            assert item.text() == fmt_metric_mean_std(name, float(mean), float(std))
    for name in ("error", "nll", "cnll", "cnll_val", "brier", "ece", "auroc"):
        view.select_metric(name)
        label = view.run.summary.name
        assert view.curves_plot.run_names()[0] == label
        k, mean, std = view.curves_plot.drawn(label)
        np.testing.assert_array_equal(k, np.arange(1, k_rows + 1))
        # Drawn in the unit the tables show: error in percent.
        scale = 100.0 if name == "error" else 1.0
        np.testing.assert_allclose(mean, curves[name][:, 0] * scale, rtol=1e-12)
        np.testing.assert_allclose(std, curves[name][:, 1] * scale, atol=1e-10)
        assert view.curves_plot.getPlotItem().getAxis("left").labelText == metric_label(name)


def test_open_run_fills_table_and_plot_with_the_file_numbers(make_results, finished_runs):
    path = finished_runs["deep_ensemble"]
    view = make_results(path.parent)
    assert not view.has_results()
    open_run(view, path)
    assert view.has_results()
    assert view.split == "test"
    _check_curves(view, path, "test")
    assert "tiny-de" in view.title_label.text()
    details = view.details_label.text()
    for word in ("deep_ensemble", "fashion-mnist", "lenet300_100", "cpu"):
        assert word in details
    with h5py.File(path, "r") as f:
        created = str(f.attrs["created"])
    assert local_time(created) in details and created not in details  # local time with its zone, not UTC


def test_validation_split_shows_eval_val(make_results, finished_runs):
    path = finished_runs["bagging"]
    view = make_results(path.parent)
    open_run(view, path)
    view.select_split("val")
    assert view.split == "val"
    _check_curves(view, path, "val")
    # The numbers differ from the test split's, so the switch really changed the source.
    assert not np.array_equal(_file_curves(path, "val")["nll"], _file_curves(path, "test")["nll"])
    view.select_split("test")
    _check_curves(view, path, "test")


def test_member_table_matches_eval_members(make_results, finished_runs):
    path = finished_runs["bagging"]
    view = make_results(path.parent)
    open_run(view, path)
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
            assert table.item(r, c).text() == fmt_metric(name, float(values[r]))


def test_dee_of_the_deep_ensemble_against_itself_is_k(make_results, finished_runs):
    path = finished_runs["deep_ensemble"]
    view = make_results(path.parent)
    open_run(view, path)
    # The only deep ensemble is this run, and the default reference is another run: none here.
    assert view.reference_picker.current_path() is None
    assert path in view.reference_paths()
    this_run = view.reference_picker.combo.itemText(view.reference_picker.index_of(path))
    assert this_run.endswith("(this run)")
    assert view.dee_plot.showing_message() and "No other finished deep ensemble" in view.dee_plot.message()
    view.select_reference(path)
    c = _column(view.curves_table, "DEE")
    dee = np.array([view.curves_table.item(r, c).data(VALUE_ROLE) for r in range(view.curves_table.rowCount())])
    np.testing.assert_allclose(dee, np.arange(1, len(dee) + 1), rtol=0, atol=1e-9)
    _, y = view.dee_plot.curve(DEE_SERIES)
    np.testing.assert_allclose(y, dee, atol=0)
    view.select_reference(None)
    with pytest.raises(AssertionError):
        _column(view.curves_table, "DEE")


def test_dee_of_bagging_against_the_deep_ensemble(make_results, finished_runs, screenshot):
    path = finished_runs["bagging"]
    view = make_results(path.parent)
    view.show()
    open_run(view, path)
    # The default reference is the most recent other finished deep ensemble, read by the shared loader.
    assert view.reference_picker.current_path() == finished_runs["deep_ensemble"]
    assert view.reference is view.context.loader.get(finished_runs["deep_ensemble"])
    c = _column(view.curves_table, "DEE")
    dee = np.array([view.curves_table.item(r, c).data(VALUE_ROLE) for r in range(view.curves_table.rowCount())])
    assert dee.shape == (3,)
    assert np.all(dee >= 1.0) and np.all(dee <= 3.0)
    np.testing.assert_array_equal(view.dee_plot.curve(DEE_SERIES)[1], dee)
    # A value that is only a bound reads as one: "< 1" below one reference member, "≥ 3" beyond the reference.
    texts = [view.curves_table.item(r, c).text() for r in range(3)]
    for r, limit in enumerate(view.dee_limits):
        assert texts[r] == ("< 1" if limit < 0 else "≥ 3" if limit > 0 else f"{dee[r]:#.4g}")
    # The bagging curve and its DE reference are both drawn, each in its palette colour.
    assert len(view.curves_plot.run_names()) == 2
    view.select_metric("nll")
    screenshot(view.curves_plot, "results-bagging-curves", colors=(PALETTE[0], PALETTE[1]))
    screenshot(view.dee_plot, "results-bagging-dee", colors=(PALETTE[0],))
    # The user's choice stays while the same run is shown, also when the workspace is listed again.
    view.select_reference(None)
    view.context.index.refresh()
    assert view.context.index.wait(10_000)
    assert view.reference_picker.current_path() is None and view.dee_values is None
    # Another run shown gets its default, and so does this one shown again.
    open_run(view, finished_runs["deep_ensemble"])
    assert view.reference_picker.current_path() is None
    open_run(view, path)
    assert view.reference_picker.current_path() == finished_runs["deep_ensemble"]


def test_exports_write_files_and_csv_reads_back(make_results, finished_runs, tmp_path, monkeypatch):
    path = finished_runs["bagging"]
    view = make_results(path.parent)
    view.show()
    open_run(view, path)
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
    export(view.dee_plot.export_actions[1], "dee.svg")
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


def test_calibration_bars_match_reliability_of_stored_probs(make_results, finished_runs, monkeypatch, screenshot):
    computed_on: list[str] = []
    reliability = metrics.reliability

    def recorded(*args, **kwargs):
        computed_on.append(threading.current_thread().name)
        return reliability(*args, **kwargs)

    monkeypatch.setattr(metrics, "reliability", recorded)  # results_view imports it where it computes
    path = finished_runs["deep_ensemble"]
    view = make_results(path.parent)
    view.show()
    open_run(view, path)
    # The diagram of every split was computed once, in the worker that read the run.
    assert len(computed_on) == 2 and threading.main_thread().name not in computed_on
    with h5py.File(path, "r") as f:
        probs = f["eval/test/probs"][()]
        labels = f["eval/test/labels"][()]
        ece_curve = f["eval/test/curves/ece"][()]
    diagram = reliability(probs.astype(np.float64).mean(axis=0), labels, 15)
    np.testing.assert_allclose(view.calibration_plot.bar_heights(), np.nan_to_num(diagram.accuracy), atol=1e-12)
    np.testing.assert_array_equal(view.calibration_plot.diagram.count, diagram.count)
    np.testing.assert_array_equal(view.ensemble_probs(), probs.astype(np.float64).mean(axis=0))
    # At full size every order holds all members, so the stored ECE is this diagram's.
    assert view.calibration_plot.diagram.ece == pytest.approx(ece_curve[-1, 0], abs=1e-9)
    assert f"{diagram.ece:.4g}" in view.calibration_plot.getPlotItem().titleLabel.text
    filled = int(np.argmax(diagram.count))
    assert f"{int(diagram.count[filled])} objects" in view.calibration_plot.bin_text(filled)
    screenshot(view.calibration_plot, "results-calibration", colors=(_blend(ACCURACY_COLOR, 190),))
    view.select_split("val")
    assert len(computed_on) == 2  # the validation diagram was ready too
    with h5py.File(path, "r") as f:
        val = reliability(f["eval/val/probs"][()].astype(np.float64).mean(axis=0), f["eval/val/labels"][()], 15)
    np.testing.assert_array_equal(view.calibration_plot.diagram.count, val.count)


def test_opening_runs_reads_no_file_on_the_gui_thread(make_results, finished_runs, monkeypatch):
    opened_on: list[str] = []
    file_class = h5py.File

    class Recorded(file_class):
        def __init__(self, *args, **kwargs):
            opened_on.append(threading.current_thread().name)
            super().__init__(*args, **kwargs)

    view = make_results(finished_runs["bagging"].parent)
    view.show()
    monkeypatch.setattr(h5py, "File", Recorded)
    open_run(view, finished_runs["bagging"])
    open_run(view, finished_runs["deep_ensemble"])
    view.select_reference(finished_runs["deep_ensemble"])
    open_run(view, finished_runs["bagging"])
    view.select_split("val")
    monkeypatch.setattr(h5py, "File", file_class)
    assert view.has_results() and view.dee_values is not None
    # Two runs and one reference read, each once, none of them by the GUI thread.
    assert len(opened_on) == 3 and threading.main_thread().name not in opened_on


def test_run_without_evaluation_shows_a_message(make_results, finished_runs, tmp_path, screenshot):
    path = tmp_path / "cancelled.h5"
    shutil.copy(finished_runs["deep_ensemble"], path)
    with h5py.File(path, "a") as f:
        for split in list(f["eval"]):
            del f["eval"][split]
        f.attrs["status"] = "cancelled"
    view = make_results(tmp_path)
    open_run(view, path)
    assert not view.has_results()
    assert view.stack.showing_message()
    assert "cancelled before any member finished" in view.stack.message()
    assert not view.split_combo.isEnabled()
    view.show()
    screenshot(view, "results-cancelled")
    # Showing a run with results afterwards brings the panels back.
    open_run(view, finished_runs["deep_ensemble"])
    assert view.has_results() and view.stack.currentWidget() is view.content


def test_unreadable_file_shows_why(make_results, finished_runs, tmp_path):
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"not an hdf5 file at all" * 10)
    view = make_results(tmp_path)
    open_run(view, finished_runs["deep_ensemble"])
    assert view.has_results()
    open_run(view, bad)
    assert not view.has_results()
    assert view.stack.showing_message()
    assert "garbage.h5" in view.stack.message() and "not a readable ensgui run file" in view.stack.message()
    assert "garbage" in view.title_label.text()


def test_an_unreadable_reference_is_said_once(make_results, finished_runs, tmp_path):
    runs = {key: Path(shutil.copy(path, tmp_path / path.name)) for key, path in finished_runs.items()}
    view = make_results(tmp_path)
    view.context.index.stop()  # the listing keeps the deep ensemble that is broken below
    runs["deep_ensemble"].write_bytes(b"not an hdf5 file at all" * 10)
    failures: list[Path] = []
    view.context.loader.failed.connect(lambda path, message: failures.append(path))
    open_run(view, runs["bagging"])
    assert view.reference_picker.current_path() == runs["deep_ensemble"]
    assert view.has_results() and view.dee_values is None
    assert "The reference cannot be read" in view.dee_plot.message()
    # The failure is remembered: drawing again does not ask the loader to read the same broken file again.
    view.select_split("val")
    assert view.context.loader.wait(10_000)
    assert failures == [runs["deep_ensemble"]]
    assert "The reference cannot be read" in view.dee_plot.message()


def test_boosting_tab_comes_and_goes_with_the_run(make_results, boosting_run, finished_runs, screenshot):
    view = make_results(boosting_run.parent, size=(1400, 1000))
    view.show()
    open_run(view, boosting_run)
    assert _tab_texts(view) == ["Metrics vs ensemble size", "Per-member metrics", "Margins", "Boosting"]
    view.tables.setCurrentWidget(view.panel_tab("boosting"))
    panel = view.panel("boosting")
    stored = read_boosting(boosting_run)
    assert list(stored.models) == list(range(1, BOOSTING_MODELS))
    # One histogram per round, all over the same bins, counting exactly the file's gaps.
    drawn = panel.histograms()
    assert list(drawn) == [f"model {t + 1}" for t in stored.models]
    edges = margin_bin_edges("raw", list(stored.gaps))
    assert all(np.array_equal(x, edges) for x, _ in drawn.values())
    expected = [np.histogram(gaps.astype(np.float64), bins=edges)[0] for gaps in stored.gaps]
    np.testing.assert_array_equal([counts for _, counts in drawn.values()], expected)
    header, rows = table_contents(panel.rounds_table)
    np.testing.assert_allclose([r[header.index("mean gap")] for r in rows], stored.gaps.astype(np.float64).mean(1))
    shown, k, values = panel.metric_curve()
    scale = 100.0 if shown == "error" else 1.0  # drawn in percent
    np.testing.assert_allclose(values, _file_curves(boosting_run, "test")[shown][:, 0] * scale, rtol=1e-12)
    assert "training order" in view.curves_title.text()
    screenshot(view, "results-boosting-tab", colors=(PALETTE[0], PALETTE[1]))
    # A run of another method has no Boosting tab; the boosting run brings the same panel back.
    open_run(view, finished_runs["deep_ensemble"])
    assert _tab_texts(view) == ["Metrics vs ensemble size", "Per-member metrics", "Margins"]
    assert "random orders" in view.curves_title.text()
    open_run(view, boosting_run)
    assert view.panel("boosting") is panel and view.tables.indexOf(view.panel_tab("boosting")) == 3


class ToyPanel(QWidget):
    """A result panel outside ensgui, registered by the test alone."""

    def __init__(self, context, parent=None) -> None:
        super().__init__(parent)
        self.label = QLabel("", self)
        self.shown: list[tuple[Path, object]] = []

    def show_run(self, loaded, prepared) -> None:
        self.shown.append((loaded.path, prepared))
        self.label.setText(f"sum = {prepared}")


def toy_sum(opened) -> float:
    """The toy panel's preparer: the sum of its artefact's values."""
    return float(opened.artefacts["toy"].arrays["v"].sum())


@pytest.fixture
def toy_panel():
    """The toy panel registered for artefacts named toy, before the screen is built, as a plug-in would be."""
    register_result_panel("toy", "Toy", order=5, prepare=toy_sum)(ToyPanel)
    yield ToyPanel
    unregister_result_panel("toy")


def test_a_registered_panel_gets_a_tab_for_runs_with_its_artefacts(make_results, finished_runs, tmp_path, toy_panel):
    path = Path(shutil.copy(finished_runs["deep_ensemble"], tmp_path / "toy.h5"))
    store_artefact(path, Artefact("toy", {"v": np.arange(5.0)}))
    view = make_results(tmp_path)
    open_run(view, path)
    assert _tab_texts(view) == ["Metrics vs ensemble size", "Per-member metrics", "Toy", "Margins"]
    panel = view.panel("toy")
    assert isinstance(panel, ToyPanel) and panel.shown == [(path, 10.0)]
    open_run(view, finished_runs["deep_ensemble"])
    assert "Toy" not in _tab_texts(view)


def test_screenshots(make_results, finished_runs, screenshot):
    view = make_results(finished_runs["deep_ensemble"].parent)
    view.show()
    for name, path in (("bagging", finished_runs["bagging"]), ("deep-ensemble", finished_runs["deep_ensemble"])):
        open_run(view, path)
        view.select_reference(finished_runs["deep_ensemble"])
        screenshot(view, f"results-{name}", colors=(PALETTE[0],))
    view.select_split("val")
    view.select_metric("error")
    view.tables.setCurrentIndex(1)
    screenshot(view, "results-val-members", colors=(PALETTE[0],))


def test_a_reference_read_while_a_run_is_drawn_leaves_nothing_undrawn(make_results, finished_runs, qtbot):
    """The DEE reference arrives from its worker while the run's parts are still being drawn: the drawing must go
    on whole (it used to restart as a reference-only redraw, which left the reliability diagram empty)."""
    view = make_results(finished_runs["bagging"].parent)
    view.show()
    for _ in range(3):
        view.context.loader._cache.clear()  # the reference is read again, in its worker, while the run is drawn
        view.context.document.open(finished_runs["bagging"])
        # The event loop alone, as in the window (settle() would draw every part at once and hide the race).
        qtbot.waitUntil(lambda: view.calibration_plot.diagram is not None and view.dee_values is not None,
                        timeout=30000)
        qtbot.wait(300)
        assert view.calibration_plot.diagram is not None
        view.context.document.open(finished_runs["deep_ensemble"])
        qtbot.waitUntil(lambda: view.path == finished_runs["deep_ensemble"], timeout=30000)
