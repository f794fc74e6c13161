"""Bad run files in the window: the Runs screen lists each as unreadable beside the good runs, and opening one shows
its one line on the Results screen instead of failing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from corpus.run_files import make, run_file_corpus
from ensgui.views.results_view import ResultsView
from ensgui.views.runs_view import COLUMNS, RunsView
from ensgui.views.theme import STATUS_COLORS
from support import open_and_wait, settle

UNREADABLE = ("curve-scalar", "eval-a-dataset", "killed-at-creation", "format-text")
CASES = {bad.name: bad for bad in run_file_corpus()}


@pytest.fixture
def spoilt_workspace(finished_runs, tmp_path) -> tuple[Path, dict[str, Path]]:
    """The two finished runs, four files whose summaries cannot be read, a named pipe, and a run whose
    probabilities are NaN (its summary reads; opening it does not)."""
    folder = tmp_path / "runs"
    folder.mkdir()
    goods = {key: Path(shutil.copy(path, folder / path.name)) for key, path in finished_runs.items()}
    bad = {name: make(CASES[name], {"run": goods["deep_ensemble"]}, folder, "run", stem=name)
           for name in (*UNREADABLE, "probs-nan")}
    bad["pipe"] = folder / "pipe.h5"
    os.mkfifo(bad["pipe"])
    return folder, {**goods, **bad}


def statuses(view: RunsView) -> dict[str, str]:
    """File name -> the status the table shows."""
    return {view.path_at(r).name: view.table.item(r, COLUMNS.index("status")).text()
            for r in range(view.table.rowCount())}


def test_runs_lists_the_good_runs_and_marks_each_bad_file_unreadable(make_screen, spoilt_workspace, screenshot):
    folder, files = spoilt_workspace
    view = make_screen(RunsView, folder, (1300, 500))
    settle(view.context)
    shown = statuses(view)
    for key in ("deep_ensemble", "bagging", "probs-nan"):
        assert shown[files[key].name] == "finished"
    for key in (*UNREADABLE, "pipe"):
        assert shown[files[key].name] == "unreadable"
    assert len(shown) == 8 and view.count_label.text() == "3 runs, 5 unreadable"
    row = view.row_of(files["curve-scalar"])
    tip = view.table.item(row, COLUMNS.index("status")).toolTip()
    assert tip.startswith("unreadable: curve-scalar.h5 is damaged: /eval/test/curves/error has shape ()")
    assert "named pipe" in view.table.item(view.row_of(files["pipe"]), 0).toolTip()
    assert "5 files in the workspace cannot be read" in view.problems_label.text()
    view.show()
    screenshot(view, "runs-unreadable", colors=(STATUS_COLORS["unreadable"][0],), min_pixels=4)


@pytest.mark.parametrize("key, words", [("curve-scalar", "/eval/test/curves/error has shape ()"),
                                        ("eval-a-dataset", "/eval is a dataset where a group belongs"),
                                        ("probs-nan", "/eval/test/probs holds NaN"),
                                        ("killed-at-creation", "truncated, 96 of"),
                                        ("pipe", "named pipe (FIFO), not a regular file")])
def test_opening_a_bad_run_shows_its_line(make_results, spoilt_workspace, key, words):
    folder, files = spoilt_workspace
    view = make_results(folder)
    open_and_wait(view.context, files["deep_ensemble"])
    assert view.has_results()
    open_and_wait(view.context, files[key])
    assert not view.has_results() and view.stack.showing_message()
    message = view.stack.message()
    assert message.startswith(f"This run cannot be shown: {files[key]} ") and words in message
    assert "\n" not in message and "internal error" not in message
