"""The Interpolation screen draws exactly what it stores, computes in the background, and cancels."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt

from ensgui.engine.data import load_splits
from ensgui.engine.interpolation import (DEFAULT_TEST_OBJECTS, DEFAULT_TRAIN_OBJECTS, InterpolationResult,
                                         lambda_grid)
from ensgui.engine.line_losses import interpolate
from ensgui.engine.methods import METHODS
from ensgui.engine.methods.base import MEMBERS, Method
from ensgui.engine.planning import default_plan
from ensgui.engine.registry import Entry
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState
from ensgui.engine.training import train_on_all_data
from ensgui.tasks import interpolation as interpolation_task
from ensgui.storage.analysis import read_interpolations
from ensgui.storage.reader import read_run, read_snapshot
from ensgui.storage.workspace import Workspace
from ensgui.tasks.run import run_to_file
from ensgui.views.export import export_png, export_svg
from ensgui.views.interpolation_view import MODE_FINAL, MODE_PAIR, InterpolationView, snapshot_key
from ensgui.views.screens import AppContext
from ensgui.views.theme import PALETTE
from support import tiny_spec_dict

TIMEOUT_MS = 120_000
CURVES = PALETTE[:3]  # the first three curves' colours


class _EveryEpochSnapshot(Method):
    """Test stand-in for a snapshot method: one trajectory with a snapshot at every epoch end."""

    def plan(self, per_epoch: int):
        base = default_plan(self.spec, per_epoch, self.members())
        snaps = np.arange(1, base.epochs + 1, dtype=np.int64) * per_epoch - 1
        return replace(base, snapshots=snaps, rows=base.members * len(snaps))

    def train(self, ctx) -> None:
        train_on_all_data(ctx, self.members(), vectorize=False)


@pytest.fixture(scope="module")
def snapshot_run(tmp_path_factory) -> Iterator[Path]:
    """A real run of one trajectory with four stored snapshots (the SSE method when it is registered)."""
    folder = tmp_path_factory.mktemp("interpolation")
    with pytest.MonkeyPatch.context() as mp:
        spec = tiny_spec_dict(method="single", epochs=4, name="tiny-sse")
        if "snapshot" in METHODS:
            spec["method"] = {"name": "snapshot", "cycles": 4}
        else:
            mp.setitem(METHODS._entries, "every_epoch",
                       Entry("every_epoch", _EveryEpochSnapshot, (MEMBERS,), "every epoch", ""))
            spec["method"] = {"name": "every_epoch", "members": 1}
        path = Workspace(folder).new_run_path("tiny-sse")
        result = run_to_file(Spec.from_dict(spec), path, TaskState(), threads=1)
        assert result.status == "finished", result.error
        yield path


@pytest.fixture
def sse_copy(snapshot_run, tmp_path) -> Path:
    path = tmp_path / snapshot_run.name
    shutil.copy(snapshot_run, path)
    return path


@pytest.fixture
def de_copy(finished_runs, tmp_path) -> Path:
    path = tmp_path / finished_runs["deep_ensemble"].name
    shutil.copy(finished_runs["deep_ensemble"], path)
    return path


def _view(qtbot, context: AppContext, path: Path | None = None) -> InterpolationView:
    view = InterpolationView(context)
    qtbot.addWidget(view)
    view.resize(1500, 720)
    view.show()
    if path is not None:
        _open(context, path)
    return view


def _open(context: AppContext, path: Path) -> None:
    context.document.open(path)
    context.document.wait()


def _compute(qtbot, view: InterpolationView) -> tuple[str, str]:
    assert view.compute_button.isEnabled(), view.note_label.text()
    with qtbot.waitSignal(view.computation_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
    return tuple(blocker.args)


def _check_plots_match_file(view: InterpolationView, path: Path) -> dict:
    stored = read_interpolations(path)
    for key in ("train_loss", "test_loss", "test_error"):
        drawn = view.drawn(key)
        assert list(drawn) == list(stored)
        for label, (x, y) in drawn.items():
            np.testing.assert_array_equal(x, stored[label].result.lambdas)
            np.testing.assert_array_equal(y, getattr(stored[label].result, key))
    return stored


def _direct(path: Path, a: tuple[int, int], b: tuple[int, int], points: int, train_objects: int,
            test_objects: int = DEFAULT_TEST_OBJECTS) -> InterpolationResult:
    spec = read_run(path, with_probs=False).spec
    data = load_splits(spec.data.name, spec.data.params, spec.seed)
    return interpolate(spec, read_snapshot(path, *a), read_snapshot(path, *b), lambda_grid(points), data, "cpu",
                       train_objects=train_objects, test_objects=test_objects)


def test_final_vs_each_earlier_snapshot_is_the_default(qtbot, context, sse_copy, tmp_path, screenshot):
    view = _view(qtbot, context, sse_copy)
    assert view.mode() == MODE_FINAL
    assert not view.a_combo.isEnabled() and not view.b_combo.isEnabled()
    assert view.points_spin.value() == 21 and view.points_spin.minimum() == 21
    assert view.train_spin.value() == DEFAULT_TRAIN_OBJECTS and view.test_spin.value() == DEFAULT_TEST_OBJECTS
    assert view.train_hint.text() == "uses all 600 in the run" and view.test_hint.text() == "uses all 1000 in the run"
    assert [(a.index, b.index) for a, b in view.selected_pairs()] == [(0, 3), (1, 3), (2, 3)]
    assert view.drawn("test_error") == {}
    status, message = _compute(qtbot, view)
    assert status == "finished", message
    stored = _check_plots_match_file(view, sse_copy)
    assert list(stored) == ["m0s0-m0s3", "m0s1-m0s3", "m0s2-m0s3"]
    assert view.legend_names("test_error") == ["snapshot 0 → 3", "snapshot 1 → 3", "snapshot 2 → 3"]
    assert view.task_panel.value() == 1000 and view.task_panel.text().startswith("100% — finished after")
    # The document then reads the run file again: the curves it read are the ones drawn.
    context.document.wait()
    assert list(view.stored) == list(stored)
    _check_plots_match_file(view, sse_copy)
    # The run has 600 training and 1000 test objects, fewer than the defaults ask for: all of them are used.
    direct = _direct(sse_copy, (0, 1), (0, 3), 21, DEFAULT_TRAIN_OBJECTS)
    result, attrs = stored["m0s1-m0s3"]
    assert attrs["train_objects"] == 600 and attrs["test_objects"] == 1000 and attrs["points"] == 21
    assert attrs["objects"] == "all 600 training objects; all 1000 test objects"
    for name in InterpolationResult.ARRAYS:
        np.testing.assert_allclose(getattr(result, name), getattr(direct, name), rtol=1e-9)
    # All three end at the same final snapshot: λ = 1 is one net.
    assert len({float(s.result.test_loss[-1]) for s in stored.values()}) == 1
    for key, plot in view.plots.items():
        assert export_png(plot, tmp_path / f"{key}.png").stat().st_size > 0
        assert export_svg(plot, tmp_path / f"{key}.svg").stat().st_size > 0
    screenshot(view, "interpolation-final-vs-earlier", colors=CURVES)


def test_two_members_of_a_deep_ensemble_through_the_combos(qtbot, context, de_copy, screenshot):
    view = _view(qtbot, context, de_copy)
    # One snapshot per member: nothing is earlier than a final, so the view starts in pair mode.
    assert view.mode() == MODE_PAIR and view.a_combo.isEnabled()
    assert view.a_combo.count() == view.b_combo.count() == 3
    view.a_combo.setCurrentIndex(view.a_combo.findData(snapshot_key(0, 0)))
    view.b_combo.setCurrentIndex(view.b_combo.findData(snapshot_key(1, 0)))
    view.points_spin.setValue(25)
    view.train_spin.setValue(400)
    view.test_spin.setValue(300)
    assert view.train_hint.text() == "of 600 in the run" and view.test_hint.text() == "of 1000 in the run"
    status, message = _compute(qtbot, view)
    assert status == "finished", message
    stored = _check_plots_match_file(view, de_copy)
    assert list(stored) == ["m0s0-m1s0"]
    assert view.legend_names("train_loss") == ["member 0 → 1"]
    # The objects chosen on the screen are the ones used, and the file says which.
    direct = _direct(de_copy, (0, 0), (1, 0), 25, 400, 300)
    attrs = stored["m0s0-m1s0"].attrs
    assert (attrs["train_objects"], attrs["test_objects"], attrs["test_split_objects"]) == (400, 300, 1000)
    assert attrs["objects"] == ("the first 400 of 600 training objects (the run's shuffled split); 300 of 1000 test "
                                "objects (class-stratified, seed 0)")
    for name in InterpolationResult.ARRAYS:
        np.testing.assert_allclose(getattr(stored["m0s0-m1s0"].result, name), getattr(direct, name), rtol=1e-9)
    assert len(stored["m0s0-m1s0"].result.lambdas) == 25
    context.document.wait()
    # Reading the run again keeps the pair chosen.
    assert view.mode() == MODE_PAIR and view.b_combo.currentData() == snapshot_key(1, 0)
    screenshot(view, "interpolation-two-members", colors=CURVES[:1])

    # A fresh view shows what the file already holds.
    again = _view(qtbot, context)
    _check_plots_match_file(again, de_copy)
    # a = b is not a pair.
    again.b_combo.setCurrentIndex(again.b_combo.findData(snapshot_key(0, 0)))
    assert again.selected_pairs() == [] and not again.compute_button.isEnabled()
    # The final-vs-earlier mode has nothing to do here and says so.
    again.mode_combo.setCurrentIndex(again.mode_combo.findData(MODE_FINAL))
    assert not again.compute_button.isEnabled() and "single snapshot" in again.note_label.text()


def test_cancel_stops_and_keeps_the_finished_pairs(qtbot, context, sse_copy, monkeypatch, screenshot):
    real = interpolation_task.interpolate

    def slow(*args, **kwargs):
        # Slow enough to cancel in the middle, on any machine.
        stop = kwargs["should_stop"]
        kwargs["should_stop"] = lambda: time.sleep(0.02) or stop()
        return real(*args, **kwargs)

    monkeypatch.setattr(interpolation_task, "interpolate", slow)
    view = _view(qtbot, context, sse_copy)
    with qtbot.waitSignal(view.computation_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
        cancel_button = view.task_panel.cancel_button
        assert view.is_computing() and cancel_button.isEnabled() and not view.compute_button.isEnabled()
        assert not view.train_spin.isEnabled() and not view.test_spin.isEnabled()
        with pytest.raises(RuntimeError, match="already"):
            view.compute()
        # Progress moves point by point: the bar is inside the first pair (3 pairs of 21 points) before it is stored.
        qtbot.waitUntil(lambda: 0 < view.task_panel.value() < 1000 // 3, timeout=TIMEOUT_MS)
        assert view.drawn("test_loss") == {}
        # Curves appear while it computes: the first pair is drawn before the rest are done.
        qtbot.waitUntil(lambda: len(view.drawn("test_loss")) == 1, timeout=TIMEOUT_MS)
        assert 0 < view.task_panel.value() < 1000
        # The phase, the pair being computed and the engine's ETA.
        text = view.task_panel.text()
        assert "% — interpolating: member 0 snapshot " in text and " → member 0 snapshot 3 — " in text, text
        assert "elapsed, ETA" in text, text
        screenshot(view, "interpolation-computing", colors=CURVES[:1])
        qtbot.mouseClick(cancel_button, Qt.MouseButton.LeftButton)
        assert cancel_button.text() == "Cancelling…"
    assert blocker.args[0] == "cancelled"
    assert not view.is_computing()
    stored = _check_plots_match_file(view, sse_copy)
    assert list(stored) == ["m0s0-m0s3"]
    assert "Cancelled: 1 of 3" in view.note_label.text()
    assert "cancelled after" in view.task_panel.text()
    # Once the document has read the run again, the stored pair is drawn from the file and Compute is back.
    context.document.wait()
    _check_plots_match_file(view, sse_copy)
    assert view.compute_button.isEnabled() and "Cancelled: 1 of 3" in view.note_label.text()
    screenshot(view, "interpolation-cancelled", colors=CURVES[:1])


def test_a_running_run_cannot_be_interpolated(qtbot, context, de_copy):
    with h5py.File(de_copy, "a", locking=False) as f:
        f.attrs["status"] = "running"
        f.attrs["pid"] = os.getpid()  # this process is alive, so the run reads as still training
        f.attrs.pop("process_start", None)
    view = _view(qtbot, context, de_copy)
    assert not view.compute_button.isEnabled()
    assert "running" in view.note_label.text()


def test_closing_the_view_waits_for_the_worker(qtbot, context, sse_copy):
    view = _view(qtbot, context, sse_copy)
    qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
    view.close()
    assert not view.is_computing()
    assert view.last_status in ("cancelled", "finished")


def test_opening_a_run_while_computing_ends_the_work_first(qtbot, context, sse_copy, de_copy):
    view = _view(qtbot, context, sse_copy)
    qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
    assert view.is_computing()
    context.document.open(de_copy)
    assert not view.is_computing()  # ended before the document's worker reads a file
    context.document.wait()
    assert view.path == de_copy
    assert view.mode() == MODE_PAIR and view.drawn("test_loss") == {}
