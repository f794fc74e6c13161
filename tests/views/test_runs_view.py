"""The Runs screen lists the workspace's run files with their headline metrics and survives broken files."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from ensgui.storage.reader import read_summary
from ensgui.storage.workspace import Workspace
from ensgui.views.export import VALUE_ROLE
from ensgui.views.runs_view import COLUMNS, RunsView
from ensgui.views.screens import AppContext
from ensgui.views.theme import STATUS_COLORS


@pytest.fixture
def workspace_copy(finished_runs, tmp_path) -> dict[str, Path]:
    """The two finished runs copied into a private folder, which a test may spoil."""
    folder = tmp_path / "runs"
    folder.mkdir()
    return {key: Path(shutil.copy(path, folder / path.name)) for key, path in finished_runs.items()}


def _view(qtbot, folder: Path) -> RunsView:
    context = AppContext.create(Workspace(folder), threads=1)
    context.index.wait()
    view = RunsView(context)
    qtbot.addWidget(view)
    view.resize(1300, 500)
    return view


def _refresh(view: RunsView, force: bool = True) -> bool:
    started = view.context.index.refresh(force=force)
    view.context.index.wait()
    return started


def _cell(view: RunsView, row: int, column: str):
    return view.table.item(row, COLUMNS.index(column))


def test_lists_both_runs_with_status_and_headline_metrics(qtbot, finished_runs):
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    assert view.table.rowCount() == 2
    for path in finished_runs.values():
        row = view.row_of(path)
        assert row >= 0
        summary = read_summary(path)
        assert _cell(view, row, "name").text() == summary.name
        assert _cell(view, row, "status").text() == "finished"
        assert _cell(view, row, "method").text() == summary.method
        assert _cell(view, row, "dataset").text() == summary.dataset == "fashion-mnist"
        assert _cell(view, row, "model").text() == summary.model
        assert _cell(view, row, "members").data(VALUE_ROLE) == summary.rows == 3
        for column, key in (("test error (%)", "error"), ("NLL", "nll"), ("CNLL", "cnll"), ("ECE", "ece")):
            assert _cell(view, row, column).data(VALUE_ROLE) == summary.headline[key]
            shown = summary.headline[key] * (100.0 if key == "error" else 1.0)  # error in percent
            assert _cell(view, row, column).text() == f"{shown:#.4g}".rstrip(".")
    assert view.problems_label.isHidden()


def test_double_click_and_open_open_the_run(qtbot, finished_runs):
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    view.show()
    qtbot.waitExposed(view)
    target = finished_runs["bagging"]
    row = view.row_of(target)
    rect = view.table.visualItemRect(_cell(view, row, "name"))
    document = view.context.document
    with qtbot.waitSignal(document.loaded, timeout=10_000) as blocker:
        # Qt 6 item views take a double click only after the press that starts it, as a real mouse sends.
        QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        QTest.mouseDClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args[0].path == target
    view.table.selectRow(view.row_of(finished_runs["deep_ensemble"]))
    assert view.open_button.isEnabled()
    with qtbot.waitSignal(document.loaded, timeout=10_000) as blocker:
        view.open_button.click()
    assert blocker.args[0].path == finished_runs["deep_ensemble"]
    view.table.selectAll()
    view.compare_button.click()
    compared = [set(args[0]) for name, args in view.context.actions.calls if name == "compare_runs"]
    assert compared == [{finished_runs["deep_ensemble"], finished_runs["bagging"]}]


def test_sorting_by_a_metric_orders_numerically(qtbot, finished_runs):
    view = _view(qtbot, finished_runs["deep_ensemble"].parent)
    column = COLUMNS.index("NLL")
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        view.table.sortByColumn(column, order)
        values = [view.table.item(r, column).data(VALUE_ROLE) for r in range(view.table.rowCount())]
        assert values == sorted(values, reverse=order == Qt.SortOrder.DescendingOrder)
    # Rows stay whole when sorted: each name still sits beside its own metrics.
    for r in range(view.table.rowCount()):
        assert read_summary(view.path_at(r)).headline["nll"] == view.table.item(r, column).data(VALUE_ROLE)


def test_corrupted_file_goes_to_the_problems_line(qtbot, workspace_copy):
    folder = workspace_copy["deep_ensemble"].parent
    broken = folder / "20990101-000000-broken.h5"
    broken.write_bytes(b"\x89HDF garbage, not a run file" * 50)
    view = _view(qtbot, folder)
    assert view.table.rowCount() == 3
    assert not view.problems_label.isHidden()
    assert "unreadable: 20990101-000000-broken.h5 is not a readable ensgui run file" in view.problems_label.text()
    assert "1 file" in view.problems_label.text()
    assert {view.path_at(r) for r in range(3)} == {*workspace_copy.values(), broken}
    assert _cell(view, view.row_of(broken), "status").text() == "unreadable"


def test_status_colours(qtbot, workspace_copy):
    folder = workspace_copy["deep_ensemble"].parent
    for status, key in (("cancelled", "deep_ensemble"), ("failed", "bagging")):
        with h5py.File(workspace_copy[key], "a") as f:
            f.attrs["status"] = status
    view = _view(qtbot, folder)
    for status, key in (("cancelled", "deep_ensemble"), ("failed", "bagging")):
        item = _cell(view, view.row_of(workspace_copy[key]), "status")
        assert item.text() == status
        assert item.foreground().color().name() == STATUS_COLORS[status][0]


def test_automatic_refresh_rereads_only_after_a_change(qtbot, workspace_copy, finished_runs):
    folder = workspace_copy["deep_ensemble"].parent
    view = _view(qtbot, folder)
    assert view.context.index.polling()
    assert _refresh(view, force=False) is False
    extra = folder / "20990101-000001-copy.h5"
    shutil.copy(finished_runs["bagging"], extra)
    assert _refresh(view, force=False) is True
    assert view.table.rowCount() == 3
    assert _refresh(view, force=False) is False
    extra.unlink()
    view.refresh_button.click()
    view.context.index.wait()
    assert view.table.rowCount() == 2


def test_selection_survives_a_refresh(qtbot, workspace_copy):
    folder = workspace_copy["deep_ensemble"].parent
    view = _view(qtbot, folder)
    view.table.selectRow(view.row_of(workspace_copy["bagging"]))
    _refresh(view)
    assert view.selected_path() == workspace_copy["bagging"]


def test_screenshot(qtbot, workspace_copy, screenshot):
    folder = workspace_copy["deep_ensemble"].parent
    with h5py.File(shutil.copy(workspace_copy["bagging"], folder / "20990101-000002-cancelled.h5"), "a") as f:
        f.attrs["status"] = "cancelled"
    (folder / "20990101-000003-broken.h5").write_bytes(b"garbage" * 100)
    view = _view(qtbot, folder)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(50)
    # The cancelled run's status in its colour, the broken file's line in red.
    screenshot(view, "runs-workspace", colors=(STATUS_COLORS["cancelled"][0], "#c62828"), min_pixels=4)


def test_created_sorts_by_instant_not_text(qtbot, workspace_copy):
    folder = workspace_copy["deep_ensemble"].parent
    # 10:00 at UTC+05:00 is 05:00 UTC: earlier than 09:00 UTC although its text sorts later.
    for key, created in (("deep_ensemble", "2026-01-01T10:00:00+05:00"), ("bagging", "2026-01-01T09:00:00+00:00")):
        with h5py.File(workspace_copy[key], "a") as f:
            f.attrs["created"] = created
    view = _view(qtbot, folder)
    view.table.sortByColumn(COLUMNS.index("created"), Qt.SortOrder.AscendingOrder)
    assert [view.path_at(r) for r in range(2)] == [workspace_copy["deep_ensemble"], workspace_copy["bagging"]]


def test_many_problems_are_cut_short(qtbot, tmp_path):
    for i in range(8):
        (tmp_path / f"broken-{i}.h5").write_bytes(b"garbage")
    view = _view(qtbot, tmp_path)
    assert view.table.rowCount() == 8 and view.count_label.text() == "0 runs, 8 unreadable"
    assert "8 files" in view.problems_label.text() and "3 more" in view.problems_label.text()
    assert view.problems_label.toolTip().count("\n") == 7
